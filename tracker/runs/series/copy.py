"""Writing metric points: compressed chunks (`tracker.runs.series.codec`) loaded by binary COPY.

Callers run these inside `transaction.atomic()` (both open a savepoint of their own too): chunk rows, the
series summary, its data version and, for a new long series, its rollups change in one transaction, so a
reader never sees points without their summary or the other way round.

Exactly once:
- `points_insert_new` claims each series with `UPDATE ... WHERE n_points = 0` and checks the row count
  before it writes a byte: a second writer of the same new series (a redelivered task, a concurrent one)
  waits on the row lock, then finds the series taken and gets an IntegrityError, and its transaction rolls
  back. Ingestion then retries once through `points_upsert`, like any duplicate-key race.
- `points_upsert` locks the series row (series in id order, so two writers cannot deadlock), decodes only
  the chunks its steps touch (plus the last partial chunk before them, so appends fill it), merges (a later
  value for a step wins), and replaces those rows. Writing the same batch twice leaves the same rows.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from core.outbox import publish_on_commit
from tracker.runs.models import MetricChunk, MetricSeries
from tracker.runs.series import codec
from tracker.runs.series.rollups import (
    ROLLUP_MIN_POINTS,
    rollups_append,
    rollups_levels_if_current,
    rollups_write_from_points,
    series_summary_from_chunks,
)

CHUNK_COLUMNS = (
    "(series_id, first_step, last_step, n_points, first_value, last_value, min_step, min_value, "
    "max_step, max_value, data)"
)
_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)

# One tuple of the binary COPY format: field count, then (length, big-endian value) per column.
_ROW_WITH_TIME = np.dtype(
    [
        ("nfields", ">i2"),
        ("len_series", ">i4"),
        ("series", ">i8"),
        ("len_step", ">i4"),
        ("step", ">i8"),
        ("len_value", ">i4"),
        ("value", ">f8"),
        ("len_time", ">i4"),
        ("time", ">f8"),
    ]
)
# A NULL field is length -1 with no data, so rows without wall time have their own, shorter layout.
_ROW_NO_TIME = np.dtype(
    [
        ("nfields", ">i2"),
        ("len_series", ">i4"),
        ("series", ">i8"),
        ("len_step", ">i4"),
        ("step", ">i8"),
        ("len_value", ">i4"),
        ("value", ">f8"),
        ("len_time", ">i4"),
    ]
)
# A chunk row: 10 fixed-width fields, then the blob's length; the blob follows.
_CHUNK_ROW = struct.Struct(">h" + "iq" * 3 + "ii" + "id" * 2 + "iqid" * 2 + "i")


@dataclass(slots=True)
class SeriesPoints:
    """Points of one series as arrays: steps int64, values float64, wall_times float64 with NaN for none."""

    series_id: int
    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray

    @classmethod
    def from_lists(
        cls,
        *,
        series_id: int,
        steps: Sequence[int],
        values: Sequence[float],
        wall_times: Sequence[float | None] = (),
    ) -> SeriesPoints:
        steps_a = np.asarray(steps, dtype=np.int64)
        values_a = np.asarray(values, dtype=np.float64)
        if len(wall_times):
            # NumPy turns None into NaN for a float array, in C.
            times_a = np.asarray(wall_times, dtype=np.float64)
        else:
            times_a = np.full(len(steps_a), np.nan)
        if not (len(steps_a) == len(values_a) == len(times_a)):
            raise ValueError(f"series {series_id}: steps, values and wall times differ in length")
        return cls(series_id=series_id, steps=steps_a, values=values_a, wall_times=times_a)


def _sorted(points: SeriesPoints, *, finite_only: bool) -> SeriesPoints:
    # Parsers reject NaN/Inf with a line number; this is the last guard before the database.
    if finite_only and not np.isfinite(points.values).all():
        raise ValueError(f"series {points.series_id}: non-finite metric values cannot be stored")
    steps = np.asarray(points.steps, dtype=np.int64)
    values = np.asarray(points.values, dtype=np.float64)
    walls = np.asarray(points.wall_times, dtype=np.float64)
    if not (steps.size == values.size == walls.size):
        raise ValueError(f"series {points.series_id}: steps, values and wall times differ in length")
    # Parsers hand over sorted steps: a strictly increasing check is O(n); sort only when it fails.
    if steps.size > 1 and not (steps[1:] > steps[:-1]).all():
        order = np.argsort(steps, kind="stable")
        steps, values, walls = steps[order], values[order], walls[order]
        if not (steps[1:] > steps[:-1]).all():
            raise ValueError(f"series {points.series_id}: duplicate steps in one batch")
    return SeriesPoints(series_id=points.series_id, steps=steps, values=values, wall_times=walls)


def binary_copy_payload(batches: Sequence[SeriesPoints]) -> bytes:
    """PGCOPY binary stream of narrow rows (series_id, step, value, wall_time): the benchmarks' baseline."""
    parts = [_HEADER]
    for pts in batches:
        has_time = ~np.isnan(pts.wall_times)
        for dtype, mask in ((_ROW_WITH_TIME, has_time), (_ROW_NO_TIME, ~has_time)):
            n = int(mask.sum())
            if n == 0:
                continue
            rows = np.empty(n, dtype=dtype)
            rows["nfields"] = 4
            rows["len_series"] = 8
            rows["series"] = pts.series_id
            rows["len_step"] = 8
            rows["step"] = pts.steps[mask]
            rows["len_value"] = 8
            rows["value"] = pts.values[mask]
            if dtype is _ROW_WITH_TIME:
                rows["len_time"] = 8
                rows["time"] = pts.wall_times[mask]
            else:
                rows["len_time"] = -1
            parts.append(rows.tobytes())
    parts.append(_TRAILER)
    return b"".join(parts)


ChunkRow = tuple[int, codec.ChunkSummary, bytes]


def chunk_rows(pts: SeriesPoints) -> list[ChunkRow]:
    """The chunk rows of sorted points: consecutive runs of `codec.CHUNK_POINTS`, the last one shorter."""
    bounds = codec.chunk_bounds(pts.steps.size)
    summaries = codec.chunk_summaries(pts.steps, pts.values, bounds)
    return [
        (
            pts.series_id,
            summary,
            codec.chunk_encode(pts.steps[lo:hi], pts.values[lo:hi], pts.wall_times[lo:hi]),
        )
        for (lo, hi), summary in zip(bounds, summaries, strict=True)
    ]


def _chunk_copy_payload(rows: Sequence[ChunkRow]) -> bytes:
    parts = [_HEADER]
    for series_id, s, blob in rows:
        parts.append(
            _CHUNK_ROW.pack(
                11,
                8,
                series_id,
                8,
                s.first_step,
                8,
                s.last_step,
                4,
                s.n_points,
                8,
                s.first_value,
                8,
                s.last_value,
                8,
                s.min_step,
                8,
                s.min_value,
                8,
                s.max_step,
                8,
                s.max_value,
                len(blob),
            )
        )
        parts.append(blob)
    parts.append(_TRAILER)
    return b"".join(parts)


def chunk_rows_insert(rows: Sequence[ChunkRow]) -> None:
    """Insert chunk rows with one binary COPY."""
    if not rows:
        return
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY tracker_metricchunk {CHUNK_COLUMNS} FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(_chunk_copy_payload(rows))


def _summary_from_arrays(pts: SeriesPoints) -> dict[str, object]:
    last = pts.steps.size - 1  # sorted
    return {
        "n_points": int(pts.steps.size),
        "min_step": int(pts.steps[0]),
        "max_step": int(pts.steps[last]),
        "min_value": float(np.fmin.reduce(pts.values)),
        "max_value": float(np.max(pts.values)),
        "last_value": float(pts.values[last]),
    }


def points_insert_new(*, batches: Sequence[SeriesPoints], finite_only: bool = True) -> int:
    """Load points into series that have none yet (fast path), with summaries and rollups. Returns points.

    `finite_only=False` lets NaN/Inf through for trusted callers (tests of NaN handling); ingestion never.
    """
    ready = sorted(
        (_sorted(p, finite_only=finite_only) for p in batches if len(p.steps)), key=lambda p: p.series_id
    )
    if len({p.series_id for p in ready}) != len(ready):
        raise ValueError("points_insert_new: one batch per series")
    rows: list[ChunkRow] = []
    with transaction.atomic():
        for pts in ready:
            claimed = MetricSeries.objects.filter(pk=pts.series_id, n_points=0).update(
                data_version=F("data_version") + 1, **_summary_from_arrays(pts)
            )
            if not claimed:
                raise IntegrityError(f"series {pts.series_id} already has points: use points_upsert")
            rows.extend(chunk_rows(pts))
        chunk_rows_insert(rows)
        for pts in ready:
            if pts.steps.size >= ROLLUP_MIN_POINTS:
                # Long curves are read from rollups: built now from the arrays at hand, no decoding.
                rollups_write_from_points(series_id=pts.series_id, steps=pts.steps, values=pts.values)
    return sum(p.steps.size for p in ready)


_TOUCHED_CHUNKS_SQL = """
SELECT first_step, last_step, n_points, data FROM tracker_metricchunk
WHERE series_id = %(sid)s
  AND first_step >= COALESCE(
      (SELECT max(first_step) FROM tracker_metricchunk WHERE series_id = %(sid)s AND first_step <= %(lo)s),
      %(lo)s)
  AND first_step <= %(hi)s
ORDER BY first_step
"""


def _merge(old: tuple[np.ndarray, np.ndarray, np.ndarray], new: SeriesPoints) -> SeriesPoints:
    """Stored points and new ones in step order; for a step in both, the new value (and time) wins."""
    steps = np.concatenate([old[0], new.steps])
    values = np.concatenate([old[1], new.values])
    walls = np.concatenate([old[2], new.wall_times])
    source = np.concatenate([np.zeros(old[0].size, dtype=np.int8), np.ones(new.steps.size, dtype=np.int8)])
    order = np.lexsort((source, steps))
    steps, values, walls = steps[order], values[order], walls[order]
    last_of_step = np.r_[steps[1:] != steps[:-1], True]
    return SeriesPoints(
        series_id=new.series_id,
        steps=steps[last_of_step],
        values=values[last_of_step],
        wall_times=walls[last_of_step],
    )


def points_upsert(*, batches: Sequence[SeriesPoints], finite_only: bool = True) -> int:
    """Load points that may overlap stored steps (webhook batches): a later value for a step wins."""
    ready = [_sorted(p, finite_only=finite_only) for p in batches if len(p.steps)]
    by_series: dict[int, list[SeriesPoints]] = {}
    for pts in ready:
        by_series.setdefault(pts.series_id, []).append(pts)
    with transaction.atomic():
        for series_id in sorted(by_series):
            # Concurrent writers of one series queue here; ids in order, so two batches cannot deadlock.
            before = MetricSeries.objects.select_for_update().filter(pk=series_id).first()
            if before is None:
                raise MetricSeries.DoesNotExist(f"series {series_id} does not exist")
            levels = rollups_levels_if_current(before)
            appended = _appended_points(by_series[series_id], after_step=before.max_step)
            for pts in by_series[series_id]:
                _upsert_one(pts)
            n_after = series_summary_from_chunks(series_id=series_id, bump_version=True)
            if n_after < ROLLUP_MIN_POINTS:
                continue
            if levels is not None and appended is not None:
                # Points only after the old last step (a live run): its current rollups are extended.
                series = MetricSeries.objects.get(pk=series_id)
                if rollups_append(series=series, levels=levels, steps=appended.steps, values=appended.values):
                    continue
            # Otherwise the rollups of a long series are stale (the data version moved): rebuilt in the
            # worker, or by the first reader if it comes first.
            publish_on_commit("tracker.series_rollup_build", series_id)
    return sum(p.steps.size for p in ready)


def _appended_points(batches: Sequence[SeriesPoints], *, after_step: int | None) -> SeriesPoints | None:
    """The batches as one run of points when they only extend the series (steps increasing across
    batches, all after `after_step`); None when any batch reaches back or two batches overlap."""
    if after_step is None:
        return None
    last = after_step
    for pts in batches:
        if int(pts.steps[0]) <= last:
            return None
        last = int(pts.steps[-1])
    return SeriesPoints(
        series_id=batches[0].series_id,
        steps=np.concatenate([p.steps for p in batches]),
        values=np.concatenate([p.values for p in batches]),
        wall_times=np.concatenate([p.wall_times for p in batches]),
    )


def _upsert_one(pts: SeriesPoints) -> None:
    lo, hi = int(pts.steps[0]), int(pts.steps[-1])
    with connection.cursor() as cursor:
        cursor.execute(_TOUCHED_CHUNKS_SQL, {"sid": pts.series_id, "lo": lo, "hi": hi})
        found = cursor.fetchall()
    # The first row may end before `lo`: it is only rewritten when it is a partial chunk worth filling.
    touched = [r for i, r in enumerate(found) if i > 0 or r[1] >= lo or r[2] < codec.CHUNK_POINTS]
    old = codec.chunks_decode([bytes(r[3]) for r in touched])
    merged = _merge(old, pts)
    if touched:
        MetricChunk.objects.filter(series_id=pts.series_id, first_step__in=[r[0] for r in touched]).delete()
    chunk_rows_insert(chunk_rows(merged))
