"""M4 downsampling: per step bucket keep the first, last, lowest and highest point, so no spike is lost.

Pure numpy; the PostgreSQL queries in `tracker.runs.series.reads` (over raw points, or over the precomputed
rollup cells) compute the same points in the database and this function is their reference.
"""

from __future__ import annotations

import numpy as np


def bucket_of(steps: np.ndarray, *, x0: int, x1: int, n_buckets: int, shift: int = 0) -> np.ndarray:
    """Bucket index of each step in [x0, x1]; integer arithmetic identical to the SQL queries.

    With `shift` k the window is first cut into aligned cells of 2**k steps (the cells of rollup level k)
    and whole cells are grouped into `n_buckets` buckets, so a bucket never splits a precomputed cell.
    shift=0 is plain equal-width bucketing of the steps.
    """
    if shift < 0:
        raise ValueError(f"shift must be >= 0, got {shift}")
    cell0 = x0 >> shift
    n_cells = (x1 >> shift) - cell0 + 1
    return (((steps.astype(np.int64) >> shift) - cell0) * n_buckets) // n_cells


def _first_per_group(mask: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Index of the first True of each group (groups are contiguous and ascending)."""
    idx = np.flatnonzero(mask)
    g = group[idx]
    return idx[np.r_[True, g[1:] != g[:-1]]] if idx.size else idx


def m4_downsample(
    steps: np.ndarray,
    values: np.ndarray,
    n_buckets: int,
    *,
    x0: int | None = None,
    x1: int | None = None,
    shift: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Points of [x0, x1] reduced to at most 4 per bucket, in step order.

    `steps` must be strictly increasing. Ties on the extreme value keep the smallest step. NaN sorts above
    every number, as in PostgreSQL, so a NaN loss spike is kept as the bucket maximum. `shift` groups
    aligned cells of 2**shift steps (see `bucket_of`): the answer the rollup tables give for a window.
    """
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if steps.shape != values.shape or steps.ndim != 1:
        raise ValueError(
            f"steps and values must be 1-d of equal length, got {steps.shape} and {values.shape}"
        )
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be >= 1, got {n_buckets}")
    if steps.size > 1 and not np.all(steps[1:] > steps[:-1]):
        raise ValueError("steps must be strictly increasing")
    if steps.size == 0:
        return steps.copy(), values.copy()
    lo = int(steps[0]) if x0 is None else x0
    hi = int(steps[-1]) if x1 is None else x1
    if hi < lo:
        raise ValueError(f"empty range: x1={hi} < x0={lo}")
    start, stop = np.searchsorted(steps, lo, "left"), np.searchsorted(steps, hi, "right")
    s, v = steps[start:stop], values[start:stop]
    if s.size == 0:
        return s.copy(), v.copy()

    bucket = bucket_of(s, x0=lo, x1=hi, n_buckets=n_buckets, shift=shift)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], s.size] - 1
    group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, s.size]))

    nan = np.isnan(v)
    vmin = np.fmin.reduceat(v, starts)  # NaN only when the whole bucket is NaN
    vmax = np.maximum.reduceat(v, starts)  # NaN whenever the bucket holds one
    gmin, gmax = vmin[group], vmax[group]
    min_idx = _first_per_group((v == gmin) | (nan & np.isnan(gmin)), group)
    max_idx = _first_per_group((v == gmax) | (nan & np.isnan(gmax)), group)

    keep = np.unique(np.concatenate([starts, ends, min_idx, max_idx]))
    return s[keep], v[keep]


def rollup_level_for_window(
    *, x0: int, x1: int, n_buckets: int, min_level: int, max_level: int, cells_per_bucket: int = 2
) -> int | None:
    """The coarsest rollup level whose cells cut [x0, x1] into >= `cells_per_bucket` cells per bucket.

    Reading that level touches between 2x and 4x `n_buckets` cells whatever the window; None means the
    window is too narrow for the finest level and is cheaper to read raw.
    """
    if x1 < x0:
        raise ValueError(f"empty range: x1={x1} < x0={x0}")
    for level in range(max_level, min_level - 1, -1):
        if (x1 >> level) - (x0 >> level) + 1 >= cells_per_bucket * n_buckets:
            return level
    return None
