"""Runs logged from code (the SDK, `POST /api/runs/...`): create idempotently, store metric batches exactly
once per Idempotency-Key, finish. Points go through the same COPY writer as uploaded logs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.auth import has_role
from core.roles import Role
from ingestion.models import ApiMetricBatch
from ingestion.parsers.records import MetricSeriesRecord, RunManifestRecord
from ingestion.services.catalog import run_upsert, series_store
from ingestion.services.processing import after_runs_landed
from tracker.models import Team, TrainingRun
from tracker.runs.services import run_tag_add

MAX_POINTS_PER_REQUEST = 100_000
MAX_SERIES_PER_REQUEST = 1_000
MAX_KEY_CHARS = 200
MAX_SERIES_NAME = 200
_INT = frozenset({int})
_NUMBER_OR_NULL = frozenset({int, float, type(None)})


class RunInputError(ValueError):
    """A request body that cannot be stored; `field` says where."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class TooManyPoints(RunInputError):
    pass


@dataclass(frozen=True, slots=True)
class RunCreate:
    name: str
    external_id: str
    parameters: float | None = None
    tokens: float | None = None
    unique_tokens: float | None = None
    hardware: str = ""
    gpu_count: int | None = None
    precision: str = ""
    model: str = ""
    notes: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)
    tags: Sequence[str] = ()


def _require_editor(user: Any, team: Team, what: str) -> None:
    if not has_role(user, team, Role.EDITOR):
        raise PermissionDenied(f"{what} needs the editor role in team {team.slug}.")


def run_create(*, user: Any, team: Team, data: RunCreate) -> tuple[TrainingRun, bool]:
    """Create the team's run with this external id, or return the existing one (created=False)."""
    _require_editor(user, team, "Logging a run")
    if not data.external_id.strip():
        raise RunInputError("external_id", "must not be empty")
    manifest = RunManifestRecord(
        name=data.name,
        external_id=data.external_id,
        model=data.model,
        parameters=data.parameters,
        tokens=data.tokens,
        unique_tokens=data.unique_tokens,
        hardware=data.hardware,
        gpu_count=data.gpu_count,
        precision=data.precision,
        config=dict(data.config),
    )
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                existing = TrainingRun.objects.filter(team=team, external_id=data.external_id[:200]).first()
                if existing is not None:
                    return existing, False
                run = run_upsert(
                    team=team,
                    external_id=data.external_id[:200],
                    user=user,
                    manifest=manifest,
                    status=TrainingRun.Status.RUNNING,
                    started_at=timezone.now(),
                    notes=data.notes[:20_000],
                )
                for tag in data.tags:
                    try:
                        run_tag_add(actor=user, run=run, name=tag)
                    except ValueError as exc:
                        raise RunInputError("tags", str(exc)) from None
                return run, True
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _column(name: str, col: Any) -> MetricSeriesRecord:
    if not isinstance(col, Mapping):
        raise RunInputError(f"series.{name}", "must be an object with steps and values")
    steps, values, walls = col.get("steps"), col.get("values"), col.get("wall_times")
    if not isinstance(steps, list) or not isinstance(values, list) or len(steps) != len(values):
        raise RunInputError(f"series.{name}", "steps and values must be lists of the same length")
    if walls is not None and (not isinstance(walls, list) or len(walls) != len(steps)):
        raise RunInputError(f"series.{name}", "wall_times must be a list as long as steps")
    # Type checks at C speed (map + set): these run on every point of every batch.
    if not set(map(type, steps)) <= _INT:
        raise RunInputError(f"series.{name}", "steps must be integers")
    if not set(map(type, values)) <= _NUMBER_OR_NULL:
        raise RunInputError(f"series.{name}", "values must be numbers or null")
    if walls is not None and not set(map(type, walls)) <= _NUMBER_OR_NULL:
        raise RunInputError(f"series.{name}", "wall_times must be numbers or null")
    if steps and (min(steps) <= -(2**62) or max(steps) >= 2**62):
        raise RunInputError(f"series.{name}", "steps must be within +-2**62")
    step_arr = np.asarray(steps, dtype=np.int64)
    # None becomes NaN; ints beyond float range raise OverflowError (caught below).
    try:
        value_arr = np.asarray(values, dtype=np.float64)
        wall_arr = np.asarray(walls, dtype=np.float64) if walls is not None else None
    except OverflowError:
        raise RunInputError(f"series.{name}", "a number is out of range") from None
    if wall_arr is not None and not np.isfinite(wall_arr[~np.isnan(wall_arr)]).all():
        raise RunInputError(f"series.{name}", "wall_times must be finite numbers or null")
    # Sorted by step, a repeated step keeps its last value (last write wins), as the parsers do.
    order = np.argsort(step_arr, kind="stable")
    step_sorted = step_arr[order]
    keep = np.ones(step_sorted.size, dtype=bool)
    if step_sorted.size:
        keep[:-1] = step_sorted[1:] != step_sorted[:-1]
    idx = order[keep]
    # A null (NaN or inf at the sender) is a gap in the curve: metric storage keeps finite values only.
    idx = idx[np.isfinite(value_arr[idx])]
    wall_list: list[float | None] = (
        [None if w != w else w for w in wall_arr[idx].tolist()]
        if wall_arr is not None
        else [None] * int(idx.size)
    )
    return MetricSeriesRecord(
        name=name,
        steps=step_arr[idx].tolist(),
        values=value_arr[idx].tolist(),
        wall_times=wall_list,
    )


def metrics_parse(body: Any) -> list[MetricSeriesRecord]:
    """The columnar body `{"series": {name: {steps, values, wall_times?}}}`, checked and sorted."""
    if not isinstance(body, Mapping) or not isinstance(body.get("series"), Mapping):
        raise RunInputError("series", 'the body must be {"series": {name: {steps, values}}}')
    series = body["series"]
    if len(series) > MAX_SERIES_PER_REQUEST:
        raise RunInputError("series", f"at most {MAX_SERIES_PER_REQUEST} series per request")
    total = 0
    for col in series.values():
        if isinstance(col, Mapping) and isinstance(col.get("steps"), list):
            total += len(col["steps"])
    if total > MAX_POINTS_PER_REQUEST:
        raise TooManyPoints("series", f"{total} points; at most {MAX_POINTS_PER_REQUEST} per request")
    records = []
    for name, col in series.items():
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_SERIES_NAME or "\x00" in name:
            raise RunInputError("series", f"a series name must be 1-{MAX_SERIES_NAME} characters")
        records.append(_column(name, col))
    return records


@dataclass(frozen=True, slots=True)
class MetricsOutcome:
    accepted: int
    duplicate: bool


def run_metrics_log(*, user: Any, run: TrainingRun, key: str, body: Any) -> MetricsOutcome:
    """Store one batch once: the key and the points commit together; the same key again is a duplicate."""
    _require_editor(user, run.team, "Logging metrics")
    if len(key) > MAX_KEY_CHARS or "\x00" in key:
        raise RunInputError("Idempotency-Key", f"at most {MAX_KEY_CHARS} characters")
    records = metrics_parse(body)
    n = sum(len(r.steps) for r in records)
    with transaction.atomic():
        # One writer per run at a time: batches of one run never race on its series rows.
        TrainingRun.objects.select_for_update().filter(pk=run.pk).first()
        if key:
            seen = ApiMetricBatch.objects.filter(run=run, key=key).values_list("n_points", flat=True).first()
            if seen is not None:
                return MetricsOutcome(accepted=seen, duplicate=True)
            ApiMetricBatch.objects.create(run=run, key=key, n_points=n)
        if n:
            series_store(run=run, series=records, source=None)
    return MetricsOutcome(accepted=n, duplicate=False)


def run_finish(
    *,
    user: Any,
    run: TrainingRun,
    status: str,
    final_loss: float | None = None,
    summary: Mapping[str, Any] | None = None,
) -> TrainingRun:
    _require_editor(user, run.team, "Finishing a run")
    if status not in (TrainingRun.Status.FINISHED, TrainingRun.Status.FAILED):
        raise RunInputError("status", "must be 'finished' or 'failed'")
    if final_loss is not None and (not math.isfinite(final_loss) or final_loss < 0):
        raise RunInputError("final_loss", "must be a finite number >= 0")
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now()}
    if final_loss is not None:
        fields["final_loss"] = final_loss
    if summary:
        fields["config"] = {"summary": dict(summary)}
    with transaction.atomic():
        if run.external_id:
            run = run_upsert(team=run.team, external_id=run.external_id, user=user, **fields)
        else:  # a run imported without a sender id: this row, never another one without an id
            locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
            if locked.status in (TrainingRun.Status.FINISHED, TrainingRun.Status.FAILED):
                return locked
            if "config" in fields and isinstance(locked.config, dict):
                fields["config"] = {**locked.config, **fields["config"]}
            for key, value in fields.items():
                setattr(locked, key, value)
            locked.save(update_fields=list(fields))
            run = locked
    after_runs_landed(team_id=run.team_id, kind="run_log")
    return run
