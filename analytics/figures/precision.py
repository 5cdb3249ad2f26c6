"""Precision law: loss vs weight bits at the largest (N, D) with bands (below the lowest trained precision
dashed: extrapolation), observed vs predicted per run (names on hover), residuals vs weight bits."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.figures.common import Figure, layout, line, markers, residual_figure, stored_bands


def precision_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    figures: list[Figure] = []
    b = ci.get("bands")
    if b:
        x = np.asarray(b["bits"], dtype=float)
        est = np.asarray(b["confidence"]["estimate"], dtype=float)
        inside = x >= b["data_min"] * (1 - 1e-9)
        at = [
            r
            for r in residuals
            if r["n"] == b["n"] and r["d"] == b["d"] and r["bits_a"] == 16 and r["bits_kv"] == 16
        ]
        figures.append(
            {
                "data": [
                    *stored_bands(b["bits"], b),
                    line(x[inside], est[inside], "fit"),
                    line(x[~inside], est[~inside], "below the lowest trained precision", dashed=True),
                    markers(
                        [r["bits_w"] for r in at], [r["observed"] for r in at], [r["run"] for r in at], "runs"
                    ),
                ],
                "layout": layout(
                    f"Loss vs weight bits (N={b['n']:.3g}, D={b['d']:.3g}; activations, KV at 16 bits)",
                    "weight precision (bits)",
                    "loss",
                    log_x=False,
                ),
            }
        )
    obs = [r["observed"] for r in residuals]
    pred = [r["predicted"] for r in residuals]
    if obs:
        lo, hi = min(obs + pred), max(obs + pred)
        figures.append(
            {
                "data": [
                    markers(pred, obs, [r["run"] for r in residuals], "runs"),
                    line(np.array([lo, hi]), np.array([lo, hi]), "observed = predicted", dashed=True),
                ],
                "layout": layout("Observed vs predicted loss", "predicted", "observed", log_x=False),
            }
        )
    bits = [r["bits_w"] for r in residuals]
    labels = [r["run"] for r in residuals]
    resid = [r["residual"] for r in residuals]
    figures.append(residual_figure(bits, resid, labels, "weight bits", log_x=False))
    return figures
