"""Precision-aware scaling (Kumar et al. 2024): Chinchilla's law with effective parameters shrunk by the
bits of weights, activations and KV cache (run config `bits_weights`, `bits_activations`, `bits_kv`, else the
run's precision), gammas with bootstrap intervals and the compute-optimal tied precision P*."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analytics.figures.precision import precision_figures
from analytics.fitting.precision import PrecisionFit
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
    goodness,
    intervals_json,
    safe_intervals,
    warnings_json,
)
from analytics.studies.points import RunPoint, run_point_row, run_points

LEVEL = 0.95
NEEDS = ("n", "d", "bits_w", "bits_a", "bits_kv", "loss")


def fit(study: Study, points: Sequence[RunPoint]) -> FitOutcome:
    total = len(points)
    pts = check_values(points, NEEDS)
    n, d, pw, pa, pkv, loss = (np.array(column(pts, k)) for k in NEEDS)
    n_boot = int(study.options.get("n_bootstrap", DEFAULT_BOOTSTRAP))
    res = (
        PrecisionFit(n_bootstrap=n_boot, random_state=int(study.options.get("seed", 0)))
        .fit(n, d, pw, pa, pkv, loss)
        .result_
    )
    intervals, missing = safe_intervals(lambda: res.intervals(LEVEL))
    p = res.params
    predicted = p.predict(n, d, pw, pa, pkv)
    # Loss vs weight bits at the largest (N, D) in the data, activations and KV cache at 16 bits.
    i = int(np.argmax(n * d))
    bits = np.linspace(2.0, 16.0, 57)
    ones = np.ones_like(bits)
    at = (n[i] * ones, d[i] * ones, bits, 16.0 * ones, 16.0 * ones)
    bands = {
        "bits": bits.tolist(),
        "n": float(n[i]),
        "d": float(d[i]),
        "data_min": float(pw.min()),
        "confidence": band_json(res.band(*at, LEVEL, "confidence")),
        "prediction": band_json(res.band(*at, LEVEL, "prediction")),
    }
    residuals = [
        {"run_id": q.run_id, "run": q.run_name, "n": q.n, "d": q.d, "bits_w": q.bits_w, "bits_a": q.bits_a,
         "bits_kv": q.bits_kv, "observed": q.loss, "predicted": float(f), "residual": float(r)}
        for q, f, r in zip(pts, predicted, res.residuals, strict=True)
    ]  # fmt: skip
    params = {**p.base.to_dict(), "gamma_w": p.gamma_w, "gamma_a": p.gamma_a, "gamma_kv": p.gamma_kv}
    if "optimal_precision" in intervals:
        params["optimal_precision"] = intervals["optimal_precision"].estimate
    ss_tot = float(np.sum((np.log(loss) - np.log(loss).mean()) ** 2))
    r2 = 1.0 - float(np.sum(res.residuals**2)) / ss_tot if ss_tot > 0 else 1.0
    return FitOutcome(
        params,
        {"level": LEVEL, "bands": bands},
        residuals,
        goodness(res.residuals, r2, len(pts), total - len(pts)),
        intervals=intervals_json(intervals),
        warnings=warnings_json(res.warnings, missing),
    )


SPEC = StudyKind(
    kind="precision",
    label="Precision scaling (Kumar et al. 2024)",
    method="precision_kumar2024",
    points=run_points,
    fit=fit,
    figures=precision_figures,
    point_row=run_point_row,
    options_help='{"n_bootstrap": 100, "seed": 0}',
    options=(
        BOOTSTRAP_OPTION,
        SEED_OPTION,
    ),
    needs=lambda options: NEEDS,
)
