"""Report content for a synthetic-data ratio study: figures (Plotly dicts) and the assembled HTML.

Pure: takes fitted results from ``analytics.fitting.synthetic`` and returns dicts / HTML text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from analytics.fitting.synthetic import (
    Heatmap,
    MixtureRecord,
    RatioCI,
    benchmark_category,
)
from analytics.reports.html import ReportFigure, ReportTable, Section, build_html_report

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


def records_table(records: Sequence[MixtureRecord]) -> ReportTable:
    return ReportTable(
        "Observations",
        ["N", "synthetic share", "synthetic epochs", "sources", "metric", "category", "value"],
        [
            [
                rec.model_size,
                rec.synthetic_share,
                rec.synthetic_epochs,
                ", ".join(rec.sources),
                rec.metric,
                rec.category,
                rec.value,
            ]
            for rec in records
        ],
    )


def synthetic_study_report(
    title: str,
    *,
    summary: str,
    records: Sequence[MixtureRecord],
    fit: tuple[Sequence[float], Sequence[float], Any, RatioCI] | None = None,
    metric: str = "validation loss",
    by_size: Sequence[tuple[float, float, float, float]] = (),
    surface: Heatmap | None = None,
    category_deltas: Mapping[str, Mapping[str, float]] | None = None,
    generated_at: dt.datetime | None = None,
) -> str:
    figures: list[ReportFigure] = []
    tables: list[ReportTable] = []
    if fit is not None:
        r, y, model, ci = fit
        figures.append(
            ReportFigure(f"{metric} vs synthetic share", ratio_fit_figure(r, y, model, ci, metric=metric))
        )
        tables.append(
            ReportTable(
                "Optimal synthetic share",
                ["model", "r*", "CI low", "CI high", "bootstrap resamples", "degenerate resamples"],
                [[ci.model_name, ci.r_star, ci.lo, ci.hi, ci.n_boot, ci.n_failed]],
            )
        )
    if by_size:
        figures.append(ReportFigure("r* against model size", ratio_by_size_figure(by_size)))
        tables.append(
            ReportTable("r* by model size", ["N", "r*", "CI low", "CI high"], [list(r) for r in by_size])
        )
    if surface is not None:
        figures.append(
            ReportFigure(f"{metric} over synthetic share x epochs", heatmap_figure(surface, metric=metric))
        )
    for label, deltas in (category_deltas or {}).items():
        figures.append(ReportFigure(label, category_delta_figure(deltas, title=label)))
    tables.append(records_table(records))
    return build_html_report(title, [Section("Summary", summary)], figures, tables, generated_at=generated_at)
