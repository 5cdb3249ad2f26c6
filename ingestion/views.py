"""Thin views: upload page and REST upload, jobs pages and their progress JSON, signed webhooks."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.roles import Role
from ingestion import selectors
from ingestion.models import IngestJob
from ingestion.services import jobs, webhooks
from ingestion.signatures import SignatureError, verify
from ingestion.uploads import SizeLimitUploadHandler
from tracker.models import Integration, Team

MAX_WEBHOOK_BODY = 10 * 1024 * 1024
WEBHOOK_RETRY_AFTER_SECONDS = 30
MAX_DELIVERY_ID = 200  # WebhookDelivery.delivery_id max_length
MAX_WEBHOOK_DEPTH = 64  # no event needs more; deeper JSON only exhausts recursion downstream

logger = logging.getLogger(__name__)


def _install_size_limit(request: HttpRequest) -> SizeLimitUploadHandler:
    handler = SizeLimitUploadHandler(
        request,
        max_bytes=settings.ISOFLOP_MAX_UPLOAD_BYTES,
        max_request_bytes=settings.ISOFLOP_MAX_REQUEST_BYTES,
        max_files=settings.ISOFLOP_MAX_FILES_PER_REQUEST,
    )
    request.upload_handlers.insert(0, handler)
    return handler


# Changing upload handlers must happen before CSRF reads the body: exempt outside, protect inside.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    handler = _install_size_limit(request) if request.method == "POST" else None
    return _upload(request, handler)


@csrf_protect
def _upload(request: HttpRequest, handler: SizeLimitUploadHandler | None) -> HttpResponse:
    teams = Team.objects.visible_to(request.user, Role.EDITOR)
    if request.method == "GET":
        return render(
            request, "ingestion/upload.html", {"teams": teams, "max_bytes": settings.ISOFLOP_MAX_UPLOAD_BYTES}
        )
    team, may_write = selectors.team_for_upload(user=request.user, team_ref=request.POST.get("team", ""))
    if team is None or not may_write:
        return render(
            request,
            "ingestion/upload.html",
            {
                "teams": teams,
                "error": "Choose a team where you are an editor.",
                "max_bytes": settings.ISOFLOP_MAX_UPLOAD_BYTES,
            },
            status=403,
        )
    files = request.FILES.getlist("files")
    if not files and not (handler and handler.rejected):
        return render(
            request,
            "ingestion/upload.html",
            {"teams": teams, "error": "Choose files.", "max_bytes": settings.ISOFLOP_MAX_UPLOAD_BYTES},
            status=400,
        )
    job = jobs.ingest_job_create(
        team=team,
        user=request.user,
        source=IngestJob.Source.UPLOAD,
        uploads=files,
        rejected=handler.rejected if handler else (),
    )
    return redirect("ingestion:job-detail", job_id=job.pk)


@require_http_methods(["GET", "POST"])
def paste(request: HttpRequest) -> HttpResponse:
    """An editor pastes an article (title + text); it is ingested like an uploaded Markdown file."""
    teams = Team.objects.visible_to(request.user, Role.EDITOR)
    context: dict[str, Any] = {"teams": teams}
    if request.method == "GET":
        return render(request, "ingestion/paste.html", context)
    title, text = request.POST.get("title", ""), request.POST.get("text", "")
    context |= {"form_title": title, "form_text": text, "form_team": request.POST.get("team", "")}
    team, may_write = selectors.team_for_upload(user=request.user, team_ref=request.POST.get("team", ""))
    if team is None or not may_write:
        context["error"] = "Choose a team where you are an editor."
        return render(request, "ingestion/paste.html", context, status=403)
    if len(text.encode()) > settings.ISOFLOP_MAX_UPLOAD_BYTES:
        context["error"] = f"The text is over the {settings.ISOFLOP_MAX_UPLOAD_BYTES} byte upload limit."
        return render(request, "ingestion/paste.html", context, status=400)
    try:
        job = jobs.article_paste_job_create(team=team, user=request.user, title=title, text=text)
    except ValueError as exc:
        context["error"] = f"{str(exc).capitalize()}."
        return render(request, "ingestion/paste.html", context, status=400)
    return redirect("ingestion:job-detail", job_id=job.pk)


def api_upload_handle(request: HttpRequest) -> JsonResponse:
    """`POST /api/ingest/` (config.api checks auth, scope and CSRF first; the body is not read yet)."""
    return _api_upload(request, _install_size_limit(request))


@csrf_protect
def _api_upload(request: HttpRequest, handler: SizeLimitUploadHandler) -> JsonResponse:
    team, may_write = selectors.team_for_upload(user=request.user, team_ref=request.POST.get("team", ""))
    if team is None:
        return JsonResponse({"error": "no such team"}, status=404)
    if not may_write:
        return JsonResponse({"error": "uploading needs the editor role in this team"}, status=403)
    files = request.FILES.getlist("files")
    if not files and not handler.rejected:
        return JsonResponse({"error": "no files: send multipart field 'files'"}, status=400)
    job = jobs.ingest_job_create(
        team=team, user=request.user, source=IngestJob.Source.API, uploads=files, rejected=handler.rejected
    )
    return JsonResponse(
        {"job": job.pk, "status": job.status, "progress_url": reverse("api:ingest-job", args=[job.pk])},
        status=201,
    )


@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    return render(request, "ingestion/job_list.html", {"jobs": selectors.job_list(user=request.user)})


@require_GET
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = selectors.job_get(user=request.user, job_id=job_id)
    return render(request, "ingestion/job_detail.html", {"job": job, "files": selectors.job_files(job)})


@require_GET
def api_job(request: HttpRequest, job_id: int) -> JsonResponse:
    try:
        job = selectors.job_get(user=request.user, job_id=job_id)
    except Http404:
        return JsonResponse({"error": "no such ingest job"}, status=404)
    return JsonResponse(selectors.job_progress(job))


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


def _headers(request: HttpRequest) -> dict[str, Any]:
    return {key: value for key, value in request.headers.items()}


@login_not_required
@csrf_exempt
@require_POST
def webhook(request: HttpRequest, integration_slug: str) -> JsonResponse:
    try:
        return _webhook(request, integration_slug)
    except (OperationalError, InterfaceError):
        # Nothing could be stored (PostgreSQL is the outbox): ask the sender to come back, don't 500.
        logger.exception("webhook for %s: database unavailable", integration_slug)
        response = JsonResponse({"error": "temporarily unavailable, retry later"}, status=503)
        response["Retry-After"] = str(WEBHOOK_RETRY_AFTER_SECONDS)
        return response


def _webhook(request: HttpRequest, integration_slug: str) -> JsonResponse:
    integration = Integration.objects.filter(slug=integration_slug, is_active=True).first()
    if integration is None:
        return JsonResponse({"error": "unknown integration"}, status=404)
    length = request.headers.get("Content-Length") or "0"
    if not length.isdigit() or int(length) > MAX_WEBHOOK_BODY:
        return JsonResponse({"error": "payload too large"}, status=413)
    body = request.body
    now = timezone.now()
    secrets = [s.secret for s in integration.secrets.all() if s.expires_at is None or s.expires_at > now]
    try:
        verified = verify(
            headers=_headers(request),
            body=body,
            secrets=secrets,
            now=time.time(),
            tolerance_seconds=settings.ISOFLOP_WEBHOOK_TOLERANCE_SECONDS,
        )
    except SignatureError as exc:
        return JsonResponse({"error": exc.reason}, status=exc.status)
    if len(verified.delivery_id) > MAX_DELIVERY_ID:
        # Truncating instead would make two deliveries that share a prefix dedup into one.
        return JsonResponse({"error": f"delivery id is longer than {MAX_DELIVERY_ID} characters"}, status=400)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return JsonResponse({"error": f"body is not JSON: {exc}"}, status=400)
    except RecursionError:
        return JsonResponse({"error": "body is nested too deeply"}, status=400)
    if not isinstance(payload, dict):
        return JsonResponse({"error": "body must be a JSON object"}, status=400)
    if _depth(payload) > MAX_WEBHOOK_DEPTH:
        return JsonResponse({"error": f"body is nested deeper than {MAX_WEBHOOK_DEPTH} levels"}, status=400)
    event = payload.get("type") or request.headers.get("X-GitHub-Event") or ""
    if not isinstance(event, str) or not event:
        return JsonResponse({"error": "payload has no event 'type'"}, status=400)
    try:
        outcome = webhooks.webhook_receive(
            integration=integration,
            delivery_id=verified.delivery_id,
            event_type=event,
            payload=payload,
            scheme=verified.scheme,
            body_sha256=hashlib.sha256(body).hexdigest(),
        )
    except IntegrityError:
        # Two identical GitHub bodies raced under different ids: one is stored, the other is a replay.
        return JsonResponse({"status": "duplicate"}, status=200)
    return JsonResponse(outcome.body, status=outcome.status)
