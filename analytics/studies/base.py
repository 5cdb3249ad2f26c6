"""What a study kind is: how it selects points, fits them and draws them. Kinds live in `kinds/`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analytics.fitting.errors import FitError
from analytics.models import Study
from analytics.studies.authoring import OptionSpec
from analytics.studies.points import StudyPoint

Figure = dict[str, Any]
DEFAULT_BOOTSTRAP = 100


@dataclass
class FitOutcome:
    params: dict[str, Any] = field(default_factory=dict)
    ci: dict[str, Any] = field(default_factory=dict)
    residuals: list[dict[str, Any]] = field(default_factory=list)
    goodness: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StudyKind:
    """One kind of study. Adding a kind is one module in `kinds/` and one line in `registry.KINDS`."""

    kind: str  # stored in Study.kind
    label: str
    method: str  # stored in Fit.method
    # The study's runs as the points this kind fits. Called with a Study, or with a `points.StudyDraft` (same
    # attributes: team_id, kind, run_filter, target_metric, options) to preview an unsaved spec.
    points: Callable[[Any], Sequence[Any]]
    fit: Callable[[Study, Sequence[Any]], FitOutcome]
    figures: Callable[[dict[str, Any], dict[str, Any], list[dict[str, Any]]], list[Figure]]  # pure
    point_row: Callable[[Any], list[Any]]  # a point as JSON-able values, for the inputs hash
    template: str = ""  # kind-specific part of the study page (e.g. a table of per-size results)
    options_help: str = ""
    plannable: bool = False  # "plan a run" (N, D, loss, GPU hours) is offered for this kind's fits
    # The options editors may set (checked by `authoring.spec_from_data`); a kind declaring none takes none.
    options: tuple[OptionSpec, ...] = ()
    # Point attributes a run needs to be fitted, given the options (the preview says which runs lack them);
    # None when the kind does not say.
    needs: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None


def study_point_row(p: StudyPoint) -> list[Any]:
    return [p.run_id, p.n, p.d, p.u, p.budget, p.loss]


def check_values(points: Sequence[StudyPoint], fields: tuple[str, ...]) -> list[StudyPoint]:
    """Runs still lacking a needed value are left out; a present but impossible value stops the fit."""
    usable = []
    for p in points:
        values = {f: getattr(p, f) for f in fields}
        if any(v is None for v in values.values()):
            continue
        for name, value in values.items():
            if not math.isfinite(value) or value <= 0:
                reason = (
                    "is NaN" if math.isnan(value) else ("is infinite" if math.isinf(value) else "must be > 0")
                )
                raise FitError(f"run '{p.run_name}' (id {p.run_id}): {name} {reason} (value {value!r})")
        usable.append(p)
    return usable


def column(points: Sequence[StudyPoint], name: str) -> list[float]:
    """One field of points that `check_values` kept (so it is present and finite)."""
    values = [getattr(p, name) for p in points]
    if any(v is None for v in values):
        raise FitError(f"{name} is missing for a point that should have been left out")
    return [float(v) for v in values]


def goodness(residuals: np.ndarray, r2: float, n_points: int, excluded: int) -> dict[str, Any]:
    return {
        "r2": float(r2),
        "rmse_log": float(np.sqrt(np.mean(residuals**2))),
        "n_points": n_points,
        "n_excluded": excluded,
    }
