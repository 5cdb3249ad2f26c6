"""Figures shared by laws in (N, D): loss vs D per model size with the fit, its confidence and prediction
bands and the extrapolation dashed; residuals with run names on hover."""

from __future__ import annotations

from typing import Any

from analytics.figures.common import Figure, band_group_traces, layout, markers, residual_figure

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
        data += band_group_traces(
            g,
            "d",
            name=name,
            colour=colour,
            runs=[r for r in residuals if r["n"] == g["n"]],
            run_x=lambda r: r["d"],
            fit_label=f"{name} fit",
            extrapolation_label=f"{name} extrapolation",
        )
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
