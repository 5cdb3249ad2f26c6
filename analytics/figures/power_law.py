"""Power law in N, D or C: observations, fit with extrapolation, residuals."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.figures.common import EXTRAPOLATE, Figure, layout, line, markers, residual_figure


def power_law_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    xs = [r["x"] for r in residuals]
    labels = [r["run"] for r in residuals]
    if not xs:
        return []
    grid = np.logspace(np.log10(min(xs)), np.log10(max(xs) * EXTRAPOLATE), 60)
    curve = params["c"] + params["k"] * grid ** (-params["a"])
    inside = grid <= max(xs)
    var = params.get("variable", "N")
    fit_fig = {
        "data": [
            markers(xs, [r["observed"] for r in residuals], labels, "runs"),
            line(grid[inside], curve[inside], "fit"),
            line(grid[~inside], curve[~inside], "extrapolation", dashed=True),
        ],
        "layout": layout(f"Loss vs {var}", var, "loss"),
    }
    return [fit_fig, residual_figure(xs, [r["residual"] for r in residuals], labels, var)]
