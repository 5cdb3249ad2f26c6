"""Writes to a team's runs."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from core.auth import has_role
from core.roles import Role
from tracker.runs.models import TrainingRun


def run_delete(*, actor: Any, run: TrainingRun) -> None:
    if not has_role(actor, run.team, Role.EDITOR):
        raise PermissionDenied("Deleting a run needs the editor role in its team.")
    run.delete()
