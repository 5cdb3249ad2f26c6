"""Writes for studies and fits: refit (idempotent by inputs hash), staleness, refit enqueueing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from analytics.fitting.errors import FitError
from analytics.models import Fit, Study
from analytics.studies.base import FitOutcome, StudyKind
from analytics.studies.points import StudySelectionError
from analytics.studies.registry import kind_get
from core.leases import fresh_lease_ids, lease_held
from core.outbox import publish, publish_on_commit
from tracker.models import Team, TrainingRun

STUDY_REFIT_TASK = "analytics.study_refit"


def study_create(
    *,
    team: Team,
    name: str,
    kind: str,
    runs: list[TrainingRun] | None = None,
    run_filter: dict[str, Any] | None = None,
    target_metric: str = "final_loss",
    options: dict[str, Any] | None = None,
) -> Study:
    kind_get(kind)  # an unknown kind is refused before anything is stored
    study = Study.objects.create(
        team=team,
        name=name,
        kind=kind,
        run_filter=run_filter or {},
        target_metric=target_metric,
        options=options or {},
    )
    if runs:
        foreign = [r.pk for r in runs if r.team_id != team.pk]
        if foreign:
            raise ValueError(f"runs {foreign} belong to another team")
        study.runs.set(runs)
    return study


def _inputs_hash(study: Study, spec: StudyKind, points: Sequence[Any]) -> str:
    payload = {
        "kind": study.kind,
        "method": spec.method,
        "metric": study.target_metric,
        "options": study.options,
        "points": [spec.point_row(p) for p in points],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()


def _make_current(fit: Fit) -> Fit:
    """A stale fit whose inputs are the current inputs again becomes current; failed fits stay failed."""
    if fit.status != Fit.Status.STALE:
        return fit
    with transaction.atomic():
        Study.objects.select_for_update().get(pk=fit.study_id)
        Fit.objects.filter(study_id=fit.study_id, status=Fit.Status.CURRENT).exclude(pk=fit.pk).update(
            status=Fit.Status.STALE
        )
        Fit.objects.filter(pk=fit.pk).update(status=Fit.Status.CURRENT)
    fit.refresh_from_db()
    return fit


def study_refit(*, study_id: int) -> Fit:
    """Fit the study's current points; the same inputs hash never makes a new version.

    While it runs the study holds a lease; when it lands, the pending refit request is cleared.
    """
    started = timezone.now()
    with lease_held(Study, study_id):
        fit = _study_refit(study_id)
    # Requests made before this refit started are answered by it; a later one (new runs meanwhile) stays.
    Study.objects.filter(pk=study_id, refit_requested_at__lte=started).update(refit_requested_at=None)
    return fit


def _study_refit(study_id: int) -> Fit:
    study = Study.objects.get(pk=study_id)
    spec = kind_get(study.kind)
    method = spec.method
    outcome = FitOutcome()
    error = ""
    points: Sequence[Any]
    try:
        points = spec.points(study)
    except StudySelectionError as exc:
        points, error = [], str(exc)
    inputs_hash = (
        _inputs_hash(study, spec, points) if not error else hashlib.sha256(error.encode()).hexdigest()
    )
    existing = Fit.objects.filter(study=study, inputs_hash=inputs_hash, method=method).first()
    if existing is not None:
        return _make_current(existing)
    if not error:
        # The fit itself runs outside any transaction: it can take seconds and holds no locks.
        try:
            outcome = spec.fit(study, points)
        except FitError as exc:
            error = str(exc)
    try:
        with transaction.atomic():
            Study.objects.select_for_update().get(pk=study.pk)
            existing = Fit.objects.filter(study=study, inputs_hash=inputs_hash, method=method).first()
            if existing is not None:  # another worker finished the same inputs while we were fitting
                return existing
            version = (Fit.objects.filter(study=study).aggregate(v=Max("version"))["v"] or 0) + 1
            if not error:
                Fit.objects.filter(study=study, status=Fit.Status.CURRENT).update(status=Fit.Status.STALE)
            return Fit.objects.create(
                study=study,
                version=version,
                inputs_hash=inputs_hash,
                method=method,
                params=outcome.params,
                ci=outcome.ci,
                residuals=outcome.residuals,
                goodness=outcome.goodness,
                status=Fit.Status.FAILED if error else Fit.Status.CURRENT,
                error_message=error,
            )
    except IntegrityError:
        return Fit.objects.get(study=study, inputs_hash=inputs_hash, method=method)


def studies_mark_stale_for_team(*, team_id: int) -> int:
    """New evidence for the team: its current fits are stale until refitted. Returns how many were marked."""
    return Fit.objects.filter(study__team_id=team_id, status=Fit.Status.CURRENT).update(
        status=Fit.Status.STALE
    )


def enqueue_refits_for_runs(*, team_id: int) -> list[int]:
    """Called by ingestion after runs land: mark fits stale and refit every study of the team after commit."""
    studies_mark_stale_for_team(team_id=team_id)
    studies = Study.objects.filter(team_id=team_id)
    study_ids = list(studies.values_list("pk", flat=True))
    studies.update(refit_requested_at=timezone.now())
    for study_id in study_ids:
        publish_on_commit(STUDY_REFIT_TASK, study_id)
    return study_ids


def study_refit_enqueue(*, study: Study) -> None:
    """On-demand refit from the study page; runs in the worker after this request's transaction commits."""
    Study.objects.filter(pk=study.pk).update(refit_requested_at=timezone.now())
    publish_on_commit(STUDY_REFIT_TASK, study.pk)


STUDY_REFIT_GRACE = timedelta(minutes=2)


def studies_refit_requeue(*, now: datetime | None = None) -> list[int]:
    """Outbox sweep for refits: a refit requested over the grace period ago that no worker holds (the publish
    was lost, or its worker died) is published again; the refit itself is idempotent by inputs hash."""
    moment = now or timezone.now()
    ids = list(
        Study.objects.filter(refit_requested_at__lt=moment - STUDY_REFIT_GRACE)
        .exclude(pk__in=fresh_lease_ids(Study, now=moment))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for study_id in ids:
        publish(STUDY_REFIT_TASK, study_id)
    return ids
