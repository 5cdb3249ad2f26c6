"""Chinchilla Approach 3: L = E + A/N^alpha + B/D^beta, Huber on log loss, bootstrap intervals."""

from __future__ import annotations

from collections.abc import Sequence

from analytics.figures.chinchilla import chinchilla_figures
from analytics.fitting.chinchilla import PARAM_NAMES, ChinchillaApproach3
from analytics.models import Study
from analytics.studies.authoring import OptionSpec
from analytics.studies.base import (
    DEFAULT_BOOTSTRAP,
    FitOutcome,
    StudyKind,
    check_values,
    column,
    goodness,
    study_point_row,
)
from analytics.studies.points import StudyPoint, study_points


def fit(study: Study, points: Sequence[StudyPoint]) -> FitOutcome:
    total = len(points)
    pts = check_values(points, ("n", "d", "loss"))
    n_boot = int(study.options.get("n_bootstrap", DEFAULT_BOOTSTRAP))
    est = ChinchillaApproach3(n_bootstrap=n_boot, random_state=int(study.options.get("seed", 0)))
    est.fit(column(pts, "n"), column(pts, "d"), column(pts, "loss"))
    res = est.result_
    ci = {
        "level": 0.95,
        "params": {k: list(v) for k, v in res.ci(0.95).items()},
        "bootstrap": res.bootstrap.tolist(),
        "columns": list(PARAM_NAMES),
    }
    params = {**res.params.to_dict(), "objective": res.objective, "n_starts": res.n_starts}
    residuals = [
        {"run_id": p.run_id, "run": p.run_name, "n": p.n, "d": p.d, "observed": p.loss, "residual": float(r)}
        for p, r in zip(pts, res.residuals, strict=True)
    ]
    return FitOutcome(params, ci, residuals, goodness(res.residuals, res.r2, len(pts), total - len(pts)))


SPEC = StudyKind(
    kind="chinchilla",
    label="Chinchilla Approach 3 (L = E + A/N^a + B/D^b)",
    method="chinchilla_approach3",
    points=study_points,
    fit=fit,
    figures=chinchilla_figures,
    point_row=study_point_row,
    options_help='{"n_bootstrap": 100, "seed": 0}',
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
        OptionSpec("seed", "int", "random seed", 0, lo=0, hi=2**31 - 1),
    ),
    needs=lambda options: ("n", "d", "loss"),
)
