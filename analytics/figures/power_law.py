"""Power law in N, D or C: observations, fit with extrapolation, residuals."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.figures.common import (
    EXTRAPOLATE,
    Figure,
    beyond_data,
    layout,
    line,
    markers,
    residual_figure,
    stored_bands,
)


def power_law_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    xs = [r["x"] for r in residuals]
    labels = [r["run"] for r in residuals]
    if not xs:
        return []
    stored = ci.get("bands") or {}
    grid = (
        np.asarray(stored["x"], dtype=float)
        if stored.get("x")
        else np.logspace(np.log10(min(xs)), np.log10(max(xs) * EXTRAPOLATE), 60)
    )
    curve = params["c"] + params["k"] * grid ** (-params["a"])
    inside = grid <= max(xs) * (1 + 1e-9)
    beyond = beyond_data(inside)
    var = params.get("variable", "N")
    fit_fig = {
        "data": [
            *stored_bands(grid.tolist(), stored),
            markers(xs, [r["observed"] for r in residuals], labels, "runs"),
            line(grid[inside], curve[inside], "fit"),
            line(grid[beyond], curve[beyond], "extrapolation (beyond the data)", dashed=True),
        ],
        "layout": layout(f"Loss vs {var}", var, "loss"),
    }
    return [fit_fig, residual_figure(xs, [r["residual"] for r in residuals], labels, var)]
