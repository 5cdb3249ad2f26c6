"""Reads of metric curves: downsampled windows, full-resolution CSV rows and run comparisons.

The M4 bucketing runs in PostgreSQL, so a request never pulls a million rows through Python. A long
series (>= `rollups.ROLLUP_MIN_POINTS`) is answered from its precomputed rollup cells: a window of it reads
2-4x `points/4` cells of one level plus the finest cells and a few raw points at its two ragged edges, so
the cost does not grow with the series. Narrower windows and short series are read raw with one range
scan over the (series_id, step) key. `downsample.m4_downsample` (NumPy) is the reference both SQL paths are
tested against.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.http import Http404

from core.params import ParamError, id_param, int_param
from tracker.runs.models import MetricSeries, TrainingRun
from tracker.runs.series import rollups
from tracker.runs.series.downsample import rollup_level_for_window

DEFAULT_POINTS = 2000
MIN_POINTS = 8
MAX_POINTS = 20000
MAX_COMPARE_RUNS = 12


class SeriesQueryError(ParamError):
    """A bad query parameter; the message is shown to the user as is."""


@dataclass(frozen=True)
class SeriesWindow:
    steps: list[int]
    values: list[float | None]
    total: int  # points of the series inside [x0, x1]
    x0: int | None
    x1: int | None

    @property
    def shown(self) -> int:
        return len(self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "values": self.values,
            "shown": self.shown,
            "total": self.total,
            "x0": self.x0,
            "x1": self.x1,
        }


def _int_param(raw: str | None, name: str) -> int | None:
    if raw is not None and raw.strip() and not raw.strip().lstrip("+-").isdigit():
        raise SeriesQueryError(f"{name} must be an integer step, got {raw[:40]!r}")
    try:
        return int_param(raw, name)
    except ParamError as exc:
        raise SeriesQueryError(str(exc)) from None


def window_params_parse(
    *, x0: str | None, x1: str | None, points: str | None
) -> tuple[int | None, int | None, int]:
    """Validated (x0, x1, points) from query-string values; raises SeriesQueryError with a clear reason."""
    lo, hi = _int_param(x0, "x0"), _int_param(x1, "x1")
    n = _int_param(points, "points")
    n = DEFAULT_POINTS if n is None else n
    if not MIN_POINTS <= n <= MAX_POINTS:
        raise SeriesQueryError(f"points must be between {MIN_POINTS} and {MAX_POINTS}, got {n}")
    if lo is not None and hi is not None and hi < lo:
        raise SeriesQueryError(f"x1 ({hi}) must not be smaller than x0 ({lo})")
    return lo, hi, n


def series_get_for_run(*, run: TrainingRun, series_id: int) -> MetricSeries:
    series = MetricSeries.objects.filter(pk=series_id, run=run).first()
    if series is None:
        raise Http404("No such series in this run")
    return series


def _json_value(v: float) -> float | None:
    # JSON has no NaN/Infinity; a diverged step is shown as a gap rather than breaking the response.
    return v if math.isfinite(v) else None


_RAW_SQL = """
SELECT step, value FROM tracker_metricpoint
WHERE series_id = %(sid)s AND step BETWEEN %(x0)s AND %(x1)s
ORDER BY step LIMIT %(limit)s
"""

# Per bucket: count, first and last step, and the step of the lowest and highest value (ties -> smallest
# step). min(ARRAY[value, step]) gets the arg-extreme in the same single pass as the extreme itself.
_M4_SQL = """
WITH b AS (
    SELECT count(*) AS n,
           min(step) AS s_first,
           max(step) AS s_last,
           (min(ARRAY[value, step::float8]))[2]::bigint AS s_min,
           (-(max(ARRAY[value, -step::float8]))[2])::bigint AS s_max
    FROM tracker_metricpoint
    WHERE series_id = %(sid)s AND step BETWEEN %(x0)s AND %(x1)s
    GROUP BY ((step - %(x0)s) * %(nb)s) / %(span)s
), keep AS (
    SELECT DISTINCT unnest(ARRAY[s_first, s_last, s_min, s_max]) AS step FROM b
)
SELECT p.step, p.value, (SELECT sum(n) FROM b)::bigint AS total
FROM tracker_metricpoint p JOIN keep ON p.step = keep.step
-- The range bound keeps the join on the window: without it the planner scans the whole series.
WHERE p.series_id = %(sid)s AND p.step BETWEEN %(x0)s AND %(x1)s
ORDER BY p.step
"""


def _window_raw_postgres(
    *, series_id: int, x0: int, x1: int, points: int
) -> tuple[list[int], list[float], int]:
    with connection.cursor() as cursor:
        # A short range is shown raw: fetch one row more than fits, and only bucket when it overflows.
        cursor.execute(_RAW_SQL, {"sid": series_id, "x0": x0, "x1": x1, "limit": points + 1})
        rows = cursor.fetchall()
        if len(rows) <= points:
            return [r[0] for r in rows], [r[1] for r in rows], len(rows)
    with transaction.atomic(), connection.cursor() as cursor:
        # JIT compilation costs more than the whole scan for this query shape (measured ~+180 ms at 1M).
        cursor.execute("SET LOCAL jit = off")
        params = {"sid": series_id, "x0": x0, "x1": x1, "nb": points // 4, "span": x1 - x0 + 1}
        cursor.execute(_M4_SQL, params)
        rows = cursor.fetchall()
    total = int(rows[0][2]) if rows else 0
    return [r[0] for r in rows], [r[1] for r in rows], total


# Pieces of a window, each inside one cell of `level`: whole cells of that level in the middle, whole
# finest cells and single raw points in the ragged head and tail. They are merged per output bucket with
# the same first/last/min/max rules as the M4 over raw points (ties to the smallest step, NaN highest).
_ROLLUP_WINDOW_SQL = """
WITH pieces AS (
    SELECT bucket AS cell, n_points, first_step, first_value, last_step, last_value,
           min_step, min_value, max_step, max_value
    FROM tracker_metricseriesrollup
    WHERE series_id = %(sid)s AND level = %(level)s AND bucket BETWEEN %(b0)s AND %(b1)s
  UNION ALL
    SELECT bucket >> %(dk)s, n_points, first_step, first_value, last_step, last_value,
           min_step, min_value, max_step, max_value
    FROM tracker_metricseriesrollup
    WHERE series_id = %(sid)s AND level = %(finest)s
      AND (bucket BETWEEN %(h0)s AND %(h1)s OR bucket BETWEEN %(t0)s AND %(t1)s)
  UNION ALL
    SELECT step >> %(level)s, 1, step, value, step, value, step, value, step, value
    FROM tracker_metricpoint
    WHERE series_id = %(sid)s AND (step BETWEEN %(r0)s AND %(r1)s OR step BETWEEN %(r2)s AND %(r3)s)
), merged AS (
    SELECT ((cell - %(cell0)s) * %(nb)s) / %(ncells)s AS b,
           sum(n_points)::bigint AS n,
           min(ARRAY[first_step::float8, first_value]) AS f,
           max(ARRAY[last_step::float8, last_value]) AS l,
           min(ARRAY[min_value, min_step::float8]) AS lo,
           max(ARRAY[max_value, -max_step::float8]) AS hi
    FROM pieces
    GROUP BY 1
)
SELECT n, f[1]::bigint, f[2], l[1]::bigint, l[2], lo[2]::bigint, lo[1], (-hi[2])::bigint, hi[1]
FROM merged ORDER BY b
"""


def _rollup_params(*, series_id: int, x0: int, x1: int, nb: int, level: int, finest: int) -> dict[str, int]:
    dk = level - finest
    b0 = (x0 + (1 << level) - 1) >> level  # first cell of `level` wholly inside the window
    b1 = ((x1 + 1) >> level) - 1  # last one
    h0 = (x0 + (1 << finest) - 1) >> finest  # whole finest cells before b0
    t1 = ((x1 + 1) >> finest) - 1  # whole finest cells after b1
    return {
        "sid": series_id,
        "level": level,
        "finest": finest,
        "dk": dk,
        "b0": b0,
        "b1": b1,
        "h0": h0,
        "h1": (b0 << dk) - 1,
        "t0": (b1 + 1) << dk,
        "t1": t1,
        "r0": x0,
        "r1": (h0 << finest) - 1,
        "r2": (t1 + 1) << finest,
        "r3": x1,
        "cell0": x0 >> level,
        "nb": nb,
        "ncells": (x1 >> level) - (x0 >> level) + 1,
    }


def _window_rollup(
    *, series_id: int, x0: int, x1: int, points: int, level: int, finest: int
) -> tuple[list[int], list[float], int]:
    params = _rollup_params(series_id=series_id, x0=x0, x1=x1, nb=points // 4, level=level, finest=finest)
    with connection.cursor() as cursor:
        cursor.execute(_ROLLUP_WINDOW_SQL, params)
        rows = cursor.fetchall()
    total = sum(int(r[0]) for r in rows)
    if total <= points:
        # A sparse stretch: everything fits, so show it raw like any short window.
        return _window_raw_postgres(series_id=series_id, x0=x0, x1=x1, points=points)
    steps: list[int] = []
    values: list[float] = []
    for _n, *pairs in rows:
        bucket = dict(zip(pairs[0::2], pairs[1::2], strict=True))  # first, last, min, max; steps may repeat
        for step in sorted(bucket):
            steps.append(step)
            values.append(bucket[step])
    return steps, values, total


def _rollup_levels(series: MetricSeries) -> tuple[int, int] | None:
    """The series' rollup levels, built now if missing or stale; None for a series read raw."""
    if series.n_points < rollups.ROLLUP_MIN_POINTS:
        return None
    if series.rollup_signature != rollups.series_rollup_signature(series):
        # Correctness never waits for someone to call refresh: the first reader after a change rebuilds.
        built = rollups.series_rollup_build(series_id=series.pk)
        series.rollup_signature = built.rollup_signature
        series.rollup_min_level, series.rollup_max_level = built.rollup_min_level, built.rollup_max_level
    if series.rollup_min_level is None or series.rollup_max_level is None:
        return None
    return series.rollup_min_level, series.rollup_max_level


def _window_postgres(
    *, series: MetricSeries, x0: int, x1: int, points: int
) -> tuple[list[int], list[float], int]:
    levels = _rollup_levels(series)
    if levels is not None:
        level = rollup_level_for_window(
            x0=x0, x1=x1, n_buckets=points // 4, min_level=levels[0], max_level=levels[1]
        )
        if level is not None:
            return _window_rollup(
                series_id=series.pk, x0=x0, x1=x1, points=points, level=level, finest=levels[0]
            )
    return _window_raw_postgres(series_id=series.pk, x0=x0, x1=x1, points=points)


def _full_view_cache_key(series: MetricSeries, points: int) -> str:
    # The summary columns change whenever points are appended, so a stale entry is never read.
    fingerprint = ":".join(
        str(x)
        for x in (series.n_points, series.min_step, series.max_step, series.min_value, series.max_value)
    )
    return f"series-window:v1:{series.pk}:{points}:{fingerprint}:{series.last_value!r}"


def series_window(
    *, series: MetricSeries, x0: int | None = None, x1: int | None = None, points: int = DEFAULT_POINTS
) -> SeriesWindow:
    """At most ~`points` points of the series in [x0, x1] (defaults: the whole series), spikes kept."""
    if series.n_points == 0 or series.min_step is None or series.max_step is None:
        return SeriesWindow(steps=[], values=[], total=0, x0=x0, x1=x1)
    lo = series.min_step if x0 is None else x0
    hi = series.max_step if x1 is None else x1
    if hi < lo:
        raise SeriesQueryError(f"x1 ({hi}) must not be smaller than x0 ({lo})")
    full_view = lo == series.min_step and hi == series.max_step
    if full_view:
        # Every page load asks for the whole curve first; that answer is kept until the series changes.
        key = _full_view_cache_key(series, points)
        cached = cache.get(key)
        if cached is not None:
            return SeriesWindow(steps=cached[0], values=cached[1], total=cached[2], x0=lo, x1=hi)
    steps, values, total = _window_postgres(series=series, x0=lo, x1=hi, points=points)
    json_values = [_json_value(v) for v in values]
    if full_view:
        cache.set(key, (steps, json_values, total), timeout=24 * 3600)
    return SeriesWindow(steps=steps, values=json_values, total=total, x0=lo, x1=hi)


def series_csv_chunks(*, series: MetricSeries) -> Iterator[bytes]:
    """The full-resolution series as CSV (step,value,wall_time), streamed in chunks."""
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor: Django's wrapper has no COPY support
        sql = (
            "COPY (SELECT step, value, wall_time FROM tracker_metricpoint WHERE series_id = %s "
            "ORDER BY step) TO STDOUT WITH (FORMAT csv, HEADER)"
        )
        with raw.copy(sql, (series.pk,)) as copy:
            for chunk in copy:
                yield bytes(chunk)


def compare_ids_parse(raw: str | None) -> list[int]:
    if not raw:
        raise SeriesQueryError("ids is required: a comma-separated list of run ids, e.g. ids=1,2")
    ids: list[int] = []
    for part in raw.split(","):
        try:
            run_id = id_param(part, "ids")
        except ParamError:
            raise SeriesQueryError(
                f"ids must be comma-separated run ids, got {part.strip()[:40]!r}"
            ) from None
        if run_id not in ids:
            ids.append(run_id)
    if len(ids) > MAX_COMPARE_RUNS:
        raise SeriesQueryError(f"at most {MAX_COMPARE_RUNS} runs can be compared, got {len(ids)}")
    return ids


@dataclass(frozen=True)
class CompareLine:
    run: TrainingRun
    series: MetricSeries | None
    window: SeriesWindow | None


def runs_compare(*, user: Any, run_ids: list[int], metric: str | None, points: int) -> dict[str, Any]:
    """The same metric of several runs, each downsampled; any id the user may not see is a 404."""
    runs = {
        r.pk: r for r in TrainingRun.objects.visible_to(user).filter(pk__in=run_ids).select_related("team")
    }
    if len(runs) != len(run_ids):
        raise Http404("No such run")
    all_series = list(MetricSeries.objects.filter(run_id__in=run_ids).order_by("name", "run_id"))
    metrics = sorted({s.name for s in all_series})
    chosen = metric if metric else (metrics[0] if metrics else None)
    by_run = {s.run_id: s for s in all_series if s.name == chosen}
    lines = []
    for run_id in run_ids:
        series = by_run.get(run_id)
        window = series_window(series=series, points=points) if series else None
        lines.append(CompareLine(run=runs[run_id], series=series, window=window))
    return {"metric": chosen, "metrics": metrics, "lines": lines}
