"""Writes for studies and fits: authoring by editors (author, update, delete, preview), refit (idempotent by
inputs hash), staleness, refit enqueueing."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from analytics.fitting.errors import FitError
from analytics.models import Fit, Study
from analytics.studies.authoring import (
    SpecError,
    StudySpec,
    conditions_from_data,
    conditions_from_lookups,
)
from analytics.studies.base import FitOutcome, StudyKind, jsonable
from analytics.studies.points import (
    StudyDraft,
    StudyPoint,
    StudySelectionError,
    filter_runs,
    stored_conditions,
)
from analytics.studies.registry import kind_get
from core.auth import has_role
from core.leases import fresh_lease_ids, lease_held
from core.outbox import publish, publish_on_commit
from core.roles import Role
from tracker.models import Team, TrainingRun

STUDY_REFIT_TASK = "analytics.study_refit"
STUDIES_REFIT_FOR_RUNS_TASK = "analytics.studies_refit_for_runs"


def study_create(
    *,
    team: Team,
    name: str,
    kind: str,
    runs: list[TrainingRun] | None = None,
    run_filter: Mapping[str, Any] | Sequence[Any] | None = None,
    target_metric: str = "final_loss",
    options: dict[str, Any] | None = None,
) -> Study:
    """A study, as the demo data and tests make them (no role check: editors go through `study_author`).

    `run_filter` is a list of conditions, or an old-style dict of the lookups in
    `authoring.LEGACY_LOOKUPS`; anything else is refused (SpecError) before anything is stored."""
    kind_get(kind)  # an unknown kind is refused before anything is stored
    foreign = [r.pk for r in runs or [] if r.team_id != team.pk]
    if foreign:
        raise ValueError(f"runs {foreign} belong to another team")
    if isinstance(run_filter, Mapping):
        conditions = conditions_from_lookups(run_filter)
    else:
        conditions = conditions_from_data(list(run_filter or []), "run_filter")
    study = Study.objects.create(
        team=team,
        name=name,
        kind=kind,
        run_filter=[c.as_data() for c in conditions],
        target_metric=target_metric,
        options=options or {},
    )
    if runs:
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
                params=jsonable(outcome.params),
                ci=jsonable(outcome.ci),
                residuals=jsonable(outcome.residuals),
                goodness=jsonable(outcome.goodness),
                intervals=jsonable(outcome.intervals),
                derived=jsonable(outcome.derived),
                warnings=jsonable(outcome.warnings),
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


# --- authoring by editors (pages and API) ---------------------------------------------------------------


def _require_editor(user: Any, team: Team, what: str) -> None:
    if not has_role(user, team, Role.EDITOR):
        raise PermissionDenied(f"{what} needs the editor role in team {team.name}.")


def _ids_text(ids: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(map(str, ids[:limit]))
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _check_runs(*, team: Team, spec: StudySpec) -> None:
    """Explicit run ids must all be runs of the study's team: another team's run is never selectable."""
    if not spec.run_ids:
        return
    found = set(TrainingRun.objects.filter(team=team, pk__in=spec.run_ids).values_list("pk", flat=True))
    missing = [i for i in spec.run_ids if i not in found]
    if missing:
        raise SpecError(
            "selection.run_ids",
            f"not runs of team {team.name}: {_ids_text(missing)} (a study uses its own team's runs)",
        )


def _check_name(*, team: Team, spec: StudySpec, study: Study | None = None) -> None:
    clash = Study.objects.filter(team=team, name=spec.name)
    if study is not None:
        clash = clash.exclude(pk=study.pk)
    if clash.exists():
        raise SpecError("name", f"team {team.name} already has a study named {spec.name!r}")


def _apply_spec(study: Study, spec: StudySpec) -> None:
    study.name = spec.name
    study.kind = spec.kind
    study.run_filter = spec.filter_data()
    study.target_metric = spec.target_metric
    study.options = dict(spec.options)
    study.save()
    study.runs.set(spec.run_ids)  # empty for a filter: the filter is the selection


def study_author(*, user: Any, team: Team, spec: StudySpec) -> Study:
    """A new study of `team` from an editor's spec; its first fit is queued for after the commit."""
    _require_editor(user, team, "Creating a study")
    kind_get(spec.kind)
    _check_runs(team=team, spec=spec)
    _check_name(team=team, spec=spec)
    try:
        with transaction.atomic():
            study = Study(team=team)
            _apply_spec(study, spec)
            study_refit_enqueue(study=study)
    except IntegrityError:  # the same name created concurrently
        raise SpecError("name", f"team {team.name} already has a study named {spec.name!r}") from None
    study.refresh_from_db()
    return study


def _refit_relevant(study: Study) -> tuple[Any, ...]:
    """What the fit depends on (a rename changes nothing the fit reads)."""
    return (
        study.kind,
        json.dumps(study.run_filter, sort_keys=True),
        sorted(study.runs.values_list("pk", flat=True)),
        study.target_metric,
        json.dumps(study.options, sort_keys=True),
    )


def study_update(*, user: Any, study: Study, spec: StudySpec) -> Study:
    """Replace the study's spec. When anything the fit reads changed, the current fit is stale at once and a
    refit is queued (the refit makes a new version, or brings back the version fitted on these inputs)."""
    _require_editor(user, study.team, "Editing a study")
    kind_get(spec.kind)
    _check_runs(team=study.team, spec=spec)
    _check_name(team=study.team, spec=spec, study=study)
    try:
        with transaction.atomic():
            locked = Study.objects.select_for_update().get(pk=study.pk)
            before = _refit_relevant(locked)
            _apply_spec(locked, spec)
            if _refit_relevant(locked) != before:
                Fit.objects.filter(study=locked, status=Fit.Status.CURRENT).update(status=Fit.Status.STALE)
                study_refit_enqueue(study=locked)
    except IntegrityError:
        raise SpecError("name", f"team {study.team.name} already has a study named {spec.name!r}") from None
    study.refresh_from_db()
    return study


def study_runs_add(*, user: Any, study: Study, run_ids: Sequence[int]) -> Study:
    """Add runs (the runs page's "add to study") to a study that selects runs by id."""
    _require_editor(user, study.team, "Adding runs to a study")
    if not study.runs.exists() and study.run_filter:
        raise SpecError(
            "selection",
            f"study {study.name!r} selects its runs by a filter: edit the filter, "
            "or make a new study of these runs",
        )
    current = list(study.runs.order_by("pk").values_list("pk", flat=True))
    spec = StudySpec(
        name=study.name,
        kind=study.kind,
        run_ids=tuple(dict.fromkeys([*current, *run_ids])),
        target_metric=study.target_metric,
        options=study.options,
    )
    return study_update(user=user, study=study, spec=spec)


def study_delete(*, user: Any, study: Study) -> None:
    """Delete a study and its fits (the runs stay)."""
    _require_editor(user, study.team, "Deleting a study")
    study.delete()


# Point attributes as the preview names them.
POINT_LABELS = {
    "n": "N (parameters)",
    "d": "D (tokens)",
    "u": "U (unique tokens)",
    "budget": "compute budget",
    "r": "synthetic share",
    "epochs": "synthetic epochs",
    "inference_flops": "inference FLOPs",
    "bits_w": "weight bits",
    "bits_a": "activation bits",
    "bits_kv": "KV-cache bits",
    "accuracy": "accuracy (config)",
}
PREVIEW_ROWS = 500


@dataclass(frozen=True)
class PreviewRow:
    run_id: int
    run_name: str
    values: dict[str, float | None]  # point attribute -> value (n, d, u, budget or r, and loss = target)
    included: bool
    reason: str = ""  # why it is left out, or why it would stop the fit
    blocks: bool = False  # a present but impossible value: the fit fails naming this run


@dataclass(frozen=True)
class StudyPreview:
    """The points a fit of `spec` would use now: every selected run, included or left out and why."""

    kind: str
    target_metric: str
    target_label: str
    columns: list[str]  # point attributes shown, target ("loss") last
    needs: tuple[str, ...]
    rows: list[PreviewRow] = field(default_factory=list)  # at most PREVIEW_ROWS
    n_selected: int = 0
    n_included: int = 0
    n_blocking: int = 0
    blocking: list[str] = field(default_factory=list)  # the reasons, for the first few blocking runs

    @property
    def n_excluded(self) -> int:
        return self.n_selected - self.n_included


def _target_label(target: str) -> str:
    if target == "final_loss":
        return "final loss"
    if target.startswith("benchmark:"):
        return f"{target.removeprefix('benchmark:')} score"
    return f"{target} (last value)"


def _point_check(name: str, value: float, label: str, *, positive: bool) -> str:
    """Why a present value would stop the fit, or "" when it is usable (the kinds' own checks decide; this
    says it before fitting). `positive`: the kind fits logs, so every value must be > 0."""
    if not math.isfinite(value):
        return f"{label} is {'NaN' if math.isnan(value) else 'infinite'}"
    if name == "r":
        return "" if 0.0 <= value <= 1.0 else f"{label} must be in [0, 1] (value {value!r})"
    if (positive or name != "loss") and value <= 0:
        return f"{label} must be > 0 (value {value!r})"
    return ""


def study_preview(*, user: Any, team: Team, spec: StudySpec) -> StudyPreview:
    """The points a fit of `spec` would use, without storing anything: each selected run with its values,
    and which runs are left out (a needed value is missing) or would stop the fit (an impossible value)."""
    _require_editor(user, team, "Previewing a study")
    kind = kind_get(spec.kind)
    _check_runs(team=team, spec=spec)
    draft = StudyDraft(
        team_id=team.pk,
        kind=spec.kind,
        target_metric=spec.target_metric,
        options=dict(spec.options),
        run_filter=spec.filter_data(),
        run_ids=spec.run_ids,
    )
    points = list(kind.points(draft))
    needs = kind.needs(spec.options) if kind.needs is not None else ()
    extra = ("inference_flops", "bits_w", "bits_a", "bits_kv", "accuracy")
    attrs = [a for a in ("n", "d", "u", "budget", "r", "epochs", *extra) if points and hasattr(points[0], a)]
    columns = [a for a in attrs if a in needs or a in ("n", "d")] + ["loss"]
    labels = {**POINT_LABELS, "loss": _target_label(spec.target_metric)}
    rows: list[PreviewRow] = []
    included = blocking = 0
    reasons: list[str] = []
    for p in points:
        values = {c: getattr(p, c, None) for c in columns}
        missing = [labels[f] for f in needs if getattr(p, f, None) is None]
        problems = [
            problem
            for f in needs
            if (v := getattr(p, f, None)) is not None
            and (problem := _point_check(f, float(v), labels[f], positive=isinstance(p, StudyPoint)))
        ]
        if problems:
            reason, blocks = "; ".join(problems) + ": the fit stops on this run", True
            blocking += 1
            if len(reasons) < 5:
                reasons.append(f"run '{p.run_name}' (id {p.run_id}): {'; '.join(problems)}")
        elif missing:
            reason, blocks = "no " + ", no ".join(missing), False
        else:
            reason, blocks = "", False
            included += 1
        if len(rows) < PREVIEW_ROWS:
            rows.append(PreviewRow(p.run_id, p.run_name, values, not reason, reason, blocks))
    return StudyPreview(
        kind=spec.kind,
        target_metric=spec.target_metric,
        target_label=labels["loss"],
        columns=columns,
        needs=needs,
        rows=rows,
        n_selected=len(points),
        n_included=included,
        n_blocking=blocking,
        blocking=reasons,
    )


def studies_refit_for_runs(*, run_ids: Sequence[int]) -> list[int]:
    """A value the studies read changed on these runs (an editor's final loss): the studies that select any
    of them, or filter on the final loss, get their current fit marked stale and a refit queued."""
    teams: dict[int, list[int]] = {}
    for pk, team_id in TrainingRun.objects.filter(pk__in=run_ids).values_list("pk", "team_id"):
        teams.setdefault(team_id, []).append(pk)
    affected: list[int] = []
    for team_id, ids in teams.items():
        for study in Study.objects.filter(team_id=team_id).order_by("pk"):
            if study.runs.exists():
                hit = study.runs.filter(pk__in=ids).exists()
            else:
                try:
                    conditions = stored_conditions(study.run_filter)
                except StudySelectionError:
                    continue  # its refits fail with the reason already; nothing here changes that
                hit = bool(conditions) and (
                    any(c.field == "final_loss" for c in conditions)
                    or filter_runs(team_id=team_id, conditions=conditions).filter(pk__in=ids).exists()
                )
            if hit:
                affected.append(study.pk)
    Fit.objects.filter(study_id__in=affected, status=Fit.Status.CURRENT).update(status=Fit.Status.STALE)
    Study.objects.filter(pk__in=affected).update(refit_requested_at=timezone.now())
    for study_id in affected:
        publish_on_commit(STUDY_REFIT_TASK, study_id)
    return affected
