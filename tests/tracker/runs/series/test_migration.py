"""Migration 0008 turns the narrow MetricPoint rows of an existing database into chunks, and back."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tracker.runs.series import codec

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("tracker", "0007_metric_chunks")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_points_become_chunks_and_come_back():
    rng = np.random.default_rng(2)
    n = codec.CHUNK_POINTS * 2 + 17
    steps = np.sort(rng.choice(10**6, n, replace=False)).astype(np.int64)
    values = np.round(rng.normal(3, 1, n), 5)
    values[[3, 99]] = [np.nan, -0.0]
    walls = np.where(rng.random(n) < 0.5, None, 1.7e9 + steps * 0.5)
    leaves = _leaves()
    try:
        _migrate(BEFORE)
        old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        team = old.get_model("tracker", "Team").objects.create(name="m", slug="m")
        run = old.get_model("tracker", "TrainingRun").objects.create(team=team, name="r")
        series = old.get_model("tracker", "MetricSeries")
        ids = [
            series.objects.create(run=run, name=name, rollup_signature="old").pk for name in ("loss", "empty")
        ]
        point = old.get_model("tracker", "MetricPoint")
        point.objects.bulk_create(
            point(series_id=ids[0], step=s, value=v, wall_time=w)
            for s, v, w in zip(steps.tolist(), values.tolist(), walls.tolist(), strict=True)
        )
        _migrate(leaves)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT series_id, n_points, data FROM tracker_metricchunk ORDER BY series_id, first_step"
            )
            rows = cursor.fetchall()
            cursor.execute(
                "SELECT data_version, rollup_signature FROM tracker_metricseries WHERE id = %s", [ids[0]]
            )
            assert cursor.fetchone() == (1, "")  # rollups stale: rebuilt from the chunks by the first reader
        assert {r[0] for r in rows} == {ids[0]} and [r[1] for r in rows] == [4096, 4096, 17]
        got_s, got_v, got_w = codec.chunks_decode([bytes(r[2]) for r in rows])
        assert got_s.tolist() == steps.tolist()
        assert got_v.view(np.int64).tolist() == values.view(np.int64).tolist()
        assert [None if w != w else w for w in got_w.tolist()] == walls.tolist()

        _migrate(BEFORE)  # and back: the narrow rows again
        with connection.cursor() as cursor:
            cursor.execute("SELECT step, value, wall_time FROM tracker_metricpoint ORDER BY step")
            back = cursor.fetchall()
        assert [r[0] for r in back] == steps.tolist() and [r[2] for r in back] == walls.tolist()
        assert np.array([r[1] for r in back]).view(np.int64).tolist() == values.view(np.int64).tolist()
    finally:
        _migrate(leaves)
