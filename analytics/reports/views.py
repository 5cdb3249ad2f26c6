"""Thin views: the reports page (list and request), progress JSON, downloads and the reports API."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header

from analytics.models import Report
from analytics.reports import selectors, services
from analytics.reports.scopes import ReportRequestError
from analytics.studies import selectors as study_selectors
from core.auth import has_role, token_scope
from core.files import file_chunks, file_exists
from core.roles import Role
from tracker.models import Team, TrainingRun


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


def _prefill(request: HttpRequest) -> dict[str, str]:
    """The request form filled from the link that led here (the runs page: ?scope=run_set&run_ids=1,2)."""
    form = {k: request.GET.get(k, "").strip()[:2000] for k in ("scope", "run_ids", "study_id", "family")}
    first = form["run_ids"].replace(",", " ").split()[:1]
    if first and first[0].isdigit() and int(first[0]) < 2**63:
        runs = TrainingRun.objects.visible_to(request.user).filter(pk=int(first[0]))
        team_id = runs.values_list("team_id", flat=True).first()
        form["team"] = str(team_id) if team_id is not None else ""
    return form


def report_list(request: HttpRequest) -> HttpResponse:
    """GET lists the user's teams' reports; POST requests one (editors and admins only)."""
    teams = list(Team.objects.visible_to(request.user, Role.VIEWER).order_by("name"))
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
        except ReportRequestError as exc:
            error, status = str(exc), 400
        else:
            dropped = (
                " No papers are linked to this scope, so there is no BibTeX file."
                if ("bib" in formats and "bib" not in report.formats)
                else ""
            )
            messages.info(request, f"Report {report.pk} queued.{dropped}")
            return redirect("reports:list")
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    reports = list(selectors.report_list(user=request.user))
    words = selectors.report_scope_words(reports)
    context = {
        "reports": reports,
        "rows": [(r, words[r.pk]) for r in reports],
        "has_pending": any(r.status in (Report.Status.QUEUED, Report.Status.RUNNING) for r in reports),
        "teams": [t for t in teams if has_role(request.user, t, Role.EDITOR)],
        "studies": study_selectors.study_list(user=request.user),
        "scopes": Report.Scope.choices,
        "formats": Report.Format.choices,
        "error": error,
        "form": request.POST if request.method == "POST" else _prefill(request),
    }
    return render(request, "reports/report_list.html", context, status=status)


# Report endpoints look the report up before checking the verb: another team's report is 404 for every verb.
def _read_only(request: HttpRequest) -> HttpResponse | None:
    return None if request.method in ("GET", "HEAD") else HttpResponseNotAllowed(["GET", "HEAD"])


def report_progress(request: HttpRequest, report_id: int) -> HttpResponse:
    report = selectors.report_get(user=request.user, report_id=report_id)
    if (refused := _read_only(request)) is not None:
        return refused
    return JsonResponse(selectors.report_progress(report))


API_DOWNLOAD = "api:report-download"


@token_scope("read")
def report_download(request: HttpRequest, report_id: int, fmt: str) -> HttpResponseBase:
    report = selectors.report_get(user=request.user, report_id=report_id)
    if (refused := _read_only(request)) is not None:
        return refused
    found = selectors.report_file(report=report, fmt=fmt)
    if not file_exists(found.path):
        raise Http404("report file is missing from the storage")
    # Streamed from the storage (local disk or object store) a chunk at a time.
    response = StreamingHttpResponse(file_chunks(found.path), content_type=services.CONTENT_TYPES[fmt])
    disposition = content_disposition_header(as_attachment=True, filename=f"isoflop-report-{report.pk}.{fmt}")
    if disposition:
        response["Content-Disposition"] = disposition
    response["Content-Length"] = str(found.size)
    return response


@token_scope("reports")
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
    team = Team.objects.visible_to(request.user, Role.VIEWER).filter(slug=str(body.get("team", ""))).first()
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
    except ReportRequestError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(selectors.report_progress(report, download_route=API_DOWNLOAD), status=202)


def api_report(request: HttpRequest, report_id: int) -> JsonResponse:
    try:
        report = selectors.report_get(user=request.user, report_id=report_id)
    except Http404:
        return JsonResponse({"error": "no such report"}, status=404)
    if request.method not in ("GET", "HEAD"):
        return JsonResponse({"error": "read-only: GET this report"}, status=405)
    return JsonResponse(selectors.report_progress(report, download_route=API_DOWNLOAD))


def digest_list(request: HttpRequest) -> HttpResponse:
    if (refused := _read_only(request)) is not None:
        return refused
    return render(request, "reports/digest_list.html", {"digests": selectors.digest_list(user=request.user)})


def digest_detail(request: HttpRequest, report_id: int) -> HttpResponse:
    report, data = selectors.digest_get(user=request.user, report_id=report_id)
    if (refused := _read_only(request)) is not None:
        return refused
    files = list(report.files.all()) if report.status == Report.Status.DONE else []
    return render(request, "reports/digest_detail.html", {"report": report, "data": data, "files": files})
