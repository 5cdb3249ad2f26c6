"""Is a claim consistent with a primary fact? Pure: plain values in, a verdict out.

Numbers agree within a relative tolerance per quantity (a card's "8.03B" is an article's "8B"; "128K" is
131,072 in one and 128,000 in another). A bound ("more than 20T") agrees with a fact on its side of the
bound, a range with a fact inside it (a context length "up to 256K" states 256K). Benchmark scores agree
within half a point on the same benchmark; dates when one is a prefix of the other ("2024-07" and
"2024-07-23").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

RELATIVE_TOLERANCE: dict[str, float] = {
    "parameters": 0.05,
    "active_parameters": 0.05,
    "training_tokens": 0.10,
    "context_length": 0.05,
    "gpu_hours": 0.10,
    "training_compute": 0.15,
    "cost": 0.25,
}
DEFAULT_RELATIVE_TOLERANCE = 0.10
# A card that dates the family ("Llama 3.1, released 2024-07-23") dates each of its sizes.
FAMILY_QUANTITIES = frozenset({"release_date"})
# "Up to 256K tokens of context" states the window itself, not a ceiling a smaller window would satisfy.
BOUND_IS_VALUE = frozenset({"context_length"})
BENCHMARK_ABSOLUTE_TOLERANCE = 0.5

CORROBORATED = "corroborated"
CONFLICTING = "conflicting"
UNCORROBORATED = "uncorroborated"
UNKNOWN_SUBJECT = "unknown_subject"


@dataclass(frozen=True, slots=True)
class ClaimValue:
    quantity: str
    value: float | None
    text_value: str = ""
    lower: float | None = None
    upper: float | None = None
    is_lower_bound: bool = False
    is_upper_bound: bool = False


@dataclass(frozen=True, slots=True)
class PrimaryFact:
    id: int
    value: float | None
    text_value: str = ""
    lower: float | None = None
    upper: float | None = None
    confidence: float = 1.0
    from_run: bool = False  # a run manifest of the article's team, not a catalog fact


def _bench(name: str) -> str:
    return re.sub(r"[\W_]+", "", name.casefold())


def _fact_number(fact: PrimaryFact) -> float | None:
    if fact.value is not None:
        return fact.value
    if fact.lower is not None and fact.upper is not None:
        return (fact.lower + fact.upper) / 2
    return fact.lower if fact.lower is not None else fact.upper


def agrees(claim: ClaimValue, fact: PrimaryFact) -> bool | None:
    """True / False, or None when the fact says nothing about this claim (another benchmark, no value)."""
    if claim.quantity == "release_date":
        a, b = claim.text_value.strip(), fact.text_value.strip()
        if not a or not b:
            return None
        return a.startswith(b) or b.startswith(a)
    if claim.quantity == "benchmark_score":
        if not claim.text_value or _bench(claim.text_value) != _bench(fact.text_value):
            return None
        if claim.value is None or fact.value is None:
            return None
        return abs(claim.value - fact.value) <= BENCHMARK_ABSOLUTE_TOLERANCE
    number = _fact_number(fact)
    if number is None:
        return None
    tol = RELATIVE_TOLERANCE.get(claim.quantity, DEFAULT_RELATIVE_TOLERANCE)
    low, high = claim.lower, claim.upper
    if claim.quantity in BOUND_IS_VALUE and claim.value is not None:
        low = high = None
    if low is not None or high is not None:
        return (low is None or number >= low * (1 - tol)) and (high is None or number <= high * (1 + tol))
    if claim.value is None:
        return None
    return abs(number - claim.value) <= tol * max(abs(number), abs(claim.value))


def verdict(
    claim: ClaimValue, facts: Sequence[PrimaryFact], *, subject_known: bool
) -> tuple[str, PrimaryFact | None]:
    """(status, the fact it was checked against). The best agreeing fact wins (catalog facts before runs);
    with none agreeing, the most confident disagreeing one is named; with no relevant fact the claim is
    uncorroborated."""
    if not subject_known:
        return UNKNOWN_SUBJECT, None
    ranked = sorted(facts, key=lambda f: (f.from_run, -f.confidence, f.id))
    disagreeing: PrimaryFact | None = None
    for fact in ranked:
        result = agrees(claim, fact)
        if result:
            return CORROBORATED, fact
        if result is False and disagreeing is None:
            disagreeing = fact
    if disagreeing is not None:
        return CONFLICTING, disagreeing
    return UNCORROBORATED, None
