"""Chinchilla Approach 3: loss vs compute with the compute-optimal frontier, its bands, and residuals."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.figures.common import (
    EXTRAPOLATE,
    Figure,
    band,
    beyond_data,
    layout,
    line,
    markers,
    residual_figure,
    stored_bands,
)


def chinchilla_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    """Observed loss against C = 6ND with the compute-optimal frontier, its 95% confidence and prediction
    bands (stored with the fit) and the extrapolation beyond the data, dashed."""
    a, b, e, alpha, beta = (float(params[k]) for k in ("a", "b", "e", "alpha", "beta"))
    obs_c = [6 * r["n"] * r["d"] for r in residuals]
    labels = [r["run"] for r in residuals]
    stored = ci.get("bands") or {}
    c_max = float(stored.get("data_max") or (max(obs_c) if obs_c else 1e21))
    c = (
        np.asarray(stored["compute"], dtype=float)
        if stored.get("compute")
        else np.logspace(np.log10(min(obs_c) if obs_c else 1e17), np.log10(c_max * EXTRAPOLATE), 60)
    )

    def frontier(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pa, pb, pe, pal, pbe = p
        g = (pal * np.exp(pa) / (pbe * np.exp(pb))) ** (1 / (pal + pbe))
        n = g * (c / 6) ** (pbe / (pal + pbe))
        d = (1 / g) * (c / 6) ** (pal / (pal + pbe))
        return n, d, np.exp(pe) + np.exp(pa) / n**pal + np.exp(pb) / d**pbe

    n_opt, d_opt, loss = frontier(np.array([a, b, e, alpha, beta]))
    inside = c <= c_max * (1 + 1e-9)
    beyond = beyond_data(inside)
    run_trace = markers(obs_c, [r["observed"] for r in residuals], labels, "runs")
    run_trace["customdata"] = [[r["n"], r["d"], r.get("predicted")] for r in residuals]
    run_trace["hovertemplate"] = (
        "<b>%{text}</b><br>C %{x:.3g}<br>N %{customdata[0]:.3g} · D %{customdata[1]:.3g}"
        "<br>loss %{y:.4f} (fit %{customdata[2]:.4f})<extra></extra>"
    )
    data: list[dict[str, Any]] = [
        run_trace,
        line(c[inside], loss[inside], "compute-optimal loss"),
        line(c[beyond], loss[beyond], "extrapolation (beyond the data)", dashed=True),
    ]
    boot = np.asarray(ci.get("bootstrap") or [], dtype=float)
    frontier_data: list[dict[str, Any]] = []
    if stored:
        data = stored_bands(c.tolist(), stored) + data
    if boot.ndim == 2 and boot.shape[0] >= 2:
        with np.errstate(all="ignore"):
            curves = np.array([frontier(p) for p in boot])  # (B, 3, len(c))
        lo, hi = np.nanpercentile(curves, [2.5, 97.5], axis=0)
        if not stored:
            data = band(c, lo[2], hi[2], "95% band (bootstrap)") + data
        frontier_data = band(c, lo[0], hi[0], "N_opt 95% band")
    fit_fig = {"data": data, "layout": layout("Loss vs compute", "C = 6ND (FLOPs)", "loss")}
    frontier_fig = {
        "data": [
            *frontier_data,
            line(c[inside], n_opt[inside], "N_opt(C)"),
            line(c[inside], d_opt[inside], "D_opt(C)"),
            line(c[beyond], n_opt[beyond], "N_opt (extrapolated)", dashed=True),
            line(c[beyond], d_opt[beyond], "D_opt (extrapolated)", dashed=True),
        ],
        "layout": layout("Compute-optimal frontier", "C (FLOPs)", "parameters / tokens", log_y=True),
    }
    resid_fig = residual_figure([r["n"] for r in residuals], [r["residual"] for r in residuals], labels, "N")
    return [fit_fig, frontier_fig, resid_fig]
