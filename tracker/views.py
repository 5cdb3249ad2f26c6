"""Thin views: the home page and who-am-I for API clients."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.auth import highest_role
from tracker import selectors
from tracker.accounts.models import Team


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "tracker/home.html", selectors.home_summary(request.user))


@require_GET
def api_me(request: HttpRequest) -> JsonResponse:
    teams = Team.objects.visible_to(request.user)
    return JsonResponse(
        {
            "username": request.user.get_username(),
            "role": highest_role(request.user),
            "teams": [t.slug for t in teams],
        }
    )
