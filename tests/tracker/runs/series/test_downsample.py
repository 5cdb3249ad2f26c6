"""M4 downsampling is pure: every spike survives, first/last of each bucket are kept, no Django needed."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.runs.series.downsample import bucket_of, m4_downsample, rollup_level_for_window


def test_small_example_exact_points():
    steps = np.arange(12)
    values = np.array([5, 1, 9, 5, 5, 5, 7, 0, 3, 2, 2, 8], dtype=float)
    # 3 buckets of 4 steps: [0..3], [4..7], [8..11]
    s, v = m4_downsample(steps, values, 3)
    assert s.tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9, 11]
    assert v.tolist() == [5, 1, 9, 5, 5, 7, 0, 3, 2, 8]


def test_every_spike_survives_at_1m_points():
    rng = np.random.default_rng(7)
    steps = np.arange(1_000_000, dtype=np.int64) * 10
    values = 2.0 + rng.normal(0, 0.01, steps.size)
    spikes = rng.choice(steps.size, 10, replace=False)
    values[spikes[:5]] = 50.0
    values[spikes[5:]] = -50.0
    s, _v = m4_downsample(steps, values, 500)
    assert s.size <= 2000
    assert set(steps[spikes].tolist()) <= set(s.tolist())
    assert s[0] == 0 and s[-1] == steps[-1]
    assert np.all(np.diff(s) > 0)


def test_window_returns_only_points_in_range():
    steps = np.arange(0, 10_000, 2)
    values = np.sin(steps / 100.0)
    s, v = m4_downsample(steps, values, 10, x0=1001, x1=2999)
    assert s.min() >= 1001 and s.max() <= 2999
    assert s[0] == 1002 and s[-1] == 2998
    np.testing.assert_array_equal(v, np.sin(s / 100.0))


def test_ties_keep_smallest_step_and_nan_counts_as_maximum():
    steps = np.arange(8)
    values = np.array([1.0, 0.0, 0.0, 1.0, 1.0, np.nan, 2.0, 1.0])
    s, v = m4_downsample(steps, values, 2)
    assert s.tolist() == [0, 1, 3, 4, 5, 7]
    assert np.isnan(v[4])


def test_bucket_arithmetic_matches_integer_division():
    steps = np.array([10, 11, 19, 20])
    assert bucket_of(steps, x0=10, x1=20, n_buckets=3).tolist() == [0, 0, 2, 2]


@pytest.mark.parametrize(
    ("steps", "values", "message"),
    [
        ([0, 2, 1], [1.0, 2.0, 3.0], "strictly increasing"),
        ([0, 1], [1.0], "equal length"),
    ],
)
def test_bad_input_is_rejected(steps, values, message):
    with pytest.raises(ValueError, match=message):
        m4_downsample(np.array(steps), np.array(values), 4)


def test_empty_range_gives_no_points():
    s, v = m4_downsample(np.arange(10), np.arange(10.0), 4, x0=20, x1=30)
    assert s.size == 0 and v.size == 0


def test_shift_groups_whole_aligned_cells():
    # cells of 4 steps: [0..3] [4..7] [8..11] [12..15]; window 2..13 touches cells 0..3, grouped into 2
    steps = np.arange(16)
    assert bucket_of(steps[2:14], x0=2, x1=13, n_buckets=2, shift=2).tolist() == [0, 0, 0, 0, 0, 0] + [1] * 6
    values = np.array([0, 0, 5, 1, 9, 2, 2, 2, 3, 8, 3, -4, 3, 3, 0, 0], dtype=float)
    s, v = m4_downsample(steps, values, 2, x0=2, x1=13, shift=2)
    assert s.tolist() == [2, 3, 4, 7, 8, 9, 11, 13]
    assert v.tolist() == [5, 1, 9, 2, 3, 8, -4, 3]


def test_shift_zero_is_plain_bucketing():
    steps = np.arange(3, 1000, 7)
    a = bucket_of(steps, x0=3, x1=996, n_buckets=37)
    np.testing.assert_array_equal(a, bucket_of(steps, x0=3, x1=996, n_buckets=37, shift=0))
    assert a.tolist() == (((steps - 3) * 37) // 994).tolist()


def test_rollup_level_is_the_coarsest_with_two_cells_per_bucket():
    # 1M steps, 500 buckets: level 9 has 1,954 cells of 512 steps, level 10 only 977
    assert rollup_level_for_window(x0=0, x1=999_999, n_buckets=500, min_level=5, max_level=12) == 9
    # 10k steps: even level 5 has only 313 cells, so the window is read raw
    assert rollup_level_for_window(x0=495_000, x1=504_999, n_buckets=500, min_level=5, max_level=12) is None
    with pytest.raises(ValueError, match="empty range"):
        rollup_level_for_window(x0=5, x1=4, n_buckets=2, min_level=0, max_level=3)
