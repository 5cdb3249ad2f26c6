"""Thin views: parse input, call one selector or service, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tracker import selectors_catalog
from tracker.auth import highest_role, teams_for


@login_not_required
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "tracker/home.html", selectors_catalog.home_summary(request.user))


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
