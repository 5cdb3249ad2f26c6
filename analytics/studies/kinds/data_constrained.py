"""Data-constrained scaling (Muennighoff et al. 2023): R_D*, R_N* over a given base law."""

from __future__ import annotations

from collections.abc import Sequence

from analytics.figures.data_constrained import data_constrained_figures
from analytics.fitting.chinchilla import PARAM_NAMES, ChinchillaParams
from analytics.fitting.data_constrained import DataConstrainedFit
from analytics.fitting.errors import FitError
from analytics.models import Study
from analytics.studies.authoring import OptionSpec
from analytics.studies.base import FitOutcome, StudyKind, check_values, column, goodness, study_point_row
from analytics.studies.points import StudyPoint, study_points


def fit(study: Study, points: Sequence[StudyPoint]) -> FitOutcome:
    total = len(points)
    base_raw = study.options.get("base")
    if not isinstance(base_raw, dict) or not set(PARAM_NAMES) <= set(base_raw):
        raise FitError(f"data_constrained studies need options.base with {list(PARAM_NAMES)} of a base law")
    base = ChinchillaParams(**{k: float(base_raw[k]) for k in PARAM_NAMES})
    pts = check_values(points, ("n", "d", "u", "loss"))
    res = (
        DataConstrainedFit(base=base)
        .fit(column(pts, "n"), column(pts, "d"), column(pts, "u"), column(pts, "loss"))
        .result_
    )
    residuals = [
        {
            "run_id": p.run_id,
            "run": p.run_name,
            "n": p.n,
            "d": p.d,
            "u": p.u,
            "observed": p.loss,
            "residual": float(r),
        }
        for p, r in zip(pts, res.residuals, strict=True)
    ]
    params = {
        "rd_star": res.rd_star,
        "rn_star": res.rn_star,
        "objective": res.objective,
        "runaway_starts": res.runaway_starts,
        "base": base_raw,
    }
    return FitOutcome(params, {}, residuals, goodness(res.residuals, res.r2, len(pts), total - len(pts)))


SPEC = StudyKind(
    kind="data_constrained",
    label="Data-constrained (Muennighoff et al. 2023)",
    method="data_constrained_muennighoff2023",
    points=study_points,
    fit=fit,
    figures=data_constrained_figures,
    point_row=study_point_row,
    options_help='{"base": {"a": ..., "b": ..., "e": ..., "alpha": ..., "beta": ...}}',
    options=(
        OptionSpec(
            "base",
            "params",
            "base law (Chinchilla parameters)",
            required=True,
            keys=PARAM_NAMES,
            help="E, A, B, alpha, beta of a law fitted on unrepeated data",
        ),
    ),
    needs=lambda options: ("n", "d", "u", "loss"),
)
