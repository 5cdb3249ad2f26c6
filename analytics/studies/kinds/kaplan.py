"""Kaplan et al. 2020 joint law L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D, bootstrap intervals."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analytics.figures.laws import loss_by_size_figures
from analytics.fitting.kaplan import KaplanJointFit
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
    study_point_row,
    warnings_json,
)
from analytics.studies.points import StudyPoint, study_points

LEVEL = 0.95
EXTRAPOLATE = 10.0


def size_bands(ns: list[float], ds: list[float], band: object) -> list[dict[str, object]]:
    """Loss vs D at each distinct N (up to 6), over the data's D range and EXTRAPOLATE beyond it."""
    sizes = sorted(set(ns))
    if len(sizes) > 6:
        sizes = [sizes[int(i)] for i in np.linspace(0, len(sizes) - 1, 6).round()]
    d_lo, d_hi = min(ds), max(ds)
    grid = np.logspace(np.log10(d_lo), np.log10(d_hi * EXTRAPOLATE), 40)
    out = []
    for n in sizes:
        n_arr = np.full_like(grid, n)
        out.append(
            {
                "n": n,
                "d": grid.tolist(),
                "data_max": d_hi,
                "confidence": band_json(band(n_arr, grid, LEVEL, "confidence")),  # type: ignore[operator]
                "prediction": band_json(band(n_arr, grid, LEVEL, "prediction")),  # type: ignore[operator]
            }
        )
    return out


def fit(study: Study, points: Sequence[StudyPoint]) -> FitOutcome:
    total = len(points)
    pts = check_values(points, ("n", "d", "loss"))
    n_boot = int(study.options.get("n_bootstrap", DEFAULT_BOOTSTRAP))
    ns, ds, loss = column(pts, "n"), column(pts, "d"), column(pts, "loss")
    res = (
        KaplanJointFit(n_bootstrap=n_boot, random_state=int(study.options.get("seed", 0)))
        .fit(ns, ds, loss)
        .result_
    )
    intervals, missing = safe_intervals(lambda: res.intervals(LEVEL))
    p = res.params
    predicted = p.predict(ns, ds)
    residuals = [
        {"run_id": q.run_id, "run": q.run_name, "n": q.n, "d": q.d, "observed": q.loss,
         "predicted": float(f), "residual": float(r)}
        for q, f, r in zip(pts, predicted, res.residuals, strict=True)
    ]  # fmt: skip
    params = {
        "alpha_n": p.alpha_n,
        "alpha_d": p.alpha_d,
        "n_c": p.n_c,
        "d_c": p.d_c,
        "data_exponent": p.alpha_n / p.alpha_d,
    }
    return FitOutcome(
        params,
        {"level": LEVEL, "bands": size_bands(ns, ds, res.band)},
        residuals,
        goodness(res.residuals, res.r2, len(pts), total - len(pts)),
        intervals=intervals_json(intervals),
        warnings=warnings_json(res.warnings, missing),
    )


SPEC = StudyKind(
    kind="kaplan",
    label="Kaplan 2020 joint law L(N, D)",
    method="kaplan2020_joint",
    points=study_points,
    fit=fit,
    figures=loss_by_size_figures,
    point_row=study_point_row,
    options_help='{"n_bootstrap": 100, "seed": 0}',
    options=(
        BOOTSTRAP_OPTION,
        SEED_OPTION,
    ),
    needs=lambda options: ("n", "d", "loss"),
)
