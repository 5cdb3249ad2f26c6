"""Bulk loading of metric points: PostgreSQL binary COPY built with NumPy.

Callers run these inside `transaction.atomic()`; the series summary is updated in the same transaction, so a
reader never sees points without their summary or the other way round.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import connection

from core.outbox import publish_on_commit
from tracker.runs.models import MetricSeries
from tracker.runs.series.rollups import ROLLUP_MIN_POINTS, series_summary_refresh

COLUMNS = "(series_id, step, value, wall_time)"
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


def _check(points: SeriesPoints) -> None:
    # Parsers reject NaN/Inf with a line number; this is the last guard before the database.
    if not np.isfinite(points.values).all():
        raise ValueError(f"series {points.series_id}: non-finite metric values cannot be stored")
    steps = points.steps
    # Parsers hand over sorted steps: a strictly increasing check is O(n); sort only when it fails.
    if len(steps) > 1 and not (steps[1:] > steps[:-1]).all() and len(np.unique(steps)) != len(steps):
        raise ValueError(f"series {points.series_id}: duplicate steps in one batch")


def binary_copy_payload(batches: Sequence[SeriesPoints]) -> bytes:
    """The whole PGCOPY binary stream for these points, built with vectorised NumPy writes."""
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


def _copy(table: str, payload: bytes) -> None:
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} {COLUMNS} FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(payload)


def _summary_from_arrays(pts: SeriesPoints) -> dict[str, object]:
    if len(pts.steps) == 0:
        return {
            "n_points": 0,
            "min_step": None,
            "max_step": None,
            "min_value": None,
            "max_value": None,
            "last_value": None,
        }
    last = int(np.argmax(pts.steps))
    return {
        "n_points": len(pts.steps),
        "min_step": int(pts.steps.min()),
        "max_step": int(pts.steps.max()),
        "min_value": float(pts.values.min()),
        "max_value": float(pts.values.max()),
        "last_value": float(pts.values[last]),
    }


def points_insert_new(*, batches: Sequence[SeriesPoints]) -> int:
    """Load points into series that have none yet (fast path) and set their summaries. Returns rows."""
    for pts in batches:
        _check(pts)
    total = sum(len(p.steps) for p in batches)
    if total:
        _copy("tracker_metricpoint", binary_copy_payload(batches))
    for pts in batches:
        MetricSeries.objects.filter(pk=pts.series_id).update(**_summary_from_arrays(pts))
        if len(pts.steps) >= ROLLUP_MIN_POINTS:
            # Long curves are read from rollups; build them in the worker so the first page view is fast.
            publish_on_commit("tracker.series_rollup_build", pts.series_id)
    return total


def points_upsert(*, batches: Sequence[SeriesPoints]) -> int:
    """Load points that may overlap stored steps (webhook batches): a later value for a step wins."""
    for pts in batches:
        _check(pts)
    total = sum(len(p.steps) for p in batches)
    if total:
        with connection.cursor() as cursor:
            # A staging table per transaction: COPY stays fast, ON CONFLICT resolves overlaps.
            cursor.execute("DROP TABLE IF EXISTS pg_temp.ingest_points_stage")
            cursor.execute(
                "CREATE TEMP TABLE ingest_points_stage "
                "(series_id bigint, step bigint, value double precision, wall_time double precision) "
                "ON COMMIT DROP"
            )
        _copy("ingest_points_stage", binary_copy_payload(batches))
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO tracker_metricpoint (series_id, step, value, wall_time) "
                "SELECT series_id, step, value, wall_time FROM ingest_points_stage "
                "ON CONFLICT (series_id, step) DO UPDATE "
                "SET value = EXCLUDED.value, wall_time = EXCLUDED.wall_time"
            )
            cursor.execute("DROP TABLE ingest_points_stage")
    for pts in batches:
        series_summary_refresh(series_id=pts.series_id)
    return total
