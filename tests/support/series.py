"""Stored metric points for assertions, decoded from the chunk rows themselves (not the summary columns)."""

from __future__ import annotations

from tracker.models import MetricChunk
from tracker.runs.series import codec


def stored_points(series_id: int | None = None) -> list[tuple[int, int, float, float | None]]:
    """(series id, step, value, wall time or None) of every stored point, by series and step."""
    chunks = MetricChunk.objects.order_by("series_id", "first_step")
    if series_id is not None:
        chunks = chunks.filter(series_id=series_id)
    out: list[tuple[int, int, float, float | None]] = []
    for sid, blob in chunks.values_list("series_id", "data"):
        steps, values, walls = codec.chunk_decode(bytes(blob))
        out.extend(
            (sid, s, v, None if w != w else w)
            for s, v, w in zip(steps.tolist(), values.tolist(), walls.tolist(), strict=True)
        )
    return out


def step_values(series_id: int | None = None) -> list[tuple[int, float]]:
    """(step, value) of the stored points (of one series, or of all by series and step)."""
    return [(s, v) for _, s, v, _ in stored_points(series_id)]


def point_count() -> int:
    return len(stored_points())
