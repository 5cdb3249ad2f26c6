"""Numbers for people and back: 1.3B parameters, 1.26T tokens, 3.65e21 FLOPs; "7e9" or "1.3B" in a filter.

Pure (no Django): the runs pages, the CSV export and the future API share these. Pages show the short form
and put `exact()` in the cell's title attribute; exports write `exact()`.
"""

from __future__ import annotations

import math
import re

# Decimal (SI-style) suffixes as researchers write them: 7B parameters, 1.4T tokens. "G" is accepted as 1e9.
SUFFIXES: dict[str, float] = {
    "k": 1e3,
    "m": 1e6,
    "b": 1e9,
    "g": 1e9,
    "t": 1e12,
    "p": 1e15,
    "e": 1e18,
}
DASH = "\u2013"  # shown for a missing value
_SHOWN = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")]
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?)\s*([kmbgtpe]?)\s*$", re.I)


def _sig(value: float, digits: int) -> str:
    """`value` to `digits` significant digits, without a trailing ".0" or exponent."""
    text = f"{value:.{digits}g}"
    if "e" in text:  # 999.96 with 3 digits -> 1e+03: fall back to a plain rounded number
        text = f"{value:.0f}"
    return text


def human_count(value: float | None, digits: int = 3) -> str:
    """1.3e9 -> "1.3B", 1.26e12 -> "1.26T", 350e6 -> "350M", 812 -> "812"; None -> a dash."""
    if value is None:
        return DASH
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    for scale, suffix in _SHOWN:
        if magnitude >= scale * 0.9995:
            shown = _sig(value / scale, digits)
            if abs(float(shown)) >= 1000 and suffix != "E":  # 999.96M rounds to 1000M: say 1B
                continue
            return f"{shown}{suffix}"
    return _sig(value, digits)


def human_sci(value: float | None, digits: int = 3) -> str:
    """FLOPs and other huge quantities: 3.6512e21 -> "3.65e21", 1e+20 -> "1e20"."""
    if value is None:
        return DASH
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def human_float(value: float | None, digits: int = 4) -> str:
    """Losses, shares, hours: 4 significant digits (2.34567 -> "2.346")."""
    if value is None:
        return DASH
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.{digits}g}"
    if "e" in text and 1e-3 <= abs(value) < 1e6:
        text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text


def exact(value: float | int | None) -> str:
    """The stored value, all digits (Python's shortest round-tripping repr): 7979498622.008407."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def parse_quantity(text: str) -> float:
    """ "1.3B" -> 1.3e9, "7e9" -> 7e9, "300m" -> 3e8, "1,000" -> 1000.0. Raises ValueError with the reason."""
    cleaned = text.replace(",", "").replace("_", "")
    match = _QUANTITY.match(cleaned)
    if match is None:
        raise ValueError(f"{text[:40]!r} is not a number (examples: 1.3B, 7e9, 250M, 1.4T)")
    value = float(match.group(1)) * SUFFIXES.get(match.group(2).lower(), 1.0)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]!r} is not a finite number")
    return value
