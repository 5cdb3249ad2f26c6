"""M4 downsampling: per step bucket keep the first, last, lowest and highest point, so no spike is lost.

Pure numpy. `m4_downsample` is the reference. Long curves are answered from precomputed M4 summaries of
aligned step cells (`Cells`, built by `m4_cells` and `cells_merge`), merged per bucket by `m4_from_pieces`;
that answer equals `m4_downsample(..., shift=level)` exactly, which the tests check.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Cells:
    """M4 summaries of step-ordered, disjoint groups of points ("cells"; or pieces of cells): per group
    its id, point count, first and last point, and the lowest and highest value with their steps.

    Ties on an extreme keep the smallest step. The minimum is NaN only when every value is NaN, the
    maximum is NaN as soon as one is (PostgreSQL's order: NaN above every number), as in `m4_downsample`.
    """

    cell: np.ndarray
    n: np.ndarray
    first_step: np.ndarray
    first_value: np.ndarray
    last_step: np.ndarray
    last_value: np.ndarray
    min_step: np.ndarray
    min_value: np.ndarray
    max_step: np.ndarray
    max_value: np.ndarray

    @property
    def size(self) -> int:
        return int(self.cell.size)

    def take(self, index: np.ndarray | slice) -> Cells:
        return Cells(
            cell=self.cell[index],
            n=self.n[index],
            first_step=self.first_step[index],
            first_value=self.first_value[index],
            last_step=self.last_step[index],
            last_value=self.last_value[index],
            min_step=self.min_step[index],
            min_value=self.min_value[index],
            max_step=self.max_step[index],
            max_value=self.max_value[index],
        )

    @classmethod
    def empty(cls) -> Cells:
        i, f = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        return cls(i, i, i, f, i, f, i, f, i, f)

    @classmethod
    def concat(cls, parts: list[Cells]) -> Cells:
        if not parts:
            return cls.empty()
        return cls(
            *(
                np.concatenate([getattr(p, name) for p in parts])
                for name in (
                    "cell",
                    "n",
                    "first_step",
                    "first_value",
                    "last_step",
                    "last_value",
                    "min_step",
                    "min_value",
                    "max_step",
                    "max_value",
                )
            )
        )


def m4_groups(steps: np.ndarray, values: np.ndarray, starts: np.ndarray, *, cell: np.ndarray) -> Cells:
    """M4 summary of contiguous groups of points beginning at the indices `starts` (ascending, first 0)."""
    n_points = steps.size
    if starts.size == 0:
        return Cells.empty()
    ends = np.r_[starts[1:], n_points] - 1
    group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, n_points]))
    nan = np.isnan(values)
    vmin = np.fmin.reduceat(values, starts)
    vmax = np.maximum.reduceat(values, starts)
    gmin, gmax = vmin[group], vmax[group]
    min_idx = _first_per_group((values == gmin) | (nan & np.isnan(gmin)), group)
    max_idx = _first_per_group((values == gmax) | (nan & np.isnan(gmax)), group)
    return Cells(
        cell=cell,
        n=np.diff(np.r_[starts, n_points]).astype(np.int64),
        first_step=steps[starts],
        first_value=values[starts],
        last_step=steps[ends],
        last_value=values[ends],
        min_step=steps[min_idx],
        min_value=values[min_idx],
        max_step=steps[max_idx],
        max_value=values[max_idx],
    )


def m4_cells(steps: np.ndarray, values: np.ndarray, *, shift: int) -> Cells:
    """M4 summary of each aligned cell of 2**shift steps (cell id = step >> shift); steps increasing."""
    if steps.size == 0:
        return Cells.empty()
    ids = steps >> shift
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return m4_groups(steps, values, starts, cell=ids[starts])


def cells_merge(pieces: Cells, key: np.ndarray) -> Cells:
    """Merge step-ordered pieces that share a key (non-decreasing) into one summary per key, M4 rules."""
    if pieces.size == 0:
        return Cells.empty()
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], key.size] - 1
    group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, key.size]))
    gmin = np.fmin.reduceat(pieces.min_value, starts)[group]
    gmax = np.maximum.reduceat(pieces.max_value, starts)[group]
    lo = pieces.min_value
    hi = pieces.max_value
    min_idx = _first_per_group((lo == gmin) | (np.isnan(lo) & np.isnan(gmin)), group)
    max_idx = _first_per_group((hi == gmax) | (np.isnan(hi) & np.isnan(gmax)), group)
    return Cells(
        cell=key[starts],
        n=np.add.reduceat(pieces.n, starts),
        first_step=pieces.first_step[starts],
        first_value=pieces.first_value[starts],
        last_step=pieces.last_step[ends],
        last_value=pieces.last_value[ends],
        min_step=pieces.min_step[min_idx],
        min_value=pieces.min_value[min_idx],
        max_step=pieces.max_step[max_idx],
        max_value=pieces.max_value[max_idx],
    )


def cells_points(cells: Cells) -> tuple[np.ndarray, np.ndarray]:
    """The distinct first/last/min/max points of each summary, in step order."""
    if cells.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    s = np.stack([cells.first_step, cells.last_step, cells.min_step, cells.max_step], axis=1)
    v = np.stack([cells.first_value, cells.last_value, cells.min_value, cells.max_value], axis=1)
    order = np.argsort(s, axis=1, kind="stable")
    s = np.take_along_axis(s, order, axis=1)
    v = np.take_along_axis(v, order, axis=1)
    keep = np.ones(s.shape, dtype=bool)
    keep[:, 1:] = s[:, 1:] != s[:, :-1]
    return s[keep], v[keep]


def m4_from_pieces(
    pieces: Cells, *, x0: int, x1: int, n_buckets: int, shift: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """M4 of [x0, x1] from step-ordered pieces that each lie inside one cell of 2**shift steps.

    Returns (steps, values, points counted); equal to `m4_downsample(..., shift=shift)` over the points
    the pieces summarise.
    """
    if pieces.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64), 0
    bucket = bucket_of(pieces.first_step, x0=x0, x1=x1, n_buckets=n_buckets, shift=shift)
    merged = cells_merge(pieces, bucket)
    steps, values = cells_points(merged)
    return steps, values, int(pieces.n.sum())
