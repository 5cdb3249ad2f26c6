"""Data-constrained law: loss vs epochs per (N, U) with the fit and its bands, the profile of R_D* and R_N*
(a profile that never crosses the threshold leaves that side of the interval open: not identified), and
residuals against epochs D/U."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.figures.common import Figure, beyond_data, layout, line, markers, residual_figure, stored_bands

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
            runs = [r for r in residuals if r["n"] == g["n"] and r["u"] == g["u"]]
            x = np.asarray(g["epochs"])
            for trace in stored_bands(g["epochs"], g, colour=colour):
                trace.update(legendgroup=name, showlegend=False)
                data.append(trace)
            est = np.asarray(g["confidence"]["estimate"], dtype=float)
            inside = x <= g["data_max"] * (1 + 1e-9)
            beyond = beyond_data(inside)
            fitted = line(x[inside], est[inside], f"{name} fit")
            fitted.update(legendgroup=name, showlegend=False, line={"color": colour})
            dashed_part = line(x[beyond], est[beyond], f"{name} extrapolation", dashed=True)
            dashed_part.update(legendgroup=name, showlegend=False, line={"color": colour, "dash": "dash"})
            obs = markers(
                [r["d"] / r["u"] for r in runs], [r["observed"] for r in runs], [r["run"] for r in runs], name
            )
            obs.update(legendgroup=name, marker={"color": colour})
            data += [fitted, dashed_part, obs]
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
