"""Reads for studies and fits, scoped by the user's teams; the points a study fits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from analytics.costs import PricePoint, energy_kwh, price_in_force, training_cost_usd
from analytics.fitting.chinchilla import PARAM_NAMES, ChinchillaParams
from analytics.fitting.errors import FitError
from analytics.fitting.planning import plan_allocation
from analytics.models import Fit, Report, ReportFile, Study
from tracker.auth import teams_for
from tracker.models import Hardware, HardwarePrice, MetricSeries, Paper, Role, TrainingRun
from tracker.models import Model as CatalogModel

# Run filters come from users (study forms, API): only these lookups are honoured, so a filter can never
# reach across relations into other teams' data or run arbitrary lookups.
ALLOWED_RUN_FILTERS = frozenset(
    {
        "name",
        "name__startswith",
        "name__icontains",
        "external_id__startswith",
        "status",
        "precision",
        "model__family",
        "parameters__gte",
        "parameters__lte",
        "tokens__gte",
        "tokens__lte",
    }
)


@dataclass(frozen=True)
class StudyPoint:
    run_id: int
    run_name: str
    n: float | None
    d: float | None
    u: float | None
    budget: float | None  # nominal IsoFLOP budget (config "flops_budget"), else 6ND
    loss: float | None


class StudySelectionError(ValueError):
    """The study's run selection is invalid (e.g. a filter key outside ALLOWED_RUN_FILTERS)."""


def studies_visible_to(user: Any) -> QuerySet[Study]:
    return Study.objects.filter(team__in=teams_for(user, Role.VIEWER)).select_related("team")


def study_get_for_user(*, user: Any, study_id: int) -> Study:
    study = studies_visible_to(user).filter(pk=study_id).first()
    if study is None:
        raise Http404("No such study")
    return study


def study_runs(study: Study) -> QuerySet[TrainingRun]:
    explicit = study.runs.all()
    if explicit.exists():
        return explicit.filter(team_id=study.team_id)
    bad = sorted(set(study.run_filter) - ALLOWED_RUN_FILTERS)
    if bad:
        raise StudySelectionError(
            f"run_filter keys not allowed: {bad}; allowed: {sorted(ALLOWED_RUN_FILTERS)}"
        )
    return TrainingRun.objects.filter(team_id=study.team_id, **study.run_filter)


def study_points(study: Study) -> list[StudyPoint]:
    """One point per selected run, ordered by run id so the inputs hash is stable."""
    runs = list(
        study_runs(study)
        .order_by("pk")
        .values("pk", "name", "parameters", "tokens", "unique_tokens", "final_loss", "config")
    )
    metric_values: dict[int, float | None] = {}
    if study.target_metric != "final_loss":
        metric_values = dict(
            MetricSeries.objects.filter(
                run_id__in=[r["pk"] for r in runs], name=study.target_metric
            ).values_list("run_id", "last_value")
        )
    points = []
    for r in runs:
        loss = r["final_loss"] if study.target_metric == "final_loss" else metric_values.get(r["pk"])
        n, d = r["parameters"], r["tokens"]
        config = r["config"] if isinstance(r["config"], dict) else {}
        budget = config.get("flops_budget")
        if budget is None and n and d:
            budget = 6.0 * n * d
        points.append(
            StudyPoint(
                run_id=r["pk"],
                run_name=r["name"],
                n=n,
                d=d,
                u=r["unique_tokens"],
                budget=float(budget) if budget is not None else None,
                loss=loss,
            )
        )
    return points


def fit_current(study: Study) -> Fit | None:
    return study.fits.filter(status=Fit.Status.CURRENT).first()


def fit_latest(study: Study) -> Fit | None:
    return study.fits.order_by("-version").first()


def fits_for_study(study: Study) -> QuerySet[Fit]:
    return study.fits.order_by("-version")


@dataclass(frozen=True)
class RunPlan:
    compute: float
    n_opt: float
    d_opt: float
    tokens_per_parameter: float
    loss: float
    loss_low: float
    loss_high: float
    level: float
    hardware: str
    mfu: float
    gpu_hours: float
    usd_per_gpu_hour: float | None
    price_basis: str
    cost_usd: float | None
    pue: float
    energy_kwh: float | None


def run_plan(
    *,
    fit: Fit,
    compute: float,
    hardware: Hardware,
    mfu: float = 0.4,
    pue: float = 1.2,
    on: date | None = None,
    level: float = 0.95,
) -> RunPlan:
    """Recommended N, D and expected loss for `compute` FLOPs; GPU hours, cost and energy on `hardware`."""
    if fit.method != "chinchilla_approach3" or fit.status == Fit.Status.FAILED:
        raise FitError("planning needs a successful Chinchilla Approach 3 fit (N and D both in the law)")
    if not 0 < mfu <= 1:
        raise FitError(f"MFU must be in (0, 1], got {mfu!r}")
    if not hardware.peak_bf16_tflops:
        raise FitError(f"hardware {hardware.name} has no peak BF16 TFLOPS: GPU hours cannot be estimated")
    params = ChinchillaParams(**{k: float(fit.params[k]) for k in PARAM_NAMES})
    plan = plan_allocation(
        params,
        compute=compute,
        bootstrap=fit.ci.get("bootstrap"),
        rmse_log=float(fit.goodness.get("rmse_log", 0.0)),
        level=level,
    )
    gpu_hours = compute / (hardware.peak_bf16_tflops * 1e12 * mfu) / 3600.0
    on = on or timezone.now().date()
    prices = [
        PricePoint(float(p.usd_per_gpu_hour), p.valid_from, p.provider)
        for p in HardwarePrice.objects.filter(hardware=hardware)
    ]
    price = price_in_force(prices, on)
    if price is None:
        rate, basis, cost = None, f"no price for {hardware.name} in force on {on.isoformat()}", None
    else:
        rate = price.usd_per_gpu_hour
        basis = f"${rate:g}/GPU h from {price.valid_from.isoformat()} ({price.provider or 'any provider'})"
        cost = training_cost_usd(gpu_hours=gpu_hours, usd_per_gpu_hour=rate)
    energy = (
        energy_kwh(gpu_hours=gpu_hours, power_watts=hardware.tdp_watts, pue=pue)
        if hardware.tdp_watts
        else None
    )
    return RunPlan(
        compute=plan.compute,
        n_opt=plan.n_opt,
        d_opt=plan.d_opt,
        tokens_per_parameter=plan.tokens_per_parameter,
        loss=plan.loss,
        loss_low=plan.loss_low,
        loss_high=plan.loss_high,
        level=plan.level,
        hardware=hardware.name,
        mfu=mfu,
        gpu_hours=gpu_hours,
        usd_per_gpu_hour=rate,
        price_basis=basis,
        cost_usd=cost,
        pue=pue,
        energy_kwh=energy,
    )


# --- synthetic-data ratio studies -------------------------------------------------------------------------

BENCHMARKS_KEY = (
    "benchmarks"  # run.config["benchmarks"] = {"MMLU": 71.2, "GSM8k": 80.1, ...}: scores, higher=better
)


@dataclass(frozen=True)
class SyntheticPoint:
    run_id: int
    run_name: str
    n: float | None
    r: float | None  # synthetic share 0..1
    epochs: float  # epochs on synthetic data; a run that does not say counts as 1 epoch
    sources: tuple[str, ...]
    loss: float | None
    benchmarks: tuple[tuple[str, Any], ...]  # sorted (name, score) pairs from config["benchmarks"]


def synthetic_points(study: Study) -> list[SyntheticPoint]:
    """One point per selected run (ordered by id): N, r, epochs, sources, target and benchmark scores."""
    runs = list(
        study_runs(study)
        .order_by("pk")
        .values(
            "pk",
            "name",
            "parameters",
            "synthetic_share",
            "synthetic_epochs",
            "data_sources",
            "final_loss",
            "config",
        )
    )
    metric_values: dict[int, float | None] = {}
    if study.target_metric != "final_loss":
        metric_values = dict(
            MetricSeries.objects.filter(
                run_id__in=[r["pk"] for r in runs], name=study.target_metric
            ).values_list("run_id", "last_value")
        )
    points = []
    for r in runs:
        config = r["config"] if isinstance(r["config"], dict) else {}
        bench = config.get(BENCHMARKS_KEY)
        if bench is not None and not isinstance(bench, dict):
            raise StudySelectionError(
                f"run '{r['name']}' (id {r['pk']}): config.{BENCHMARKS_KEY} must be an object "
                f"{{benchmark: score}}, got {type(bench).__name__}"
            )
        sources = r["data_sources"] if isinstance(r["data_sources"], dict) else {}
        points.append(
            SyntheticPoint(
                run_id=r["pk"],
                run_name=r["name"],
                n=r["parameters"],
                r=r["synthetic_share"],
                epochs=r["synthetic_epochs"] if r["synthetic_epochs"] is not None else 1.0,
                sources=tuple(sorted(str(k) for k in sources)),
                loss=r["final_loss"] if study.target_metric == "final_loss" else metric_values.get(r["pk"]),
                benchmarks=tuple(sorted(bench.items())) if isinstance(bench, dict) else (),
            )
        )
    return points


# --- reports ------------------------------------------------------------------------------------------------

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


def reports_visible_to(user: Any) -> QuerySet[Report]:
    return Report.objects.filter(team__in=teams_for(user, Role.VIEWER)).select_related("team")


def report_get_for_user(*, user: Any, report_id: int) -> Report:
    report = reports_visible_to(user).filter(pk=report_id).first()
    if report is None:
        raise Http404("No such report")
    return report


def report_file(*, report: Report, fmt: str) -> ReportFile:
    found = report.files.filter(format=fmt).first() if report.status == Report.Status.DONE else None
    if found is None:
        raise Http404(f"report {report.pk} has no {fmt} file")
    return found


def report_progress(report: Report) -> dict[str, Any]:
    files = (
        {
            f.format: {
                "url": f"/reports/{report.pk}/download/{f.format}/",
                "size": f.size,
                "sha256": f.sha256,
            }
            for f in report.files.all()
        }
        if report.status == Report.Status.DONE
        else {}
    )
    return {
        "id": report.pk,
        "team": report.team.slug,
        "scope": report.scope,
        "params": report.params,
        "formats": report.formats,
        "status": report.status,
        "progress": report.progress,
        "stage": report.stage,
        "error": report.error,
        "created_at": report.created_at.isoformat(),
        "finished_at": report.finished_at.isoformat() if report.finished_at else None,
        "files": files,
    }


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


def report_data(report: Report) -> ReportData:
    params = report.params
    team_runs = TrainingRun.objects.filter(team_id=report.team_id)
    if report.scope == Report.Scope.STUDY:
        study = Study.objects.filter(pk=params.get("study_id"), team_id=report.team_id).first()
        if study is None:
            raise ReportScopeError(f"study {params.get('study_id')!r} not found in team {report.team.slug}")
        runs = study_runs(study)
        fit = fit_current(study) or fit_latest(study)
        fit_rows = [[k, v] for k, v in (fit.params if fit else {}).items() if not isinstance(v, dict | list)]
        return ReportData(
            title=f"Study: {study.name}",
            summary=(
                f"{study.get_kind_display()} study of team {report.team.name}, target {study.target_metric}. "
                + (f"Fit v{fit.version} ({fit.status})." if fit else "Not fitted yet.")
                + (f" {fit.error_message}" if fit and fit.error_message else "")
            ),
            runs=_run_rows(runs),
            tables=[("Fit parameters", ["parameter", "value"], fit_rows)],
            papers=_paper_rows(Paper.objects.filter(models__runs__in=runs)),
            study=study,
            fit=fit,
        )
    if report.scope == Report.Scope.MODEL_FAMILY:
        family = str(params.get("family") or "")
        models = CatalogModel.objects.filter(family=family).order_by("name")
        if not family or not models.exists():
            raise ReportScopeError(f"no models in family {family!r}")
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
    if report.scope == Report.Scope.RUN_SET:
        ids = params.get("run_ids") or []
        runs = team_runs.filter(pk__in=ids)
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
    since, until = _window(params)
    window = {"created_at__gte": since, "created_at__lt": until}
    papers = Paper.objects.filter(**window)
    models = CatalogModel.objects.filter(**window).order_by("name")
    fits = Fit.objects.filter(study__team_id=report.team_id, **window).select_related("study")
    runs = team_runs.filter(**window)
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


def _window(params: dict[str, Any]) -> tuple[datetime, datetime]:
    try:
        until = datetime.fromisoformat(params["until"]) if params.get("until") else timezone.now()
        since = datetime.fromisoformat(params["since"]) if params.get("since") else until - timedelta(days=7)
    except (TypeError, ValueError) as exc:
        raise ReportScopeError(f"since/until must be ISO 8601 datetimes ({exc})") from exc
    if timezone.is_naive(since) or timezone.is_naive(until):
        raise ReportScopeError("since/until need a timezone offset (e.g. 2025-01-06T00:00:00+00:00)")
    return since, until
