"""Synthetic-data ratio studies: fit curves per size, r* vs N, r x epochs surface, benchmark categories."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.figures.common import Figure, layout, line, markers
from analytics.reports.synthetic_study import category_delta_figure, ratio_by_size_figure


def synthetic_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    """Fit curves per size with the r* CI band of the largest, r* vs N, r x epochs heatmap, categories."""
    grid = params.get("r_grid") or []
    per_size = params.get("per_size") or []
    if not grid or not per_size:
        return []
    data: list[dict[str, Any]] = []
    for row in per_size:
        at = [r for r in residuals if r["n"] == row["n"]]
        label = f"N={row['n']:.3g}"
        data.append(markers([r["r"] for r in at], [r["observed"] for r in at], [r["run"] for r in at], label))
        data.append(line(np.asarray(grid), np.asarray(row["curve"]), f"{label} fit ({row['model']})"))
    lo, hi, star = params["r_star_low"], params["r_star_high"], params["r_star"]
    fit_layout = layout(
        f"Target vs synthetic share (r* = {star:.2f}, 95% CI {lo:.2f}-{hi:.2f} at N={params['n']:.3g})",
        "synthetic share r",
        "target",
        log_x=False,
    )
    fit_layout["shapes"] = [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": lo,
            "x1": hi,
            "y0": 0,
            "y1": 1,
            "fillcolor": "rgba(44,160,44,0.15)",
            "line": {"width": 0},
        },
        {"type": "line", "xref": "x", "yref": "paper", "x0": star, "x1": star, "y0": 0, "y1": 1},
    ]
    figures: list[Figure] = [{"data": data, "layout": fit_layout}]
    rows = [(r["n"], r["r_star"], r["r_star_low"], r["r_star_high"]) for r in per_size]
    by_size = ratio_by_size_figure(rows)
    by_size["layout"]["title"] = {"text": "r* against model size"}
    figures.append(by_size)
    surface = params.get("heatmap")
    if surface:
        figures.append(
            {
                "data": [{"type": "heatmap", "x": surface["r"], "y": surface["epochs"], "z": surface["z"]}],
                "layout": {
                    **layout(f"Target over r x epochs (N={surface['n']:.3g})", "synthetic share r", "epochs"),
                    "xaxis": {"title": {"text": "synthetic share r"}},
                    "yaxis": {"title": {"text": "epochs on synthetic data"}},
                },
            }
        )
    bench = params.get("benchmarks") or {}
    if bench.get("deltas"):
        title = (
            f"Benchmark change from r={bench['r_low']:g} to r={bench['r_high']:g} "
            f"(N={bench['n']:.3g}): knowledge vs reasoning"
        )
        figures.append(category_delta_figure(bench["deltas"], title=title))
    return figures
