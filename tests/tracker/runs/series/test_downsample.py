"""M4 downsampling is pure: every spike survives, first/last of each bucket are kept, no Django needed."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.runs.series.downsample import (
    Cells,
    bucket_of,
    cells_merge,
    m4_cells,
    m4_downsample,
    m4_from_pieces,
    rollup_level_for_window,
)


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


def _random_series(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    steps = np.sort(rng.choice(np.arange(n * 4) + 777, n, replace=False)).astype(np.int64)
    values = np.round(rng.normal(0, 1, n), 1)  # rounding: many ties on the extremes
    values[rng.choice(n, 20, replace=False)] = np.nan
    values[rng.choice(n, 3, replace=False)] = np.inf
    return steps, values


@pytest.mark.parametrize("seed", range(4))
def test_pieces_merged_per_bucket_equal_the_reference_with_the_same_cells(seed):
    """Cells, merged coarser, cut into pieces anywhere, then bucketed: the same points as m4_downsample."""
    steps, values = _random_series(seed, 20_000)
    rng = np.random.default_rng(100 + seed)
    for _ in range(5):
        shift = int(rng.integers(0, 8))
        x0 = int(rng.integers(steps[0] - 50, steps[steps.size // 2]))
        x1 = int(rng.integers(x0 + (1 << shift) * 10, steps[-1] + 50))
        nb = int(rng.integers(1, 300))
        s, v = steps[(steps >= x0) & (steps <= x1)], values[(steps >= x0) & (steps <= x1)]
        # pieces: the finest cells split at random places (as cells split across chunk batches are)
        finest = m4_cells(s, v, shift=max(0, shift - 2))
        cut = np.sort(rng.choice(np.arange(1, s.size), 30, replace=False))
        parts = [m4_cells(a, b, shift=max(0, shift - 2)) for a, b in zip(np.split(s, cut), np.split(v, cut))]
        pieces = Cells.concat(parts)
        merged = cells_merge(pieces, pieces.cell)
        for field in merged.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(merged, field), getattr(finest, field))
        got_s, got_v, total = m4_from_pieces(pieces, x0=x0, x1=x1, n_buckets=nb, shift=shift)
        ref_s, ref_v = m4_downsample(steps, values, nb, x0=x0, x1=x1, shift=shift)
        np.testing.assert_array_equal(got_s, ref_s)
        np.testing.assert_array_equal(got_v, ref_v)
        assert total == s.size


def test_coarser_cells_from_finer_equal_cells_from_points():
    steps, values = _random_series(9, 30_000)
    fine = m4_cells(steps, values, shift=3)
    for shift in range(4, 9):
        fine = cells_merge(fine, fine.cell >> 1)
        direct = m4_cells(steps, values, shift=shift)
        for field in direct.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(fine, field), getattr(direct, field))
