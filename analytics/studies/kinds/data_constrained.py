"""Data-constrained scaling (Muennighoff et al. 2023): R_D*, R_N* over a given base law, with profile-
likelihood intervals (an open upper bound is reported as "not identified") and bands over the joint region."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from analytics.figures.data_constrained import data_constrained_figures
from analytics.fitting.chinchilla import PARAM_NAMES, ChinchillaParams
from analytics.fitting.data_constrained import DataConstrainedFit, DataConstrainedResult
from analytics.fitting.errors import FitError
from analytics.fitting.intervals import chi2_threshold
from analytics.models import Study
from analytics.studies.authoring import OptionSpec
from analytics.studies.base import (
    FitOutcome,
    StudyKind,
    band_json,
    check_values,
    column,
    goodness,
    intervals_json,
    jsonable,
    study_point_row,
    warnings_json,
)
from analytics.studies.points import StudyPoint, study_points

LEVEL = 0.95
MAX_GROUPS = 6  # (N, U) groups drawn with their fitted curve over epochs


def _groups(pts: Sequence[StudyPoint], res: DataConstrainedResult) -> list[dict[str, Any]]:
    """Loss against epochs D/U for the (N, U) groups with the most runs: the fit with its bands."""
    by: dict[tuple[float, float], int] = {}
    for p in pts:
        key = (float(p.n), float(p.u))  # type: ignore[arg-type]
        by[key] = by.get(key, 0) + 1
    chosen = sorted(by, key=lambda k: (-by[k], k))[:MAX_GROUPS]
    out = []
    for n, u in sorted(chosen):
        epochs_max = max(float(p.d) / u for p in pts if (p.n, p.u) == (n, u))  # type: ignore[arg-type]
        epochs = np.logspace(-1, np.log10(max(epochs_max, 1.0) * 4), 40)
        d = epochs * u
        n_arr, u_arr = np.full_like(d, n), np.full_like(d, u)
        out.append(
            {
                "n": n,
                "u": u,
                "epochs": epochs.tolist(),
                "data_max": epochs_max,
                "confidence": band_json(res.band(n_arr, d, u_arr, LEVEL, "confidence")),
                "prediction": band_json(res.band(n_arr, d, u_arr, LEVEL, "prediction")),
            }
        )
    return out


def fit(study: Study, points: Sequence[StudyPoint]) -> FitOutcome:
    total = len(points)
    base_raw = study.options.get("base")
    if not isinstance(base_raw, dict) or not set(PARAM_NAMES) <= set(base_raw):
        raise FitError(f"data_constrained studies need options.base with {list(PARAM_NAMES)} of a base law")
    base = ChinchillaParams(**{k: float(base_raw[k]) for k in PARAM_NAMES})
    pts = check_values(points, ("n", "d", "u", "loss"))
    res = (
        DataConstrainedFit(base=base, level=LEVEL)
        .fit(column(pts, "n"), column(pts, "d"), column(pts, "u"), column(pts, "loss"))
        .result_
    )
    predicted = res.predict(column(pts, "n"), column(pts, "d"), column(pts, "u"))
    residuals = [
        {
            "run_id": p.run_id,
            "run": p.run_name,
            "n": p.n,
            "d": p.d,
            "u": p.u,
            "observed": p.loss,
            "predicted": float(q),
            "residual": float(r),
        }
        for p, r, q in zip(pts, res.residuals, predicted, strict=True)
    ]
    params = {
        "rd_star": res.rd_star,
        "rn_star": res.rn_star,
        "rd_identified": res.rd_identified,
        "rn_identified": res.rn_identified,
        "objective": res.objective,
        "runaway_starts": res.runaway_starts,
        "base": base_raw,
        "alternatives": [o.__dict__ for o in res.alternatives],
    }
    profiles = {
        name: {"values": prof.values, "other": prof.other, "deviance": prof.deviance}
        for name, prof in (("rd_star", res.profile_rd), ("rn_star", res.profile_rn))
        if prof is not None
    }
    ci = {
        "level": LEVEL,
        "threshold": chi2_threshold(LEVEL),
        "profiles": jsonable(profiles),
        "bands": _groups(pts, res),
    }
    return FitOutcome(
        params,
        ci,
        residuals,
        goodness(res.residuals, res.r2, len(pts), total - len(pts)),
        intervals=intervals_json(res.intervals()),
        warnings=warnings_json(res.warnings),
    )


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
