"""Convert the narrow MetricPoint rows into compressed chunks, one series per transaction (resumable).

Non-atomic on purpose: each series is read in step order, written as chunk rows and its points deleted in
one transaction, so an interrupted run leaves every series either converted or untouched and running
`migrate` again continues with the rest. Rollups are left stale (empty signature): the first reader or the
`tracker.series_rollup_build` task rebuilds them from the chunks.
"""

import numpy as np
from django.db import migrations, transaction

from tracker.runs.series import codec

_BATCH = codec.CHUNK_POINTS * 64


def _rows_insert(cursor, table, columns, types, rows):
    # Binary COPY: Django's client-side binding would send -0.0 as a numeric literal (0).
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


_CHUNK_COLUMNS = (
    "series_id",
    "first_step",
    "last_step",
    "n_points",
    "first_value",
    "last_value",
    "min_step",
    "min_value",
    "max_step",
    "max_value",
    "data",
)
_CHUNK_TYPES = ["int8", "int8", "int8", "int4", "float8", "float8", "int8", "float8", "int8", "float8", "bytea"]


def _insert(cursor, series_id, steps, values, walls):
    bounds = codec.chunk_bounds(steps.size)
    rows = []
    for (lo, hi), summary in zip(bounds, codec.chunk_summaries(steps, values, bounds)):
        rows.append(
            (
                series_id,
                summary.first_step,
                summary.last_step,
                summary.n_points,
                summary.first_value,
                summary.last_value,
                summary.min_step,
                summary.min_value,
                summary.max_step,
                summary.max_value,
                codec.chunk_encode(steps[lo:hi], values[lo:hi], walls[lo:hi]),
            )
        )
    _rows_insert(cursor, "tracker_metricchunk", _CHUNK_COLUMNS, _CHUNK_TYPES, rows)


def points_to_chunks(apps, schema_editor):
    connection = schema_editor.connection
    MetricSeries = apps.get_model("tracker", "MetricSeries")
    for series_id in MetricSeries.objects.order_by("pk").values_list("pk", flat=True).iterator():
        with transaction.atomic(using=connection.alias):
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM tracker_metricpoint WHERE series_id = %s LIMIT 1", [series_id])
                if cursor.fetchone() is None:
                    continue
            with connection.chunked_cursor() as points, connection.cursor() as cursor:
                points.execute(
                    "SELECT step, value, wall_time FROM tracker_metricpoint WHERE series_id = %s ORDER BY step",
                    [series_id],
                )
                while rows := points.fetchmany(_BATCH):
                    steps = np.array([r[0] for r in rows], dtype=np.int64)
                    values = np.array([r[1] for r in rows], dtype=np.float64)
                    walls = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=np.float64)
                    _insert(cursor, series_id, steps, values, walls)
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM tracker_metricpoint WHERE series_id = %s", [series_id])
                cursor.execute(
                    "UPDATE tracker_metricseries SET data_version = data_version + 1, rollup_signature = '' "
                    "WHERE id = %s",
                    [series_id],
                )


def chunks_to_points(apps, schema_editor):
    """Back to the narrow table (same per-series transactions), so the migration can be unapplied."""
    connection = schema_editor.connection
    MetricSeries = apps.get_model("tracker", "MetricSeries")
    for series_id in MetricSeries.objects.order_by("pk").values_list("pk", flat=True).iterator():
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                "SELECT data FROM tracker_metricchunk WHERE series_id = %s ORDER BY first_step", [series_id]
            )
            blobs = [bytes(r[0]) for r in cursor.fetchall()]
            if not blobs:
                continue
            steps, values, walls = codec.chunks_decode(blobs)
            _rows_insert(
                cursor,
                "tracker_metricpoint",
                ("series_id", "step", "value", "wall_time"),
                ["int8", "int8", "float8", "float8"],
                [
                    (series_id, s, v, None if w != w else w)
                    for s, v, w in zip(steps.tolist(), values.tolist(), walls.tolist(), strict=True)
                ],
            )
            cursor.execute("DELETE FROM tracker_metricchunk WHERE series_id = %s", [series_id])
            cursor.execute(
                "UPDATE tracker_metricseries SET data_version = data_version + 1, rollup_signature = '' "
                "WHERE id = %s",
                [series_id],
            )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tracker", "0007_metric_chunks"),
    ]

    operations = [
        migrations.RunPython(points_to_chunks, chunks_to_points, elidable=True),
    ]
