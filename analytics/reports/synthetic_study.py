"""Report content for a synthetic-data ratio study: figures (Plotly dicts) and the assembled HTML.

Pure: takes fitted results from ``analytics.fitting.synthetic`` and returns dicts / HTML text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from analytics.figures.synthetic_ratio import (
    category_delta_figure,
    heatmap_figure,
    ratio_by_size_figure,
    ratio_fit_figure,
)
from analytics.fitting.synthetic import (
    Heatmap,
    MixtureRecord,
    RatioCI,
)
from analytics.reports.html import ReportFigure, ReportTable, Section, build_html_report


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
