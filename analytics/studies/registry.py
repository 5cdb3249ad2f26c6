"""The table of study kinds: `Study.kind` names one of these; pages, fits and reports look kinds up here."""

from __future__ import annotations

from analytics.fitting.errors import FitError
from analytics.studies.base import StudyKind
from analytics.studies.kinds import chinchilla, data_constrained, isoflop, power_law, synthetic_ratio

KINDS: dict[str, StudyKind] = {
    spec.kind: spec
    for spec in (chinchilla.SPEC, power_law.SPEC, isoflop.SPEC, data_constrained.SPEC, synthetic_ratio.SPEC)
}


def kind_get(kind: str) -> StudyKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise FitError(f"unknown study kind {kind!r}; known: {', '.join(KINDS)}") from None
