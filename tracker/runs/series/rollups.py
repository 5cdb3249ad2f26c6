"""Series summaries and their M4 rollups: aligned cells of 2**level steps, stored as compressed blocks.

A long series (>= `ROLLUP_MIN_POINTS`) has levels finest..coarsest (`rollup_levels_for_range`); each level's
cells are cut into blocks of 2**`ROLLUP_BLOCK_SHIFT` consecutive cell ids, one `MetricRollupBlock` row per
block (`codec.cells_encode`). Cells are computed in NumPy (`downsample.m4_cells`, `cells_merge`): from the
arrays at hand when a new series is loaded, otherwise by streaming its chunks in step order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import F, Max, Min, Q, Sum

from tracker.runs.models import MetricChunk, MetricRollupBlock, MetricSeries
from tracker.runs.series import codec
from tracker.runs.series.downsample import Cells, cells_merge, m4_cells

# A series this long gets precomputed M4 cells; a shorter one is decoded raw in a few milliseconds.
ROLLUP_MIN_POINTS = 50_000
# The finest level has at most 16k-32k cells, so a window of >= 1/16 of the series still spans >= 1,000 of
# them (enough for 2,000 points at 2 cells per bucket); levels stop before one would have < 128 cells.
ROLLUP_FINEST_CELLS = 16_384
ROLLUP_COARSEST_CELLS = 128
# ...and its cells hold 8-16 points on average: finer cells would cost more bytes than the points they
# summarise, and a window too narrow for them is decoded raw (at most ~16k points) in milliseconds.
ROLLUP_CELL_POINTS = 16
# Cells per stored block: a whole-curve read touches one or two blocks of one level.
ROLLUP_BLOCK_SHIFT = 12
# Chunks decoded per step while a rollup is built from stored points (bounds memory for huge series).
_BUILD_BATCH_CHUNKS = 64


def rollup_levels_for_range(*, min_step: int, max_step: int, n_points: int | None = None) -> tuple[int, int]:
    """(finest, coarsest) level for a step range: level k has cells of 2**k steps, cell = step >> k.

    With `n_points` the finest cells also hold about `ROLLUP_CELL_POINTS` points on average (sparse steps
    get finer cells, dense ones coarser), never more than the step range alone allows.
    """
    span = max_step - min_step + 1
    finest = max(0, (span // ROLLUP_FINEST_CELLS).bit_length() - 1)
    if n_points:
        finest = max(finest, (ROLLUP_CELL_POINTS * span // n_points).bit_length() - 1)
    coarsest = (span // ROLLUP_COARSEST_CELLS).bit_length() - 1
    return finest, max(finest, coarsest)


# Points a live series may gain after the last step its rollups summarise before they are extended; a reader
# takes those from the raw chunks (decoding this many points costs a few milliseconds).
ROLLUP_TAIL_POINTS = 65_536
_SIGNATURE_PREFIX = "v3:"


def series_rollup_signature(series: MetricSeries) -> str:
    """What a rollup is valid for: the series' data version (every write moves it) and its step range."""
    parts = (series.data_version, series.n_points, series.min_step, series.max_step)
    return _SIGNATURE_PREFIX + ":".join(repr(p) for p in parts)


@dataclass(frozen=True, slots=True)
class RollupCoverage:
    """Stored rollups a reader may use: their levels, the last step they summarise (`through`) and how many
    points they summarise. Points after `through` (appended since) are read raw."""

    finest: int
    coarsest: int
    through: int
    n_points: int

    @property
    def levels(self) -> tuple[int, int]:
        return self.finest, self.coarsest


def rollups_coverage(series: MetricSeries) -> RollupCoverage | None:
    """The series' usable rollups, or None (none stored, or stale: they must be rebuilt).

    Rollups are current when their signature is the series' own. They stay usable while the series has only
    been appended to since they were written (a live run): its points up to the step recorded in the
    signature are unchanged. Every write that is not such an append clears the signature
    (`rollups_invalidate`), so a recorded step range that the series still starts at and has grown past
    means exactly that.
    """
    if series.rollup_min_level is None or series.rollup_max_level is None:
        return None
    sig = series.rollup_signature
    if not sig.startswith(_SIGNATURE_PREFIX):
        return None
    if sig == series_rollup_signature(series):
        assert series.max_step is not None
        levels = series.rollup_min_level, series.rollup_max_level
        return RollupCoverage(*levels, through=series.max_step, n_points=series.n_points)
    try:
        _version, n, lo, hi = (int(x) for x in sig[len(_SIGNATURE_PREFIX) :].split(":"))
    except ValueError:
        return None
    if series.max_step is None or lo != series.min_step or hi >= series.max_step or n >= series.n_points:
        return None
    return RollupCoverage(series.rollup_min_level, series.rollup_max_level, hi, n)


def rollups_invalidate(series_ids: Sequence[int]) -> None:
    """Mark the rollups of series whose stored points changed other than by appending as stale."""
    if series_ids:
        MetricSeries.objects.filter(pk__in=series_ids).update(rollup_signature="")


def series_summary_from_chunks(*, series_id: int, bump_version: bool) -> int:
    """Set a series' summary from its chunks' summary columns (no blob is decoded); returns its points.

    NaN compares above every number in PostgreSQL, so the minimum skips NaN and the maximum is NaN as soon as
    one value is, like the M4 summaries.
    """
    chunks = MetricChunk.objects.filter(series_id=series_id)
    agg = chunks.aggregate(
        n=Sum("n_points"),
        min_step=Min("first_step"),
        max_step=Max("last_step"),
        min_value=Min("min_value"),
        max_value=Max("max_value"),
    )
    last = chunks.order_by("-first_step").values_list("last_value", flat=True).first()
    fields: dict[str, object] = {
        "n_points": agg["n"] or 0,
        "min_step": agg["min_step"],
        "max_step": agg["max_step"],
        "min_value": agg["min_value"],
        "max_value": agg["max_value"],
        "last_value": last,
    }
    if bump_version:
        fields["data_version"] = F("data_version") + 1
    MetricSeries.objects.filter(pk=series_id).update(**fields)
    return int(agg["n"] or 0)


@transaction.atomic
def series_summary_refresh(*, series_id: int) -> None:
    """Recompute a series' summary (count, step range, value range, last value) and its rollups."""
    series_summary_from_chunks(series_id=series_id, bump_version=False)
    series_rollup_build(series_id=series_id, force=True)


def _levels_cells(finest_cells: Cells, levels: tuple[int, int]) -> dict[int, Cells]:
    by_level = {levels[0]: finest_cells}
    cells = finest_cells
    for level in range(levels[0] + 1, levels[1] + 1):
        cells = cells_merge(cells, cells.cell >> 1)
        by_level[level] = cells
    return by_level


def _block_rows(series_id: int, by_level: dict[int, Cells]) -> list[MetricRollupBlock]:
    rows = []
    for level, cells in by_level.items():
        block = cells.cell >> ROLLUP_BLOCK_SHIFT
        starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]]) if cells.size else np.empty(0, int)
        for lo, hi in zip(starts.tolist(), np.r_[starts[1:], cells.size].tolist(), strict=True):
            part = cells.take(slice(lo, hi))
            rows.append(
                MetricRollupBlock(
                    series_id=series_id,
                    level=level,
                    block=int(block[lo]),
                    n_cells=hi - lo,
                    data=codec.cells_encode(part, shift=level),
                )
            )
    return rows


def _blocks_write(series_id: int, by_level: dict[int, Cells]) -> None:
    MetricRollupBlock.objects.bulk_create(_block_rows(series_id, by_level))


def _series_set_rollup(series: MetricSeries, levels: tuple[int, int] | None) -> None:
    series.rollup_signature = series_rollup_signature(series)
    series.rollup_min_level = levels[0] if levels else None
    series.rollup_max_level = levels[1] if levels else None
    series.save(update_fields=["rollup_signature", "rollup_min_level", "rollup_max_level"])


def rollups_write_from_points(*, series_id: int, steps: np.ndarray, values: np.ndarray) -> None:
    """Rollups of a series whose points are all in these sorted arrays (a new series being loaded)."""
    series = MetricSeries.objects.get(pk=series_id)
    MetricRollupBlock.objects.filter(series_id=series_id).delete()
    levels = None
    if steps.size >= ROLLUP_MIN_POINTS:
        levels = rollup_levels_for_range(min_step=int(steps[0]), max_step=int(steps[-1]), n_points=steps.size)
        _blocks_write(series_id, _levels_cells(m4_cells(steps, values, shift=levels[0]), levels))
    _series_set_rollup(series, levels)


AppendItem = tuple[MetricSeries, tuple[int, int], np.ndarray, np.ndarray]


def rollups_append_many(items: Sequence[AppendItem]) -> list[MetricSeries]:
    """Extend the rollups of several series with the points after the last step they summarise, in a
    constant number of statements. Each item is (series carrying its new summary and data version, its rollup
    levels, the sorted steps after `RollupCoverage.through`, their values); the caller holds the row locks.
    Returns the series whose step range now needs other levels: nothing of theirs is changed, the caller
    rebuilds them.

    Only the last stored block of each level can share a cell with the new points: it is decoded, merged
    with the new cells and rewritten; later blocks are new. A live run fed every few seconds thus pays for
    its new points, not for the whole series.
    """
    moved: list[MetricSeries] = []
    work: list[tuple[MetricSeries, tuple[int, int], dict[int, Cells]]] = []
    for series, levels, steps, values in items:
        assert series.min_step is not None and series.max_step is not None
        wanted = rollup_levels_for_range(
            min_step=series.min_step, max_step=series.max_step, n_points=series.n_points
        )
        if wanted != levels:
            moved.append(series)
        elif steps.size:
            work.append((series, levels, _levels_cells(m4_cells(steps, values, shift=levels[0]), levels)))
    if not work:
        return moved
    match = Q()
    for series, _levels, by_level in work:
        for level, cells in by_level.items():
            match |= Q(series_id=series.pk, level=level, block=int(cells.cell[0]) >> ROLLUP_BLOCK_SHIFT)
    stored = {
        (row.series_id, row.level): row
        for row in MetricRollupBlock.objects.filter(match).only("series_id", "level", "block", "data")
    }
    rows: list[MetricRollupBlock] = []
    for series, _levels, by_level in work:
        merged: dict[int, Cells] = {}
        for level, new in by_level.items():
            row = stored.get((series.pk, level))
            if row is None:
                merged[level] = new
                continue
            both = Cells.concat([codec.cells_decode(bytes(row.data), shift=level), new])
            merged[level] = cells_merge(both, both.cell)
        rows.extend(_block_rows(series.pk, merged))
        series.rollup_signature = series_rollup_signature(series)
    if stored:
        MetricRollupBlock.objects.filter(match).delete()
    MetricRollupBlock.objects.bulk_create(rows)
    MetricSeries.objects.bulk_update([w[0] for w in work], ["rollup_signature"])
    return moved


def _finest_cells_from_chunks(series_id: int, shift: int) -> Cells:
    pieces: list[Cells] = []
    batch: list[bytes] = []

    def flush() -> None:
        steps, values, _ = codec.chunks_decode(batch)
        pieces.append(m4_cells(steps, values, shift=shift))
        batch.clear()

    blobs = (
        MetricChunk.objects.filter(series_id=series_id).order_by("first_step").values_list("data", flat=True)
    )
    for blob in blobs.iterator(chunk_size=_BUILD_BATCH_CHUNKS):
        batch.append(bytes(blob))
        if len(batch) == _BUILD_BATCH_CHUNKS:
            flush()
    if batch:
        flush()
    # A cell cut by a batch boundary is two pieces with the same id: merged here.
    all_pieces = Cells.concat(pieces)
    return cells_merge(all_pieces, all_pieces.cell)


@transaction.atomic
def series_rollup_build(*, series_id: int, force: bool = False) -> MetricSeries:
    """(Re)build the rollup levels of a series from its chunks (decoded batch by batch, in step order).

    Without `force` nothing is done when the stored signature already matches the series, so concurrent
    lazy builders wait on the row lock and the second one finds the work done.
    """
    series = MetricSeries.objects.select_for_update().get(pk=series_id)
    if not force and series.rollup_signature == series_rollup_signature(series):
        return series
    MetricRollupBlock.objects.filter(series_id=series_id).delete()
    levels: tuple[int, int] | None = None
    if series.n_points >= ROLLUP_MIN_POINTS and series.min_step is not None and series.max_step is not None:
        levels = rollup_levels_for_range(
            min_step=series.min_step, max_step=series.max_step, n_points=series.n_points
        )
        finest = _finest_cells_from_chunks(series_id, levels[0])
        _blocks_write(series_id, _levels_cells(finest, levels))
    _series_set_rollup(series, levels)
    return series
