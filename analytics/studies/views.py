"""Thin views: parse input, call one selector or service, render."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from analytics.fitting.errors import FitError
from analytics.studies import selectors, services
from analytics.studies.registry import kind_get
from core.auth import has_role
from core.params import ParamError, float_param, id_param
from core.roles import Role
from tracker.models import Hardware


@require_GET
def study_list(request: HttpRequest) -> HttpResponse:
    rows = [
        {"study": s, "fit": selectors.fit_latest(s), "kind": kind_get(s.kind).label}
        for s in selectors.study_list(user=request.user)
    ]
    return render(request, "analytics/study_list.html", {"rows": rows})


def _parse_plan(request: HttpRequest) -> tuple[float, int, float] | None:
    raw = request.GET.get("compute", "").strip()
    if not raw:
        return None
    try:
        compute = float_param(raw, "compute (FLOPs)", lo=1.0, hi=1e35)
        hardware_id = id_param(request.GET.get("hardware", ""), "hardware")
        mfu = float_param(request.GET.get("mfu") or "0.4", "MFU", lo=1e-6, hi=1.0)
    except ParamError as exc:
        raise FitError(f"plan: {exc}") from exc
    assert compute is not None and mfu is not None  # both given: raw is non-empty, MFU has a default
    return compute, hardware_id, mfu


@require_GET
def study_detail(request: HttpRequest, study_id: int) -> HttpResponse:
    study = selectors.study_get(user=request.user, study_id=study_id)
    spec = kind_get(study.kind)
    shown = selectors.fit_current(study) or selectors.fit_latest(study)
    figures = selectors.fit_figures(study, shown)
    plan, plan_error = None, ""
    try:
        parsed = _parse_plan(request)
        if parsed is not None and shown is not None:
            compute, hardware_id, mfu = parsed
            hardware = get_object_or_404(Hardware, pk=hardware_id)
            plan = selectors.run_plan(fit=shown, compute=compute, hardware=hardware, mfu=mfu)
    except FitError as exc:
        plan_error = str(exc)
    params = shown.params if shown is not None else {}
    context = {
        "study": study,
        "kind": spec,
        "fit": shown,
        # Nested results (curves, per-size rows, optima) are drawn as figures, not listed as parameters.
        "param_rows": [(k, v) for k, v in params.items() if not isinstance(v, dict | list)],
        "fits": selectors.fits_for_study(study)[:50],
        "figures": [(f"fig-{i}", fig) for i, fig in enumerate(figures)],
        "plan": plan,
        "plan_error": plan_error,
        "hardware": Hardware.objects.order_by("name"),
        "can_edit": has_role(request.user, study.team, Role.EDITOR),
        "request_get": request.GET,
    }
    return render(request, "analytics/study_detail.html", context, status=400 if plan_error else 200)


@require_POST
def study_refit(request: HttpRequest, study_id: int) -> HttpResponse:
    study = selectors.study_get(user=request.user, study_id=study_id)
    if not has_role(request.user, study.team, Role.EDITOR):
        return HttpResponse("Your role does not allow refits.", status=403)
    services.study_refit_enqueue(study=study)
    messages.info(request, "Refit queued; the page shows the new version when the worker finishes.")
    return redirect("studies:detail", study_id=study.pk)
