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
from typing import TypedDict

import numpy as np
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from core.outbox import publish_on_commit
from tracker.runs.models import MetricSeries
from tracker.runs.series import codec
from tracker.runs.series.rollups import (
    ROLLUP_MIN_POINTS,
    ROLLUP_TAIL_POINTS,
    AppendItem,
    RollupCoverage,
    rollups_append_many,
    rollups_coverage,
    rollups_invalidate,
    rollups_write_from_points,
    series_rollup_build,
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


class _Summary(TypedDict):
    n_points: int
    min_step: int | None
    max_step: int
    min_value: float
    max_value: float
    last_value: float


def _summary_from_arrays(pts: SeriesPoints) -> _Summary:
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


# The chunks a batch touches, for many series in one statement: per series, the chunks whose first step lies
# in [lo, hi], plus the last chunk starting before lo (it may be a partial chunk that appends should fill).
_TOUCHED_CHUNKS_SQL = """
SELECT c.series_id, c.first_step, c.last_step, c.n_points, c.data
FROM unnest(%(sids)s::bigint[], %(los)s::bigint[], %(his)s::bigint[]) AS v(sid, lo, hi)
JOIN tracker_metricchunk c ON c.series_id = v.sid
  AND c.first_step >= COALESCE(
      (SELECT max(p.first_step) FROM tracker_metricchunk p
       WHERE p.series_id = v.sid AND p.first_step <= v.lo),
      v.lo)
  AND c.first_step <= v.hi
ORDER BY c.series_id, c.first_step
"""

_CHUNKS_DELETE_SQL = """
DELETE FROM tracker_metricchunk c
USING unnest(%(sids)s::bigint[], %(firsts)s::bigint[]) AS v(sid, first_step)
WHERE c.series_id = v.sid AND c.first_step = v.first_step
"""

# Appends: the new summary is computed from the old one and the new points (no chunk is aggregated).
_SUMMARIES_SET_SQL = """
UPDATE tracker_metricseries s SET
  n_points = v.n, min_step = v.min_step, max_step = v.max_step, min_value = v.min_value,
  max_value = v.max_value, last_value = v.last_value, data_version = s.data_version + 1
FROM unnest(%(ids)s::bigint[], %(n)s::bigint[], %(min_step)s::bigint[], %(max_step)s::bigint[],
            %(min_value)s::double precision[], %(max_value)s::double precision[],
            %(last_value)s::double precision[])
     AS v(id, n, min_step, max_step, min_value, max_value, last_value)
WHERE s.id = v.id
"""

# A series this long or shorter that outgrows its rollup levels while a run appends gets them rebuilt in the
# writer's transaction (levels change only when the step range doubles, so this is paid O(log n) times);
# a longer one is rebuilt by the worker.
ROLLUP_INLINE_MAX_POINTS = 4_000_000


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


def _combined(batches: Sequence[SeriesPoints]) -> SeriesPoints:
    """Several batches of one series as one, in step order; a step in two batches keeps the later value."""
    out = batches[0]
    for pts in batches[1:]:
        out = _merge((out.steps, out.values, out.wall_times), pts)
    return out


@dataclass(slots=True)
class _Appended:
    """A series whose new points all come after its stored ones, with its summary after the write."""

    series: MetricSeries
    coverage: RollupCoverage | None  # its usable rollups before the write


def _appended_summary(before: MetricSeries, pts: SeriesPoints) -> _Summary:
    """The summary after appending `pts` (all after the stored steps): the new points' own summary, widened by
    the old one. NaN as in the chunk aggregate: the minimum skips it, the maximum is NaN once one value is."""
    summary = _summary_from_arrays(pts)
    if before.max_step is None or before.n_points == 0:
        return summary
    summary["n_points"] = before.n_points + int(pts.steps.size)
    summary["min_step"] = before.min_step
    if before.min_value is not None:
        summary["min_value"] = float(np.fmin(before.min_value, summary["min_value"]))
    if before.max_value is not None:
        summary["max_value"] = float(np.max([before.max_value, summary["max_value"]]))
    return summary


def _summaries_set(appended: Sequence[_Appended]) -> None:
    if not appended:
        return
    rows = [a.series for a in appended]
    with connection.cursor() as cursor:
        cursor.execute(
            _SUMMARIES_SET_SQL,
            {
                "ids": [s.pk for s in rows],
                "n": [s.n_points for s in rows],
                "min_step": [s.min_step for s in rows],
                "max_step": [s.max_step for s in rows],
                "min_value": [s.min_value for s in rows],
                "max_value": [s.max_value for s in rows],
                "last_value": [s.last_value for s in rows],
            },
        )


def points_upsert(*, batches: Sequence[SeriesPoints], finite_only: bool = True) -> int:
    """Load points that may overlap stored steps (webhook batches, live runs): a later value for a step wins.

    One statement of each kind for all series of the batch: lock the series rows (in id order, so two
    writers cannot deadlock), read the chunks the new steps touch, delete them, COPY the merged chunks, set
    the summaries. Series that only gain points after their last step (a live run) get their summary from the
    old one and the new points without reading their other chunks; their rollups stay usable, the new points
    read raw until there are `ROLLUP_TAIL_POINTS` of them (`_rollups_after_write`). A series whose stored
    steps are written again has its summary aggregated from its chunks' summary columns (a few statements
    each).
    """
    ready = [_sorted(p, finite_only=finite_only) for p in batches if len(p.steps)]
    by_series: dict[int, list[SeriesPoints]] = {}
    for pts in ready:
        by_series.setdefault(pts.series_id, []).append(pts)
    if not by_series:
        return 0
    combined = {sid: _combined(parts) for sid, parts in sorted(by_series.items())}
    ids = list(combined)
    with transaction.atomic():
        # Concurrent writers of one series queue here; ids in order, so two batches cannot deadlock.
        locked = {s.pk: s for s in MetricSeries.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        missing = [sid for sid in ids if sid not in locked]
        if missing:
            raise MetricSeries.DoesNotExist(f"series {missing[0]} does not exist")
        touched = _touched_chunks(combined)
        rows: list[ChunkRow] = []
        dropped: list[tuple[int, int]] = []
        appended: list[_Appended] = []
        rewritten: list[int] = []
        for sid, pts in combined.items():
            before = locked[sid]
            found = touched.get(sid, [])
            lo = int(pts.steps[0])
            # The first row may end before `lo`: rewritten only when it is a partial chunk worth filling.
            keep = [r for i, r in enumerate(found) if i > 0 or r[1] >= lo or r[2] < codec.CHUNK_POINTS]
            old = codec.chunks_decode([bytes(r[3]) for r in keep])
            rows.extend(chunk_rows(_merge(old, pts)))
            dropped.extend((sid, r[0]) for r in keep)
            if before.max_step is None or before.n_points == 0 or lo > before.max_step:
                coverage = rollups_coverage(before)
                for field, value in _appended_summary(before, pts).items():
                    setattr(before, field, value)
                before.data_version += 1
                appended.append(_Appended(series=before, coverage=coverage))
            else:
                rewritten.append(sid)
        if dropped:
            with connection.cursor() as cursor:
                cursor.execute(
                    _CHUNKS_DELETE_SQL, {"sids": [d[0] for d in dropped], "firsts": [d[1] for d in dropped]}
                )
        chunk_rows_insert(rows)
        _summaries_set(appended)
        _rollups_after_write(appended, rewritten)
    return sum(p.steps.size for p in ready)


def _touched_chunks(combined: dict[int, SeriesPoints]) -> dict[int, list[tuple[int, int, int, bytes]]]:
    ids = list(combined)
    with connection.cursor() as cursor:
        cursor.execute(
            _TOUCHED_CHUNKS_SQL,
            {
                "sids": ids,
                "los": [int(combined[sid].steps[0]) for sid in ids],
                "his": [int(combined[sid].steps[-1]) for sid in ids],
            },
        )
        out: dict[int, list[tuple[int, int, int, bytes]]] = {}
        for sid, first, last, n, data in cursor.fetchall():
            out.setdefault(sid, []).append((first, last, n, data))
    return out


_TAIL_POINTS_SQL = """
SELECT c.series_id, c.data
FROM unnest(%(sids)s::bigint[], %(throughs)s::bigint[]) AS v(sid, through)
JOIN tracker_metricchunk c ON c.series_id = v.sid AND c.last_step > v.through
ORDER BY c.series_id, c.first_step
"""


def _points_after(coverages: Sequence[tuple[int, int]]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per (series id, step): the series' stored points after that step, in one query."""
    blobs: dict[int, list[bytes]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            _TAIL_POINTS_SQL, {"sids": [c[0] for c in coverages], "throughs": [c[1] for c in coverages]}
        )
        for sid, data in cursor.fetchall():
            blobs.setdefault(sid, []).append(bytes(data))
    out = {}
    for sid, through in coverages:
        steps, values, _ = codec.chunks_decode(blobs.get(sid, []))
        after = steps > through
        out[sid] = (steps[after], values[after])
    return out


def _rollups_after_write(appended: Sequence[_Appended], rewritten: Sequence[int]) -> None:
    """Keep the rollups of long series usable: a live run's appends are read raw until they reach
    `ROLLUP_TAIL_POINTS`, then folded into the rollups; levels that move are rebuilt."""
    extend: list[tuple[MetricSeries, RollupCoverage]] = []
    rebuild: list[MetricSeries] = []
    for a in appended:
        series, coverage = a.series, a.coverage
        if series.n_points < ROLLUP_MIN_POINTS:
            continue
        if coverage is None:
            rebuild.append(series)
        elif series.n_points - coverage.n_points >= ROLLUP_TAIL_POINTS:
            extend.append((series, coverage))
    if extend:
        tails = _points_after([(series.pk, coverage.through) for series, coverage in extend])
        items: list[AppendItem] = [
            (series, coverage.levels, *tails[series.pk]) for series, coverage in extend
        ]
        # Those whose step range now needs other levels are rebuilt instead.
        rebuild.extend(rollups_append_many(items))
    for series in rebuild:
        if series.n_points <= ROLLUP_INLINE_MAX_POINTS:
            series_rollup_build(series_id=series.pk, force=True)
        else:
            publish_on_commit("tracker.series_rollup_build", series.pk)
    if rewritten:
        # Points replaced or inserted before the end: the summary from the chunks' summary columns; the
        # rollups of a long series are stale (rebuilt in the worker, or by its first reader).
        rollups_invalidate(rewritten)
        for sid in rewritten:
            if series_summary_from_chunks(series_id=sid, bump_version=True) >= ROLLUP_MIN_POINTS:
                publish_on_commit("tracker.series_rollup_build", sid)
