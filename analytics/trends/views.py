"""The timeline page (/catalog/timeline/): release dates, compute over time and its trend. Thin.

It lives in analytics because the trend is an analytics fit; config.urls mounts it in the catalog namespace.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from analytics.trends.compute import EPOCH_PUBLISHED, SELECTIONS, compute_trend
from tracker.catalog import figures as figures_catalog
from tracker.catalog import selectors as selectors_catalog
from tracker.catalog.selectors import BadQuery

TEMPLATE = "tracker/timeline.html"


@require_GET
def timeline(request: HttpRequest) -> HttpResponse:
    get = request.GET
    color_by = get.get("color", "organization")
    selection = get.get("trend", "all")
    context: dict[str, Any] = {
        "color_by": color_by,
        "choices": figures_catalog.COLOR_BY_CHOICES,
        "selection": selection,
        "selections": SELECTIONS,
        "organizations": selectors_catalog.timeline_organizations(),
        "filters": {
            "organization": get.get("organization", ""),
            "from": get.get("from", ""),
            "to": get.get("to", ""),
        },
        "epoch_published": EPOCH_PUBLISHED,
    }
    try:
        if color_by not in figures_catalog.COLOR_BY_CHOICES:
            raise BadQuery(f"color: {color_by!r} is not one of {', '.join(figures_catalog.COLOR_BY_CHOICES)}")
        if selection not in SELECTIONS:
            raise BadQuery(f"trend: {selection!r} is not one of {', '.join(SELECTIONS)}")
        filters = selectors_catalog.timeline_filters(
            organization=get.get("organization", ""), since=get.get("from", ""), until=get.get("to", "")
        )
    except BadQuery as exc:
        return render(request, TEMPLATE, {**context, "error": str(exc)}, status=400)
    points = selectors_catalog.timeline_points(filters)
    trend = compute_trend(points, selection=selection)
    context |= {
        "filtered": any(filters.query().values()),
        "n_points": len(points),
        "timeline_fig": figures_catalog.timeline_figure(points, color_by=color_by),
        "compute_fig": figures_catalog.compute_figure(points, color_by=color_by, trend=trend.line),
        "n_compute": sum(1 for p in points if p.training_flops),
        "trend": trend,
    }
    return render(request, TEMPLATE, context)
