"""Long curves from precomputed rollups: same points as the numpy M4 reference, spikes kept, never stale."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.roles import Role
from tracker.models import MetricRollupBlock, MetricSeries, TrainingRun
from tracker.runs.series import codec, reads, rollups
from tracker.runs.series import copy as copy_module
from tracker.runs.series.copy import SeriesPoints, points_insert_new, points_upsert
from tracker.runs.series.downsample import Cells, m4_downsample, rollup_level_for_window

pytestmark = pytest.mark.django_db

N = 120_000


def _pts(series_id: int, steps: np.ndarray, values: np.ndarray) -> SeriesPoints:
    return SeriesPoints(
        series_id=series_id, steps=steps, values=values, wall_times=np.full(steps.size, np.nan)
    )


def insert_points(series_id: int, steps: np.ndarray, values: np.ndarray) -> None:
    # finite_only=False: the ingestion path rightly refuses the NaN these tests need.
    points_insert_new(batches=[_pts(series_id, steps, values)], finite_only=False)


def upsert_points(series_id: int, steps: np.ndarray, values: np.ndarray) -> None:
    """The webhook path: points and summary written, rollups left to the worker (or the first reader)."""
    points_upsert(batches=[_pts(series_id, steps, values)], finite_only=False)


def stored_cells(series: MetricSeries, level: int) -> Cells:
    blobs = (
        MetricRollupBlock.objects.filter(series=series, level=level)
        .order_by("block")
        .values_list("data", flat=True)
    )
    return Cells.concat([codec.cells_decode(bytes(b), shift=level) for b in blobs])


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


@pytest.fixture
def run_a(team_a):
    return TrainingRun.objects.create(team=team_a, name="run-long")


@pytest.fixture
def viewer_client(make_user):
    client = Client()
    client.force_login(make_user(Role.VIEWER))
    return client


@pytest.fixture
def long_series(run_a):
    """120k points with gaps, ten +-spikes, a NaN and ties; steps start off any power-of-two boundary."""
    rng = np.random.default_rng(11)
    steps = np.arange(N + 5000, dtype=np.int64) * 3 + 1001
    steps = np.sort(rng.choice(steps, N, replace=False))
    values = np.round(3.0 - steps / 1e6 + rng.normal(0, 0.01, N), 3)  # rounding makes ties on extremes
    spikes = np.sort(rng.choice(N, 10, replace=False))
    values[spikes] += np.where(np.arange(10) % 2 == 0, 40.0, -40.0)
    values[N // 3] = np.nan
    series = MetricSeries.objects.create(run=run_a, name="loss")
    insert_points(series.pk, steps, values)  # rollups are built with the points
    series.refresh_from_db()
    return series, steps, values, steps[spikes]


def data_url(series: MetricSeries) -> str:
    return reverse("runs:series-data", args=[series.run_id, series.pk])


def same_values(got: list, expected: np.ndarray) -> None:
    got_arr = np.array([np.nan if v is None else v for v in got], dtype=float)
    np.testing.assert_array_equal(got_arr, expected)


def test_levels_for_a_million_steps():
    assert rollups.rollup_levels_for_range(min_step=0, max_step=999_999) == (5, 12)
    assert rollups.rollup_levels_for_range(min_step=5, max_step=5 + 16_383) == (0, 7)
    assert rollups.rollup_levels_for_range(min_step=0, max_step=32_767) == (1, 8)


def test_finest_cells_hold_eight_to_sixteen_points_unless_the_range_needs_coarser():
    # 250k points, one per step: the range alone allows 8-step cells (level 3); 16-step cells hold 16 points
    assert rollups.rollup_levels_for_range(min_step=0, max_step=249_999) == (3, 10)
    assert rollups.rollup_levels_for_range(min_step=0, max_step=249_999, n_points=250_000) == (4, 10)
    # a million points, one per step: the range's 32-step cells already hold more than 16
    assert rollups.rollup_levels_for_range(min_step=0, max_step=999_999, n_points=1_000_000) == (5, 12)
    # a step every 10: 128-step cells, ~13 points each
    assert rollups.rollup_levels_for_range(min_step=0, max_step=2_499_990, n_points=250_000) == (7, 14)
    # points denser than one per step never make cells finer than the range allows
    assert rollups.rollup_levels_for_range(min_step=0, max_step=999_999, n_points=10**9) == (5, 12)


def test_refresh_builds_every_level_equal_to_numpy_cells(long_series):
    series, steps, values, _ = long_series
    span = int(steps[-1] - steps[0] + 1)
    assert (series.rollup_min_level, series.rollup_max_level) == rollups.rollup_levels_for_range(
        min_step=int(steps[0]), max_step=int(steps[-1]), n_points=N
    )
    # 374,998 steps: level 4 would do for the range alone, but its cells would hold only 5 points
    assert (series.rollup_min_level, series.rollup_max_level, span) == (5, 11, 374_998)
    for level in (series.rollup_min_level, 7, series.rollup_max_level):
        stored = stored_cells(series, level)
        rows = list(
            zip(
                *(
                    getattr(stored, f).tolist()
                    for f in ("cell", "n", "first_step", "last_step", "min_step", "max_step")
                ),
                strict=True,
            )
        )
        cells = steps >> level
        uniq, starts, counts = np.unique(cells, return_index=True, return_counts=True)
        assert [r[0] for r in rows] == uniq.tolist()
        assert [r[1] for r in rows] == counts.tolist()
        assert [r[2] for r in rows] == steps[starts].tolist()
        assert [r[3] for r in rows] == steps[starts + counts - 1].tolist()
        # the first/last/min/max points of a cell are the M4 points of that cell
        for bucket, _n, first, last, min_step, max_step in rows[:50]:
            sel = cells == bucket
            s, v = steps[sel], values[sel]
            ref_s, _ = m4_downsample(s, v, 1)
            assert {first, last, min_step, max_step} == set(ref_s.tolist())


@pytest.mark.parametrize(
    ("x0", "x1", "points"),
    [
        (None, None, 2000),  # the whole curve
        (None, None, 20000),
        (None, None, 8),
        (100_001, 137_777, 400),  # ragged edges on both sides: level 7 cells, finest cells, raw points
        (168_750, 206_249, 2000),  # middle 10%
        (-5_000, 10**7, 1000),  # bounds beyond the data
    ],
)
def test_rollup_window_equals_numpy_m4_of_its_cells(long_series, x0, x1, points):
    series, steps, values, _ = long_series
    lo = int(steps[0]) if x0 is None else x0
    hi = int(steps[-1]) if x1 is None else x1
    level = rollup_level_for_window(
        x0=lo,
        x1=hi,
        n_buckets=points // 4,
        min_level=series.rollup_min_level,
        max_level=series.rollup_max_level,
    )
    assert level is not None
    with CaptureQueriesContext(connection) as ctx:
        window = reads.series_window(series=series, x0=x0, x1=x1, points=points)
    assert len(ctx.captured_queries) == 1 and "tracker_metricrollupblock" in ctx.captured_queries[0]["sql"]
    ref_s, ref_v = m4_downsample(steps, values, points // 4, x0=lo, x1=hi, shift=level)
    assert window.steps == ref_s.tolist()
    same_values(window.values, ref_v)
    assert window.total == int(((steps >= lo) & (steps <= hi)).sum())
    assert window.shown <= points


def test_whole_curve_keeps_every_spike(long_series, viewer_client):
    series, steps, values, spike_steps = long_series
    body = viewer_client.get(data_url(series)).json()
    assert body["total"] == N and body["shown"] == len(body["steps"]) <= 2000
    assert body["shown"] > 1500
    by_step = dict(zip(body["steps"], body["values"], strict=True))
    assert set(spike_steps.tolist()) <= set(by_step)
    assert sorted(round(by_step[int(s)]) for s in spike_steps) == sorted(
        round(values[np.searchsorted(steps, s)]) for s in spike_steps
    )
    assert sum(1 for s in spike_steps if abs(by_step[int(s)]) > 30) == 10
    assert by_step[int(steps[N // 3])] is None  # the NaN is kept as a gap, not dropped


def test_rollup_request_query_count_is_pinned(long_series, viewer_client, django_assert_num_queries):
    series, *_ = long_series
    # session, user, run, series, one rollup query: no scan of the points
    with django_assert_num_queries(5):
        assert viewer_client.get(data_url(series), {"x0": 1001, "x1": 500_000}).status_code == 200


def test_narrow_zoom_is_read_raw(long_series, viewer_client):
    series, steps, _values, _ = long_series
    x0, x1 = 185_000, 188_749  # 1% of the step range: too few finest cells for 2000 points
    with CaptureQueriesContext(connection) as ctx:
        body = viewer_client.get(data_url(series), {"x0": x0, "x1": x1}).json()
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert "tracker_metricrollupblock" not in sql and "tracker_metricchunk" in sql
    in_range = (steps >= x0) & (steps <= x1)
    assert body["total"] == int(in_range.sum()) == body["shown"] == 1197  # they all fit: shown raw
    assert body["steps"] == steps[in_range].tolist()


def test_window_below_one_sixteenth_is_bucketed_from_raw_points(long_series):
    series, steps, values, _ = long_series
    x0, x1 = 180_000, 191_999  # 750 finest cells < 2 per bucket for 500 buckets
    with CaptureQueriesContext(connection) as ctx:
        window = reads.series_window(series=series, x0=x0, x1=x1, points=2000)
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert "tracker_metricrollupblock" not in sql
    ref_s, ref_v = m4_downsample(steps, values, 500, x0=x0, x1=x1)
    assert window.steps == ref_s.tolist()
    same_values(window.values, ref_v)
    assert window.total == int(((steps >= x0) & (steps <= x1)).sum()) > 2000


def test_missing_rollup_is_built_by_the_first_reader(run_a, viewer_client, django_assert_num_queries):
    steps = np.arange(60_000, dtype=np.int64) * 10
    values = np.linspace(5.0, 2.0, steps.size)
    values[12_345] = 99.0
    series = MetricSeries.objects.create(run=run_a, name="loss")
    upsert_points(series.pk, steps, values)  # the writer builds the rollups of a series that gets long...
    series.refresh_from_db()
    assert series.rollup_signature == rollups.series_rollup_signature(series)
    # ...here they are lost (a series stored before rollups existed, a failed build): the reader builds them.
    MetricRollupBlock.objects.filter(series=series).delete()
    MetricSeries.objects.filter(pk=series.pk).update(rollup_signature="", rollup_min_level=None)
    series.refresh_from_db()
    assert series.n_points == 60_000 and not MetricRollupBlock.objects.filter(series=series).exists()
    body = viewer_client.get(data_url(series)).json()
    assert 123_450 in body["steps"] and body["total"] == 60_000
    series.refresh_from_db()
    assert series.rollup_signature == rollups.series_rollup_signature(series)
    assert (
        stored_cells(series, series.rollup_min_level).size == np.unique(steps >> series.rollup_min_level).size
    )
    cache.clear()
    with django_assert_num_queries(5):  # built once: the second reader only reads
        assert viewer_client.get(data_url(series)).json() == body


def _live_tail(series: MetricSeries, steps: np.ndarray, values: np.ndarray, n: int, seed: int):
    """Append `n` points after the series in a few batches (a live run), spikes included."""
    rng = np.random.default_rng(seed)
    new_steps = int(steps[-1]) + np.cumsum(rng.integers(1, 6, n)).astype(np.int64)
    new_values = np.round(2.0 + rng.normal(0, 0.05, n), 3)
    new_values[n // 3] = -77.0
    new_values[2 * n // 3] = 88.0
    for part in np.array_split(np.arange(n), 4):
        upsert_points(series.pk, new_steps[part], new_values[part])
    series.refresh_from_db()
    return np.r_[steps, new_steps], np.r_[values, new_values]


def test_appended_points_are_read_raw_after_the_rollups(long_series, viewer_client):
    """A live run's small appends leave the rollups as they are (no block rewritten, nothing queued); a
    reader takes the appended tail from the chunks and the curve is still exact."""
    series, steps, values, _ = long_series
    blocks_before = sorted(
        MetricRollupBlock.objects.filter(series=series).values_list("level", "block", "data")
    )
    all_steps, all_values = _live_tail(series, steps, values, 3_000, seed=5)
    assert series.n_points == N + 3_000
    coverage = rollups.rollups_coverage(series)
    assert coverage is not None and coverage.through == int(steps[-1]) and coverage.n_points == N
    assert series.rollup_signature != rollups.series_rollup_signature(series)  # partial, not stale
    window = reads.series_window(series=series)
    assert window.total == N + 3_000
    level = rollup_level_for_window(
        x0=int(all_steps[0]),
        x1=int(all_steps[-1]),
        n_buckets=500,
        min_level=series.rollup_min_level,
        max_level=series.rollup_max_level,
    )
    ref_s, ref_v = m4_downsample(all_steps, all_values, 500, shift=level)
    assert window.steps == ref_s.tolist()
    same_values(window.values, ref_v)
    assert {-77.0, 88.0} <= {v for v in window.values if v is not None}
    # Read without a rebuild: the stored blocks are the same bytes.
    blocks_after = sorted(
        MetricRollupBlock.objects.filter(series=series).values_list("level", "block", "data")
    )
    assert blocks_after == blocks_before


@pytest.mark.parametrize(
    ("x0", "x1", "points"),
    [
        (None, None, 2000),
        (200_000, None, 2000),  # spans the rollups' last step
        (375_990, None, 400),  # from the last stored cells into the tail
        (376_500, None, 2000),  # wholly inside the appended tail: raw
        (1001, 380_000, 1000),  # ends inside the tail
    ],
)
def test_windows_across_the_live_tail_equal_numpy_m4(long_series, x0, x1, points):
    series, steps, values, _ = long_series
    all_steps, all_values = _live_tail(series, steps, values, 20_000, seed=7)
    lo = int(all_steps[0]) if x0 is None else x0
    hi = int(all_steps[-1]) if x1 is None else x1
    with CaptureQueriesContext(connection) as ctx:
        window = reads.series_window(series=series, x0=x0, x1=x1, points=points)
    from_rollups = "tracker_metricrollupblock" in " ".join(q["sql"] for q in ctx.captured_queries)
    # Raw when the rollups hold no whole cell of the window's level (it starts at their last cells or in
    # the tail): at most one such cell plus the tail is decoded.
    assert from_rollups == (x0 is None or x0 < 300_000)
    inside = (all_steps >= lo) & (all_steps <= hi)
    assert window.total == int(inside.sum())
    level = rollup_level_for_window(
        x0=lo,
        x1=hi,
        n_buckets=points // 4,
        min_level=series.rollup_min_level,
        max_level=series.rollup_max_level,
    )
    if window.total <= points:
        assert window.steps == all_steps[inside].tolist()
        return
    # Rollup cells are aligned to the level; raw points are bucketed over the window itself.
    args = (all_steps, all_values, points // 4)
    if from_rollups:
        ref_s, ref_v = m4_downsample(*args, x0=lo, x1=hi, shift=level)
    else:
        ref_s, ref_v = m4_downsample(*args, x0=lo, x1=hi)
    assert window.steps == ref_s.tolist()
    same_values(window.values, ref_v)


def test_a_long_live_tail_is_folded_into_the_rollups(long_series, django_capture_on_commit_callbacks):
    """Once the appended tail reaches ROLLUP_TAIL_POINTS the writer extends the rollups: they are current
    again and equal a rebuild from the chunks."""
    series, steps, values, _ = long_series
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _live_tail(series, steps, values, rollups.ROLLUP_TAIL_POINTS + 5_000, seed=9)
    assert callbacks == []
    assert series.rollup_signature == rollups.series_rollup_signature(series)
    incremental = _all_cells(series)
    rollups.series_rollup_build(series_id=series.pk, force=True)
    series.refresh_from_db()
    _assert_cells_equal(incremental, _all_cells(series))


def cell_of(series: MetricSeries, level: int, cell: int) -> tuple[int, float]:
    stored = stored_cells(series, level)
    (i,) = np.flatnonzero(stored.cell == cell)
    return int(stored.max_step[i]), float(stored.max_value[i])


def test_refresh_rebuilds_after_a_value_is_replaced(long_series):
    series, steps, _values, _ = long_series
    level = series.rollup_min_level
    target = int(steps[1000])  # not a cell extreme: replacing it keeps the series summary the same
    cell = target >> level
    before_summary = repr(
        MetricSeries.objects.filter(pk=series.pk).values("n_points", "min_value", "max_value").get()
    )
    upsert_points(series.pk, np.array([target]), np.array([7.5]))
    series.refresh_from_db()
    summary = MetricSeries.objects.filter(pk=series.pk).values("n_points", "min_value", "max_value").get()
    assert repr(summary) == before_summary  # the max is the NaN: repr compares it
    assert cell_of(series, level, cell)[1] < 7.5  # stale until rebuilt...
    assert series.rollup_signature != rollups.series_rollup_signature(series)  # ...and known to be stale
    rollups.series_summary_refresh(series_id=series.pk)
    series.refresh_from_db()
    assert cell_of(series, level, cell) == (target, 7.5)
    assert series.rollup_signature == rollups.series_rollup_signature(series)


def test_short_series_gets_no_rollup(run_a):
    series = MetricSeries.objects.create(run=run_a, name="lr")
    steps = np.arange(rollups.ROLLUP_MIN_POINTS - 1, dtype=np.int64)
    insert_points(series.pk, steps, np.ones(steps.size))
    rollups.series_summary_refresh(series_id=series.pk)
    series.refresh_from_db()
    assert series.n_points == rollups.ROLLUP_MIN_POINTS - 1
    assert series.rollup_min_level is None and series.rollup_max_level is None
    assert not MetricRollupBlock.objects.filter(series=series).exists()


def _all_cells(series: MetricSeries) -> dict[int, Cells]:
    assert series.rollup_min_level is not None and series.rollup_max_level is not None
    return {
        lv: stored_cells(series, lv) for lv in range(series.rollup_min_level, series.rollup_max_level + 1)
    }


def _assert_cells_equal(got: dict[int, Cells], want: dict[int, Cells]) -> None:
    assert got.keys() == want.keys()
    for level in want:
        for name in ("cell", "n", "first_step", "last_step", "min_step", "max_step"):
            np.testing.assert_array_equal(getattr(got[level], name), getattr(want[level], name), err_msg=name)
        for name in ("first_value", "last_value", "min_value", "max_value"):
            np.testing.assert_array_equal(getattr(got[level], name), getattr(want[level], name), err_msg=name)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_appending_extends_rollups_like_a_full_rebuild(
    long_series, seed, django_capture_on_commit_callbacks, monkeypatch
):
    """Batches after the last step extend the rollups in place (here every batch: no tail is left raw):
    equal to a rebuild from the chunks, signature current, no rebuild queued."""
    monkeypatch.setattr(copy_module, "ROLLUP_TAIL_POINTS", 1)
    series, steps, _values, _ = long_series
    rng = np.random.default_rng(seed)
    last = int(steps[-1])
    for _ in range(6):
        n = int(rng.integers(1, 3000))
        gaps = rng.integers(1, 6, n)
        if rng.random() < 0.5:
            gaps[0] = 1  # lands in the stored last cell at every level
        new_steps = last + np.cumsum(gaps).astype(np.int64)
        new_values = np.round(2.0 + rng.normal(0, 0.05, n), 3)
        if n > 3:
            new_values[n // 2] = 90.0 if rng.random() < 0.5 else -90.0
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            upsert_points(series.pk, new_steps, new_values)
        assert callbacks == []  # nothing queued: the rollups were extended in the transaction
        last = int(new_steps[-1])
        series.refresh_from_db()
        assert series.rollup_signature == rollups.series_rollup_signature(series)
    incremental = _all_cells(series)
    rollups.series_rollup_build(series_id=series.pk, force=True)
    series.refresh_from_db()
    _assert_cells_equal(incremental, _all_cells(series))


def test_a_batch_reaching_back_still_queues_a_rebuild(long_series, django_capture_on_commit_callbacks):
    series, steps, _values, _ = long_series
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        upsert_points(series.pk, np.array([int(steps[-1]) - 3, int(steps[-1]) + 5]), np.array([1.0, 2.0]))
    assert len(callbacks) == 1
    series.refresh_from_db()
    assert series.rollup_signature != rollups.series_rollup_signature(series)
