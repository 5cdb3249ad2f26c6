"""The COPY loader on real PostgreSQL: exact rows, NULL wall times, upserts, summaries, atomic failure."""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.db import transaction

from tracker.models import MetricPoint, MetricSeries, TrainingRun
from tracker.runs.series.copy import SeriesPoints, binary_copy_payload, points_insert_new, points_upsert


@pytest.fixture
def series(team_a):
    run = TrainingRun.objects.create(team=team_a, name="copy-run")
    return MetricSeries.objects.create(run=run, name="loss"), MetricSeries.objects.create(run=run, name="lr")


def _points(series_id: int) -> list[tuple[int, float, float | None]]:
    return list(
        MetricPoint.objects.filter(series_id=series_id)
        .order_by("step")
        .values_list("step", "value", "wall_time")
    )


def test_payload_layout_is_pgcopy_binary():
    payload = binary_copy_payload(
        [SeriesPoints.from_lists(series_id=7, steps=[1], values=[0.5], wall_times=[None])]
    )
    # 19-byte header, one tuple of 4 fields with a NULL last field, 2-byte trailer.
    assert payload[:11] == b"PGCOPY\n\xff\r\n\x00"
    body = payload[19:-2]
    assert body[:2] == (4).to_bytes(2, "big")
    assert body[-4:] == (-1).to_bytes(4, "big", signed=True)
    assert len(body) == 2 + 3 * (4 + 8) + 4
    assert payload[-2:] == b"\xff\xff"


@pytest.mark.django_db
def test_insert_new_copies_exact_rows_and_summary(series):
    loss, lr = series
    with transaction.atomic():
        n = points_insert_new(
            batches=[
                SeriesPoints.from_lists(
                    series_id=loss.pk, steps=[30, 10, 20], values=[1.5, 3.0, 2.0], wall_times=[3.5, 1.5, None]
                ),
                SeriesPoints.from_lists(series_id=lr.pk, steps=[0, 2**40], values=[-1e-300, 6e-4]),
            ]
        )
    assert n == 5
    assert _points(loss.pk) == [(10, 3.0, 1.5), (20, 2.0, None), (30, 1.5, 3.5)]
    assert _points(lr.pk) == [(0, -1e-300, None), (2**40, 6e-4, None)]
    loss.refresh_from_db()
    assert (loss.n_points, loss.min_step, loss.max_step) == (3, 10, 30)
    assert (loss.min_value, loss.max_value, loss.last_value) == (1.5, 3.0, 1.5)


@pytest.mark.django_db
def test_upsert_overlapping_batch_last_value_wins_and_summary_refreshed(series):
    loss, _ = series
    with transaction.atomic():
        points_insert_new(
            batches=[SeriesPoints.from_lists(series_id=loss.pk, steps=[1, 2, 3], values=[5, 4, 3])]
        )
    with transaction.atomic():
        n = points_upsert(
            batches=[
                SeriesPoints.from_lists(
                    series_id=loss.pk, steps=[3, 4], values=[2.5, 2.0], wall_times=[9, 10]
                )
            ]
        )
    assert n == 2
    assert _points(loss.pk) == [(1, 5.0, None), (2, 4.0, None), (3, 2.5, 9.0), (4, 2.0, 10.0)]
    loss.refresh_from_db()
    assert (loss.n_points, loss.max_step, loss.last_value, loss.min_value) == (4, 4, 2.0, 2.0)
    # Two upserts in one transaction reuse the staging table name safely.
    with transaction.atomic():
        points_upsert(batches=[SeriesPoints.from_lists(series_id=loss.pk, steps=[1], values=[7])])
        points_upsert(batches=[SeriesPoints.from_lists(series_id=loss.pk, steps=[5], values=[1])])
    assert [p[1] for p in _points(loss.pk)] == [7.0, 4.0, 2.5, 2.0, 1.0]


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_rejected_and_nothing_written(series, bad):
    loss, lr = series
    with pytest.raises(ValueError, match="non-finite"), transaction.atomic():
        points_insert_new(
            batches=[
                SeriesPoints.from_lists(series_id=lr.pk, steps=[1], values=[1.0]),
                SeriesPoints.from_lists(series_id=loss.pk, steps=[1, 2], values=[1.0, bad]),
            ]
        )
    assert MetricPoint.objects.count() == 0
    loss.refresh_from_db()
    assert loss.n_points == 0


@pytest.mark.django_db
def test_failure_after_copy_rolls_back_rows(series):
    loss, _ = series
    with pytest.raises(RuntimeError), transaction.atomic():
        points_insert_new(batches=[SeriesPoints.from_lists(series_id=loss.pk, steps=[1, 2], values=[1, 2])])
        assert MetricPoint.objects.filter(series_id=loss.pk).count() == 2
        raise RuntimeError("crash before commit")
    assert MetricPoint.objects.filter(series_id=loss.pk).count() == 0


@pytest.mark.django_db
def test_large_batch_round_trip(series):
    loss, _ = series
    steps = np.arange(50_000, dtype=np.int64) * 3
    values = np.linspace(10.0, 2.0, len(steps))
    with transaction.atomic():
        points_insert_new(
            batches=[SeriesPoints(series_id=loss.pk, steps=steps, values=values, wall_times=steps * 0.5)]
        )
    loss.refresh_from_db()
    assert (loss.n_points, loss.max_step, loss.last_value) == (50_000, 149_997, 2.0)
    got = MetricPoint.objects.filter(series_id=loss.pk, step=30_000).values_list("value", "wall_time").get()
    assert got == (values[10_000], 15_000.0)
