"""Synthetic-data ratio studies: fit curves per size, r* vs N, r x epochs surface, benchmark categories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from analytics.figures.common import Figure, layout, line, markers
from analytics.fitting.synthetic import Heatmap, RatioCI, benchmark_category

CATEGORY_COLOURS = {"knowledge": "#d62728", "reasoning": "#2ca02c", "loss": "#1f77b4"}


def ratio_fit_figure(
    r: Sequence[float], y: Sequence[float], model: Any, ci: RatioCI, *, metric: str
) -> dict[str, Any]:
    """Observations, the fitted curve and the r* bootstrap interval as a shaded band."""
    grid = np.linspace(0.0, 1.0, 101)
    fitted = np.asarray(model.predict(grid.reshape(-1, 1)), dtype=float)
    return {
        "data": [
            {"type": "scatter", "mode": "markers", "name": "runs", "x": list(r), "y": list(y)},
            {"type": "scatter", "mode": "lines", "name": f"fit ({ci.model_name})", "x": grid, "y": fitted},
        ],
        "layout": {
            "xaxis": {"title": {"text": "synthetic share r"}, "range": [0, 1]},
            "yaxis": {"title": {"text": metric}},
            "shapes": [
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "paper",
                    "x0": ci.lo,
                    "x1": ci.hi,
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": "rgba(44,160,44,0.15)",
                    "line": {"width": 0},
                },
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": ci.r_star,
                    "x1": ci.r_star,
                    "y0": 0,
                    "y1": 1,
                },
            ],
        },
    }


def ratio_by_size_figure(rows: Sequence[tuple[float, float, float, float]]) -> dict[str, Any]:
    sizes = [row[0] for row in rows]
    stars = [row[1] for row in rows]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "r*",
                "x": sizes,
                "y": stars,
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [hi - s for (_, s, _, hi) in rows],
                    "arrayminus": [s - lo for (_, s, lo, _) in rows],
                },
            }
        ],
        "layout": {
            "xaxis": {"title": {"text": "model size N (parameters)"}, "type": "log"},
            "yaxis": {"title": {"text": "optimal synthetic share r*"}, "range": [0, 1]},
        },
    }


def heatmap_figure(hm: Heatmap, *, metric: str) -> dict[str, Any]:
    return {
        "data": [
            {
                "type": "heatmap",
                "x": hm.r_grid,
                "y": hm.epochs_grid,
                "z": hm.z,
                "colorbar": {"title": {"text": metric}},
            }
        ],
        "layout": {
            "xaxis": {"title": {"text": "synthetic share r"}},
            "yaxis": {"title": {"text": "epochs on synthetic data"}},
        },
    }


def category_delta_figure(deltas: Mapping[str, float], *, title: str) -> dict[str, Any]:
    """Per-benchmark deltas, knowledge-heavy and reasoning benchmarks as separate coloured groups."""
    data = []
    for category in ("knowledge", "reasoning"):
        names = [b for b in deltas if benchmark_category(b) == category]
        data.append(
            {
                "type": "bar",
                "name": category,
                "x": names,
                "y": [deltas[b] for b in names],
                "marker": {"color": CATEGORY_COLOURS[category]},
            }
        )
    return {
        "data": data,
        "layout": {"title": {"text": title}, "yaxis": {"title": {"text": "delta (points)"}}},
    }


def synthetic_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    """Fit curves per size with the r* CI band of the largest, r* vs N, r x epochs heatmap, categories."""
    grid = params.get("r_grid") or []
    per_size = params.get("per_size") or []
    if not grid or not per_size:
        return _benchmark_figures(params)
    data: list[dict[str, Any]] = []
    for row in per_size:
        at = [r for r in residuals if r["n"] == row["n"]]
        label = f"N={row['n']:.3g}"
        data.append(markers([r["r"] for r in at], [r["observed"] for r in at], [r["run"] for r in at], label))
        data.append(line(np.asarray(grid), np.asarray(row["curve"]), f"{label} fit ({row['model']})"))
    lo, hi, star = params["r_star_low"], params["r_star_high"], params["r_star"]
    fit_layout = layout(
        f"Target vs synthetic share (r* = {star:.2f}, 95% CI {lo:.2f}-{hi:.2f} at N={params['n']:.3g})",
        "synthetic share r",
        "target",
        log_x=False,
    )
    fit_layout["shapes"] = [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": lo,
            "x1": hi,
            "y0": 0,
            "y1": 1,
            "fillcolor": "rgba(44,160,44,0.15)",
            "line": {"width": 0},
        },
        {"type": "line", "xref": "x", "yref": "paper", "x0": star, "x1": star, "y0": 0, "y1": 1},
    ]
    figures: list[Figure] = [{"data": data, "layout": fit_layout}]
    rows = [(r["n"], r["r_star"], r["r_star_low"], r["r_star_high"]) for r in per_size]
    by_size = ratio_by_size_figure(rows)
    by_size["layout"]["title"] = {"text": "r* against model size"}
    figures.append(by_size)
    surface = params.get("heatmap")
    if surface:
        figures.append(surface_figure(surface))
    return figures + _benchmark_figures(params)


def _benchmark_figures(params: dict[str, Any]) -> list[Figure]:
    bench = params.get("benchmarks") or {}
    if not bench.get("deltas"):
        return []
    title = (
        f"Benchmark change from r={bench['r_low']:g} to r={bench['r_high']:g} "
        f"(N={bench['n']:.3g}): knowledge vs reasoning"
    )
    return [category_delta_figure(bench["deltas"], title=title)]


def surface_figure(surface: dict[str, Any]) -> Figure:
    """The r x epochs surface where the runs support it (masked cells are gaps), the runs on top (names on
    hover) and the edge of the supported region dashed: beyond it the surface would be extrapolation."""
    data: list[dict[str, Any]] = []
    title = f"Target over r x epochs (N={surface['n']:.3g})"
    if surface.get("supported_fraction", 1.0) > 0:
        data.append(
            {
                "type": "heatmap",
                "x": surface["r"],
                "y": surface["epochs"],
                "z": surface["z"],
                "hoverongaps": False,
                "colorbar": {"title": {"text": "target"}},
                "name": f"surface ({surface.get('model', '')})",
            }
        )
    else:
        title += ": no surface (the runs lie on one line)"
    outline = surface.get("outline") or []
    if outline:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [p[0] for p in outline],
                "y": [p[1] for p in outline],
                "line": {"dash": "dash", "color": "#333"},
                "name": "edge of the data (beyond: extrapolation, not drawn)",
                "hoverinfo": "skip",
            }
        )
    pts = surface.get("points") or []
    if pts:
        runs = markers([p["r"] for p in pts], [p["epochs"] for p in pts], [p["run"] for p in pts], "runs")
        runs["customdata"] = [p["y"] for p in pts]
        runs["hovertemplate"] = (
            "<b>%{text}</b><br>r %{x:.3g}, epochs %{y:.3g}<br>target %{customdata:.4g}<extra></extra>"
        )
        runs["marker"] = {"color": "#fff", "size": 9, "line": {"color": "#000", "width": 1.5}}
        data.append(runs)
    return {
        "data": data,
        "layout": {
            **layout(title, "synthetic share r", "epochs on synthetic data", log_x=False),
            "legend": {"orientation": "h", "y": -0.25},
        },
    }
