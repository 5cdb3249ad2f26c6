"""Power law L = c + k x^-a in N, D or C = 6ND."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from analytics.figures.power_law import power_law_figures
from analytics.fitting.errors import FitError
from analytics.fitting.power_law import PowerLawFit
from analytics.models import Study
from analytics.studies.authoring import OptionSpec
from analytics.studies.base import FitOutcome, StudyKind, check_values, column, goodness, study_point_row
from analytics.studies.points import StudyPoint, study_points


def fit(study: Study, points: Sequence[StudyPoint]) -> FitOutcome:
    total = len(points)
    variable = str(study.options.get("variable", "N"))
    if variable not in ("N", "D", "C"):
        raise FitError(f"power_law option 'variable' must be N, D or C, got {variable!r}")
    pts = check_values(points, ("n", "d", "loss") if variable == "C" else (variable.lower(), "loss"))
    xs = (
        [6.0 * n * d for n, d in zip(column(pts, "n"), column(pts, "d"), strict=True)]
        if variable == "C"
        else column(pts, variable.lower())
    )
    res = PowerLawFit(variable=variable).fit(xs, column(pts, "loss")).result_
    residuals = [
        {"run_id": p.run_id, "run": p.run_name, "x": x, "observed": p.loss, "residual": float(r)}
        for p, x, r in zip(pts, xs, res.residuals, strict=True)
    ]
    return FitOutcome(
        {"variable": variable, "c": res.c, "k": res.k, "a": res.a},
        {},
        residuals,
        goodness(res.residuals, res.r2, len(pts), total - len(pts)),
    )


def _needs(options: Mapping[str, Any]) -> tuple[str, ...]:
    variable = str(options.get("variable", "N"))
    return ("n", "d", "loss") if variable == "C" else (variable.lower(), "loss")


SPEC = StudyKind(
    kind="power_law",
    label="Power law L = c + k x^-a",
    method="power_law",
    points=study_points,
    fit=fit,
    figures=power_law_figures,
    point_row=study_point_row,
    options_help='{"variable": "N" | "D" | "C"}',
    options=(
        OptionSpec(
            "variable",
            "choice",
            "fit the loss against",
            "N",
            choices=("N", "D", "C"),
            help="N parameters, D tokens, or C = 6ND FLOPs",
        ),
    ),
    needs=_needs,
)
