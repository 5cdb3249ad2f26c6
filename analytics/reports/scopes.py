"""What a report covers: one entry per scope in SCOPES (its parameters, checked; the data it loads).

Adding a scope is one `ReportScope` here and one `Report.Scope` value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from analytics.models import Fit, Report, Study
from analytics.studies.points import study_runs
from analytics.studies.registry import kind_get
from analytics.studies.selectors import fit_current, fit_latest
from tracker.models import Model as CatalogModel
from tracker.models import Paper, TrainingRun

RUN_COLUMNS = [
    "id",
    "name",
    "status",
    "model",
    "parameters",
    "tokens",
    "synthetic_share",
    "synthetic_epochs",
    "final_loss",
    "created_at",
]


class ReportScopeError(ValueError):
    """The report's scope parameters do not select anything this team may see."""


class ReportRequestError(ValueError):
    """The request names an unknown scope/format or parameters that select nothing; the message says which."""


@dataclass
class ReportData:
    """Everything a report shows, loaded once; the service turns it into figures and files."""

    title: str
    summary: str
    runs: list[dict[str, Any]]
    tables: list[tuple[str, list[str], list[list[Any]]]]
    papers: list[dict[str, Any]]
    study: Study | None = None
    fit: Fit | None = None
    counts: dict[str, int] | None = None


@dataclass(frozen=True)
class ReportScope:
    name: str
    clean_params: Callable[[dict[str, Any]], dict[str, Any]]  # raises ReportRequestError
    load: Callable[[Report], ReportData]  # raises ReportScopeError


def _run_rows(runs: QuerySet[TrainingRun]) -> list[dict[str, Any]]:
    rows = []
    for run in runs.select_related("model").order_by("pk"):
        rows.append(
            {
                "id": run.pk,
                "name": run.name,
                "status": run.status,
                "model": run.model.name if run.model else "",
                "parameters": run.parameters,
                "tokens": run.tokens,
                "synthetic_share": run.synthetic_share,
                "synthetic_epochs": run.synthetic_epochs,
                "final_loss": run.final_loss,
                "created_at": run.created_at,
            }
        )
    return rows


def _paper_rows(papers: QuerySet[Paper]) -> list[dict[str, Any]]:
    out = []
    for p in papers.distinct().order_by("pk"):
        out.append(
            {
                "key": p.arxiv_id or p.doi or f"paper{p.pk}",
                "entry_type": "article",
                "title": p.title,
                "author": " and ".join(str(a) for a in p.authors) if isinstance(p.authors, list) else "",
                "year": p.published.year if p.published else None,
                "journal": p.venue,
                "doi": p.doi,
                "eprint": p.arxiv_id,
                "url": p.url,
            }
        )
    return out


# --- study ----------------------------------------------------------------------------------------------


def _study_params(params: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"study_id": int(params["study_id"])}
    except (KeyError, TypeError, ValueError):
        raise ReportRequestError("scope 'study' needs params.study_id (an integer)") from None


def _study_load(report: Report) -> ReportData:
    params = report.params
    study = Study.objects.filter(pk=params.get("study_id"), team_id=report.team_id).first()
    if study is None:
        raise ReportScopeError(f"study {params.get('study_id')!r} not found in team {report.team.slug}")
    runs = study_runs(study)
    fit = fit_current(study) or fit_latest(study)
    fit_rows = [[k, v] for k, v in (fit.params if fit else {}).items() if not isinstance(v, dict | list)]
    return ReportData(
        title=f"Study: {study.name}",
        summary=(
            f"{kind_get(study.kind).label} study of team {report.team.name}, target {study.target_metric}. "
            + (f"Fit v{fit.version} ({fit.status})." if fit else "Not fitted yet.")
            + (f" {fit.error_message}" if fit and fit.error_message else "")
        ),
        runs=_run_rows(runs),
        tables=[("Fit parameters", ["parameter", "value"], fit_rows)],
        papers=_paper_rows(Paper.objects.filter(models__runs__in=runs)),
        study=study,
        fit=fit,
    )


# --- model family ---------------------------------------------------------------------------------------


def _family_params(params: dict[str, Any]) -> dict[str, Any]:
    family = str(params.get("family") or "").strip()
    if not family:
        raise ReportRequestError("scope 'model_family' needs params.family")
    return {"family": family}


def _family_load(report: Report) -> ReportData:
    family = str(report.params.get("family") or "")
    models = CatalogModel.objects.filter(family=family).order_by("name")
    if not family or not models.exists():
        raise ReportScopeError(f"no models in family {family!r}")
    team_runs = TrainingRun.objects.filter(team_id=report.team_id)
    return ReportData(
        title=f"Model family: {family}",
        summary=f"{models.count()} models of family {family}; runs of team {report.team.name} on them.",
        runs=_run_rows(team_runs.filter(model__family=family)),
        tables=[
            (
                "Models",
                ["name", "release date", "parameters", "training tokens", "GPU hours", "license"],
                [
                    [m.name, m.release_date, m.parameters, m.training_tokens, m.gpu_hours, m.license]
                    for m in models
                ],
            )
        ],
        papers=_paper_rows(Paper.objects.filter(models__family=family)),
    )


# --- run set --------------------------------------------------------------------------------------------


def _run_set_params(params: dict[str, Any]) -> dict[str, Any]:
    raw = params.get("run_ids")
    try:
        ids = sorted({int(i) for i in raw}) if isinstance(raw, list) else []
    except (TypeError, ValueError):
        ids = []
    if not ids:
        raise ReportRequestError("scope 'run_set' needs params.run_ids, a non-empty list of run ids")
    return {"run_ids": ids}


def _run_set_load(report: Report) -> ReportData:
    ids = report.params.get("run_ids") or []
    runs = TrainingRun.objects.filter(team_id=report.team_id, pk__in=ids)
    missing = sorted(set(ids) - set(runs.values_list("pk", flat=True)))
    if not ids or missing:
        raise ReportScopeError(f"runs {missing or ids} not found in team {report.team.slug}")
    return ReportData(
        title=f"Run set ({len(ids)} runs)",
        summary=f"Runs {', '.join(str(i) for i in sorted(ids))} of team {report.team.name}.",
        runs=_run_rows(runs),
        tables=[],
        papers=_paper_rows(Paper.objects.filter(models__runs__in=runs)),
    )


# --- catalog (what is new in a time window; the weekly digest) ------------------------------------------


def _catalog_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: str(params[k]) for k in ("since", "until") if params.get(k)}


def _window(params: dict[str, Any]) -> tuple[datetime, datetime]:
    try:
        until = datetime.fromisoformat(params["until"]) if params.get("until") else timezone.now()
        since = datetime.fromisoformat(params["since"]) if params.get("since") else until - timedelta(days=7)
    except (TypeError, ValueError) as exc:
        raise ReportScopeError(f"since/until must be ISO 8601 datetimes ({exc})") from exc
    if timezone.is_naive(since) or timezone.is_naive(until):
        raise ReportScopeError("since/until need a timezone offset (e.g. 2025-01-06T00:00:00+00:00)")
    return since, until


def _catalog_load(report: Report) -> ReportData:
    since, until = _window(report.params)
    window = {"created_at__gte": since, "created_at__lt": until}
    papers = Paper.objects.filter(**window)
    models = CatalogModel.objects.filter(**window).order_by("name")
    fits = Fit.objects.filter(study__team_id=report.team_id, **window).select_related("study")
    runs = TrainingRun.objects.filter(team_id=report.team_id, **window)
    counts = {"papers": papers.count(), "models": models.count(), "runs": runs.count(), "fits": fits.count()}
    return ReportData(
        title=f"Catalog {since.date().isoformat()} to {until.date().isoformat()}",
        summary=(
            f"New for team {report.team.name}: {counts['papers']} papers, {counts['models']} models, "
            f"{counts['runs']} runs, {counts['fits']} fits."
        ),
        runs=_run_rows(runs),
        tables=[
            (
                "New models",
                ["name", "family", "parameters"],
                [[m.name, m.family, m.parameters] for m in models],
            ),
            (
                "New fits",
                ["study", "version", "status", "method", "created"],
                [[f.study.name, f.version, f.status, f.method, f.created_at] for f in fits.order_by("pk")],
            ),
        ],
        papers=_paper_rows(papers),
        counts=counts,
    )


SCOPES: dict[str, ReportScope] = {
    scope.name: scope
    for scope in (
        ReportScope(Report.Scope.STUDY, _study_params, _study_load),
        ReportScope(Report.Scope.MODEL_FAMILY, _family_params, _family_load),
        ReportScope(Report.Scope.RUN_SET, _run_set_params, _run_set_load),
        ReportScope(Report.Scope.CATALOG, _catalog_params, _catalog_load),
    )
}


def report_data(report: Report) -> ReportData:
    scope = SCOPES.get(report.scope)
    if scope is None:
        raise ReportScopeError(f"unknown scope {report.scope!r}")
    return scope.load(report)
