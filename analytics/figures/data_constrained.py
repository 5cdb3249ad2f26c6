"""Data-constrained law: loss vs epochs per (N, U) with the fit and its bands, the profile of R_D* and R_N*
(a profile that never crosses the threshold leaves that side of the interval open: not identified), and
residuals against epochs D/U."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.figures.common import Figure, band_group_traces, layout, line, residual_figure

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def data_constrained_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    epochs = [r["d"] / r["u"] for r in residuals]
    labels = [r["run"] for r in residuals]
    figures: list[Figure] = []
    groups = ci.get("bands") or []
    if groups:
        data: list[dict[str, Any]] = []
        for i, g in enumerate(groups):
            name = f"N={g['n']:.3g}, U={g['u']:.3g}"
            colour = PALETTE[i % len(PALETTE)]
            data += band_group_traces(
                g,
                "epochs",
                name=name,
                colour=colour,
                runs=[r for r in residuals if r["n"] == g["n"] and r["u"] == g["u"]],
                run_x=lambda r: r["d"] / r["u"],
                fit_label=f"{name} fit",
                extrapolation_label=f"{name} extrapolation",
                legend_on_markers=True,
            )
        figures.append(
            {
                "data": data,
                "layout": layout("Loss vs epochs, per model size and unique data", "epochs D / U", "loss"),
            }
        )
    threshold = ci.get("threshold")
    for key, title in (("rd_star", "R_D*"), ("rn_star", "R_N*")):
        prof = (ci.get("profiles") or {}).get(key)
        if not prof or threshold is None:
            continue
        values = np.asarray(prof["values"], dtype=float)
        dev = [np.nan if v is None else v for v in prof["deviance"]]
        figures.append(
            {
                "data": [
                    line(values, np.asarray(dev, dtype=float), f"profile deviance of {title}"),
                    line(
                        np.array([values.min(), values.max()]),
                        np.array([threshold, threshold]),
                        "95% threshold",
                        dashed=True,
                    ),
                ],
                "layout": layout(
                    f"Profile likelihood of {title} (below the threshold: inside the interval)",
                    title,
                    "deviance",
                ),
            }
        )
    figures.append(residual_figure(epochs, [r["residual"] for r in residuals], labels, "epochs D / U"))
    return figures
