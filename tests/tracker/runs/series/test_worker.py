"""A real task on a real broker, executed by a real worker process, observed in PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import transaction

from tests.conftest import wait_for
from tracker import tasks
from tracker.models import MetricSeries, TrainingRun
from tracker.runs.series.copy import SeriesPoints, chunk_rows, chunk_rows_insert


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_task_runs_in_worker_process_and_writes_postgres(celery_worker_process, team_a):
    run = TrainingRun.objects.create(team=team_a, name="w")
    series = MetricSeries.objects.create(run=run, name="loss")
    steps = list(range(0, 1000, 10))
    # Chunk rows only, no summary yet: computing it is the task's job.
    chunk_rows_insert(
        chunk_rows(
            SeriesPoints.from_lists(series_id=series.pk, steps=steps, values=[10.0 / (s + 1) for s in steps])
        )
    )
    with transaction.atomic():
        transaction.on_commit(lambda: tasks.series_summary_refresh.delay(series.pk))

    def refreshed():
        s = MetricSeries.objects.get(pk=series.pk)
        return s if s.n_points else None

    s = wait_for(refreshed, timeout=60)
    assert (s.n_points, s.min_step, s.max_step) == (100, 0, 990)
    assert s.last_value == pytest.approx(10.0 / 991)
    assert s.max_value == 10.0
    assert celery_worker_process.poll() is None
