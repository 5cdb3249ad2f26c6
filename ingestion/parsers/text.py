"""Shared text helpers: strict UTF-8 decoding with a line number; quantities such as "8B", "15T+", "39.3M"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingestion.parsers.records import ParseError

_SUFFIX = {
    "": 1.0,
    "k": 1e3,
    "K": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "M": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "b": 1e9,
    "B": 1e9,
    "bn": 1e9,
    "billion": 1e9,
    "t": 1e12,
    "T": 1e12,
    "trillion": 1e12,
}

_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+"
_SUF = r"thousand|million|billion|trillion|mn|bn|[kKmMbBtT](?![a-zA-Z])"
_QUANTITY_RE = re.compile(
    rf"""^\s*
    (?P<approx>~|≈|about\s+|approximately\s+|approx\.?\s+|around\s+|roughly\s+|over\s+|more\s+than\s+|>\s*)?
    (?P<a>{_NUM})\s*(?P<asuf>{_SUF})?
    (?:\s*(?:-|\u2013|to)\s*(?P<b>{_NUM})\s*(?P<bsuf>{_SUF})?)?
    \s*(?P<plus>\+)?""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float
    lower: float | None = None
    upper: float | None = None
    text: str = ""


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _half_unit(text: str) -> float:
    """Half a unit in the last written digit: "15" -> 0.5, "1.46" -> 0.005."""
    digits = text.replace(",", "")
    if "." in digits:
        return 0.5 * 10.0 ** -(len(digits) - digits.index(".") - 1)
    return 0.5


def parse_quantity(text: str) -> Quantity | None:
    """Parse "8B", "405 billion", "15T+", "~15T", "15-16T", "1.46M", "2,040", "128k" into a number.

    "15T+" / "over 15T" sets lower only; "~15T" sets lower/upper to half a unit in the last digit
    (a rounded figure); "15-16T" sets lower/upper and takes the midpoint as value. Returns None when no
    number leads the text.
    """
    m = _QUANTITY_RE.match(text)
    if not m:
        return None
    a = _num(m["a"])
    bsuf = m["bsuf"]
    asuf = m["asuf"] or (bsuf if m["b"] else None) or ""
    mult_a = _SUFFIX.get(asuf, _SUFFIX.get(asuf.lower(), 1.0))
    value = a * mult_a
    approx = (m["approx"] or "").strip().lower()
    matched = m.group(0).strip()
    if m["b"]:
        mult_b = _SUFFIX.get(bsuf or asuf, 1.0) if (bsuf or asuf) else 1.0
        b = _num(m["b"]) * mult_b
        lo, hi = min(value, b), max(value, b)
        return Quantity((lo + hi) / 2, lo, hi, matched)
    if m["plus"] or approx in {"over", "more than", ">"}:
        return Quantity(value, value, None, matched)
    if approx:
        half = _half_unit(m["a"]) * mult_a
        return Quantity(value, value - half, value + half, matched)
    return Quantity(value, None, None, matched)


def decode_utf8(data: bytes, *, filename: str) -> str:
    """Strict UTF-8 (a BOM is dropped); a bad byte is a ParseError naming the first bad line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ParseError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            filename=filename,
            line=line,
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ParseError("NUL byte in text file", filename=filename, line=line)
    return text


def is_finite(value: float) -> bool:
    return value - value == 0.0


# --- URLs -------------------------------------------------------------------------------------------------

MAX_URL_CHARS = 2048
_URL_FORBIDDEN_RE = re.compile(r"[\x00-\x20\x7f<>\"'\\`{}|^]")


def safe_http_url(text: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL with a host, else None.

    Stored URLs end up in ``href`` attributes: ``javascript:``, ``data:``, protocol-relative ``//host`` and
    anything with spaces, quotes or control characters is refused rather than repaired.
    """
    from urllib.parse import urlsplit

    if not text:
        return None
    candidate = text.strip()
    if not candidate or len(candidate) > MAX_URL_CHARS or _URL_FORBIDDEN_RE.search(candidate):
        return None
    try:
        parts = urlsplit(candidate)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if port is not None and not 0 < port < 65536:
        return None
    return candidate


# --- dates ------------------------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_RE = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
# "July 23, 2024", "Oct 24 2024", "23 July 2024", "11.July.2022", "2024-07-23", "2025.04.29", "2024/07/23".
DATE_RE = re.compile(
    rf"""(?<![\w.])(?:
        (?P<mname1>{_MONTH_RE})\s+(?P<day1>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year1>\d{{4}})
      | (?P<day2>\d{{1,2}})(?:st|nd|rd|th)?[\s.\-/]+(?P<mname2>{_MONTH_RE})[\s.\-/,]+(?P<year2>\d{{4}})
      | (?P<year3>\d{{4}})(?P<sep>[-./])(?P<month3>\d{{1,2}})(?P=sep)(?P<day3>\d{{1,2}})
    )(?![\w])""",
    re.VERBOSE | re.IGNORECASE,
)


def _iso(year: int, month: int, day: int) -> str | None:
    from datetime import date

    try:
        return date(year, month, day).isoformat() if 1000 <= year <= 9999 else None
    except ValueError:
        return None


def find_date(text: str) -> tuple[str, int, int] | None:
    """The first full calendar date in text as (ISO date, start, end); None when there is none."""
    for m in DATE_RE.finditer(text):
        if m["year1"]:
            iso = _iso(int(m["year1"]), _MONTHS[m["mname1"].rstrip(".").lower()], int(m["day1"]))
        elif m["year2"]:
            iso = _iso(int(m["year2"]), _MONTHS[m["mname2"].rstrip(".").lower()], int(m["day2"]))
        else:
            iso = _iso(int(m["year3"]), int(m["month3"]), int(m["day3"]))
        if iso:
            return iso, m.start(), m.end()
    return None


def month_number(text: str) -> int | None:
    """1-12 for "Mar", "march", "3", "03"; None otherwise."""
    t = text.strip().rstrip(".").lower()
    if t.isdigit():
        return int(t) if 1 <= int(t) <= 12 else None
    return _MONTHS.get(t)
