"""Test-time compute: accuracy vs inference FLOPs per strategy with bands (beyond the measured budgets
dashed) and residuals named by run."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.figures.common import Figure, beyond_data, layout, line, markers, residual_figure, stored_bands
from analytics.figures.laws import PALETTE


def test_time_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    data: list[dict[str, Any]] = []
    for i, g in enumerate(ci.get("bands") or []):
        colour = PALETTE[i % len(PALETTE)]
        name = g["strategy"]
        x = np.asarray(g["flops"], dtype=float)
        for trace in stored_bands(g["flops"], g, colour=colour):
            trace.update(legendgroup=name, showlegend=False)
            data.append(trace)
        est = np.asarray(g["confidence"]["estimate"], dtype=float)
        inside = x <= g["data_max"] * (1 + 1e-9)
        beyond = beyond_data(inside)
        fitted = line(x[inside], est[inside], name)
        fitted.update(legendgroup=name, line={"color": colour})
        dashed_part = line(x[beyond], est[beyond], f"{name} extrapolation", dashed=True)
        dashed_part.update(legendgroup=name, showlegend=False, line={"color": colour, "dash": "dash"})
        runs = [r for r in residuals if r["strategy"] == name]
        obs = markers(
            [r["flops"] for r in runs], [r["observed"] for r in runs], [r["run"] for r in runs], name
        )
        obs.update(legendgroup=name, showlegend=False, marker={"color": colour})
        data += [fitted, dashed_part, obs]
    fitted_runs = [r for r in residuals if r.get("residual") is not None]
    return [
        {
            "data": data,
            "layout": layout("Accuracy vs inference FLOPs per strategy", "inference FLOPs", "accuracy"),
        },
        residual_figure(
            [r["flops"] for r in fitted_runs],
            [r["residual"] for r in fitted_runs],
            [f"{r['run']} ({r['strategy']})" for r in fitted_runs],
            "inference FLOPs",
            title="Residuals (predicted - observed accuracy)",
        ),
    ]
