"""Reads. Every team-owned read goes through a selector that scopes by the user's teams."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from tracker.auth import teams_for
from tracker.models import Role, TrainingRun


def runs_visible_to(user: Any) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(team__in=teams_for(user, Role.VIEWER))


def run_get_for_user(*, user: Any, run_id: int, min_role: Role = Role.VIEWER) -> TrainingRun:
    """A run the user may see (or change, with min_role=EDITOR); anything else is a 404, never a hint."""
    run = (
        TrainingRun.objects.select_related("team", "hardware", "model", "source")
        .filter(pk=run_id, team__in=teams_for(user, min_role))
        .first()
    )
    if run is None:
        raise Http404("No such run")
    return run
