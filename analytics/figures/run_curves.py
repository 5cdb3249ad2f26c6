"""Static metric panels for reports: one figure per metric, one line per run (pure: no Django).

The traces are the run pages' own M4-downsampled windows (`tracker.runs.panels.curves_build`); this module
only draws them, with the page's y-trim rule so a loss spike at step 0 does not flatten the curve.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core import plotstyle

TRANSIENT_SHARE = 0.02  # same rule as the run pages (tracker.runs.curves)
TRIM_PERCENTILES = (1.0, 99.0)


def _finite_pairs(trace: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for s, v in zip(trace.get("steps") or [], trace.get("values") or [], strict=False):
        if s is None or v is None:
            continue
        fv = float(v)
        if math.isfinite(fv):
            xs.append(float(s))
            ys.append(fv)
    return xs, ys


def trimmed_range(
    traces: Sequence[Mapping[str, Any]],
    *,
    transient: float = TRANSIENT_SHARE,
    percentiles: tuple[float, float] = TRIM_PERCENTILES,
    log: bool = False,
) -> list[float] | None:
    """y-range over the 1st-99th percentile of the values after the first 2% of the x-range, padded 5%."""
    pairs = [_finite_pairs(t) for t in traces]
    all_x = [x for xs, _ in pairs for x in xs]
    if not all_x:
        return None
    cut = min(all_x) + transient * (max(all_x) - min(all_x))
    ys = np.array([y for xs, vals in pairs for x, y in zip(xs, vals, strict=True) if x >= cut])
    if log:
        ys = ys[ys > 0]
    if ys.size < 2:
        return None
    lo, hi = (float(v) for v in np.percentile(ys, percentiles))
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi <= lo:
        return None
    pad = 0.05 * (hi - lo)
    return [lo - pad, hi + pad]


def curve_figure(
    metric: str,
    traces: Sequence[Mapping[str, Any]],
    *,
    x_title: str = "step",
    logx: bool = False,
    logy: bool = False,
    ytrim: bool = True,
) -> dict[str, Any]:
    """traces: [{"label", "steps", "values", "shown", "total"}, ...] in run order; colours by position."""
    data = []
    for i, trace in enumerate(traces):
        xs, ys = _finite_pairs(trace)
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": str(trace.get("label") or f"run {i + 1}"),
                "x": xs,
                "y": ys,
                "line": {"color": plotstyle.color(i), "width": 1.6},
                "hovertemplate": "%{x:,.0f}: %{y:.4g}<extra>%{fullData.name}</extra>",
            }
        )
    yaxis = plotstyle.axis(metric, ticks="plain", log=logy)
    if ytrim and (rng := trimmed_range(traces, log=logy)) is not None:
        yaxis["range"] = rng
    return {
        "data": data,
        "layout": plotstyle.base_layout(
            "",  # the report's heading names the metric
            xaxis=plotstyle.axis(x_title, log=logx),
            yaxis=yaxis,
            height=340,
            showlegend=True,
            margin={"t": 30, "r": 20, "b": 50, "l": 60},
        ),
    }
