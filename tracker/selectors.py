"""Reads for the home page: the shared catalog plus the user's teams' runs."""

from __future__ import annotations

from typing import Any

from core.auth import highest_role
from tracker.catalog.models import Model, Paper
from tracker.catalog.selectors import MODEL_HEAVY, PAPER_HEAVY
from tracker.runs.models import TrainingRun


def home_summary(user: Any) -> dict[str, Any]:
    runs = TrainingRun.objects.visible_to(user)
    return {
        "n_papers": Paper.objects.count(),
        "n_models": Model.objects.filter(team__isnull=True).count(),
        "n_runs": runs.count(),
        "recent_papers": list(Paper.objects.defer(*PAPER_HEAVY).order_by("-created_at")[:5]),
        "recent_models": list(
            Model.objects.defer(*MODEL_HEAVY)
            .select_related("organization")
            .filter(release_date__isnull=False, team__isnull=True)
            .order_by("-release_date", "name")[:5]
        ),
        "recent_runs": list(runs.select_related("team").order_by("-created_at")[:5]),
        "role": highest_role(user),
    }
