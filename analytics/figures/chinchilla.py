"""Chinchilla Approach 3: loss vs compute with the compute-optimal frontier, its band, and residuals."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.figures.common import EXTRAPOLATE, Figure, band, layout, line, markers, residual_figure


def chinchilla_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    """Observed loss against C = 6ND with the compute-optimal frontier, its 95% band and extrapolation."""
    a, b, e, alpha, beta = (float(params[k]) for k in ("a", "b", "e", "alpha", "beta"))
    obs_c = [6 * r["n"] * r["d"] for r in residuals]
    labels = [r["run"] for r in residuals]
    c_max = max(obs_c) if obs_c else 1e21
    c = np.logspace(np.log10(min(obs_c) if obs_c else 1e17), np.log10(c_max * EXTRAPOLATE), 60)

    def frontier(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pa, pb, pe, pal, pbe = p
        g = (pal * np.exp(pa) / (pbe * np.exp(pb))) ** (1 / (pal + pbe))
        n = g * (c / 6) ** (pbe / (pal + pbe))
        d = (1 / g) * (c / 6) ** (pal / (pal + pbe))
        return n, d, np.exp(pe) + np.exp(pa) / n**pal + np.exp(pb) / d**pbe

    n_opt, d_opt, loss = frontier(np.array([a, b, e, alpha, beta]))
    inside = c <= c_max
    data: list[dict[str, Any]] = [
        markers(obs_c, [r["observed"] for r in residuals], labels, "runs"),
        line(c[inside], loss[inside], "compute-optimal loss"),
        line(c[~inside], loss[~inside], "extrapolation", dashed=True),
    ]
    boot = np.asarray(ci.get("bootstrap") or [], dtype=float)
    frontier_data: list[dict[str, Any]] = []
    if boot.ndim == 2 and boot.shape[0] >= 2:
        with np.errstate(all="ignore"):
            curves = np.array([frontier(p) for p in boot])  # (B, 3, len(c))
        lo, hi = np.nanpercentile(curves, [2.5, 97.5], axis=0)
        data = band(c, lo[2], hi[2], "95% band (bootstrap)") + data
        frontier_data = band(c, lo[0], hi[0], "N_opt 95% band")
    fit_fig = {"data": data, "layout": layout("Loss vs compute", "C = 6ND (FLOPs)", "loss")}
    frontier_fig = {
        "data": [
            *frontier_data,
            line(c, n_opt, "N_opt(C)"),
            line(c, d_opt, "D_opt(C)"),
        ],
        "layout": layout("Compute-optimal frontier", "C (FLOPs)", "parameters / tokens", log_y=True),
    }
    resid_fig = residual_figure([r["n"] for r in residuals], [r["residual"] for r in residuals], labels, "N")
    return [fit_fig, frontier_fig, resid_fig]
