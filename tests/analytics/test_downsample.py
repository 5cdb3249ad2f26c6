"""M4 downsampling is pure: every spike survives, first/last of each bucket are kept, no Django needed."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.downsample import bucket_of, m4_downsample


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
