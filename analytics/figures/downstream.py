"""Loss -> accuracy ladder: step 2 (accuracy vs task loss) with bands and the target's predicted loss and
accuracy with their intervals; step-1 residuals named by run."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.figures.common import Figure, layout, line, markers, residual_figure, stored_bands


def downstream_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    b = ci.get("bands") or {}
    data: list[dict[str, Any]] = []
    if b:
        x = np.asarray(b["loss"], dtype=float)
        est = np.asarray(b["confidence"]["estimate"], dtype=float)
        inside = x >= b["data_min"] * (1 - 1e-9)
        data += stored_bands(b["loss"], b)
        data.append(line(x[inside], est[inside], "step 2: sigmoid fit"))
        data.append(line(x[~inside], est[~inside], "below the ladder's losses (extrapolation)", dashed=True))
    data.append(
        markers(
            [r["observed"] for r in residuals],
            [r["accuracy"] for r in residuals],
            [r["run"] for r in residuals],
            "ladder runs",
        )
    )
    target = b.get("target") if b else None
    if target:
        lo_l, hi_l = target["loss"]["low"], target["loss"]["high"]
        lo_a, hi_a = target["accuracy"]["low"], target["accuracy"]["high"]
        point = markers(
            [target["loss"]["estimate"]],
            [target["accuracy"]["estimate"]],
            [f"target N={params['target_n']:.3g}, D={params['target_d']:.3g}"],
            "target (predicted, 95% interval)",
        )
        point["marker"] = {"symbol": "star", "size": 13, "color": "#d62728"}
        if None not in (lo_l, hi_l, lo_a, hi_a):
            e = target["loss"]["estimate"]
            a = target["accuracy"]["estimate"]
            point["error_x"] = {
                "type": "data",
                "symmetric": False,
                "array": [hi_l - e],
                "arrayminus": [e - lo_l],
            }
            point["error_y"] = {
                "type": "data",
                "symmetric": False,
                "array": [hi_a - a],
                "arrayminus": [a - lo_a],
            }
        data.append(point)
    step2 = {
        "data": data,
        "layout": layout("Step 2: accuracy vs task loss", "task loss", "accuracy", log_x=False),
    }
    step1 = residual_figure(
        [r["n"] for r in residuals], [r["residual"] for r in residuals], [r["run"] for r in residuals], "N",
        title="Step 1 residuals (log predicted - log observed task loss)",
    )  # fmt: skip
    return [step2, step1]
