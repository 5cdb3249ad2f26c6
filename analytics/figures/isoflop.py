"""IsoFLOP (Approach 2): per-budget optima and the fitted N_opt(C)."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.figures.common import EXTRAPOLATE, Figure, layout, line, markers


def isoflop_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    optima = params.get("optima") or []
    if not optima:
        return []
    cs = np.array([o["compute"] for o in optima])
    grid = np.logspace(np.log10(cs.min()), np.log10(cs.max() * EXTRAPOLATE), 40)
    return [
        {
            "data": [
                markers(cs.tolist(), [o["n_opt"] for o in optima], [], "per-budget N_opt (parabola vertex)"),
                line(
                    grid,
                    params["n_coef"] * grid ** params["n_exponent"],
                    f"N_opt ~ C^{params['n_exponent']:.3f}",
                ),
            ],
            "layout": layout("IsoFLOP optima", "C (FLOPs)", "N_opt", log_y=True),
        }
    ]
