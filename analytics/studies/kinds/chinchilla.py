"""Chinchilla Approach 3: L = E + A/N^alpha + B/D^beta, Huber on log loss, bootstrap intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from analytics.figures.chinchilla import chinchilla_figures
from analytics.fitting.chinchilla import PARAM_NAMES, ChinchillaApproach3, ChinchillaResult
from analytics.models import Study
from analytics.studies.authoring import OptionSpec
from analytics.studies.base import (
    DEFAULT_BOOTSTRAP,
    SEED_OPTION,
    FitOutcome,
    StudyKind,
    band_json,
    check_values,
    column,
    goodness,
    intervals_json,
    safe_intervals,
    study_point_row,
    warnings_json,
)
from analytics.studies.points import StudyPoint, study_points

LEVEL = 0.95
PLAN_COMPUTE = 1e22  # the budget a team asks about first; the page's "plan a run" takes any other
FRONTIER_POINTS = 60
EXTRAPOLATE = 100.0


def derived_at(res: ChinchillaResult, compute: float, label: str) -> dict[str, Any]:
    """N_opt, D_opt, tokens per parameter and loss at `compute`, with intervals when there is a bootstrap."""
    n_opt, d_opt = (float(v) for v in res.params.compute_optimal(compute))
    values: dict[str, Any]
    intervals, _ = safe_intervals(lambda: res.derived(compute, LEVEL))
    if intervals:
        values = intervals_json(intervals)
    else:
        point = {"n_opt": n_opt, "d_opt": d_opt, "tokens_per_parameter": d_opt / n_opt}
        values = {k: {"estimate": v, "low": None, "high": None, "level": LEVEL} for k, v in point.items()}
    return {"compute": compute, "label": label, "values": values}


def _frontier_bands(res: ChinchillaResult) -> dict[str, Any]:
    """Loss along the compute-optimal frontier (confidence and prediction bands) over the data's compute
    range and EXTRAPOLATE times beyond it (drawn dashed)."""
    lo, hi = res.compute_range
    c = np.logspace(np.log10(lo), np.log10(hi * EXTRAPOLATE), FRONTIER_POINTS)
    n_opt, d_opt = res.params.compute_optimal(c)
    conf = res.band(n_opt, d_opt, LEVEL, "confidence")
    pred = res.band(n_opt, d_opt, LEVEL, "prediction")
    return {
        "compute": c.tolist(),
        "data_max": hi,
        "confidence": band_json(conf),
        "prediction": band_json(pred),
    }


def fit(study: Study, points: Sequence[StudyPoint]) -> FitOutcome:
    total = len(points)
    pts = check_values(points, ("n", "d", "loss"))
    n_boot = int(study.options.get("n_bootstrap", DEFAULT_BOOTSTRAP))
    plan_compute = float(study.options.get("plan_compute", PLAN_COMPUTE))
    est = ChinchillaApproach3(n_bootstrap=n_boot, random_state=int(study.options.get("seed", 0)))
    # A run without U is taken to have seen only fresh tokens; runs with D > U are flagged (repeated data).
    unique = [
        float(p.u) if p.u is not None and p.u > 0 else d for p, d in zip(pts, column(pts, "d"), strict=True)
    ]
    est.fit(column(pts, "n"), column(pts, "d"), column(pts, "loss"), u=unique)
    res = est.result_
    intervals, missing = safe_intervals(lambda: res.intervals(LEVEL))
    data_max = res.compute_range[1]
    derived = [derived_at(res, data_max, "largest compute in the data")]
    if plan_compute != data_max:
        derived.append(derived_at(res, plan_compute, "planning budget"))
    warnings = warnings_json(
        res.plausibility(data_max, LEVEL), res.plausibility(plan_compute, LEVEL), missing
    )
    ci = {
        "level": LEVEL,
        "params": {k: list(v) for k, v in res.ci(LEVEL).items()},
        "bootstrap": res.bootstrap.tolist(),
        "columns": list(PARAM_NAMES),
        "bands": _frontier_bands(res),
    }
    params = {**res.params.to_dict(), "objective": res.objective, "n_starts": res.n_starts}
    params["n_exponent"] = res.n_exponent
    params["d_exponent"] = res.d_exponent
    predicted = np.exp(np.log(np.array(column(pts, "loss"))) + res.residuals)
    residuals = [
        {
            "run_id": p.run_id,
            "run": p.run_name,
            "n": p.n,
            "d": p.d,
            "observed": p.loss,
            "predicted": float(q),
            "residual": float(r),
        }
        for p, r, q in zip(pts, res.residuals, predicted, strict=True)
    ]
    return FitOutcome(
        params,
        ci,
        residuals,
        goodness(res.residuals, res.r2, len(pts), total - len(pts)),
        intervals=intervals_json(intervals),
        derived=derived,
        warnings=warnings,
    )


SPEC = StudyKind(
    kind="chinchilla",
    label="Chinchilla Approach 3 (L = E + A/N^a + B/D^b)",
    method="chinchilla_approach3",
    points=study_points,
    fit=fit,
    figures=chinchilla_figures,
    point_row=study_point_row,
    options_help='{"n_bootstrap": 100, "seed": 0, "plan_compute": 1e22}',
    plannable=True,
    options=(
        OptionSpec(
            "n_bootstrap",
            "int",
            "bootstrap replicates",
            DEFAULT_BOOTSTRAP,
            lo=2,
            hi=2000,
            help="resamples of the runs for the 95% intervals; more is slower",
        ),
        SEED_OPTION,
        OptionSpec(
            "plan_compute",
            "float",
            "budget for the allocation (FLOPs)",
            PLAN_COMPUTE,
            lo=1e10,
            hi=1e32,
            help="N_opt, D_opt and tokens per parameter are reported, with intervals, at this budget",
        ),
    ),
    needs=lambda options: ("n", "d", "loss"),
)
