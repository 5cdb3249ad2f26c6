"""IsoFLOP (Approach 2): loss vs N per budget with its parabola, the per-budget optima with the fitted
N_opt(C) and its bands, and each run's residual about its budget's parabola."""

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

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def parabola_figure(params: dict[str, Any], residuals: list[dict[str, Any]]) -> Figure | None:
    """One colour per budget: its runs (hover names them), the parabola over its window and the vertex;
    a skipped budget's runs are drawn faint, with the reason in the legend."""
    curves = params.get("curves") or []
    if not curves:
        return None
    data: list[dict[str, Any]] = []
    for i, curve in enumerate(curves):
        colour = PALETTE[i % len(PALETTE)]
        budget = float(curve["compute"])
        runs = [
            r for r in residuals if r.get("budget") is not None and abs(r["budget"] - budget) <= 1e-9 * budget
        ]
        name = f"C = {budget:.2g}"
        trace = markers([r["n"] for r in runs], [r["observed"] for r in runs], [r["run"] for r in runs], name)
        trace["legendgroup"] = name
        trace["marker"] = {"color": colour, "opacity": 0.35 if curve.get("skipped") else 0.9}
        if curve.get("skipped"):
            trace["name"] = f"{name} (skipped: {curve['skipped']})"
        data.append(trace)
        parabola = curve.get("parabola") or {}
        if parabola.get("N"):
            fitted = line(np.asarray(parabola["N"]), np.asarray(parabola["loss"]), f"{name} parabola")
            fitted.update(legendgroup=name, showlegend=False, line={"color": colour}, hoverinfo="skip")
            data.append(fitted)
        if curve.get("n_opt") is not None:
            vertex = markers(
                [curve["n_opt"]], [curve["loss_opt"]], [f"{name}: N_opt {curve['n_opt']:.3g}"], name
            )
            vertex.update(
                legendgroup=name,
                showlegend=False,
                marker={"color": colour, "symbol": "star", "size": 12, "line": {"width": 1, "color": "#222"}},
            )
            data.append(vertex)
    return {"data": data, "layout": layout("IsoFLOP curves: loss vs N per budget", "N (parameters)", "loss")}


def isoflop_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    optima = params.get("optima") or []
    if not optima:
        return []
    figures: list[Figure] = []
    parabolas = parabola_figure(params, residuals)
    if parabolas is not None:
        figures.append(parabolas)
    cs = np.array([o["compute"] for o in optima])
    stored = ci.get("bands") or {}
    grid = (
        np.asarray(stored["compute"], dtype=float)
        if stored.get("compute")
        else np.logspace(np.log10(cs.min()), np.log10(cs.max() * EXTRAPOLATE), 40)
    )
    fitted = params["n_coef"] * grid ** params["n_exponent"]
    inside = grid <= cs.max() * (1 + 1e-9)
    beyond = beyond_data(inside)
    labels = [f"C = {o['compute']:.3g}: {o['n_points']} runs, {o.get('n_sizes', 0)} sizes" for o in optima]
    data = [
        *stored_bands(grid.tolist(), stored),
        markers(cs.tolist(), [o["n_opt"] for o in optima], labels, "per-budget N_opt (parabola vertex)"),
        line(grid[inside], fitted[inside], f"N_opt ~ C^{params['n_exponent']:.3f}"),
        line(grid[beyond], fitted[beyond], "extrapolation (beyond the data)", dashed=True),
    ]
    figures.append({"data": data, "layout": layout("IsoFLOP optima", "C (FLOPs)", "N_opt", log_y=True)})
    fitted_runs = [r for r in residuals if r.get("residual") is not None]
    if fitted_runs:
        figures.append(
            residual_figure(
                [r["n"] for r in fitted_runs],
                [r["residual"] for r in fitted_runs],
                [f"{r['run']} (C = {r['budget']:.2g})" for r in fitted_runs],
                "N",
                title="Residuals: loss minus its budget's parabola",
            )
        )
    return figures
