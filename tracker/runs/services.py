"""Writes to a team's runs: delete, tags, notes, final loss (with its provenance)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from core.auth import has_role
from core.outbox import publish_on_commit
from core.roles import Role
from tracker.runs.curves import MAX_POINTS
from tracker.runs.metrics import (
    EVAL_LOSS,
    FINAL_LOSS_TRAIN_K,
    TRAIN_LOSS,
    FinalLoss,
    SeriesTail,
    final_loss_choose,
    metric_group,
)
from tracker.runs.models import FinalLossSource, MetricSeries, RunTag, TrainingRun
from tracker.runs.selectors import facets_changed, tag_normalise
from tracker.runs.series.reads import series_window

MAX_NOTES = 20_000
MAX_TAGS_PER_RUN = 50
# Published by name (tracker never imports analytics): studies that read the run's final loss refit.
STUDIES_REFIT_FOR_RUNS_TASK = "analytics.studies_refit_for_runs"


class RunEditError(ValueError):
    """A value an editor sent that cannot be stored; the message says why."""


def _require_editor(actor: Any, run: TrainingRun, what: str) -> None:
    if not has_role(actor, run.team, Role.EDITOR):
        raise PermissionDenied(f"{what} needs the editor role in the run's team.")


def run_delete(*, actor: Any, run: TrainingRun) -> None:
    _require_editor(actor, run, "Deleting a run")
    run.delete()


def run_tag_add(*, actor: Any, run: TrainingRun, name: str) -> RunTag:
    _require_editor(actor, run, "Tagging a run")
    try:
        tag = tag_normalise(name)
    except ValueError as exc:
        raise RunEditError(str(exc)) from None
    existing = RunTag.objects.filter(run=run, name=tag).first()
    if existing is not None:
        return existing
    if RunTag.objects.filter(run=run).count() >= MAX_TAGS_PER_RUN:
        raise RunEditError(f"a run has at most {MAX_TAGS_PER_RUN} tags")
    obj, created = RunTag.objects.get_or_create(run=run, name=tag, defaults={"created_by": actor})
    if created:
        facets_changed()
    return obj


def run_tag_remove(*, actor: Any, run: TrainingRun, name: str) -> bool:
    _require_editor(actor, run, "Untagging a run")
    deleted, _ = RunTag.objects.filter(run=run, name=" ".join(name.strip().lower().split())).delete()
    if deleted:
        facets_changed()
    return bool(deleted)


def runs_tag_bulk(*, actor: Any, runs: Sequence[TrainingRun], name: str, add: bool) -> int:
    """Add (or remove) one tag on several runs, all or nothing: every run must be the actor's to edit."""
    for run in runs:
        _require_editor(actor, run, "Tagging runs")
    with transaction.atomic():
        changed = 0
        for run in runs:
            if add:
                before = RunTag.objects.filter(run=run).count()
                run_tag_add(actor=actor, run=run, name=name)
                changed += RunTag.objects.filter(run=run).count() - before
            else:
                changed += run_tag_remove(actor=actor, run=run, name=name)
    return changed


def run_notes_set(*, actor: Any, run: TrainingRun, notes: str) -> TrainingRun:
    _require_editor(actor, run, "Editing a run's notes")
    notes = notes.replace("\r\n", "\n").strip()
    if len(notes) > MAX_NOTES:
        raise RunEditError(f"notes are at most {MAX_NOTES:,} characters (got {len(notes):,})")
    run.notes, run.notes_updated_by, run.notes_updated_at = notes, actor, timezone.now()
    run.save(update_fields=["notes", "notes_updated_by", "notes_updated_at"])
    return run


def _final_loss_changed(run: TrainingRun, before: float | None) -> None:
    """After the commit, studies using this run's final loss mark their fits stale and refit."""
    if run.final_loss != before:
        publish_on_commit(STUDIES_REFIT_FOR_RUNS_TASK, [run.pk])


def run_final_loss_enter(*, actor: Any, run: TrainingRun, value: float, note: str = "") -> TrainingRun:
    """An editor's final loss: it wins over the computed and the reported one until cleared."""
    _require_editor(actor, run, "Editing a run's final loss")
    if not math.isfinite(value) or value < 0:
        raise RunEditError(f"the final loss must be a finite number >= 0, got {value}")
    before = run.final_loss
    run.final_loss = value
    run.final_loss_source = FinalLossSource.ENTERED
    run.final_loss_rule = note.strip()[:300]
    run.final_loss_entered_by, run.final_loss_entered_at = actor, timezone.now()
    run.save(
        update_fields=[
            "final_loss",
            "final_loss_source",
            "final_loss_rule",
            "final_loss_entered_by",
            "final_loss_entered_at",
        ]
    )
    _final_loss_changed(run, before)
    return run


def run_final_loss_apply(*, run: TrainingRun, computed: FinalLoss | None) -> TrainingRun:
    """Store the rule's value (ingestion and recompute). It becomes the run's final loss unless an editor
    entered one, or one was reported with the run (by the sender or a reference table) and still stands."""
    fields = ["final_loss_computed", "final_loss_rule", "final_loss_source"]
    ours = run.final_loss is None or run.final_loss_provenance == FinalLossSource.COMPUTED
    if run.final_loss_source == FinalLossSource.ENTERED or not ours:
        if computed is not None:
            # Keep the computed value beside the entered/reported one, for the run page to show both.
            run.final_loss_computed = computed.value
            run.save(update_fields=["final_loss_computed"])
        return run
    if computed is None:
        return run
    run.final_loss_computed = computed.value
    run.final_loss_rule = computed.rule[:300]
    run.final_loss_source = FinalLossSource.COMPUTED
    run.final_loss = computed.value
    run.save(update_fields=[*fields, "final_loss"])
    return run


def run_final_loss_clear(*, actor: Any, run: TrainingRun) -> TrainingRun:
    """Drop the editor's value: the run goes back to the value computed from its curves (if any)."""
    _require_editor(actor, run, "Editing a run's final loss")
    before = run.final_loss
    run.final_loss_source = ""
    run.final_loss = None
    run.final_loss_entered_by, run.final_loss_entered_at = None, None
    run.save(
        update_fields=["final_loss", "final_loss_source", "final_loss_entered_by", "final_loss_entered_at"]
    )
    run = _final_loss_recompute(run)
    _final_loss_changed(run, before)
    return run


def _series_tail(series: MetricSeries, k: int) -> SeriesTail:
    """The last >= k points of a stored series, read raw through `series_window` at its end."""
    if not series.n_points or series.max_step is None or series.min_step is None:
        return SeriesTail(name=series.name, steps=[], values=[])
    spacing = (series.max_step - series.min_step) / max(series.n_points - 1, 1)
    span = max(int(spacing * k * 2), k)
    pairs: list[tuple[int, float]] = []
    for _ in range(40):  # each try widens or narrows 4x: unevenly spaced steps settle within a few
        x0 = max(series.max_step - span, series.min_step)
        window = series_window(series=series, x0=x0, x1=series.max_step, points=MAX_POINTS)
        raw = window.shown == window.total
        if raw:
            pairs = [(s, v) for s, v in zip(window.steps, window.values, strict=True) if v is not None]
            if window.total >= k or x0 == series.min_step:
                break
            span *= 4
        else:  # more points than fit raw: narrow the window
            span = max(span // 4, 1)
    return SeriesTail(name=series.name, steps=[p[0] for p in pairs], values=[p[1] for p in pairs])


def run_final_loss_recompute(*, actor: Any, run: TrainingRun) -> TrainingRun:
    """The documented rule over the stored curves (for runs stored before the rule, or after edits)."""
    _require_editor(actor, run, "Recomputing a run's final loss")
    before = run.final_loss
    run = _final_loss_recompute(run)
    _final_loss_changed(run, before)
    return run


def _final_loss_recompute(run: TrainingRun) -> TrainingRun:
    candidates = [s for s in run.series.all() if metric_group(s.name) in (TRAIN_LOSS, EVAL_LOSS)]
    tails = [_series_tail(s, FINAL_LOSS_TRAIN_K) for s in candidates]
    return run_final_loss_apply(run=run, computed=final_loss_choose(tails))
