"""The one plotting style of study figures: titled log axes, markers with run names, lines, bands."""

from __future__ import annotations

from collections.abc import Callable
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
        "legend": {"orientation": "h", "y": -0.22},
    }


HOVER_RUN = "<b>%{text}</b><br>x %{x:.4g}<br>y %{y:.4g}<extra></extra>"


def residual_figure(
    xs: list[float],
    residuals: list[float],
    labels: list[str],
    x_title: str,
    *,
    title: str = "Residuals (log predicted - log observed)",
    log_x: bool = True,
) -> Figure:
    """Residual per run against `x_title`; hovering a point names its run."""
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": xs,
                "y": residuals,
                "text": labels,
                "name": "residual",
                "hovertemplate": "<b>%{text}</b><br>"
                + x_title
                + " %{x:.4g}<br>residual %{y:.4g}<extra></extra>",
            },
            {"type": "scatter", "mode": "lines", "x": [min(xs), max(xs)], "y": [0, 0], "name": "zero"},
        ]
        if xs
        else [],
        "layout": layout(title, x_title, "residual", log_x=log_x),
    }


def markers(x: list[float], y: list[float], labels: list[str], name: str) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "type": "scatter",
        "mode": "markers",
        "x": x,
        "y": y,
        "text": labels,
        "name": name,
    }
    if labels:
        trace["hovertemplate"] = HOVER_RUN
    return trace


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


PREDICTION_FILL = "rgba(255,127,14,0.12)"


def beyond_data(inside: np.ndarray) -> np.ndarray:
    """The extrapolated part of a curve: the points outside the data plus the last one inside, so the dashed
    line starts where the solid one ends."""
    out = ~inside
    idx = np.flatnonzero(inside)
    if idx.size and idx[-1] + 1 < inside.size:
        out[idx[-1]] = True
    return out


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def stored_bands(
    x: list[float], stored: dict[str, Any], *, colour: str | None = None, what: str = ""
) -> list[dict[str, Any]]:
    """Prediction band (one new run) under the confidence band (the curve), from `band_json` dicts stored
    with the fit. With `colour` (one curve among several) only the confidence band is drawn, in that colour,
    so several curves' bands stay readable."""
    traces: list[dict[str, Any]] = []
    xs = np.asarray(x, dtype=float)
    kinds = (
        (("confidence", rgba(colour, 0.18)),)
        if colour
        else (("prediction", PREDICTION_FILL), ("confidence", "rgba(31,119,180,0.2)"))
    )
    for key, fill in kinds:
        b = stored.get(key)
        if not b:
            continue
        lo = np.asarray([np.nan if v is None else v for v in b["low"]], dtype=float)
        hi = np.asarray([np.nan if v is None else v for v in b["high"]], dtype=float)
        level = round(100 * float(b.get("level", 0.95)))
        traces += band(xs, lo, hi, f"{level}% {key} band{what}", fill=fill)
    return traces


def band(
    x: np.ndarray, lo: np.ndarray, hi: np.ndarray, name: str, *, fill: str = "rgba(31,119,180,0.2)"
) -> list[dict[str, Any]]:
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "x": x.tolist(),
            "y": hi.tolist(),
            "line": {"width": 0},
            "name": name,
            "legendgroup": name,
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": x.tolist(),
            "y": lo.tolist(),
            "line": {"width": 0},
            "fill": "tonexty",
            "fillcolor": fill,
            "name": name,
            "legendgroup": name,
            "hoverinfo": "skip",
            "showlegend": False,
        },
    ]


def band_group_traces(
    group: dict[str, Any],
    x_key: str,
    *,
    name: str,
    colour: str,
    runs: list[dict[str, Any]],
    run_x: Callable[[dict[str, Any]], float],
    fit_label: str,
    extrapolation_label: str,
    legend_on_markers: bool = False,
) -> list[dict[str, Any]]:
    """One group of a fit's stored bands (`ci["bands"]` entry with `x_key`, confidence/prediction and
    `data_max`), as one legend group: the bands, the fitted curve inside the data, the extrapolation dashed,
    and the group's runs as named markers. The legend entry is the fitted curve, or the markers."""
    traces: list[dict[str, Any]] = []
    for trace in stored_bands(group[x_key], group, colour=colour):
        trace.update(legendgroup=name, showlegend=False)
        traces.append(trace)
    x = np.asarray(group[x_key], dtype=float)
    est = np.asarray(group["confidence"]["estimate"], dtype=float)
    inside = x <= group["data_max"] * (1 + 1e-9)
    beyond = beyond_data(inside)
    fitted = line(x[inside], est[inside], fit_label)
    fitted.update(legendgroup=name, line={"color": colour})
    if legend_on_markers:
        fitted["showlegend"] = False
    dashed_part = line(x[beyond], est[beyond], extrapolation_label, dashed=True)
    dashed_part.update(legendgroup=name, showlegend=False, line={"color": colour, "dash": "dash"})
    obs = markers([run_x(r) for r in runs], [r["observed"] for r in runs], [r["run"] for r in runs], name)
    obs.update(legendgroup=name, marker={"color": colour})
    if not legend_on_markers:
        obs["showlegend"] = False
    return [*traces, fitted, dashed_part, obs]
