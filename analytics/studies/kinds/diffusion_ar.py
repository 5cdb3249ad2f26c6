"""Diffusion vs autoregressive under repeated data (Prabhudesai et al. 2025): a data-constrained law per
objective (config "objective": "ar" or "diffusion"), R_D* with profile intervals, and the critical compute
beyond which diffusion's best loss is lower at the data's unique-token budget."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from analytics.figures.diffusion_ar import diffusion_ar_figures
from analytics.fitting import plausibility as pl
from analytics.fitting.chinchilla import PARAM_NAMES, ChinchillaParams
from analytics.fitting.diffusion_ar import DiffusionVsARFit
from analytics.fitting.errors import FitError
from analytics.models import Study
from analytics.studies.authoring import OptionSpec
from analytics.studies.base import (
    FitOutcome,
    StudyKind,
    band_json,
    check_values,
    column,
    goodness,
    interval_json,
    warnings_json,
)
from analytics.studies.points import RunPoint, run_point_row, run_points

LEVEL = 0.95


def _base(study: Study, key: str) -> ChinchillaParams | None:
    raw = study.options.get(key)
    if raw is None:
        return None
    if not isinstance(raw, dict) or not set(PARAM_NAMES) <= set(raw):
        raise FitError(f"option {key} must give {list(PARAM_NAMES)} of a base law")
    return ChinchillaParams(**{k: float(raw[k]) for k in PARAM_NAMES})


def fit(study: Study, points: Sequence[RunPoint]) -> FitOutcome:
    total = len(points)
    pts = [p for p in check_values(points, ("n", "d", "u", "loss")) if p.objective is not None]
    for p in pts:
        if p.objective not in ("ar", "diffusion"):
            raise FitError(
                f"run '{p.run_name}' (id {p.run_id}): config objective must be 'ar' or 'diffusion', "
                f"got {p.objective!r}"
            )
    objective = [str(p.objective) for p in pts]
    n, d, u, loss = (column(pts, k) for k in ("n", "d", "u", "loss"))
    est = DiffusionVsARFit(
        base_ar=_base(study, "base_ar"), base_diffusion=_base(study, "base_diffusion"), level=LEVEL
    )
    res = est.fit(objective, n, d, u, loss).result_
    laws = {"ar": res.ar, "diffusion": res.diffusion}
    intervals: dict[str, Any] = {}
    params: dict[str, Any] = {}
    residual_by_run: dict[int, float] = {}
    bands = []
    for name, law in laws.items():
        params[f"{name}_rd_star"] = law.rd_star
        params[f"{name}_rn_star"] = law.rn_star
        if law.fit is None:
            continue
        for key, iv in law.fit.intervals().items():
            intervals[f"{name}_{key}"] = interval_json(iv)
        sel = [p for p in pts if p.objective == name]
        for p, r in zip(sel, law.fit.residuals, strict=True):
            residual_by_run[p.run_id] = float(r)
        # the (N, U) group with the most runs: its loss over epochs with the fit's bands
        groups: dict[tuple[float, float], int] = {}
        for p in sel:
            groups[(float(p.n), float(p.u))] = groups.get((float(p.n), float(p.u)), 0) + 1  # type: ignore[arg-type]
        gn, gu = max(groups, key=lambda k: (groups[k], k))
        e_max = max(float(p.d) / gu for p in sel if (p.n, p.u) == (gn, gu))  # type: ignore[arg-type]
        epochs = np.logspace(-1, np.log10(max(e_max, 1.0) * 4), 40)
        nn, uu = np.full_like(epochs, gn), np.full_like(epochs, gu)
        bands.append(
            {
                "objective": name, "n": gn, "u": gu, "epochs": epochs.tolist(), "data_max": e_max,
                "confidence": band_json(law.fit.band(nn, epochs * gu, uu, LEVEL, "confidence")),
                "prediction": band_json(law.fit.band(nn, epochs * gu, uu, LEVEL, "prediction")),
            }
        )  # fmt: skip
    u_ref = max(u)
    derived: list[dict[str, Any]] = []
    warnings = list(res.warnings)
    try:
        c_crit = res.critical_compute(u_ref, LEVEL)
        derived.append(
            {"compute": None, "label": f"diffusion overtakes AR at U = {u_ref:.3g} unique tokens",
             "values": {"critical_compute": interval_json(c_crit)}}
        )  # fmt: skip
        params["critical_compute"] = c_crit.estimate
        if math.isfinite(c_crit.estimate):
            warnings += pl.check_extrapolation(
                c_crit.estimate, (min(n) * 6 * min(d), max(6 * a * b for a, b in zip(n, d)))
            )
    except FitError as exc:
        warnings.append(pl.FitWarning("no_interval", f"critical compute: {exc}", "info"))
    residuals = [
        {"run_id": p.run_id, "run": p.run_name, "objective": p.objective, "n": p.n, "d": p.d, "u": p.u,
         "observed": p.loss, "residual": residual_by_run.get(p.run_id)}
        for p in pts
    ]  # fmt: skip
    res_all = np.array([r for r in residual_by_run.values()])
    good = goodness(res_all, float("nan"), len(pts), total - len(pts))
    good.pop("r2")
    return FitOutcome(
        params,
        {"level": LEVEL, "bands": bands},
        residuals,
        good,
        intervals=intervals,
        derived=derived,
        warnings=warnings_json(warnings),
    )


SPEC = StudyKind(
    kind="diffusion_ar",
    label="Diffusion vs autoregressive under repeated data (Prabhudesai 2025)",
    method="diffusion_vs_ar_prabhudesai2025",
    points=run_points,
    fit=fit,
    figures=diffusion_ar_figures,
    point_row=run_point_row,
    options_help='{"base_ar": {...}, "base_diffusion": {...}} (else fitted on single-epoch runs)',
    options=(
        OptionSpec(
            "base_ar",
            "params",
            "AR base law (optional)",
            keys=PARAM_NAMES,
            help="E, A, B, alpha, beta; left empty: fitted on the AR runs with D <= U",
        ),
        OptionSpec(
            "base_diffusion",
            "params",
            "diffusion base law (optional)",
            keys=PARAM_NAMES,
            help="left empty: fitted on the diffusion runs with D <= U",
        ),
    ),
    needs=lambda options: ("n", "d", "u", "loss"),
)
