"""What a study kind is: how it selects points, fits them and draws them. Kinds live in `kinds/`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analytics.fitting.errors import FitError
from analytics.fitting.intervals import Band, Interval
from analytics.fitting.plausibility import FitWarning, combine
from analytics.models import Study
from analytics.studies.authoring import OptionSpec
from analytics.studies.points import StudyPoint

Figure = dict[str, Any]
DEFAULT_BOOTSTRAP = 100
# The two options every bootstrapped kind declares the same way.
BOOTSTRAP_OPTION = OptionSpec("n_bootstrap", "int", "bootstrap replicates", DEFAULT_BOOTSTRAP, lo=2, hi=2000)
SEED_OPTION = OptionSpec("seed", "int", "random seed", 0, lo=0, hi=2**31 - 1)


@dataclass
class FitOutcome:
    params: dict[str, Any] = field(default_factory=dict)
    ci: dict[str, Any] = field(default_factory=dict)  # level, bootstrap samples, bands for the figures
    residuals: list[dict[str, Any]] = field(default_factory=list)
    goodness: dict[str, Any] = field(default_factory=dict)
    intervals: dict[str, Any] = field(default_factory=dict)  # name -> `interval_json`
    derived: list[dict[str, Any]] = field(default_factory=list)  # [{compute, label, values: {name: iv}}]
    warnings: list[dict[str, Any]] = field(default_factory=list)  # FitWarning.to_dict(), deduplicated


def jsonable(value: Any) -> Any:
    """`value` with every non-finite float as None and arrays/tuples as lists (jsonb refuses NaN/Infinity)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def interval_json(iv: Interval) -> dict[str, Any]:
    """An interval as stored: open bounds (the data do not bound that side) become null, `bounded` says so."""
    out: dict[str, Any] = jsonable(iv.to_dict())
    # A positive quantity whose interval runs to 0 is open below too (Interval's convention).
    out["bounded"] = bool(iv.bounded and not (iv.low == 0 and iv.estimate > 0))
    if math.isfinite(iv.low) and math.isfinite(iv.high) and iv.low > 0 and iv.high > 0:
        out["orders"] = iv.orders_of_magnitude()
    return out


def intervals_json(intervals: Mapping[str, Interval]) -> dict[str, Any]:
    return {name: interval_json(iv) for name, iv in intervals.items()}


def warnings_json(*groups: Iterable[FitWarning]) -> list[dict[str, Any]]:
    return [w.to_dict() for w in combine(*groups)]


def band_json(band: Band) -> dict[str, Any]:
    """A band for a figure: x inputs, estimate, low, high, level and kind."""
    out: dict[str, Any] = jsonable(band.to_dict())
    return out


def safe_intervals(get: Callable[[], Mapping[str, Interval]]) -> tuple[dict[str, Interval], list[FitWarning]]:
    """Intervals when the fit has what they need (a bootstrap with usable replicates), else a warning."""
    try:
        return dict(get()), []
    except FitError as exc:
        return {}, [FitWarning("no_interval", f"no intervals: {exc}", "warning")]


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


def check_values[P](points: Sequence[P], fields: tuple[str, ...]) -> list[P]:
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
                where = f"run '{getattr(p, 'run_name', '')}' (id {getattr(p, 'run_id', '')})"
                raise FitError(f"{where}: {name} {reason} (value {value!r})")
        usable.append(p)
    return usable


def column(points: Sequence[Any], name: str) -> list[float]:
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
