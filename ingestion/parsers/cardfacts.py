"""What a model card's labels and numbers mean: label -> fact name, cell text -> value, model names.

Shared by the table reader (``cardtables``) and the prose reader (``cardprose``). Pure functions.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

from ingestion.parsers.records import FactRecord
from ingestion.parsers.text import Quantity, find_date, parse_quantity

UNITS = {
    "parameters": "params",
    "active_parameters": "params",
    "non_embedding_parameters": "params",
    "training_tokens": "tokens",
    "gpu_hours": "GPU-hours",
    "tdp_watts": "W",
    "co2_tonnes": "tCO2eq",
    "co2_tonnes_market_based": "tCO2eq",
    "context_length": "tokens",
    "hardware": "",
    "release_date": "",
}
# Counts that need a magnitude ("7B", "1.4T") or a full number ("1,261,545,472"): "7" is never 7 parameters.
COUNT_FACTS = frozenset({"parameters", "active_parameters", "non_embedding_parameters", "training_tokens"})
ZERO_ALLOWED = frozenset({"co2_tonnes", "co2_tonnes_market_based"})
MIN_FULL_COUNT = 100_000

# --- inline markup ---------------------------------------------------------------------------------------

_IMAGE_RE = re.compile(r"!\[([^\]]{0,300})\]\([^)]{0,500}\)")
_LINK_RE = re.compile(r"\[([^\]]{0,300})\]\([^)]{0,500}\)")
_TAG_RE = re.compile(r"<[^<>]{0,300}>")
_EMPHASIS_RE = re.compile(r"(\*\*|__|\*(?=\S)|(?<=\S)\*|`+|~~)")


def clean_inline(text: str) -> str:
    """Markdown/HTML inline markup removed: links keep their text, images and tags go, entities decoded."""
    out = _IMAGE_RE.sub(" ", text)
    out = _LINK_RE.sub(r"\1", out)
    out = _TAG_RE.sub(" ", out)
    out = _EMPHASIS_RE.sub("", out)
    out = html.unescape(out).replace("\u00a0", " ")
    return " ".join(out.split())


def strip_symbols(text: str) -> str:
    """Emoji and pictographs removed (a title "🚀 Falcon-7B" names "Falcon-7B")."""
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in ("So", "Cs", "Co", "Mn"))
    return " ".join(kept.split()).strip(" -:|*#")


def norm_name(text: str) -> str:
    """Lower-case letters and digits only: "Falcon-7B" == "falcon-7b", "Phi-1.5" == "phi-1_5"."""
    return re.sub(r"[^0-9a-z]+", "", text.lower())


# --- labels -> fact names ----------------------------------------------------------------------------------

NOT_A_FACT_RE = re.compile(
    r"per\s*(?:second|sec|s)\b|/\s*s\b|tok/s|throughput|latency|time to first|\bttft\b|speed|price|cost|\$|"
    r"vocab|batch|warm|ramp|max(?:imum)? new|output|generat|embedding (?:dim|size)|\blayers?\b|\bheads?\b|"
    r"hidden|learning rate|\blr\b|epoch|\bsteps?\b|cut-?off|freshness|dataset size|data size|\bdisk\b|memory|"
    r"\bvram\b|\bgb\b|download|file size|quantiz",
)


def fact_for_label(label: str) -> str | None:
    """The controlled fact name a table header, row label or "Key:" names; None for anything else."""
    h = clean_inline(label).lower().replace("_", " ").replace("₂", "2")
    h = " ".join(h.split())
    if not h or len(h) > 120:
        return None
    if "gpu hour" in h or "gpu-hour" in h or "gpu hrs" in h or "gpuhours" in h.replace(" ", ""):
        return "gpu_hours"
    if re.search(r"co2|carbon|greenhouse|emission", h):
        return "co2_tonnes_market_based" if "market" in h else "co2_tonnes"
    if re.search(r"\btdp\b|power consumption|peak power|power \(w\)", h):
        return "tdp_watts"
    if "release" in h and ("date" in h or h.startswith("release")):
        return "release_date"
    if NOT_A_FACT_RE.search(h):
        return None
    if re.search(r"non[- ]?emb", h):
        return "non_embedding_parameters"
    if re.search(r"\bactiv(?:e|ated)\b", h) and "param" in h:
        return "active_parameters"
    if re.search(r"\bparam|^(?:# ?)?(?:model )?size$|^model size\b|^#? ?params?\b", h):
        return "parameters"
    # "Context length", "Max context", "Content Length" (sic), "Sequence length"; not a "Long Context" row.
    if re.search(
        r"\bcontext[ -]?(?:length|window|size|len)s?\b|^(?:max(?:imum)? )?context$|content length|"
        r"seq(?:uence)?[ .-]?len|max(?:imum)? (?:seq|position|length)\b",
        h,
    ):
        return "context_length"
    if "token" in h and not re.search(r"sequence|input|window|per\b|/", h):
        return "training_tokens"
    return None


# --- cell text -> values -----------------------------------------------------------------------------------

_HEADER_SCALE = (
    (re.compile(r"\b(?:in )?(?:trillions?)\b|\(t\)", re.I), 1e12),
    (re.compile(r"\b(?:in )?(?:billions?|bn)\b|\(b\)", re.I), 1e9),
    (re.compile(r"\b(?:in )?(?:millions?)\b|\(m\)", re.I), 1e6),
    (re.compile(r"\b(?:in )?(?:thousands?)\b|\(k\)", re.I), 1e3),
)
_BINARY_K_RE = re.compile(r"^\s*[~≈]?\s*(\d+(?:\.\d+)?)\s*([kKmM])\b(?!\w)")
_SUFFIXED_RE = re.compile(
    r"^\s*(?:about|approximately|approx\.?|around|roughly|over|more than|[~≈>])?\s*\d[\d,]*(?:\.\d+)?\s*"
    r"(?:[kmbt]\b|thousand|million|billion|trillion|mn|bn)",
    re.I,
)
_NA = frozenset(
    {"", "-", "\u2014", "\u2013", "n/a", "na", "?", "none", "unknown", "tbd", "x", "\u2717", "\u2718"}
)


def header_scale(header: str) -> float:
    for pattern, scale in _HEADER_SCALE:
        if pattern.search(header):
            return scale
    return 1.0


@dataclass(frozen=True, slots=True)
class Value:
    value: float | None
    text: str
    lower: float | None = None
    upper: float | None = None


def parse_value(name: str, text: str, *, scale: float = 1.0) -> Value | None:
    """A fact's value from cell or sentence text starting at the number; None when it is not one."""
    raw = clean_inline(text)
    if raw.lower() in _NA:
        return None
    if name == "release_date":
        found = find_date(raw)
        return Value(None, found[0]) if found else None
    if name == "hardware":
        return Value(None, raw[:100]) if raw else None
    raw = re.sub(r"^([~≈])\s+", r"\1", raw)
    raw = re.sub(r"^full\s+", "", raw, flags=re.I)
    raw = re.sub(r"\b(thousand|million|billion|trillion)s?\b", lambda m: m.group(1).lower(), raw, flags=re.I)
    if name == "context_length":
        m = _BINARY_K_RE.match(raw)
        if m:
            # "4k" / "128K" contexts are powers of two: 4,096 / 131,072 tokens.
            number = float(m[1]) * (1024 if m[2] in "kK" else 1024 * 1024)
            return Value(number, m.group(0).strip())
    q = parse_quantity(raw)
    if q is None:
        return None
    value, lower, upper = q.value, q.lower, q.upper
    suffixed = bool(_SUFFIXED_RE.match(raw))
    if not suffixed and scale != 1.0:
        value, lower, upper = value * scale, _times(lower, scale), _times(upper, scale)
        suffixed = True
    if name in COUNT_FACTS and not suffixed and value < MIN_FULL_COUNT:
        return None
    if name == "context_length" and (not 128 <= value <= 1e9 or value != int(value)):
        return None  # a window is a whole number of tokens: 96.8 in a "Long Context" row is a score
    ranged = lower is not None and upper is not None and lower != upper
    if name in ("parameters", "active_parameters") and ranged and _RANGE_RE.search(q.text):
        return None  # "13B-70B" is a set of models, not one model's size
    if value < 0 or (value == 0 and name not in ZERO_ALLOWED):
        return None
    return Value(value, q.text, lower, upper)


_RANGE_RE = re.compile(r"\d\s*[a-zA-Z]*\s*(?:-|\u2013|to)\s*\d")


def _times(x: float | None, scale: float) -> float | None:
    return None if x is None else x * scale


def quantity_of(value: Value) -> Quantity:
    return Quantity(value.value or 0.0, value.lower, value.upper, value.text)


def make_fact(
    name: str,
    value: Value,
    *,
    line: int | None,
    confidence: float,
    location: str,
    excerpt: str,
    subject: str = "",
) -> FactRecord:
    if value.value is None:
        return FactRecord(
            name,
            None,
            text_value=value.text,
            confidence=confidence,
            line=line,
            location=location[:300],
            excerpt=excerpt.strip()[:300],
            subject=subject[:200],
        )
    return FactRecord(
        name,
        value.value,
        unit=UNITS.get(name, ""),
        text_value=value.text,
        lower=value.lower,
        upper=value.upper,
        confidence=confidence,
        line=line,
        location=location[:300],
        excerpt=excerpt.strip()[:300],
        subject=subject[:200],
    )


# --- model names -------------------------------------------------------------------------------------------

_SIZE_TOKEN_RE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?[BMT]\b|\b\d+x\d+B\b", re.I)
_NOMINAL_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s?([BMT])\b(?!\s*(?:-|\u2013|to)\s*\d)", re.I)
_TOTAL_RE = re.compile(r"^(?:total|sum|overall|all|grand total)\b", re.I)


def has_size(name: str) -> bool:
    return bool(_SIZE_TOKEN_RE.search(name))


def nominal_size(cell: str) -> str | None:
    """ "8B" from a parameters cell ("8B", "1B (1.23B)", "8 B"); None for "1,261,545,472" or text."""
    m = _NOMINAL_SIZE_RE.match(clean_inline(cell))
    return f"{m[1]}{m[2].upper()}" if m else None


def is_total(label: str) -> bool:
    return bool(_TOTAL_RE.match(clean_inline(label)))


def clean_subject(label: str) -> str:
    """A row or column label as a model name: markup gone, "(text only)"-style qualifiers dropped."""
    text = clean_inline(label)
    text = re.sub(
        r"\s*\((?:text[- ]only|base|pretrained|instruct(?:ion)?[- ]tuned|new|ours)\)\s*",
        " ",
        text,
        flags=re.I,
    )
    text = re.sub(r"[*^\u2020\u2021\u00a7]+$", "", text.strip())  # footnote marks: "Zephyr-β^", "SOTA**"
    return strip_symbols(text)[:200]


def same_model(name: str, card_name: str) -> bool:
    """True when ``name`` is the card's model: the same name in any spelling, or a name the card's name
    contains at its start or end ("Llama 3.1 8B" on "Meta-Llama-3.1-8B", the family "TinyLlama" on
    "TinyLlama-1.1B"). A longer name ("TinyLlama-1.1B-intermediate-step-50K") is another model."""
    n, card = norm_name(name), norm_name(card_name)
    if not n or not card:
        return False
    if n == card:
        return True
    if len(n) >= 4 and card.endswith(n):
        return True
    # "Falcon-7B" on "falcon-7b-instruct" is the base model, not the card's: a variant suffix makes
    # another model; a version ("Mistral-7B" on "Mistral-7B-v0.1") or a size ("TinyLlama") does not.
    return len(n) >= 4 and card.startswith(n) and not _VARIANT_RE.match(card[len(n) :])


_VARIANT_RE = re.compile(
    r"^(?:instruct|chat|it|sft|dpo|rlhf|ppo|orpo|kto|coder|code|math|vision|vl|guard|reward|rm|distill|"
    r"base|preview|turbo|mini|lite|nano|awq|gptq|gguf|fp8|int[48]|[a-z]{2,}chat)"
)
