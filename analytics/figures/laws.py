"""Figures shared by laws in (N, D): loss vs D per model size with the fit, its confidence and prediction
bands and the extrapolation dashed; residuals with run names on hover."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.figures.common import Figure, beyond_data, layout, line, markers, residual_figure, stored_bands

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def loss_by_size_figures(
    params: dict[str, Any],
    ci: dict[str, Any],
    residuals: list[dict[str, Any]],
    *,
    title: str = "Loss vs D per model size",
) -> list[Figure]:
    data: list[dict[str, Any]] = []
    for i, g in enumerate(ci.get("bands") or []):
        colour = PALETTE[i % len(PALETTE)]
        name = f"N={g['n']:.3g}"
        x = np.asarray(g["d"], dtype=float)
        for trace in stored_bands(g["d"], g, colour=colour):
            trace.update(legendgroup=name, showlegend=False)
            data.append(trace)
        est = np.asarray(g["confidence"]["estimate"], dtype=float)
        inside = x <= g["data_max"] * (1 + 1e-9)
        beyond = beyond_data(inside)
        fitted = line(x[inside], est[inside], f"{name} fit")
        fitted.update(legendgroup=name, line={"color": colour})
        dashed_part = line(x[beyond], est[beyond], f"{name} extrapolation", dashed=True)
        dashed_part.update(legendgroup=name, showlegend=False, line={"color": colour, "dash": "dash"})
        runs = [r for r in residuals if r["n"] == g["n"]]
        obs = markers([r["d"] for r in runs], [r["observed"] for r in runs], [r["run"] for r in runs], name)
        obs.update(legendgroup=name, showlegend=False, marker={"color": colour})
        data += [fitted, dashed_part, obs]
    others = [r for r in residuals if r["n"] not in {g["n"] for g in ci.get("bands") or []}]
    if others:
        data.append(
            markers(
                [r["d"] for r in others],
                [r["observed"] for r in others],
                [r["run"] for r in others],
                "other runs",
            )
        )
    figures: list[Figure] = [{"data": data, "layout": layout(title, "D (tokens)", "loss")}]
    figures.append(
        residual_figure(
            [r["n"] for r in residuals],
            [r["residual"] for r in residuals],
            [r["run"] for r in residuals],
            "N",
        )
    )
    return figures
