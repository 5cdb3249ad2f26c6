"""Which catalog model an article's subject names: a normaliser and a key -> model index.

"Llama 3.1 405B", "llama-3.1-405b", "meta-llama/Meta-Llama-3.1-405B" and "Llama3.1 405B" share one key. The
index is built from model names; model aliases (another table) add their own keys in `catalog_index`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from tracker.catalog.models import Model

# A vendor word some repositories put before the model's own name ("Meta-Llama-3.1-8B").
_VENDOR_PREFIXES = ("meta", "google", "microsoft", "nvidia", "ibm", "alibaba", "mistralai")
_NON_ALNUM = re.compile(r"[\W_]+")


def subject_key(name: str) -> str:
    """Case-, width-, space- and punctuation-free form of a model name, without an org/ prefix."""
    folded = unicodedata.normalize("NFKC", name).casefold().strip()
    if "/" in folded:
        folded = folded.rsplit("/", 1)[-1]
    return _NON_ALNUM.sub("", folded)[:300]


def name_keys(name: str) -> set[str]:
    """Every key a catalog name answers to: its own, and without a leading vendor word."""
    key = subject_key(name)
    keys = {key} if key else set()
    for vendor in _VENDOR_PREFIXES:
        if key.startswith(vendor) and len(key) > len(vendor) + 2:
            keys.add(key[len(vendor) :])
    return keys


def index_of(pairs: Iterable[tuple[int, str]]) -> dict[str, int]:
    """key -> model id over (id, name) pairs; a key two models answer to names neither (dropped)."""
    index: dict[str, int] = {}
    ambiguous: set[str] = set()
    for model_id, name in pairs:
        for key in name_keys(name):
            if index.get(key, model_id) != model_id:
                ambiguous.add(key)
            index[key] = model_id
    for key in ambiguous:
        index.pop(key, None)
    return index


def catalog_index(model_ids: Iterable[int] | None = None) -> dict[str, int]:
    """The index over every catalog model (or only `model_ids`)."""
    models = Model.objects.all() if model_ids is None else Model.objects.filter(pk__in=list(model_ids))
    return index_of(models.values_list("pk", "name"))


_SIZE_TAIL = re.compile(r"[\s_-]*(?:\d+x)?\d+(?:\.\d+)?\s*[BMKT]$", re.IGNORECASE)


def family_name(subject: str) -> str:
    """The subject without a trailing size ("Llama 3.1 70B" -> "Llama 3.1"); "" when it has none."""
    stripped = _SIZE_TAIL.sub("", subject.strip())
    return stripped if stripped != subject.strip() else ""


def model_for_subject(subject: str, index: dict[str, int]) -> int | None:
    return index.get(subject_key(subject)) if subject else None
