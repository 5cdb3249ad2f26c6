"""Plotly figure dicts for study pages (pure: fit JSON in, {"data", "layout"} out; no Django)."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.reports.synthetic_study import category_delta_figure, ratio_by_size_figure

Figure = dict[str, Any]

EXTRAPOLATE = 100.0  # curves run this factor past the largest observed x, drawn dashed


def _layout(title: str, x: str, y: str, *, log_x: bool = True, log_y: bool = False) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": x}, "type": "log" if log_x else "linear"},
        "yaxis": {"title": {"text": y}, "type": "log" if log_y else "linear"},
        "margin": {"t": 40, "r": 10},
        "legend": {"orientation": "h"},
    }


def _residual_figure(xs: list[float], residuals: list[float], labels: list[str], x_title: str) -> Figure:
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
        "layout": _layout("Residuals (log predicted - log observed)", x_title, "residual"),
    }


def _markers(x: list[float], y: list[float], labels: list[str], name: str) -> dict[str, Any]:
    return {"type": "scatter", "mode": "markers", "x": x, "y": y, "text": labels, "name": name}


def _line(x: np.ndarray, y: np.ndarray, name: str, *, dashed: bool = False) -> dict[str, Any]:
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


def _band(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, name: str) -> list[dict[str, Any]]:
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
        _markers(obs_c, [r["observed"] for r in residuals], labels, "runs"),
        _line(c[inside], loss[inside], "compute-optimal loss"),
        _line(c[~inside], loss[~inside], "extrapolation", dashed=True),
    ]
    boot = np.asarray(ci.get("bootstrap") or [], dtype=float)
    frontier_data: list[dict[str, Any]] = []
    if boot.ndim == 2 and boot.shape[0] >= 2:
        with np.errstate(all="ignore"):
            curves = np.array([frontier(p) for p in boot])  # (B, 3, len(c))
        lo, hi = np.nanpercentile(curves, [2.5, 97.5], axis=0)
        data = _band(c, lo[2], hi[2], "95% band (bootstrap)") + data
        frontier_data = _band(c, lo[0], hi[0], "N_opt 95% band")
    fit_fig = {"data": data, "layout": _layout("Loss vs compute", "C = 6ND (FLOPs)", "loss")}
    frontier_fig = {
        "data": [
            *frontier_data,
            _line(c, n_opt, "N_opt(C)"),
            _line(c, d_opt, "D_opt(C)"),
        ],
        "layout": _layout("Compute-optimal frontier", "C (FLOPs)", "parameters / tokens", log_y=True),
    }
    resid_fig = _residual_figure([r["n"] for r in residuals], [r["residual"] for r in residuals], labels, "N")
    return [fit_fig, frontier_fig, resid_fig]


def power_law_figures(params: dict[str, Any], residuals: list[dict[str, Any]]) -> list[Figure]:
    xs = [r["x"] for r in residuals]
    labels = [r["run"] for r in residuals]
    if not xs:
        return []
    grid = np.logspace(np.log10(min(xs)), np.log10(max(xs) * EXTRAPOLATE), 60)
    curve = params["c"] + params["k"] * grid ** (-params["a"])
    inside = grid <= max(xs)
    var = params.get("variable", "N")
    fit_fig = {
        "data": [
            _markers(xs, [r["observed"] for r in residuals], labels, "runs"),
            _line(grid[inside], curve[inside], "fit"),
            _line(grid[~inside], curve[~inside], "extrapolation", dashed=True),
        ],
        "layout": _layout(f"Loss vs {var}", var, "loss"),
    }
    return [fit_fig, _residual_figure(xs, [r["residual"] for r in residuals], labels, var)]


def isoflop_figures(params: dict[str, Any]) -> list[Figure]:
    optima = params.get("optima") or []
    if not optima:
        return []
    cs = np.array([o["compute"] for o in optima])
    grid = np.logspace(np.log10(cs.min()), np.log10(cs.max() * EXTRAPOLATE), 40)
    return [
        {
            "data": [
                _markers(cs.tolist(), [o["n_opt"] for o in optima], [], "per-budget N_opt (parabola vertex)"),
                _line(
                    grid,
                    params["n_coef"] * grid ** params["n_exponent"],
                    f"N_opt ~ C^{params['n_exponent']:.3f}",
                ),
            ],
            "layout": _layout("IsoFLOP optima", "C (FLOPs)", "N_opt", log_y=True),
        }
    ]


def data_constrained_figures(residuals: list[dict[str, Any]]) -> list[Figure]:
    epochs = [r["d"] / r["u"] for r in residuals]
    labels = [r["run"] for r in residuals]
    return [_residual_figure(epochs, [r["residual"] for r in residuals], labels, "epochs D / U")]


def synthetic_figures(params: dict[str, Any], residuals: list[dict[str, Any]]) -> list[Figure]:
    """Fit curves per size with the r* CI band of the largest, r* vs N, r x epochs heatmap, categories."""
    grid = params.get("r_grid") or []
    per_size = params.get("per_size") or []
    if not grid or not per_size:
        return []
    data: list[dict[str, Any]] = []
    for row in per_size:
        at = [r for r in residuals if r["n"] == row["n"]]
        label = f"N={row['n']:.3g}"
        data.append(
            _markers([r["r"] for r in at], [r["observed"] for r in at], [r["run"] for r in at], label)
        )
        data.append(_line(np.asarray(grid), np.asarray(row["curve"]), f"{label} fit ({row['model']})"))
    lo, hi, star = params["r_star_low"], params["r_star_high"], params["r_star"]
    fit_layout = _layout(
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
        figures.append(
            {
                "data": [{"type": "heatmap", "x": surface["r"], "y": surface["epochs"], "z": surface["z"]}],
                "layout": {
                    **_layout(
                        f"Target over r x epochs (N={surface['n']:.3g})", "synthetic share r", "epochs"
                    ),
                    "xaxis": {"title": {"text": "synthetic share r"}},
                    "yaxis": {"title": {"text": "epochs on synthetic data"}},
                },
            }
        )
    bench = params.get("benchmarks") or {}
    if bench.get("deltas"):
        title = (
            f"Benchmark change from r={bench['r_low']:g} to r={bench['r_high']:g} "
            f"(N={bench['n']:.3g}): knowledge vs reasoning"
        )
        figures.append(category_delta_figure(bench["deltas"], title=title))
    return figures


def study_figures(
    kind: str, params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    if not params:
        return []
    if kind == "chinchilla":
        return chinchilla_figures(params, ci, residuals)
    if kind == "power_law":
        return power_law_figures(params, residuals)
    if kind == "isoflop":
        return isoflop_figures(params)
    if kind == "data_constrained":
        return data_constrained_figures(residuals)
    if kind == "synthetic_ratio":
        return synthetic_figures(params, residuals)
    return []
