"""Series summaries and their M4 rollups: aligned cells of 2**level steps, built in SQL per level."""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import Count, Max, Min

from tracker.runs.models import MetricPoint, MetricSeries, MetricSeriesRollup


@transaction.atomic
def series_summary_refresh(*, series_id: int) -> None:
    """Recompute a series' summary (count, step range, value range, last value) and its rollups."""
    points = MetricPoint.objects.filter(series_id=series_id)
    agg = points.aggregate(
        n=Count("step"),
        min_step=Min("step"),
        max_step=Max("step"),
        min_value=Min("value"),
        max_value=Max("value"),
    )
    last = points.order_by("-step").values_list("value", flat=True).first()
    MetricSeries.objects.filter(pk=series_id).update(
        n_points=agg["n"],
        min_step=agg["min_step"],
        max_step=agg["max_step"],
        min_value=agg["min_value"],
        max_value=agg["max_value"],
        last_value=last,
    )
    # Always rebuilt here: an upsert may change values without changing the summary the signature sees.
    series_rollup_build(series_id=series_id, force=True)


# A series this long gets precomputed M4 cells; a shorter one is scanned raw in a few milliseconds.
ROLLUP_MIN_POINTS = 50_000
# The finest level has 16k-32k cells, so a window of >= 1/16 of the series still spans >= 1,000 of them
# (enough for 2,000 points at 2 cells per bucket); levels stop before one would have < 128 cells.
ROLLUP_FINEST_CELLS = 16_384
ROLLUP_COARSEST_CELLS = 128


def rollup_levels_for_range(*, min_step: int, max_step: int) -> tuple[int, int]:
    """(finest, coarsest) level for a step range: level k has cells of 2**k steps, cell = step >> k."""
    span = max_step - min_step + 1
    finest = max(0, (span // ROLLUP_FINEST_CELLS).bit_length() - 1)
    coarsest = (span // ROLLUP_COARSEST_CELLS).bit_length() - 1
    return finest, max(finest, coarsest)


def series_rollup_signature(series: MetricSeries) -> str:
    """The summary a rollup is valid for; appended or replaced points change it."""
    parts = (
        series.n_points,
        series.min_step,
        series.max_step,
        series.min_value,
        series.max_value,
        series.last_value,
    )
    return "v1:" + ":".join(repr(p) for p in parts)


# Per cell: count, first/last point, and the point of the lowest and highest value with ties to the
# smallest step. NaN sorts above every number in PostgreSQL, so a NaN spike is kept as a maximum, as in
# `analytics.downsample.m4_downsample`.
_ROLLUP_FROM_POINTS_SQL = """
INSERT INTO tracker_metricseriesrollup (
    series_id, level, bucket, n_points, first_step, first_value, last_step, last_value,
    min_step, min_value, max_step, max_value
)
SELECT %(sid)s, %(level)s, cell, n, first_step, f[2], last_step, l[2], lo[2]::bigint, lo[1],
       (-hi[2])::bigint, hi[1]
FROM (
    SELECT step >> %(level)s AS cell,
           count(*) AS n,
           min(step) AS first_step,
           min(ARRAY[step::float8, value]) AS f,
           max(step) AS last_step,
           max(ARRAY[step::float8, value]) AS l,
           min(ARRAY[value, step::float8]) AS lo,
           max(ARRAY[value, -step::float8]) AS hi
    FROM tracker_metricpoint
    WHERE series_id = %(sid)s
    GROUP BY 1
) AS cells
"""
_ROLLUP_FROM_FINER_SQL = """
INSERT INTO tracker_metricseriesrollup (
    series_id, level, bucket, n_points, first_step, first_value, last_step, last_value,
    min_step, min_value, max_step, max_value
)
SELECT %(sid)s, %(level)s, cell, n, first_step, f[2], last_step, l[2], lo[2]::bigint, lo[1],
       (-hi[2])::bigint, hi[1]
FROM (
    SELECT bucket >> 1 AS cell,
           sum(n_points)::bigint AS n,
           min(first_step) AS first_step,
           min(ARRAY[first_step::float8, first_value]) AS f,
           max(last_step) AS last_step,
           max(ARRAY[last_step::float8, last_value]) AS l,
           min(ARRAY[min_value, min_step::float8]) AS lo,
           max(ARRAY[max_value, -max_step::float8]) AS hi
    FROM tracker_metricseriesrollup
    WHERE series_id = %(sid)s AND level = %(finer)s
    GROUP BY 1
) AS cells
"""


@transaction.atomic
def series_rollup_build(*, series_id: int, force: bool = False) -> MetricSeries:
    """(Re)build the rollup levels of a series: one INSERT ... SELECT per level, each from the finer one.

    Without `force` nothing is done when the stored signature already matches the summary, so concurrent
    lazy builders wait on the row lock and the second one finds the work done.
    """
    series = MetricSeries.objects.select_for_update().get(pk=series_id)
    signature = series_rollup_signature(series)
    if not force and series.rollup_signature == signature:
        return series
    MetricSeriesRollup.objects.filter(series_id=series_id).delete()
    levels: tuple[int, int] | None = None
    if series.n_points >= ROLLUP_MIN_POINTS and series.min_step is not None and series.max_step is not None:
        levels = rollup_levels_for_range(min_step=series.min_step, max_step=series.max_step)
        with connection.cursor() as cursor:
            # JIT compilation costs more than the aggregation itself for this query shape.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(_ROLLUP_FROM_POINTS_SQL, {"sid": series_id, "level": levels[0]})
            for level in range(levels[0] + 1, levels[1] + 1):
                cursor.execute(_ROLLUP_FROM_FINER_SQL, {"sid": series_id, "level": level, "finer": level - 1})
    series.rollup_signature = signature
    series.rollup_min_level = levels[0] if levels else None
    series.rollup_max_level = levels[1] if levels else None
    series.save(update_fields=["rollup_signature", "rollup_min_level", "rollup_max_level"])
    return series
