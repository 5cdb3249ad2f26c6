"""The one plotting style of study figures: titled log axes, markers with run names, lines, bands."""

from __future__ import annotations

from typing import Any

import numpy as np

Figure = dict[str, Any]

EXTRAPOLATE = 100.0  # curves run this factor past the largest observed x, drawn dashed


def layout(title: str, x: str, y: str, *, log_x: bool = True, log_y: bool = False) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": x}, "type": "log" if log_x else "linear"},
        "yaxis": {"title": {"text": y}, "type": "log" if log_y else "linear"},
        "margin": {"t": 40, "r": 10},
        "legend": {"orientation": "h"},
    }


def residual_figure(xs: list[float], residuals: list[float], labels: list[str], x_title: str) -> Figure:
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": xs,
                "y": residuals,
                "text": labels,
                "name": "residual",
            },
            {"type": "scatter", "mode": "lines", "x": [min(xs), max(xs)], "y": [0, 0], "name": "zero"},
        ]
        if xs
        else [],
        "layout": layout("Residuals (log predicted - log observed)", x_title, "residual"),
    }


def markers(x: list[float], y: list[float], labels: list[str], name: str) -> dict[str, Any]:
    return {"type": "scatter", "mode": "markers", "x": x, "y": y, "text": labels, "name": name}


def line(x: np.ndarray, y: np.ndarray, name: str, *, dashed: bool = False) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "type": "scatter",
        "mode": "lines",
        "x": x.tolist(),
        "y": y.tolist(),
        "name": name,
    }
    if dashed:
        trace["line"] = {"dash": "dash"}
    return trace


def band(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, name: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "x": x.tolist(),
            "y": hi.tolist(),
            "line": {"width": 0},
            "name": name,
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": x.tolist(),
            "y": lo.tolist(),
            "line": {"width": 0},
            "fill": "tonexty",
            "fillcolor": "rgba(31,119,180,0.2)",
            "name": name,
            "showlegend": False,
        },
    ]
