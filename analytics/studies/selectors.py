"""Reads for studies and fits, scoped by the user's teams; figures and "plan a run" from a fit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from analytics.fitting.chinchilla import PARAM_NAMES, ChinchillaParams
from analytics.fitting.errors import FitError
from analytics.fitting.planning import plan_allocation
from analytics.models import Fit, Study
from analytics.studies.base import Figure
from analytics.studies.registry import kind_get
from tracker.catalog.costs import PricePoint, energy_kwh, price_in_force, training_cost_usd
from tracker.models import Hardware, HardwarePrice

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
