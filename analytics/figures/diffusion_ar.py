"""Diffusion vs AR: loss vs epochs per objective with the fits and their bands (extrapolation dashed), and
residuals named by run."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.figures.common import Figure, beyond_data, layout, line, markers, residual_figure, stored_bands
from analytics.figures.laws import PALETTE


def diffusion_ar_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    data: list[dict[str, Any]] = []
    for i, g in enumerate(ci.get("bands") or []):
        colour = PALETTE[i % len(PALETTE)]
        name = f"{g['objective']} (N={g['n']:.3g}, U={g['u']:.3g})"
        x = np.asarray(g["epochs"], dtype=float)
        for trace in stored_bands(g["epochs"], g, colour=colour):
            trace.update(legendgroup=name, showlegend=False)
            data.append(trace)
        est = np.asarray(g["confidence"]["estimate"], dtype=float)
        inside = x <= g["data_max"] * (1 + 1e-9)
        beyond = beyond_data(inside)
        fitted = line(x[inside], est[inside], f"{name} fit")
        fitted.update(legendgroup=name, line={"color": colour})
        dashed_part = line(x[beyond], est[beyond], f"{g['objective']} extrapolation", dashed=True)
        dashed_part.update(legendgroup=name, showlegend=False, line={"color": colour, "dash": "dash"})
        runs = [
            r for r in residuals if r["objective"] == g["objective"] and r["n"] == g["n"] and r["u"] == g["u"]
        ]
        obs = markers(
            [r["d"] / r["u"] for r in runs], [r["observed"] for r in runs], [r["run"] for r in runs], name
        )
        obs.update(legendgroup=name, showlegend=False, marker={"color": colour})
        data += [fitted, dashed_part, obs]
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
