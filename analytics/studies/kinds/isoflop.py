"""IsoFLOP parabolas (Chinchilla Approach 2): per-budget optima and N_opt ~ C^a."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analytics.figures.isoflop import isoflop_figures
from analytics.fitting.isoflop import IsoflopFit
from analytics.models import Study
from analytics.studies.authoring import OptionSpec
from analytics.studies.base import FitOutcome, StudyKind, check_values, column, study_point_row
from analytics.studies.points import StudyPoint, study_points


def fit(study: Study, points: Sequence[StudyPoint]) -> FitOutcome:
    total = len(points)
    pts = check_values(points, ("n", "budget", "loss"))
    est = IsoflopFit(window=int(study.options.get("window", 2)))
    res = est.fit(column(pts, "budget"), column(pts, "n"), column(pts, "loss")).result_
    params = {
        "n_exponent": res.n_exponent,
        "n_coef": res.n_coef,
        "d_exponent": res.d_exponent,
        "d_coef": res.d_coef,
        "optima": [o.__dict__ for o in res.optima],
        "skipped": {f"{k:g}": v for k, v in res.skipped.items()},
    }
    cs = np.array([o.compute for o in res.optima])
    resid = np.log(np.array([o.n_opt for o in res.optima])) - np.log(res.n_opt(cs))
    residuals = [
        {"compute": o.compute, "n_opt": o.n_opt, "residual": float(r)} for o, r in zip(res.optima, resid)
    ]
    goodness = {"r2": res.n_r2, "rmse_log": float(np.sqrt(np.mean(resid**2))), "n_points": len(pts)}
    goodness["n_budgets"] = len(res.optima)
    goodness["n_excluded"] = total - len(pts)
    return FitOutcome(params, {}, residuals, goodness)


SPEC = StudyKind(
    kind="isoflop",
    label="IsoFLOP parabolas (Approach 2)",
    method="isoflop_approach2",
    points=study_points,
    fit=fit,
    figures=isoflop_figures,
    point_row=study_point_row,
    options_help='{"window": 2}',
    options=(
        OptionSpec(
            "window",
            "int",
            "sizes on each side of the minimum",
            2,
            lo=1,
            hi=20,
            help="distinct model sizes each parabola uses on either side of the lowest loss",
        ),
    ),
    needs=lambda options: ("n", "budget", "loss"),
)
