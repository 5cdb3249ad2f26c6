"""The chunk writer on real PostgreSQL: exact points, NULL wall times, upserts, summaries, atomic failure."""

from __future__ import annotations

import itertools
import math
import threading

import numpy as np
import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.support.series import point_count, stored_points
from tracker.models import MetricChunk, MetricSeries, TrainingRun
from tracker.runs.series import codec, reads
from tracker.runs.series.copy import SeriesPoints, binary_copy_payload, points_insert_new, points_upsert


@pytest.fixture
def series(team_a):
    run = TrainingRun.objects.create(team=team_a, name="copy-run")
    return MetricSeries.objects.create(run=run, name="loss"), MetricSeries.objects.create(run=run, name="lr")


def _points(series_id: int) -> list[tuple[int, float, float | None]]:
    return [(s, v, w) for _, s, v, w in stored_points(series_id)]


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
    assert point_count() == 0 and not MetricChunk.objects.exists()
    loss.refresh_from_db()
    assert loss.n_points == 0


@pytest.mark.django_db
def test_failure_after_copy_rolls_back_rows(series):
    loss, _ = series
    with pytest.raises(RuntimeError), transaction.atomic():
        points_insert_new(batches=[SeriesPoints.from_lists(series_id=loss.pk, steps=[1, 2], values=[1, 2])])
        assert len(stored_points(loss.pk)) == 2
        raise RuntimeError("crash before commit")
    assert stored_points(loss.pk) == []
    loss.refresh_from_db()
    assert (loss.n_points, loss.data_version) == (0, 0)


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
    got = reads.series_points(series=loss, x0=30_000, x1=30_000)
    assert (got.steps.tolist(), got.values.tolist(), got.wall_times.tolist()) == (
        [30_000],
        [values[10_000]],
        [15_000.0],
    )
    # 50,000 points are 13 chunk rows, every one but the last full
    sizes = list(
        MetricChunk.objects.filter(series=loss).order_by("first_step").values_list("n_points", flat=True)
    )
    assert sizes == [codec.CHUNK_POINTS] * 12 + [50_000 - 12 * codec.CHUNK_POINTS]


@pytest.mark.django_db
def test_insert_new_into_a_series_with_points_is_refused_and_changes_nothing(series):
    loss, lr = series
    with transaction.atomic():
        points_insert_new(batches=[SeriesPoints.from_lists(series_id=loss.pk, steps=[1, 2], values=[5, 4])])
    loss.refresh_from_db()
    version = loss.data_version
    with pytest.raises(IntegrityError, match="already has points"), transaction.atomic():
        points_insert_new(
            batches=[
                SeriesPoints.from_lists(series_id=lr.pk, steps=[1], values=[1.0]),
                SeriesPoints.from_lists(series_id=loss.pk, steps=[3], values=[3.0]),
            ]
        )
    assert _points(loss.pk) == [(1, 5.0, None), (2, 4.0, None)] and _points(lr.pk) == []
    loss.refresh_from_db()
    assert (loss.n_points, loss.data_version) == (2, version)


@pytest.mark.django_db
def test_every_write_moves_the_data_version(series):
    loss, _ = series
    with transaction.atomic():
        points_insert_new(batches=[SeriesPoints.from_lists(series_id=loss.pk, steps=[1, 2], values=[5, 4])])
    loss.refresh_from_db()
    assert loss.data_version == 1
    # Same summary (count, range, min, max, last) after replacing a middle value: only the version says so.
    with transaction.atomic():
        points_insert_new(batches=[])
        points_upsert(batches=[SeriesPoints.from_lists(series_id=loss.pk, steps=[1], values=[5.0])])
    loss.refresh_from_db()
    assert (loss.data_version, loss.n_points, loss.last_value) == (2, 2, 4.0)


@pytest.mark.django_db
def test_appends_fill_the_last_partial_chunk(series):
    loss, _ = series
    steps = np.arange(5000, dtype=np.int64)
    with transaction.atomic():
        points_insert_new(
            batches=[SeriesPoints.from_lists(series_id=loss.pk, steps=steps, values=steps * 0.5)]
        )

    def sizes():
        return list(
            MetricChunk.objects.filter(series=loss).order_by("first_step").values_list("n_points", flat=True)
        )

    assert sizes() == [4096, 904]
    for lo in (5000, 5100):  # small webhook-like batches
        with transaction.atomic():
            points_upsert(
                batches=[
                    SeriesPoints.from_lists(series_id=loss.pk, steps=range(lo, lo + 100), values=[1.0] * 100)
                ]
            )
    assert sizes() == [4096, 1104]
    with transaction.atomic():
        new = np.arange(5200, 9200)
        points_upsert(batches=[SeriesPoints.from_lists(series_id=loss.pk, steps=new, values=new * 0.25)])
    assert sizes() == [4096, 4096, 1008]
    got = stored_points(loss.pk)
    assert [p[1] for p in got] == list(range(9200))
    assert [p[2] for p in got] == (steps * 0.5).tolist() + [1.0] * 200 + (
        np.arange(5200, 9200) * 0.25
    ).tolist()
    loss.refresh_from_db()
    assert (loss.n_points, loss.min_step, loss.max_step, loss.last_value) == (9200, 0, 9199, 9199 * 0.25)


@pytest.mark.django_db
def test_random_overlapping_upserts_match_a_dict_where_the_last_write_wins(series):
    loss, _ = series
    rng = np.random.default_rng(5)
    expected: dict[int, tuple[float, float | None]] = {}
    for round_ in range(40):
        lo = int(rng.integers(0, 30_000))
        steps = np.unique(rng.integers(lo, lo + int(rng.integers(1, 9000)), size=int(rng.integers(1, 3000))))
        values = np.round(rng.normal(3, 1, steps.size), 4)
        walls = np.where(rng.random(steps.size) < 0.3, np.nan, 1.7e9 + steps * 0.5)
        with transaction.atomic():
            points_upsert(
                batches=[SeriesPoints(series_id=loss.pk, steps=steps, values=values, wall_times=walls)]
            )
        for s, v, w in zip(steps.tolist(), values.tolist(), walls.tolist(), strict=True):
            expected[s] = (v, None if w != w else w)
        if round_ % 10 == 9:
            assert _points(loss.pk) == [(s, *expected[s]) for s in sorted(expected)]
    loss.refresh_from_db()
    assert (
        loss.n_points
        == len(expected)
        == sum(MetricChunk.objects.filter(series=loss).values_list("n_points", flat=True))
    )
    assert (loss.min_step, loss.max_step) == (min(expected), max(expected))
    assert loss.last_value == expected[max(expected)][0]
    assert loss.min_value == min(v for v, _ in expected.values())
    # chunks stay disjoint and ordered, and none is over-full
    rows = list(
        MetricChunk.objects.filter(series=loss)
        .order_by("first_step")
        .values_list("first_step", "last_step", "n_points")
    )
    assert (
        all(a[1] < b[0] for a, b in itertools.pairwise(rows))
        and max(r[2] for r in rows) <= codec.CHUNK_POINTS
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_series(series):
    """Two threads (two connections): insert_new claims the series once; upserts queue and both land."""
    loss, lr = series
    barrier = threading.Barrier(2)
    outcome: list[str] = []

    def insert(value: float) -> None:
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                points_insert_new(
                    batches=[SeriesPoints.from_lists(series_id=loss.pk, steps=[1, 2], values=[value] * 2)]
                )
            outcome.append("ok")
        except IntegrityError:
            outcome.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=insert, args=(v,)) for v in (1.0, 2.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcome) == ["ok", "refused"]
    assert len(stored_points(loss.pk)) == 2 and len({p[2] for p in stored_points(loss.pk)}) == 1

    def upsert(lo: int) -> None:
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                points_upsert(
                    batches=[
                        SeriesPoints.from_lists(
                            series_id=lr.pk, steps=range(lo, lo + 3000), values=[float(lo)] * 3000
                        )
                    ]
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=upsert, args=(lo,)) for lo in (0, 3000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    got = stored_points(lr.pk)
    assert [p[1] for p in got] == list(range(6000))
    lr.refresh_from_db()
    assert (lr.n_points, lr.data_version) == (6000, 2)


def _summary(series_id: int) -> tuple:
    return tuple(
        MetricSeries.objects.filter(pk=series_id)
        .values_list("n_points", "min_step", "max_step", "min_value", "max_value", "last_value")
        .get()
    )


@pytest.mark.django_db
def test_append_summary_equals_the_summary_aggregated_from_the_chunks(series):
    """An append's summary is computed from the old one and the new points; it must equal what the chunks'
    summary columns give (NaN included: the minimum skips it, the maximum is NaN once one value is)."""
    from tracker.runs.series.rollups import series_summary_from_chunks

    loss, _lr = series
    rng = np.random.default_rng(3)
    last = 0
    for i in range(8):
        n = int(rng.integers(1, 6000))
        steps = last + np.cumsum(rng.integers(1, 4, n))
        values = rng.normal(2.0, 1.0, n)
        if i == 5:
            values[n // 2] = math.nan
        with transaction.atomic():
            points_upsert(
                batches=[
                    SeriesPoints(series_id=loss.pk, steps=steps, values=values, wall_times=np.full(n, np.nan))
                ],
                finite_only=False,
            )
        last = int(steps[-1])
        incremental = _summary(loss.pk)
        series_summary_from_chunks(series_id=loss.pk, bump_version=False)
        assert repr(_summary(loss.pk)) == repr(incremental), i  # repr: NaN == NaN
    assert math.isnan(_summary(loss.pk)[4]) and not math.isnan(_summary(loss.pk)[3])


@pytest.mark.django_db
def test_a_batch_costs_the_same_statements_for_two_series_or_twenty(team_a):
    """points_upsert issues one statement of each kind per batch, not one per series."""
    run = TrainingRun.objects.create(team=team_a, name="many-series")
    counts = []
    for n_series in (2, 20):
        ids = [MetricSeries.objects.create(run=run, name=f"m{n_series}-{k}").pk for k in range(n_series)]
        for first in (0, 1000):  # the first batch creates the chunks; the second appends
            batches = [
                SeriesPoints.from_lists(
                    series_id=sid, steps=list(range(first, first + 500)), values=[1.0] * 500
                )
                for sid in ids
            ]
            with CaptureQueriesContext(connection) as ctx, transaction.atomic():
                points_upsert(batches=batches)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1] <= 10, counts
