"""Thin views: parse input, call one selector or service, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from tracker import selectors, services
from tracker.auth import highest_role, teams_for
from tracker.models import Model, Paper, Role


@login_not_required
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    runs = selectors.runs_visible_to(request.user)
    context = {
        "n_papers": Paper.objects.count(),
        "n_models": Model.objects.count(),
        "n_runs": runs.count(),
        "recent_papers": Paper.objects.order_by("-created_at")[:5],
        "recent_runs": runs.select_related("team").order_by("-created_at")[:5],
        "role": highest_role(request.user),
    }
    return render(request, "tracker/home.html", context)


@require_GET
def api_me(request: HttpRequest) -> JsonResponse:
    teams = teams_for(request.user)
    return JsonResponse(
        {
            "username": request.user.get_username(),
            "role": highest_role(request.user),
            "teams": [t.slug for t in teams],
        }
    )


@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    runs = selectors.runs_visible_to(request.user).select_related("team", "hardware")[:500]
    return render(request, "tracker/run_list.html", {"runs": runs})


@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_get_for_user(user=request.user, run_id=run_id)
    return render(request, "tracker/run_detail.html", {"run": run, "series": run.series.all()})


@require_POST
def run_delete(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_get_for_user(user=request.user, run_id=run_id)
    try:
        services.run_delete(actor=request.user, run=run)
    except PermissionDenied:
        return HttpResponse("Your role in this team does not allow deleting runs.", status=403)
    return redirect("run-list")


@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    return render(request, "tracker/model_list.html", {"models": selectors.model_list()[:1000]})


@require_GET
def model_detail(request: HttpRequest, model_id: int) -> HttpResponse:
    model = get_object_or_404(Model.objects.select_related("organization", "hardware"), pk=model_id)
    return render(
        request, "tracker/model_detail.html", {"model": model, "facts": selectors.model_facts(model)}
    )


__all__ = ["Role"]
