"""Reads for studies and fits, scoped by the user's teams; figures and "plan a run" from a fit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone

from analytics.figures.preview import preview_figure
from analytics.fitting.chinchilla import PARAM_NAMES, ChinchillaParams
from analytics.fitting.errors import FitError
from analytics.fitting.planning import plan_allocation
from analytics.models import Fit, Study
from analytics.studies.authoring import BENCHMARK_PREFIX, FINAL_LOSS, Condition, StudySpec
from analytics.studies.base import Figure
from analytics.studies.points import (
    BENCHMARKS_KEY,
    StudyDraft,
    StudySelectionError,
    stored_conditions,
    study_runs,
)
from analytics.studies.registry import KINDS, kind_get
from analytics.studies.services import StudyPreview
from core.leases import fresh_lease_ids
from core.roles import Role
from tracker.catalog.costs import (
    DEFAULT_PUE,
    PowerAssumptions,
    PricePoint,
    energy_kwh,
    market_price,
    power_assumptions,
    training_cost_usd,
)
from tracker.models import Hardware, HardwarePrice, MetricSeries, Team, TrainingRun

STUDY_LIST_LIMIT = 500


def study_list(*, user: Any) -> QuerySet[Study]:
    return (
        Study.objects.visible_to(user)
        .select_related("team")
        .order_by("team__name", "name")[:STUDY_LIST_LIMIT]
    )


def study_get(*, user: Any, study_id: int) -> Study:
    return Study.objects.select_related("team").get_visible_or_404(user, study_id)


def fit_figures(study: Study, fit: Fit | None) -> list[Figure]:
    """The kind's figures for a fit (none for a failed fit or an empty result)."""
    if fit is None or fit.status == Fit.Status.FAILED or not fit.params:
        return []
    return kind_get(study.kind).figures(fit.params, fit.ci, fit.residuals)


def _legacy_intervals(fit: Fit) -> dict[str, Any]:
    """Fits stored before intervals were a column kept their bounds in `ci.params` ([low, high])."""
    out: dict[str, Any] = {}
    level = fit.ci.get("level", 0.95) if isinstance(fit.ci, dict) else 0.95
    bounds = fit.ci.get("params", {}) if isinstance(fit.ci, dict) else {}
    for name, pair in bounds.items() if isinstance(bounds, dict) else ():
        if isinstance(pair, list) and len(pair) == 2:
            estimate = fit.params.get(name)
            out[name] = {
                "estimate": estimate,
                "low": pair[0],
                "high": pair[1],
                "level": level,
                "method": "bootstrap percentile",
                "bounded": pair[0] is not None and pair[1] is not None,
            }
    return out


def fit_summary(fit: Fit) -> dict[str, Any]:
    """What a fit says, for pages, reports and the API: scalar parameters, intervals (open bounds are null),
    derived quantities at budgets (N_opt, D_opt, tokens per parameter, r*...), plausibility warnings,
    goodness of fit and notes (e.g. Approach 2's bias). JSON-able; reads only the stored row."""
    params = {k: v for k, v in fit.params.items() if not isinstance(v, dict | list)}
    notes = [str(n) for n in fit.params.get("notes", []) if isinstance(n, str)]
    return {
        "id": fit.pk,
        "study_id": fit.study_id,
        "version": fit.version,
        "status": fit.status,
        "method": fit.method,
        "error": fit.error_message,
        "params": params,
        "intervals": fit.intervals or _legacy_intervals(fit),
        "derived": list(fit.derived or []),
        "warnings": list(fit.warnings or []),
        "goodness": dict(fit.goodness or {}),
        "notes": notes,
    }


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
    power: PowerAssumptions | None = None  # Epoch's method, as on the costs page
    warnings: tuple[str, ...] = ()


def run_plan(
    *,
    fit: Fit,
    compute: float,
    hardware: Hardware,
    mfu: float = 0.4,
    pue: float = DEFAULT_PUE,
    on: date | None = None,
    level: float = 0.95,
) -> RunPlan:
    """Recommended N, D and expected loss for `compute` FLOPs; GPU hours, cost and energy on `hardware`."""
    if not kind_get(fit.study.kind).plannable or fit.status == Fit.Status.FAILED:
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
        data_compute=_data_compute(fit),
    )
    gpu_hours = compute / (hardware.peak_bf16_tflops * 1e12 * mfu) / 3600.0
    on = on or timezone.now().date()
    prices = [
        PricePoint(float(p.usd_per_gpu_hour), p.valid_from, p.provider)
        for p in HardwarePrice.objects.filter(hardware=hardware)
    ]
    # The costs page's market rule on the planning date: a run planned today rents at today's cheapest price.
    choice = market_price(prices, on)
    rate, basis = choice.usd_per_gpu_hour, choice.basis
    if rate is None:
        basis = f"no price for {hardware.name}: {basis}"
    cost = training_cost_usd(gpu_hours=gpu_hours, usd_per_gpu_hour=rate) if rate is not None else None
    power = (
        power_assumptions(chip_watts=hardware.tdp_watts, hardware_name=hardware.name, pue=pue)
        if hardware.tdp_watts
        else None
    )
    energy = energy_kwh(gpu_hours=gpu_hours, power=power) if power is not None else None
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
        power=power,
        warnings=tuple(w.message for w in plan.warnings),
    )


def _data_compute(fit: Fit) -> tuple[float, float] | None:
    """The compute range of the fitted runs (6ND), for the extrapolation warning of a plan."""
    cs = [6.0 * r["n"] * r["d"] for r in fit.residuals if r.get("n") and r.get("d")]
    return (min(cs), max(cs)) if cs else None


# --- authoring ------------------------------------------------------------------------------------------


def author_teams(*, user: Any) -> list[Team]:
    """Teams where the user may create studies (editor or admin)."""
    return list(Team.objects.visible_to(user, Role.EDITOR).order_by("name"))


def study_spec(study: Study) -> StudySpec:
    """The study as an editable spec (raises StudySelectionError when its stored filter is not usable)."""
    run_ids = tuple(study.runs.order_by("pk").values_list("pk", flat=True))
    return StudySpec(
        name=study.name,
        kind=study.kind,
        run_ids=run_ids,
        conditions=() if run_ids else stored_conditions(study.run_filter),
        target_metric=study.target_metric,
        options=study.options,
    )


def study_selection_text(study: Study) -> list[str]:
    """How the study chooses its runs, in words (one line per condition)."""
    count = study.runs.count()
    if count:
        return [f"{count} runs chosen by id"]
    try:
        conditions = stored_conditions(study.run_filter)
    except StudySelectionError as exc:
        return [str(exc)]
    return [c.describe() for c in conditions] or ["no runs chosen"]


def handoff_studies(*, user: Any, run_ids: Sequence[int]) -> list[Study]:
    """Studies the runs page's selection could be added to: chosen by id, in a team of the runs, editable."""
    teams = TrainingRun.objects.visible_to(user, Role.EDITOR).filter(pk__in=run_ids).values("team_id")
    return list(
        Study.objects.visible_to(user, Role.EDITOR)
        .filter(team_id__in=teams, run_filter=[])
        .select_related("team")
        .order_by("team__name", "name")
    )


TARGET_RUNS = 5000  # runs read for the target choices (a large filter still answers quickly)
TARGET_CHOICES = 60


def target_choices(
    *, team_id: int, run_ids: Sequence[int] = (), conditions: Sequence[Condition] = ()
) -> list[tuple[str, str]]:
    """What a study of these runs can fit: final loss, metric series (last value) and benchmark scores, each
    with how many of the runs have it. Without a selection, only the final loss."""
    draft = StudyDraft(
        team_id=team_id,
        kind="",
        target_metric=FINAL_LOSS,
        run_filter=[c.as_data() for c in conditions],
        run_ids=tuple(run_ids),
    )
    if not run_ids and not conditions:
        return [(FINAL_LOSS, "final loss")]
    try:
        runs = study_runs(draft)
    except StudySelectionError:
        return [(FINAL_LOSS, "final loss")]
    ids = list(runs.order_by("pk").values_list("pk", flat=True)[:TARGET_RUNS])
    total = len(ids)
    with_loss = TrainingRun.objects.filter(pk__in=ids, final_loss__isnull=False).count()
    choices = [(FINAL_LOSS, f"final loss ({with_loss} of {total} runs)")]
    series = (
        MetricSeries.objects.filter(run_id__in=ids, last_value__isnull=False)
        .values("name")
        .annotate(runs=Count("run_id", distinct=True))
        .order_by("-runs", "name")[:TARGET_CHOICES]
    )
    choices += [(row["name"], f"{row['name']}, last value ({row['runs']} of {total} runs)") for row in series]
    counts: dict[str, int] = {}
    for config in TrainingRun.objects.filter(pk__in=ids).values_list("config", flat=True):
        bench = config.get(BENCHMARKS_KEY) if isinstance(config, dict) else None
        for name in bench if isinstance(bench, dict) else {}:
            counts[str(name)] = counts.get(str(name), 0) + 1
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TARGET_CHOICES]:
        choices.append(
            (f"{BENCHMARK_PREFIX}{name}", f"{name} score, from the run config ({n} of {total} runs)")
        )
    return choices


def preview_figures(preview: StudyPreview) -> list[Figure]:
    """The preview's target against what the kind fits it by (N unless the kind says otherwise)."""
    # A share study is read along r; a law along its size variable.
    x = "r" if "r" in preview.needs else next((f for f in preview.needs if f in ("n", "d", "budget")), "n")
    rows = [(r.run_name, r.values, r.included) for r in preview.rows]
    figure = preview_figure(rows, x=x if x in preview.columns else "n", target_label=preview.target_label)
    return [figure] if figure is not None else []


def study_status(study: Study) -> dict[str, Any]:
    """The study page's live state: is a refit queued or running, and the fit the page shows."""
    pending = study.refit_requested_at is not None
    running = pending and fresh_lease_ids(Study).filter(object_id=study.pk).exists()
    shown = fit_current(study) or fit_latest(study)
    waited = (timezone.now() - study.refit_requested_at).total_seconds() if study.refit_requested_at else None
    return {
        "id": study.pk,
        "state": "running" if running else ("queued" if pending else "idle"),
        "waited_s": round(waited, 1) if waited is not None else None,
        "fit": None
        if shown is None
        else {
            "id": shown.pk,
            "version": shown.version,
            "status": shown.status,
            "status_label": shown.get_status_display(),
            "error": shown.error_message,
            "n_points": shown.goodness.get("n_points"),
            "created_at": shown.created_at.isoformat(),
        },
    }


def kind_choices() -> list[tuple[str, str]]:
    return [(name, kind.label) for name, kind in KINDS.items()]


def run_team_id(*, run_id: int) -> int | None:
    """The team of a run already checked visible (to preselect the team of a hand-off)."""
    return TrainingRun.objects.filter(pk=run_id).values_list("team_id", flat=True).first()


def run_names(*, team_id: int, run_ids: Sequence[int]) -> list[str]:
    """Names of the team's runs among `run_ids`, in the given order (another team's ids give nothing)."""
    names = dict(TrainingRun.objects.filter(team_id=team_id, pk__in=run_ids).values_list("pk", "name"))
    return [names[i] for i in run_ids if i in names]
