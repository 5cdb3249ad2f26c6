"""Thin views: the home page and who-am-I for API clients."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tracker import selectors


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "tracker/home.html", selectors.home_summary(request.user))
