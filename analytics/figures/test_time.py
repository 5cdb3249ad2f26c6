"""Test-time compute: accuracy vs inference FLOPs per strategy with bands (beyond the measured budgets
dashed) and residuals named by run."""

from __future__ import annotations

from typing import Any

from analytics.figures.common import Figure, band_group_traces, layout, residual_figure
from analytics.figures.laws import PALETTE


def test_time_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    data: list[dict[str, Any]] = []
    for i, g in enumerate(ci.get("bands") or []):
        colour = PALETTE[i % len(PALETTE)]
        name = g["strategy"]
        data += band_group_traces(
            g,
            "flops",
            name=name,
            colour=colour,
            runs=[r for r in residuals if r["strategy"] == name],
            run_x=lambda r: r["flops"],
            fit_label=name,
            extrapolation_label=f"{name} extrapolation",
        )
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
