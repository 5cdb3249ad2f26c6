"""Writes for studies and fits: refit (idempotent by inputs hash), staleness, refit enqueueing."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Max

from analytics.fitting.chinchilla import PARAM_NAMES, ChinchillaApproach3, ChinchillaParams
from analytics.fitting.data_constrained import DataConstrainedFit
from analytics.fitting.errors import FitError
from analytics.fitting.isoflop import IsoflopFit
from analytics.fitting.power_law import PowerLawFit
from analytics.models import Fit, Study
from analytics.selectors import StudyPoint, StudySelectionError, study_points
from tracker.models import Team, TrainingRun

METHODS = {
    Study.Kind.CHINCHILLA: "chinchilla_approach3",
    Study.Kind.POWER_LAW: "power_law",
    Study.Kind.ISOFLOP: "isoflop_approach2",
    Study.Kind.DATA_CONSTRAINED: "data_constrained_muennighoff2023",
    Study.Kind.SYNTHETIC_RATIO: "synthetic_ratio",
}
DEFAULT_BOOTSTRAP = 100


@dataclass
class FitOutcome:
    params: dict[str, Any] = field(default_factory=dict)
    ci: dict[str, Any] = field(default_factory=dict)
    residuals: list[dict[str, Any]] = field(default_factory=list)
    goodness: dict[str, Any] = field(default_factory=dict)


def study_create(
    *,
    team: Team,
    name: str,
    kind: str,
    runs: list[TrainingRun] | None = None,
    run_filter: dict[str, Any] | None = None,
    target_metric: str = "final_loss",
    options: dict[str, Any] | None = None,
) -> Study:
    study = Study.objects.create(
        team=team,
        name=name,
        kind=Study.Kind(kind),
        run_filter=run_filter or {},
        target_metric=target_metric,
        options=options or {},
    )
    if runs:
        foreign = [r.pk for r in runs if r.team_id != team.pk]
        if foreign:
            raise ValueError(f"runs {foreign} belong to another team")
        study.runs.set(runs)
    return study


def _inputs_hash(study: Study, method: str, points: list[StudyPoint]) -> str:
    payload = {
        "kind": study.kind,
        "method": method,
        "metric": study.target_metric,
        "options": study.options,
        "points": [[p.run_id, p.n, p.d, p.u, p.budget, p.loss] for p in points],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()


def _check_values(points: list[StudyPoint], fields: tuple[str, ...]) -> list[StudyPoint]:
    """Runs still lacking a needed value are left out; a present but impossible value stops the fit."""
    usable = []
    for p in points:
        values = {f: getattr(p, f) for f in fields}
        if any(v is None for v in values.values()):
            continue
        for name, value in values.items():
            if not math.isfinite(value) or value <= 0:
                reason = (
                    "is NaN" if math.isnan(value) else ("is infinite" if math.isinf(value) else "must be > 0")
                )
                raise FitError(f"run '{p.run_name}' (id {p.run_id}): {name} {reason} (value {value!r})")
        usable.append(p)
    return usable


def _goodness(residuals: np.ndarray, r2: float, n_points: int, excluded: int) -> dict[str, Any]:
    return {
        "r2": float(r2),
        "rmse_log": float(np.sqrt(np.mean(residuals**2))),
        "n_points": n_points,
        "n_excluded": excluded,
    }


def _fit_chinchilla(study: Study, points: list[StudyPoint], total: int) -> FitOutcome:
    pts = _check_values(points, ("n", "d", "loss"))
    n_boot = int(study.options.get("n_bootstrap", DEFAULT_BOOTSTRAP))
    est = ChinchillaApproach3(n_bootstrap=n_boot, random_state=int(study.options.get("seed", 0)))
    est.fit([p.n for p in pts], [p.d for p in pts], [p.loss for p in pts])
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
    return FitOutcome(params, ci, residuals, _goodness(res.residuals, res.r2, len(pts), total - len(pts)))


def _fit_power_law(study: Study, points: list[StudyPoint], total: int) -> FitOutcome:
    variable = str(study.options.get("variable", "N"))
    if variable not in ("N", "D", "C"):
        raise FitError(f"power_law option 'variable' must be N, D or C, got {variable!r}")
    pts = _check_values(points, ("n", "d", "loss") if variable == "C" else (variable.lower(), "loss"))
    xs = [6.0 * p.n * p.d if variable == "C" else getattr(p, variable.lower()) for p in pts]  # type: ignore[operator]
    res = PowerLawFit(variable=variable).fit(xs, [p.loss for p in pts]).result_
    residuals = [
        {"run_id": p.run_id, "run": p.run_name, "x": x, "observed": p.loss, "residual": float(r)}
        for p, x, r in zip(pts, xs, res.residuals, strict=True)
    ]
    return FitOutcome(
        {"variable": variable, "c": res.c, "k": res.k, "a": res.a},
        {},
        residuals,
        _goodness(res.residuals, res.r2, len(pts), total - len(pts)),
    )


def _fit_isoflop(study: Study, points: list[StudyPoint], total: int) -> FitOutcome:
    pts = _check_values(points, ("n", "budget", "loss"))
    est = IsoflopFit(window=int(study.options.get("window", 2)))
    res = est.fit([p.budget for p in pts], [p.n for p in pts], [p.loss for p in pts]).result_
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


def _fit_data_constrained(study: Study, points: list[StudyPoint], total: int) -> FitOutcome:
    base_raw = study.options.get("base")
    if not isinstance(base_raw, dict) or not set(PARAM_NAMES) <= set(base_raw):
        raise FitError(f"data_constrained studies need options.base with {list(PARAM_NAMES)} of a base law")
    base = ChinchillaParams(**{k: float(base_raw[k]) for k in PARAM_NAMES})
    pts = _check_values(points, ("n", "d", "u", "loss"))
    res = (
        DataConstrainedFit(base=base)
        .fit([p.n for p in pts], [p.d for p in pts], [p.u for p in pts], [p.loss for p in pts])
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
    return FitOutcome(params, {}, residuals, _goodness(res.residuals, res.r2, len(pts), total - len(pts)))


def _run_fit(study: Study, points: list[StudyPoint]) -> FitOutcome:
    fitters = {
        Study.Kind.CHINCHILLA: _fit_chinchilla,
        Study.Kind.POWER_LAW: _fit_power_law,
        Study.Kind.ISOFLOP: _fit_isoflop,
        Study.Kind.DATA_CONSTRAINED: _fit_data_constrained,
    }
    fitter = fitters.get(Study.Kind(study.kind))
    if fitter is None:
        raise FitError(f"{study.kind} studies are not fitted by the scaling-law refit")
    return fitter(study, points, len(points))


def _make_current(fit: Fit) -> Fit:
    """A stale fit whose inputs are the current inputs again becomes current; failed fits stay failed."""
    if fit.status != Fit.Status.STALE:
        return fit
    with transaction.atomic():
        Study.objects.select_for_update().get(pk=fit.study_id)
        Fit.objects.filter(study_id=fit.study_id, status=Fit.Status.CURRENT).exclude(pk=fit.pk).update(
            status=Fit.Status.STALE
        )
        Fit.objects.filter(pk=fit.pk).update(status=Fit.Status.CURRENT)
    fit.refresh_from_db()
    return fit


def study_refit(*, study_id: int) -> Fit:
    """Fit the study's current points; the same inputs hash never makes a new version."""
    study = Study.objects.get(pk=study_id)
    method = METHODS[Study.Kind(study.kind)]
    outcome = FitOutcome()
    error = ""
    try:
        points = study_points(study)
    except StudySelectionError as exc:
        points, error = [], str(exc)
    inputs_hash = (
        _inputs_hash(study, method, points) if not error else hashlib.sha256(error.encode()).hexdigest()
    )
    existing = Fit.objects.filter(study=study, inputs_hash=inputs_hash, method=method).first()
    if existing is not None:
        return _make_current(existing)
    if not error:
        # The fit itself runs outside any transaction: it can take seconds and holds no locks.
        try:
            outcome = _run_fit(study, points)
        except FitError as exc:
            error = str(exc)
    try:
        with transaction.atomic():
            Study.objects.select_for_update().get(pk=study.pk)
            existing = Fit.objects.filter(study=study, inputs_hash=inputs_hash, method=method).first()
            if existing is not None:  # another worker finished the same inputs while we were fitting
                return existing
            version = (Fit.objects.filter(study=study).aggregate(v=Max("version"))["v"] or 0) + 1
            if not error:
                Fit.objects.filter(study=study, status=Fit.Status.CURRENT).update(status=Fit.Status.STALE)
            return Fit.objects.create(
                study=study,
                version=version,
                inputs_hash=inputs_hash,
                method=method,
                params=outcome.params,
                ci=outcome.ci,
                residuals=outcome.residuals,
                goodness=outcome.goodness,
                status=Fit.Status.FAILED if error else Fit.Status.CURRENT,
                error_message=error,
            )
    except IntegrityError:
        return Fit.objects.get(study=study, inputs_hash=inputs_hash, method=method)


def studies_mark_stale_for_team(*, team_id: int) -> int:
    """New evidence for the team: its current fits are stale until refitted. Returns how many were marked."""
    return Fit.objects.filter(study__team_id=team_id, status=Fit.Status.CURRENT).update(
        status=Fit.Status.STALE
    )


def enqueue_refits_for_runs(*, team_id: int) -> list[int]:
    """Called by ingestion after runs land: mark fits stale and refit every study of the team after commit."""
    from analytics.tasks import refit_study  # tasks import this module; importing here avoids the cycle

    studies_mark_stale_for_team(team_id=team_id)
    study_ids = list(Study.objects.filter(team_id=team_id).values_list("pk", flat=True))
    for study_id in study_ids:
        transaction.on_commit(partial(refit_study.delay, study_id))
    return study_ids


def study_refit_enqueue(*, study: Study) -> None:
    """On-demand refit from the study page; runs in the worker after this request's transaction commits."""
    from analytics.tasks import refit_study

    transaction.on_commit(partial(refit_study.delay, study.pk))
