"""The points a study would fit, before fitting: the target against N (or D, C, r), included runs and runs
left out with a value (for instance a run whose target is present but whose D is missing, plotted by N)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from analytics.figures.common import Figure, layout, markers

AXES = {"n": "N (parameters)", "d": "D (tokens)", "budget": "C (FLOPs)", "r": "synthetic share r"}


def preview_figure(
    rows: Sequence[tuple[str, dict[str, float | None], bool]], *, x: str, target_label: str
) -> Figure | None:
    """`rows` are (run name, values by point attribute with the target as "loss", included). None when no
    run has both values to plot."""
    kept: tuple[list[float], list[float], list[str]] = ([], [], [])
    left: tuple[list[float], list[float], list[str]] = ([], [], [])
    for name, values, included in rows:
        xv, yv = values.get(x), values.get("loss")
        if xv is None or yv is None or not math.isfinite(xv) or not math.isfinite(yv):
            continue
        if x != "r" and xv <= 0:
            continue  # not drawable on the log axis; the table lists the run
        into = kept if included else left
        into[0].append(xv)
        into[1].append(yv)
        into[2].append(name)
    if not kept[0] and not left[0]:
        return None
    data: list[dict[str, Any]] = []
    if kept[0]:
        data.append(markers(kept[0], kept[1], kept[2], "fitted"))
    if left[0]:
        trace = markers(left[0], left[1], left[2], "left out")
        trace["marker"] = {"symbol": "x", "color": "#b00020"}
        data.append(trace)
    axis = AXES.get(x, x)
    return {"data": data, "layout": layout(f"{target_label} vs {axis}", axis, target_label, log_x=x != "r")}
