"""The table of study kinds: `Study.kind` names one of these; pages, fits and reports look kinds up here."""

from __future__ import annotations

from typing import Any

from analytics.fitting.errors import FitError
from analytics.studies import authoring
from analytics.studies.authoring import OptionSpec, StudySpec
from analytics.studies.base import StudyKind
from analytics.studies.kinds import (
    chinchilla,
    data_constrained,
    diffusion_ar,
    downstream,
    isoflop,
    kaplan,
    power_law,
    precision,
    synthetic_ratio,
    test_time,
)

KINDS: dict[str, StudyKind] = {
    spec.kind: spec
    for spec in (
        chinchilla.SPEC,
        power_law.SPEC,
        isoflop.SPEC,
        data_constrained.SPEC,
        synthetic_ratio.SPEC,
        kaplan.SPEC,
        precision.SPEC,
        downstream.SPEC,
        test_time.SPEC,
        diffusion_ar.SPEC,
    )
}


def kind_get(kind: str) -> StudyKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise FitError(f"unknown study kind {kind!r}; known: {', '.join(KINDS)}") from None


# The options each kind declares, for `authoring.spec_from_data(data, kinds=KIND_OPTIONS)`.
KIND_OPTIONS: dict[str, tuple[OptionSpec, ...]] = {name: kind.options for name, kind in KINDS.items()}


def spec_from_data(data: Any) -> StudySpec:
    """A study spec from page or API data, checked against every kind's declared options (SpecError)."""
    return authoring.spec_from_data(data, kinds=KIND_OPTIONS)
