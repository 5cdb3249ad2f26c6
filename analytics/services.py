"""Writes for studies and fits: refit (idempotent by inputs hash), staleness, refit enqueueing."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from analytics.figures import study_figures
from analytics.fitting import synthetic as syn
from analytics.fitting.chinchilla import PARAM_NAMES, ChinchillaApproach3, ChinchillaParams
from analytics.fitting.data_constrained import DataConstrainedFit
from analytics.fitting.errors import FitError
from analytics.fitting.isoflop import IsoflopFit
from analytics.fitting.power_law import PowerLawFit
from analytics.models import Fit, Report, ReportFile, Study
from analytics.reports import (
    PdfRenderError,
    ReportFigure,
    ReportTable,
    Section,
    build_html_report,
    export_bibtex,
    export_csv,
    export_json,
    render_pdf,
)
from analytics.reports.exports import ExportError
from analytics.selectors import (
    RUN_COLUMNS,
    ReportData,
    ReportScopeError,
    StudyPoint,
    StudySelectionError,
    SyntheticPoint,
    report_data,
    study_points,
    synthetic_points,
)
from tracker.auth import has_role
from tracker.models import Role, Team, TrainingRun
from tracker.publish import publish, publish_on_commit

logger = logging.getLogger(__name__)

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


def _inputs_hash(study: Study, method: str, points: list[StudyPoint] | list[SyntheticPoint]) -> str:
    rows = [
        [p.run_id, p.n, p.d, p.u, p.budget, p.loss]
        if isinstance(p, StudyPoint)
        else [p.run_id, p.n, p.r, p.epochs, list(p.sources), p.loss, [list(b) for b in p.benchmarks]]
        for p in points
    ]
    payload = {
        "kind": study.kind,
        "method": method,
        "metric": study.target_metric,
        "options": study.options,
        "points": rows,
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


R_GRID = np.linspace(0.0, 1.0, 101)


def _synthetic_candidates(study: Study) -> dict[str, Any]:
    """options.models picks among the CV candidates (default: exp mixing law, ridge polynomial, GP)."""
    every = syn.default_candidates()
    names = study.options.get("models")
    if names is None:
        return every
    unknown = sorted(set(names) - set(every)) if isinstance(names, list) else [names]
    if unknown or not names:
        raise FitError(f"synthetic_ratio option 'models' must be a non-empty subset of {sorted(every)}")
    return {n: every[n] for n in names}


def _check_synthetic(points: list[SyntheticPoint]) -> list[SyntheticPoint]:
    """Runs lacking N, r or the target are left out; an impossible value stops the fit naming the run."""
    usable = []
    for p in points:
        where = f"run '{p.run_name}' (id {p.run_id})"
        for name, value in (("synthetic_epochs", p.epochs), *((k, v) for k, v in p.benchmarks)):
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise FitError(f"{where}: {name} must be a finite number, got {value!r}")
        if p.n is None or p.r is None or p.loss is None:
            continue
        if not 0.0 <= p.r <= 1.0:
            raise FitError(f"{where}: synthetic_share must be in [0, 1], got {p.r!r}")
        if not (math.isfinite(p.loss) and math.isfinite(p.n) and p.n > 0):
            raise FitError(
                f"{where}: parameters must be > 0 and the target finite (N={p.n!r}, loss={p.loss!r})"
            )
        usable.append(p)
    return usable


def _ratio_fit(
    r: list[float], y: list[float], candidates: dict[str, Any], *, n_boot: int, seed: int, minimize: bool
) -> dict[str, Any]:
    sel = syn.select_model(r, y, candidates=candidates)
    ci = syn.optimal_ratio_ci(
        r,
        y,
        n_boot=n_boot,
        seed=seed,
        minimize=minimize,
        candidates={sel.best_name: candidates[sel.best_name]},
    )
    return {
        "model": sel.best_name,
        "cv_rmse": {k: (v if math.isfinite(v) else None) for k, v in sel.cv_rmse.items()},
        "cv_scheme": sel.cv_scheme,
        "r_star": ci.r_star,
        "r_star_low": ci.lo,
        "r_star_high": ci.hi,
        "n_bootstrap": ci.n_boot,
        "n_degenerate": ci.n_failed,
        "curve": [float(v) for v in sel.best_model.predict(R_GRID.reshape(-1, 1))],
        "_model": sel.best_model,
    }


def _benchmark_split(pts: list[SyntheticPoint], candidates: dict[str, Any], n_boot: int, seed: int) -> dict:
    """Knowledge-heavy vs reasoning benchmarks (Phi-4, arXiv:2412.08905 Sec. 3) at the largest scored N."""
    with_scores = [p for p in pts if p.benchmarks]
    if not with_scores:
        return {}
    size = max(p.n for p in with_scores if p.n is not None)
    at = [p for p in with_scores if p.n == size]
    ignored = sorted({k for p in at for k, _ in p.benchmarks if _category(k) is None})
    ratios = sorted({p.r for p in at if p.r is not None})
    out: dict[str, Any] = {"n": size, "ignored": ignored, "deltas": {}, "category_means": {}, "r_star": {}}
    if len(ratios) < 2:
        out["note"] = "benchmark deltas need runs at 2 or more synthetic shares"
        return out
    lo_r, hi_r = ratios[0], ratios[-1]
    names = sorted({k for p in at for k, _ in p.benchmarks} - set(ignored))
    for name in names:
        low = [dict(p.benchmarks)[name] for p in at if p.r == lo_r and name in dict(p.benchmarks)]
        high = [dict(p.benchmarks)[name] for p in at if p.r == hi_r and name in dict(p.benchmarks)]
        if low and high:
            out["deltas"][name] = float(np.mean(high) - np.mean(low))
    out.update(r_low=lo_r, r_high=hi_r)
    if out["deltas"]:
        out["category_means"] = syn.category_means(out["deltas"])
    for category in ("knowledge", "reasoning"):
        rs, ys = [], []
        for p in at:
            scores = [v for k, v in p.benchmarks if _category(k) == category]
            if scores and p.r is not None:
                rs.append(p.r)
                ys.append(float(np.mean(scores)))
        if len(set(rs)) >= syn.MIN_DISTINCT_RATIOS:
            fit = _ratio_fit(rs, ys, candidates, n_boot=n_boot, seed=seed, minimize=False)
            fit.pop("_model")
            out["r_star"][category] = fit
    return out


def _category(benchmark: str) -> str | None:
    try:
        category = syn.benchmark_category(benchmark)
    except syn.FitError:
        return None
    return None if category == "loss" else category


def _fit_synthetic(study: Study, points: list[SyntheticPoint], total: int) -> FitOutcome:
    pts = _check_synthetic(points)
    candidates = _synthetic_candidates(study)
    n_boot = int(study.options.get("n_bootstrap", DEFAULT_BOOTSTRAP))
    seed = int(study.options.get("seed", 0))
    minimize = bool(study.options.get("minimize", True))  # loss by default; False for an accuracy target
    by_size: dict[float, list[SyntheticPoint]] = {}
    for p in pts:
        by_size.setdefault(float(p.n), []).append(p)  # type: ignore[arg-type]
    per_size, skipped, models = [], {}, {}
    for size in sorted(by_size):
        group = by_size[size]
        distinct = len({p.r for p in group})
        if distinct < syn.MIN_DISTINCT_RATIOS:
            skipped[f"{size:g}"] = f"{distinct} distinct synthetic shares (need {syn.MIN_DISTINCT_RATIOS})"
            continue
        fit = _ratio_fit(
            [p.r for p in group],
            [p.loss for p in group],
            candidates,
            n_boot=n_boot,
            seed=seed,
            minimize=minimize,
        )
        models[size] = fit.pop("_model")
        per_size.append({"n": size, "n_points": len(group), **fit})
    if not per_size:
        raise FitError(
            f"no model size has runs at {syn.MIN_DISTINCT_RATIOS} or more distinct synthetic shares "
            f"({len(pts)} usable runs; per size: {skipped or 'none'})"
        )
    primary = per_size[-1]
    residuals, obs, pred = [], [], []
    for row in per_size:
        for p in by_size[row["n"]]:
            predicted = float(models[row["n"]].predict(np.array([[p.r]]))[0])
            residuals.append(
                {
                    "run_id": p.run_id,
                    "run": p.run_name,
                    "n": p.n,
                    "r": p.r,
                    "epochs": p.epochs,
                    "sources": list(p.sources),
                    "observed": p.loss,
                    "predicted": predicted,
                    "residual": predicted - p.loss,  # type: ignore[operator]
                }
            )
            obs.append(p.loss)
            pred.append(predicted)
    o, q = np.array(obs, dtype=float), np.array(pred, dtype=float)
    ss_tot = float(np.sum((o - o.mean()) ** 2))
    goodness: dict[str, Any] = {
        "r2": 1.0 - float(np.sum((q - o) ** 2)) / ss_tot if ss_tot > 0 else 1.0,
        "rmse": float(np.sqrt(np.mean((q - o) ** 2))),
        "n_points": len(o),
        "n_excluded": total - len(o),
    }
    if np.all(o > 0) and np.all(q > 0):
        goodness["rmse_log"] = float(np.sqrt(np.mean((np.log(q) - np.log(o)) ** 2)))
    params: dict[str, Any] = {
        "model": primary["model"],
        "n": primary["n"],
        "r_star": primary["r_star"],
        "r_star_low": primary["r_star_low"],
        "r_star_high": primary["r_star_high"],
        "cv_scheme": primary["cv_scheme"],
        "minimize": minimize,
        "r_grid": R_GRID.tolist(),
        "per_size": per_size,
        "skipped": skipped,
    }
    surface = _surface(per_size, by_size)
    if surface:
        params["heatmap"] = surface
    bench = _benchmark_split(pts, candidates, n_boot, seed)
    if bench:
        params["benchmarks"] = bench
    ci = {
        "level": 0.95,
        "params": {"r_star": [primary["r_star_low"], primary["r_star_high"]]},
        "r_star_by_size": [
            [row["n"], row["r_star"], row["r_star_low"], row["r_star_high"]] for row in per_size
        ],
    }
    return FitOutcome(params, ci, residuals, goodness)


def _surface(per_size: list[dict[str, Any]], by_size: dict[float, list[SyntheticPoint]]) -> dict[str, Any]:
    """r x epochs surface at the fitted size with the most runs, when its epochs vary."""
    sizes = [row["n"] for row in per_size if len({p.epochs for p in by_size[row["n"]]}) >= 2]
    if not sizes:
        return {}
    size = max(sizes, key=lambda n: (len(by_size[n]), n))
    group = by_size[size]
    hm = syn.heatmap([p.r for p in group], [p.epochs for p in group], [p.loss for p in group])
    return {
        "n": size,
        "model": hm.model_name,
        "r": hm.r_grid.tolist(),
        "epochs": hm.epochs_grid.tolist(),
        "z": hm.z.tolist(),
    }


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


def _fit_study(study: Study, points: list[StudyPoint] | list[SyntheticPoint]) -> FitOutcome:
    if study.kind == Study.Kind.SYNTHETIC_RATIO:
        try:
            return _fit_synthetic(study, points, len(points))  # type: ignore[arg-type]
        except syn.FitError as exc:  # the synthetic fitters have their own FitError class
            raise FitError(str(exc)) from exc
    return _run_fit(study, points)  # type: ignore[arg-type]


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
    points: list[StudyPoint] | list[SyntheticPoint]
    try:
        points = synthetic_points(study) if study.kind == Study.Kind.SYNTHETIC_RATIO else study_points(study)
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
            outcome = _fit_study(study, points)
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
        publish_on_commit(refit_study, study_id)
    return study_ids


def study_refit_enqueue(*, study: Study) -> None:
    """On-demand refit from the study page; runs in the worker after this request's transaction commits."""
    from analytics.tasks import refit_study

    publish_on_commit(refit_study, study.pk)


# --- reports ------------------------------------------------------------------------------------------------

REPORT_FORMATS = tuple(Report.Format.values)
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "bib": "application/x-bibtex; charset=utf-8",
}
# A report still "running" this long after its claim lost its worker: another worker may reclaim it.
STALE_CLAIM = timedelta(minutes=20)
RUN_SCATTER_MIN = 1


class ReportRequestError(ValueError):
    """The request names an unknown scope/format or parameters that select nothing; the message says which."""


def _report_params(scope: str, params: dict[str, Any]) -> dict[str, Any]:
    if scope == Report.Scope.STUDY:
        try:
            return {"study_id": int(params["study_id"])}
        except (KeyError, TypeError, ValueError):
            raise ReportRequestError("scope 'study' needs params.study_id (an integer)") from None
    if scope == Report.Scope.MODEL_FAMILY:
        family = str(params.get("family") or "").strip()
        if not family:
            raise ReportRequestError("scope 'model_family' needs params.family")
        return {"family": family}
    if scope == Report.Scope.RUN_SET:
        raw = params.get("run_ids")
        try:
            ids = sorted({int(i) for i in raw}) if isinstance(raw, list) else []
        except (TypeError, ValueError):
            ids = []
        if not ids:
            raise ReportRequestError("scope 'run_set' needs params.run_ids, a non-empty list of run ids")
        return {"run_ids": ids}
    return {k: str(params[k]) for k in ("since", "until") if params.get(k)}


def report_request(
    *, user: Any, team: Team, scope: str, params: dict[str, Any], formats: list[str]
) -> Report:
    """Validate and queue a report; it is built by the worker after this transaction commits.

    Editors and admins may request reports; viewers may list and download them (PermissionDenied otherwise).
    """
    if not has_role(user, team, Role.EDITOR):
        raise PermissionDenied("requesting reports needs the editor role in this team")
    if scope not in Report.Scope.values:
        raise ReportRequestError(f"unknown scope {scope!r}; choose one of {Report.Scope.values}")
    bad = sorted(set(formats) - set(REPORT_FORMATS))
    if bad or not formats:
        raise ReportRequestError(
            f"formats must be a non-empty subset of {list(REPORT_FORMATS)}, got {formats}"
        )
    report = Report(team=team, created_by=user, scope=scope, params=_report_params(scope, params))
    report.formats = [f for f in REPORT_FORMATS if f in formats]
    try:
        report_data(report)  # refuse now what the worker could only fail on later
    except ReportScopeError as exc:
        raise ReportRequestError(str(exc)) from exc
    report.save()
    _enqueue_build(report.pk)
    return report


def _enqueue_build(report_id: int) -> None:
    from analytics.tasks import build_report

    publish_on_commit(build_report, report_id)


def _progress(report_id: int, progress: int, stage: str) -> None:
    Report.objects.filter(pk=report_id, status=Report.Status.RUNNING).update(progress=progress, stage=stage)


def _run_figure(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    usable = sorted(
        (r for r in runs if r["parameters"] and r["final_loss"] is not None), key=lambda r: r["parameters"]
    )
    if len(usable) < RUN_SCATTER_MIN:
        return None
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": [r["parameters"] for r in usable],
                "y": [r["final_loss"] for r in usable],
                "text": [r["name"] for r in usable],
                "name": "runs",
                "marker": {"size": 10},
            }
        ],
        "layout": {
            "title": {"text": "Final loss vs parameters"},
            "xaxis": {"title": {"text": "parameters N"}, "type": "log"},
            "yaxis": {"title": {"text": "final loss"}},
        },
    }


def _report_figures(data: ReportData) -> list[ReportFigure]:
    figures: list[ReportFigure] = []
    fit = data.fit
    if data.study is not None and fit is not None and fit.status != Fit.Status.FAILED:
        for i, fig in enumerate(study_figures(data.study.kind, fit.params, fit.ci, fit.residuals)):
            title = ((fig.get("layout") or {}).get("title") or {}).get("text") or f"Figure {i + 1}"
            figures.append(ReportFigure(title, fig))
    if data.counts is not None:
        names = list(data.counts)
        figures.append(
            ReportFigure(
                "New this period",
                {"data": [{"type": "bar", "x": names, "y": [data.counts[n] for n in names]}], "layout": {}},
            )
        )
    run_fig = _run_figure(data.runs)
    if run_fig is not None:
        figures.append(ReportFigure("Final loss vs parameters", run_fig))
    return figures


def _report_outputs(report: Report, data: ReportData) -> dict[str, bytes]:
    tables = [ReportTable(t, cols, rows) for t, cols, rows in data.tables]
    tables.append(ReportTable("Runs", RUN_COLUMNS, [[r[c] for c in RUN_COLUMNS] for r in data.runs]))
    _progress(report.pk, 30, "building figures and HTML")
    html = build_html_report(
        data.title,
        [Section("Summary", data.summary)],
        _report_figures(data),
        tables,
        generated_at=timezone.now(),
    )
    out: dict[str, bytes] = {}
    if "html" in report.formats:
        out["html"] = html.encode()
    if "pdf" in report.formats:
        _progress(report.pk, 50, "rendering PDF")
        out["pdf"] = render_pdf(html)
    _progress(report.pk, 80, "exporting data")
    if "csv" in report.formats:
        out["csv"] = export_csv(data.runs, RUN_COLUMNS).encode()
    if "json" in report.formats:
        doc = {
            "report": {"id": report.pk, "scope": report.scope, "params": report.params, "title": data.title},
            "summary": data.summary,
            "runs": data.runs,
            "tables": [{"title": t, "columns": c, "rows": r} for t, c, r in data.tables],
            "papers": data.papers,
            "fit": None
            if data.fit is None
            else {
                "version": data.fit.version,
                "status": data.fit.status,
                "method": data.fit.method,
                "params": data.fit.params,
                "ci": data.fit.ci,
                "goodness": data.fit.goodness,
            },
        }
        out["json"] = export_json(doc).encode()
    if "bib" in report.formats:
        out["bib"] = export_bibtex(data.papers).encode()
    return out


def _report_dir(report_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "reports" / str(report_id)


def _report_fail(report_id: int, message: str) -> None:
    # No partial output stays listed or on disk: a failed report has no files at all.
    shutil.rmtree(_report_dir(report_id), ignore_errors=True)
    with transaction.atomic():
        ReportFile.objects.filter(report_id=report_id).delete()
        Report.objects.filter(pk=report_id).update(
            status=Report.Status.FAILED, error=message, stage="failed", finished_at=timezone.now()
        )


def report_build(*, report_id: int) -> Report:
    """Claim the report (conditional UPDATE), build every requested format, then list the files at once."""
    now = timezone.now()
    claimable = Q(status=Report.Status.QUEUED) | Q(
        status=Report.Status.RUNNING, started_at__lt=now - STALE_CLAIM
    )
    claimed = (
        Report.objects.filter(claimable, pk=report_id).update(
            status=Report.Status.RUNNING, started_at=now, progress=5, stage="loading data", error=""
        )
        == 1
    )
    report = Report.objects.select_related("team").get(pk=report_id)
    if not claimed:
        return report  # done, failed, or being built by another worker right now
    directory = _report_dir(report_id)
    try:
        data = report_data(report)
        outputs = _report_outputs(report, data)
        _progress(report_id, 90, "saving files")
        shutil.rmtree(directory, ignore_errors=True)  # leftovers of a worker that died mid-build
        directory.mkdir(parents=True)
        rows = []
        for fmt, content in outputs.items():
            path = directory / f"report.{fmt}"
            path.write_bytes(content)
            rows.append(
                ReportFile(
                    report_id=report_id,
                    format=fmt,
                    path=str(path.relative_to(settings.MEDIA_ROOT)),
                    size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                )
            )
        with transaction.atomic():
            ReportFile.objects.filter(report_id=report_id).delete()
            ReportFile.objects.bulk_create(rows)
            Report.objects.filter(pk=report_id).update(
                status=Report.Status.DONE, progress=100, stage="done", finished_at=timezone.now()
            )
    except OperationalError:
        # The database went away: hand the report back so the task's retry can claim it again.
        shutil.rmtree(directory, ignore_errors=True)
        Report.objects.filter(pk=report_id).update(status=Report.Status.QUEUED, stage="retrying")
        raise
    except (ReportScopeError, PdfRenderError, ExportError, FitError, OSError, ValueError) as exc:
        logger.warning("report %s failed: %s", report_id, exc)
        _report_fail(report_id, f"{type(exc).__name__}: {exc}")
    except SoftTimeLimitExceeded:
        _report_fail(report_id, "the report took longer than the time limit")
    report.refresh_from_db()
    return report


def iso_week_key(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def report_digest_weekly(*, now: datetime | None = None) -> list[int]:
    """One catalog report per team per ISO week over the last 7 days; a second call that week adds none."""
    now = now or timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    key = iso_week_key(now)
    params = {"since": (now - timedelta(days=7)).isoformat(), "until": now.isoformat()}
    created = []
    for team in Team.objects.order_by("pk"):
        if Report.objects.filter(team=team, digest_key=key).exists():
            continue
        try:
            with transaction.atomic():
                report = Report.objects.create(
                    team=team,
                    scope=Report.Scope.CATALOG,
                    params=params,
                    formats=["html", "csv", "json", "bib"],
                    digest_key=key,
                    stage="weekly digest",
                )
        except IntegrityError:
            continue  # another beat/worker created this team's digest for the week first
        _enqueue_build(report.pk)
        created.append(report.pk)
    return created


REPORT_REQUEUE_GRACE = timedelta(minutes=2)


def reports_requeue(*, now: datetime | None = None) -> list[int]:
    """Outbox sweep for reports: re-publish reports still queued after the grace period (a lost publish)."""
    from analytics.tasks import build_report

    cutoff = (now or timezone.now()) - REPORT_REQUEUE_GRACE
    ids = list(
        Report.objects.filter(status=Report.Status.QUEUED, created_at__lt=cutoff).values_list("pk", flat=True)
    )
    for report_id in ids:
        publish(build_report, report_id)  # building claims the report first, so a duplicate is harmless
    return ids
