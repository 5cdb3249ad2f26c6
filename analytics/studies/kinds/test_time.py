"""Test-time compute scaling (Snell et al. 2024): accuracy (the study's target) against inference FLOPs per
strategy (run config `strategy`; FLOPs from `inference_flops`, or 2 N x `inference_tokens`), a saturating
curve per strategy with bootstrap bands, and the best strategy at the largest budget."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from analytics.figures.test_time import test_time_figures
from analytics.fitting.errors import FitError
from analytics.fitting.intervals import percentile_interval
from analytics.fitting.test_time import TestTimeScalingFit
from analytics.models import Study
from analytics.studies.base import (
    BOOTSTRAP_OPTION,
    DEFAULT_BOOTSTRAP,
    SEED_OPTION,
    FitOutcome,
    StudyKind,
    band_json,
    check_values,
    column,
    interval_json,
    warnings_json,
)
from analytics.studies.points import RunPoint, run_point_row, run_points

LEVEL = 0.95
EXTRAPOLATE = 10.0
NEEDS = ("inference_flops", "loss")


def fit(study: Study, points: Sequence[RunPoint]) -> FitOutcome:
    total = len(points)
    pts = [p for p in check_values(points, NEEDS) if p.strategy is not None]
    if not pts:
        raise FitError("no run has config strategy, inference FLOPs and the target")
    flops, acc = column(pts, "inference_flops"), column(pts, "loss")
    n_boot = int(study.options.get("n_bootstrap", DEFAULT_BOOTSTRAP))
    est = TestTimeScalingFit(n_bootstrap=n_boot, random_state=int(study.options.get("seed", 0)))
    res = est.fit([str(p.strategy) for p in pts], flops, acc).result_
    params: dict[str, Any] = {}
    intervals: dict[str, Any] = {}
    bands = []
    residual_of: dict[int, float] = {}
    f_max = max(flops)
    for name, curve in sorted(res.curves.items()):
        params.update({f"{name}_floor": curve.floor, f"{name}_gain": curve.gain, f"{name}_k": curve.k})
        params[f"{name}_x0"] = curve.x0
        b = curve.bootstrap
        if b.shape[0] >= 2:
            for j, key in enumerate(("gain", "k", "x0", "floor")):
                est_value = float(curve.theta[j])
                iv = percentile_interval(est_value, b[:, j], LEVEL, what=f"{name} {key}")
                intervals[f"{name}_{key}"] = interval_json(iv)
        sel = [p for p in pts if p.strategy == name]
        for p, r in zip(sel, curve.residuals, strict=True):
            residual_of[p.run_id] = float(r)
        lo, hi = curve.flops_range
        grid = np.logspace(math.log10(lo), math.log10(hi * EXTRAPOLATE), 50)
        bands.append(
            {
                "strategy": name,
                "flops": grid.tolist(),
                "data_max": hi,
                "confidence": band_json(curve.band(grid, LEVEL, "confidence")),
                "prediction": band_json(curve.band(grid, LEVEL, "prediction")),
            }
        )
    best = res.best_strategy(f_max)
    params["best_strategy"] = best
    derived = [
        {
            "compute": f_max,
            "label": f"largest inference budget; best strategy there: {best}",
            "values": {
                f"{name}_accuracy": interval_json(curve.predict_interval(f_max, LEVEL))
                for name, curve in sorted(res.curves.items())
            },
        }
    ]
    residuals = [
        {"run_id": p.run_id, "run": p.run_name, "strategy": p.strategy, "flops": p.inference_flops,
         "observed": p.loss, "residual": residual_of.get(p.run_id)}
        for p in pts
    ]  # fmt: skip
    all_r = np.array(list(residual_of.values()))
    good = {"rmse": float(np.sqrt(np.mean(all_r**2))), "n_points": len(pts), "n_excluded": total - len(pts)}
    return FitOutcome(
        params,
        {"level": LEVEL, "bands": bands},
        residuals,
        good,
        intervals=intervals,
        derived=derived,
        warnings=warnings_json(res.warnings),
    )


SPEC = StudyKind(
    kind="test_time",
    label="Test-time compute scaling (Snell et al. 2024)",
    method="test_time_snell2024",
    points=run_points,
    fit=fit,
    figures=test_time_figures,
    point_row=run_point_row,
    options_help='{"n_bootstrap": 100, "seed": 0}; target: an accuracy (e.g. benchmark:MATH)',
    options=(
        BOOTSTRAP_OPTION,
        SEED_OPTION,
    ),
    needs=lambda options: NEEDS,
)
