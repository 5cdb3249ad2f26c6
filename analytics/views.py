"""Thin views: parse input, call one selector or service, render."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from analytics import selectors, services
from analytics.figures import study_figures
from analytics.fitting.errors import FitError
from analytics.models import Report
from tracker.auth import has_role, teams_for
from tracker.models import Hardware, Role


@require_GET
def study_list(request: HttpRequest) -> HttpResponse:
    studies = selectors.studies_visible_to(request.user).order_by("team__name", "name")
    rows = [{"study": s, "fit": selectors.fit_latest(s)} for s in studies[:500]]
    return render(request, "analytics/study_list.html", {"rows": rows})


def _parse_plan(request: HttpRequest) -> tuple[float, int, float] | None:
    raw = request.GET.get("compute", "").strip()
    if not raw:
        return None
    try:
        compute = float(raw)
        hardware_id = int(request.GET.get("hardware", ""))
        mfu = float(request.GET.get("mfu", "0.4") or 0.4)
    except ValueError as exc:
        raise FitError(f"plan: compute, hardware and MFU must be numbers ({exc})") from exc
    return compute, hardware_id, mfu


@require_GET
def study_detail(request: HttpRequest, study_id: int) -> HttpResponse:
    study = selectors.study_get_for_user(user=request.user, study_id=study_id)
    current = selectors.fit_current(study)
    latest = selectors.fit_latest(study)
    shown = current or latest
    figures = []
    if shown is not None and shown.status != shown.Status.FAILED:
        figures = study_figures(study.kind, shown.params, shown.ci, shown.residuals)
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
    study = selectors.study_get_for_user(user=request.user, study_id=study_id)
    if not has_role(request.user, study.team, Role.EDITOR):
        return HttpResponse("Your role does not allow refits.", status=403)
    services.study_refit_enqueue(study=study)
    messages.info(request, "Refit queued; the page shows the new version when the worker finishes.")
    return redirect("study-detail", study_id=study.pk)


# --- reports ------------------------------------------------------------------------------------------------


def _report_form_params(request: HttpRequest) -> tuple[str, dict[str, Any], list[str]]:
    scope = request.POST.get("scope", "")
    params: dict[str, Any] = {}
    if scope == Report.Scope.STUDY:
        params["study_id"] = request.POST.get("study_id", "")
    elif scope == Report.Scope.MODEL_FAMILY:
        params["family"] = request.POST.get("family", "")
    elif scope == Report.Scope.RUN_SET:
        params["run_ids"] = [s for s in request.POST.get("run_ids", "").replace(",", " ").split() if s]
    return scope, params, request.POST.getlist("formats")


def report_list(request: HttpRequest) -> HttpResponse:
    """GET lists the user's teams' reports; POST requests one (editors and admins only)."""
    teams = list(teams_for(request.user, Role.VIEWER).order_by("name"))
    error, status = "", 200
    if request.method == "POST":
        team = next((t for t in teams if str(t.pk) == request.POST.get("team")), None)
        if team is None:
            raise Http404("No such team")
        scope, params, formats = _report_form_params(request)
        try:
            report = services.report_request(
                user=request.user, team=team, scope=scope, params=params, formats=formats
            )
        except PermissionDenied:
            return HttpResponse("Your role does not allow requesting reports.", status=403)
        except services.ReportRequestError as exc:
            error, status = str(exc), 400
        else:
            messages.info(request, f"Report {report.pk} queued.")
            return redirect("report-list")
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    reports = selectors.reports_visible_to(request.user).prefetch_related("files")[:200]
    context = {
        "reports": reports,
        "teams": [t for t in teams if has_role(request.user, t, Role.EDITOR)],
        "studies": selectors.studies_visible_to(request.user).order_by("name"),
        "scopes": Report.Scope.choices,
        "formats": Report.Format.choices,
        "error": error,
        "form": request.POST if request.method == "POST" else {},
    }
    return render(request, "reports/report_list.html", context, status=status)


# Report endpoints look the report up before checking the verb: another team's report is 404 for every verb.
def _read_only(request: HttpRequest) -> HttpResponse | None:
    return None if request.method in ("GET", "HEAD") else HttpResponseNotAllowed(["GET", "HEAD"])


def report_progress(request: HttpRequest, report_id: int) -> HttpResponse:
    report = selectors.report_get_for_user(user=request.user, report_id=report_id)
    if (refused := _read_only(request)) is not None:
        return refused
    return JsonResponse(selectors.report_progress(report))


def report_download(request: HttpRequest, report_id: int, fmt: str) -> HttpResponse:
    report = selectors.report_get_for_user(user=request.user, report_id=report_id)
    if (refused := _read_only(request)) is not None:
        return refused
    found = selectors.report_file(report=report, fmt=fmt)
    path = Path(settings.MEDIA_ROOT) / found.path
    if not path.is_file():
        raise Http404("report file is missing on disk")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"isoflop-report-{report.pk}.{fmt}",
        content_type=services.CONTENT_TYPES[fmt],
    )


def api_reports(request: HttpRequest) -> JsonResponse:
    # CSRF applies to session requests; ApiTokenMiddleware exempts Bearer-token requests.
    if request.method != "POST":
        return JsonResponse({"error": "POST a report request"}, status=405)
    try:
        body = json.loads(request.body or b"{}")
    except json.JSONDecodeError as exc:
        return JsonResponse({"error": f"body is not JSON: line {exc.lineno}: {exc.msg}"}, status=400)
    if not isinstance(body, dict):
        return JsonResponse({"error": "body must be a JSON object"}, status=400)
    team = teams_for(request.user, Role.VIEWER).filter(slug=str(body.get("team", ""))).first()
    if team is None:
        return JsonResponse({"error": "no such team"}, status=404)
    params = body.get("params") or {}
    formats = body.get("formats") or []
    if not isinstance(params, dict) or not isinstance(formats, list):
        return JsonResponse({"error": "params must be an object and formats a list"}, status=400)
    try:
        report = services.report_request(
            user=request.user, team=team, scope=str(body.get("scope", "")), params=params, formats=formats
        )
    except PermissionDenied as exc:
        return JsonResponse({"error": str(exc)}, status=403)
    except services.ReportRequestError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(selectors.report_progress(report), status=202)


def api_report(request: HttpRequest, report_id: int) -> JsonResponse:
    try:
        report = selectors.report_get_for_user(user=request.user, report_id=report_id)
    except Http404:
        return JsonResponse({"error": "no such report"}, status=404)
    if request.method not in ("GET", "HEAD"):
        return JsonResponse({"error": "read-only: GET this report"}, status=405)
    return JsonResponse(selectors.report_progress(report))
