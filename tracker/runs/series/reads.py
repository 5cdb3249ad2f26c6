"""Reads of metric curves: downsampled windows, full-resolution points and CSV, run comparisons.

Points live in compressed chunks (`codec`); a read fetches only the chunks (or rollup blocks) it needs, in
one query, and does the M4 in NumPy. A long series (>= `rollups.ROLLUP_MIN_POINTS`) is answered from its
precomputed rollup cells: a window of it reads 2-4x `points/4` cells of one level plus the finest cells and
a few raw points at its two ragged edges, so the cost does not grow with the series. Narrower windows and
short series decode the chunks overlapping the window. `downsample.m4_downsample` is the reference both
paths are tested against (the rollup path with the level's cell alignment).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db import connection
from django.http import Http404

from core.params import ParamError, id_param, int_param
from tracker.runs.models import MetricChunk, MetricSeries, TrainingRun
from tracker.runs.series import codec, rollups, text
from tracker.runs.series.downsample import Cells, m4_downsample, m4_from_pieces, rollup_level_for_window

DEFAULT_POINTS = 2000
MIN_POINTS = 8
MAX_POINTS = 20000
MAX_COMPARE_RUNS = 12
CSV_BATCH_CHUNKS = 16  # chunks decoded and printed per streamed piece of a CSV export (~64k rows)


class SeriesQueryError(ParamError):
    """A bad query parameter; the message is shown to the user as is."""


@dataclass(frozen=True)
class SeriesWindow:
    steps: list[int]
    values: list[float | None]
    total: int  # points of the series inside [x0, x1]
    x0: int | None
    x1: int | None

    @property
    def shown(self) -> int:
        return len(self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "values": self.values,
            "shown": self.shown,
            "total": self.total,
            "x0": self.x0,
            "x1": self.x1,
        }


def _int_param(raw: str | None, name: str) -> int | None:
    if raw is not None and raw.strip() and not raw.strip().lstrip("+-").isdigit():
        raise SeriesQueryError(f"{name} must be an integer step, got {raw[:40]!r}")
    try:
        return int_param(raw, name)
    except ParamError as exc:
        raise SeriesQueryError(str(exc)) from None


def window_params_parse(
    *, x0: str | None, x1: str | None, points: str | None
) -> tuple[int | None, int | None, int]:
    """Validated (x0, x1, points) from query-string values; raises SeriesQueryError with a clear reason."""
    lo, hi = _int_param(x0, "x0"), _int_param(x1, "x1")
    n = _int_param(points, "points")
    n = DEFAULT_POINTS if n is None else n
    if not MIN_POINTS <= n <= MAX_POINTS:
        raise SeriesQueryError(f"points must be between {MIN_POINTS} and {MAX_POINTS}, got {n}")
    if lo is not None and hi is not None and hi < lo:
        raise SeriesQueryError(f"x1 ({hi}) must not be smaller than x0 ({lo})")
    return lo, hi, n


def series_get_for_run(*, run: TrainingRun, series_id: int) -> MetricSeries:
    series = MetricSeries.objects.filter(pk=series_id, run=run).first()
    if series is None:
        raise Http404("No such series in this run")
    return series


def _json_value(v: float) -> float | None:
    # JSON has no NaN/Infinity; a diverged step is shown as a gap rather than breaking the response.
    return v if math.isfinite(v) else None


_CHUNKS_IN_RANGE_SQL = """
SELECT data FROM tracker_metricchunk
WHERE series_id = %(sid)s
  -- From the chunk that holds x0 (the last one starting at or before it): two short index range scans.
  AND first_step >= COALESCE(
      (SELECT max(first_step) FROM tracker_metricchunk WHERE series_id = %(sid)s AND first_step <= %(x0)s),
      %(x0)s)
  AND first_step <= %(x1)s
ORDER BY first_step
"""


@dataclass(frozen=True)
class SeriesArrays:
    """Full-resolution points: steps int64, values float64, wall times float64 (NaN where none was logged)."""

    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray


def _slice(steps: np.ndarray, *arrays: np.ndarray, x0: int, x1: int) -> tuple[np.ndarray, ...]:
    lo, hi = np.searchsorted(steps, x0, "left"), np.searchsorted(steps, x1, "right")
    return (steps[lo:hi], *(a[lo:hi] for a in arrays))


def _points_in(*, series_id: int, x0: int, x1: int) -> SeriesArrays:
    with connection.cursor() as cursor:
        cursor.execute(_CHUNKS_IN_RANGE_SQL, {"sid": series_id, "x0": x0, "x1": x1})
        blobs = [bytes(r[0]) for r in cursor.fetchall()]
    steps, values, walls = _slice(*codec.chunks_decode(blobs), x0=x0, x1=x1)
    return SeriesArrays(steps=steps, values=values, wall_times=walls)


def series_points(*, series: MetricSeries, x0: int | None = None, x1: int | None = None) -> SeriesArrays:
    """Every point of the series in [x0, x1] (defaults: all of it) with its wall time; one query.

    Only the chunks overlapping the window are read and decoded.
    """
    if series.n_points == 0 or series.min_step is None or series.max_step is None:
        empty = np.empty(0)
        return SeriesArrays(steps=empty.astype(np.int64), values=empty, wall_times=empty)
    lo = series.min_step if x0 is None else x0
    hi = series.max_step if x1 is None else x1
    return _points_in(series_id=series.pk, x0=lo, x1=hi)


def _window_raw(*, series_id: int, x0: int, x1: int, points: int) -> tuple[list[int], list[float], int]:
    pts = _points_in(series_id=series_id, x0=x0, x1=x1)
    total = int(pts.steps.size)
    if total <= points:
        # A short range is shown raw.
        return pts.steps.tolist(), pts.values.tolist(), total
    steps, values = m4_downsample(pts.steps, pts.values, points // 4, x0=x0, x1=x1)
    return steps.tolist(), values.tolist(), total


# Pieces of a window, each inside one cell of `level`: whole cells of that level in the middle (part 0),
# whole finest cells in the ragged head and tail (part 1) and raw points at the very edges (part 2, from
# the chunks holding them). One round trip; the pieces are merged per output bucket in NumPy with the same
# first/last/min/max rules as the M4 over raw points (`downsample.m4_from_pieces`).
_ROLLUP_WINDOW_SQL = """
SELECT 0 AS part, block AS key, data FROM tracker_metricrollupblock
WHERE series_id = %(sid)s AND level = %(level)s AND block BETWEEN %(k0)s AND %(k1)s
UNION ALL
SELECT 1, block, data FROM tracker_metricrollupblock
WHERE series_id = %(sid)s AND level = %(finest)s
  AND (block BETWEEN %(hk0)s AND %(hk1)s OR block BETWEEN %(tk0)s AND %(tk1)s)
UNION ALL
SELECT 2, first_step, data FROM tracker_metricchunk
WHERE series_id = %(sid)s AND (
    (%(r0)s <= %(r1)s AND first_step <= %(r1)s AND first_step >= COALESCE(
        (SELECT max(first_step) FROM tracker_metricchunk WHERE series_id = %(sid)s AND first_step <= %(r0)s),
        %(r0)s))
    OR (%(r2)s <= %(r3)s AND first_step <= %(r3)s AND first_step >= COALESCE(
        (SELECT max(first_step) FROM tracker_metricchunk WHERE series_id = %(sid)s AND first_step <= %(r2)s),
        %(r2)s)))
ORDER BY 1, 2
"""


def _block_range(lo: int, hi: int) -> tuple[int, int]:
    # An empty cell range gives an empty block range (BETWEEN 1 AND 0).
    if lo > hi:
        return 1, 0
    return lo >> rollups.ROLLUP_BLOCK_SHIFT, hi >> rollups.ROLLUP_BLOCK_SHIFT


def _rollup_params(*, series_id: int, x0: int, x1: int, level: int, finest: int) -> dict[str, int]:
    dk = level - finest
    b0 = (x0 + (1 << level) - 1) >> level  # first cell of `level` wholly inside the window
    b1 = ((x1 + 1) >> level) - 1  # last one
    h0 = (x0 + (1 << finest) - 1) >> finest  # whole finest cells before b0
    t1 = ((x1 + 1) >> finest) - 1  # whole finest cells after b1
    h1, t0 = (b0 << dk) - 1, (b1 + 1) << dk
    k0, k1 = _block_range(b0, b1)
    hk0, hk1 = _block_range(h0, h1)
    tk0, tk1 = _block_range(t0, t1)
    return {
        "sid": series_id,
        "level": level,
        "finest": finest,
        "b0": b0,
        "b1": b1,
        "h0": h0,
        "h1": h1,
        "t0": t0,
        "t1": t1,
        "k0": k0,
        "k1": k1,
        "hk0": hk0,
        "hk1": hk1,
        "tk0": tk0,
        "tk1": tk1,
        "r0": x0,
        "r1": (h0 << finest) - 1,
        "r2": (t1 + 1) << finest,
        "r3": x1,
    }


def _cells_in(blobs: list[bytes], *, shift: int, ranges: list[tuple[int, int]]) -> list[Cells]:
    cells = Cells.concat([codec.cells_decode(b, shift=shift) for b in blobs])
    return [cells.take((cells.cell >= lo) & (cells.cell <= hi)) for lo, hi in ranges]


def _point_pieces(steps: np.ndarray, values: np.ndarray, x0: int, x1: int) -> Cells:
    """Single points of [x0, x1] as pieces of their own."""
    if x1 < x0:
        return Cells.empty()
    s, v = _slice(steps, values, x0=x0, x1=x1)
    ones = np.ones(s.size, dtype=np.int64)
    return Cells(
        cell=s,
        n=ones,
        first_step=s,
        first_value=v,
        last_step=s,
        last_value=v,
        min_step=s,
        min_value=v,
        max_step=s,
        max_value=v,
    )


def _window_rollup(
    *, series_id: int, x0: int, x1: int, points: int, level: int, finest: int, raw_from: int
) -> tuple[list[int], list[float], int]:
    """The window from rollup cells up to `raw_from - 1` (a finest-cell boundary) and raw points after."""
    p = _rollup_params(series_id=series_id, x0=x0, x1=min(x1, raw_from - 1), level=level, finest=finest)
    # The raw tail runs to the window's end: past `raw_from` that includes the points not in the rollups.
    p["r3"] = x1
    with connection.cursor() as cursor:
        cursor.execute(_ROLLUP_WINDOW_SQL, p)
        rows = cursor.fetchall()
    blobs: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    for part, _key, data in rows:
        blobs[part].append(bytes(data))
    (middle,) = _cells_in(blobs[0], shift=level, ranges=[(p["b0"], p["b1"])])
    head, tail = _cells_in(blobs[1], shift=finest, ranges=[(p["h0"], p["h1"]), (p["t0"], p["t1"])])
    steps, values, _ = codec.chunks_decode(blobs[2])
    raw_head = _point_pieces(steps, values, p["r0"], p["r1"])
    raw_tail = _point_pieces(steps, values, p["r2"], p["r3"])
    pieces = Cells.concat([raw_head, head, middle, tail, raw_tail])
    out_steps, out_values, total = m4_from_pieces(pieces, x0=x0, x1=x1, n_buckets=points // 4, shift=level)
    if total <= points:
        # A sparse stretch: everything fits, so show it raw like any short window.
        return _window_raw(series_id=series_id, x0=x0, x1=x1, points=points)
    return out_steps.tolist(), out_values.tolist(), total


def _rollup_coverage(series: MetricSeries) -> rollups.RollupCoverage | None:
    """The series' usable rollups, built now if missing or stale; None for a series read raw."""
    if series.n_points < rollups.ROLLUP_MIN_POINTS:
        return None
    coverage = rollups.rollups_coverage(series)
    if coverage is None:
        # Correctness never waits for someone to call refresh: the first reader after a change rebuilds.
        built = rollups.series_rollup_build(series_id=series.pk)
        series.rollup_signature = built.rollup_signature
        series.rollup_min_level, series.rollup_max_level = built.rollup_min_level, built.rollup_max_level
        coverage = rollups.rollups_coverage(series)
    return coverage


def _window(*, series: MetricSeries, x0: int, x1: int, points: int) -> tuple[list[int], list[float], int]:
    coverage = _rollup_coverage(series)
    if coverage is not None:
        level = rollup_level_for_window(
            x0=x0, x1=x1, n_buckets=points // 4, min_level=coverage.finest, max_level=coverage.coarsest
        )
        # Points appended after the rollups (a live run) are read raw from the first finest cell that the
        # rollups do not hold whole.
        raw_from = ((coverage.through + 1) >> coverage.finest) << coverage.finest
        # ...and only while the rollup part holds a whole cell of the level (else the window is raw points
        # of at most one such cell plus the appended tail).
        if level is not None and (x0 + (1 << level) - 1) >> level < (min(x1, raw_from - 1) + 1) >> level:
            return _window_rollup(
                series_id=series.pk,
                x0=x0,
                x1=x1,
                points=points,
                level=level,
                finest=coverage.finest,
                raw_from=raw_from,
            )
    return _window_raw(series_id=series.pk, x0=x0, x1=x1, points=points)


def _full_view_cache_key(series: MetricSeries, points: int) -> str:
    # The data version moves with every write of the series' points, so a stale entry is never read.
    parts = (series.data_version, series.n_points, series.min_step, series.max_step)
    fingerprint = ":".join(str(x) for x in parts)
    return f"series-window:v2:{series.pk}:{points}:{fingerprint}"


def series_window(
    *, series: MetricSeries, x0: int | None = None, x1: int | None = None, points: int = DEFAULT_POINTS
) -> SeriesWindow:
    """At most ~`points` points of the series in [x0, x1] (defaults: the whole series), spikes kept."""
    if series.n_points == 0 or series.min_step is None or series.max_step is None:
        return SeriesWindow(steps=[], values=[], total=0, x0=x0, x1=x1)
    if x0 is not None and x1 is not None and x1 < x0:
        raise SeriesQueryError(f"x1 ({x1}) must not be smaller than x0 ({x0})")
    lo = series.min_step if x0 is None else x0
    hi = series.max_step if x1 is None else x1
    if hi < lo:  # one bound given, past the other end of the series: nothing in the window
        return SeriesWindow(steps=[], values=[], total=0, x0=lo, x1=hi)
    full_view = lo == series.min_step and hi == series.max_step
    if full_view:
        # Every page load asks for the whole curve first; that answer is kept until the series changes.
        key = _full_view_cache_key(series, points)
        cached = cache.get(key)
        if cached is not None:
            return SeriesWindow(steps=cached[0], values=cached[1], total=cached[2], x0=lo, x1=hi)
    steps, values, total = _window(series=series, x0=lo, x1=hi, points=points)
    json_values = [_json_value(v) for v in values]
    if full_view:
        cache.set(key, (steps, json_values, total), timeout=24 * 3600)
    return SeriesWindow(steps=steps, values=json_values, total=total, x0=lo, x1=hi)


def _pg_float_text(values: Sequence[float]) -> Sequence[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT x::text FROM unnest(%s::float8[]) WITH ORDINALITY AS u(x, i) ORDER BY i", [list(values)]
        )
        return [r[0] for r in cursor.fetchall()]


def series_csv_chunks(*, series: MetricSeries) -> Iterator[bytes]:
    """The full-resolution series as CSV (step,value,wall_time), streamed a batch of chunks at a time.

    Byte for byte what `COPY (SELECT step, value, wall_time ...) TO STDOUT (FORMAT csv, HEADER)` gave for the
    narrow table (see `text`). One query: a server-side cursor over the chunk blobs, so memory stays at
    one batch whatever the series' length.
    """
    yield b"step,value,wall_time\n"
    blobs = (
        MetricChunk.objects.filter(series_id=series.pk).order_by("first_step").values_list("data", flat=True)
    )
    batch: list[bytes] = []
    for blob in blobs.iterator(chunk_size=CSV_BATCH_CHUNKS):
        batch.append(bytes(blob))
        if len(batch) == CSV_BATCH_CHUNKS:
            yield text.csv_rows(*codec.chunks_decode(batch), exact=_pg_float_text)
            batch = []
    if batch:
        yield text.csv_rows(*codec.chunks_decode(batch), exact=_pg_float_text)


def compare_ids_parse(raw: str | None) -> list[int]:
    if not raw:
        raise SeriesQueryError("ids is required: a comma-separated list of run ids, e.g. ids=1,2")
    ids: list[int] = []
    for part in raw.split(","):
        try:
            run_id = id_param(part, "ids")
        except ParamError:
            raise SeriesQueryError(
                f"ids must be comma-separated run ids, got {part.strip()[:40]!r}"
            ) from None
        if run_id not in ids:
            ids.append(run_id)
    if len(ids) > MAX_COMPARE_RUNS:
        raise SeriesQueryError(f"at most {MAX_COMPARE_RUNS} runs can be compared, got {len(ids)}")
    return ids


@dataclass(frozen=True)
class CompareLine:
    run: TrainingRun
    series: MetricSeries | None
    window: SeriesWindow | None


def runs_compare(*, user: Any, run_ids: list[int], metric: str | None, points: int) -> dict[str, Any]:
    """The same metric of several runs, each downsampled; any id the user may not see is a 404."""
    runs = {
        r.pk: r for r in TrainingRun.objects.visible_to(user).filter(pk__in=run_ids).select_related("team")
    }
    if len(runs) != len(run_ids):
        raise Http404("No such run")
    all_series = list(MetricSeries.objects.filter(run_id__in=run_ids).order_by("name", "run_id"))
    metrics = sorted({s.name for s in all_series})
    chosen = metric if metric else (metrics[0] if metrics else None)
    by_run = {s.run_id: s for s in all_series if s.name == chosen}
    lines = []
    for run_id in run_ids:
        series = by_run.get(run_id)
        window = series_window(series=series, points=points) if series else None
        lines.append(CompareLine(run=runs[run_id], series=series, window=window))
    return {"metric": chosen, "metrics": metrics, "lines": lines}
