"""Reads for studies and fits, scoped by the user's teams; the points a study fits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from analytics.costs import PricePoint, energy_kwh, price_in_force, training_cost_usd
from analytics.fitting.chinchilla import PARAM_NAMES, ChinchillaParams
from analytics.fitting.errors import FitError
from analytics.fitting.planning import plan_allocation
from analytics.models import Fit, Study
from tracker.auth import teams_for
from tracker.models import Hardware, HardwarePrice, MetricSeries, Role, TrainingRun

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
