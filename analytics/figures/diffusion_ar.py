"""Diffusion vs AR: loss vs epochs per objective with the fits and their bands (extrapolation dashed), and
residuals named by run."""

from __future__ import annotations

from typing import Any

from analytics.figures.common import Figure, band_group_traces, layout, residual_figure
from analytics.figures.laws import PALETTE


def diffusion_ar_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    data: list[dict[str, Any]] = []
    for i, g in enumerate(ci.get("bands") or []):
        colour = PALETTE[i % len(PALETTE)]
        name = f"{g['objective']} (N={g['n']:.3g}, U={g['u']:.3g})"
        data += band_group_traces(
            g,
            "epochs",
            name=name,
            colour=colour,
            runs=[
                r
                for r in residuals
                if r["objective"] == g["objective"] and r["n"] == g["n"] and r["u"] == g["u"]
            ],
            run_x=lambda r: r["d"] / r["u"],
            fit_label=f"{name} fit",
            extrapolation_label=f"{g['objective']} extrapolation",
        )
    rd = {k: params.get(f"{k}_rd_star") for k in ("ar", "diffusion")}
    title = (
        f"Loss vs epochs: R_D* AR {rd['ar']:.3g}, diffusion {rd['diffusion']:.3g}"
        if None not in rd.values()
        else "Loss vs epochs"
    )
    fitted_runs = [r for r in residuals if r.get("residual") is not None]
    return [
        {"data": data, "layout": layout(title, "epochs D / U", "loss")},
        residual_figure(
            [r["d"] / r["u"] for r in fitted_runs],
            [r["residual"] for r in fitted_runs],
            [f"{r['run']} ({r['objective']})" for r in fitted_runs],
            "epochs D / U",
        ),
    ]
