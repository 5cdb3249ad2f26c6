"""Model identity: the normalised key two spellings of one model share (pure: strings in, strings out).

"Meta-Llama-3.1-405B", "meta-llama/Llama-3.1-405B" and "Llama 3.1 405B" all have the key "llama 3 1 405 b":

- case, accents, punctuation and spacing do not matter ("Phi-1_5" ~ "phi 1.5");
- a Hugging Face repository's owner does not matter ("meta-llama/" or the cache spelling "meta-llama__");
- a leading vendor word does not matter ("Meta Llama 3", "Google Gemma 7B");
- letters and digits are split apart, but digit groups are kept apart too: "Qwen2-7B" ("qwen 2 7 b") is not
  "Qwen-27B" ("qwen 27 b"), and "Llama 3.1" is not "Llama 31";
- a trailing "-hf" (a format conversion of the same weights) does not matter.
"""

from __future__ import annotations

import re
import unicodedata

# Vendor words dropped at the start of a name (only when more of the name follows).
VENDOR_PREFIXES = frozenset(
    {
        "meta",
        "facebook",
        "google",
        "microsoft",
        "nvidia",
        "ibm",
        "amazon",
        "apple",
        "openai",
        "anthropic",
        "deepmind",
        "mistralai",
        "tiiuae",
        "ai21labs",
        "stabilityai",
        "allenai",
        "bigscience",
        "eleutherai",
    }
)
FORMAT_SUFFIXES = frozenset({"hf"})

# Labels of table rows and columns that are never a model ("Total" GPU hours of a model table).
ROW_LABELS = frozenset(
    {
        "total",
        "totals",
        "sum",
        "overall",
        "average",
        "avg",
        "mean",
        "all",
        "all models",
        "combined",
        "subtotal",
        "grand total",
        "model",
        "models",
        "name",
    }
)

_TOKEN_RE = re.compile(r"[a-z]+|[0-9]+")


def name_tokens(name: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().strip()
    folded = folded.replace("__", "/")  # the Hugging Face cache spelling of owner/name
    if "/" in folded:
        folded = folded.rstrip("/").rsplit("/", 1)[-1]
    tokens = _TOKEN_RE.findall(folded)
    if len(tokens) > 1 and tokens[0] in VENDOR_PREFIXES:
        tokens = tokens[1:]
    if len(tokens) > 1 and tokens[-1] in FORMAT_SUFFIXES:
        tokens = tokens[:-1]
    return tokens


def model_key(name: str) -> str:
    """The normalised key of a model name ("" when the name has no letters or digits)."""
    return " ".join(name_tokens(name))[:300]


def is_row_label(name: str) -> bool:
    """True for "Total", "Average", "All models": labels of table rows, never the name of a model."""
    words = " ".join(re.findall(r"[a-z]+", name.lower()))
    return not re.search(r"\d", name) and words in ROW_LABELS


def is_file_name(name: str, file_name: str) -> bool:
    """True when `name` is only the stem of the uploaded file (`llama31_README` from llama31_README.md).

    A model is never named after the file its card was uploaded in.
    """
    base = file_name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return bool(stem) and name.strip().lower() in (stem.lower(), base.lower())
