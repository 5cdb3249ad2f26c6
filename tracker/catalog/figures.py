"""Plotly figure dicts for the catalog pages (pure: plain data in, {"data", "layout"} out; no Django)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from core import plotstyle

COLOR_BY_CHOICES = ("organization", "family")


@dataclass(frozen=True)
class ModelPoint:
    name: str
    release_date: date
    organization: str
    family: str
    parameters: float | None
    active_parameters: float | None
    training_tokens: float | None
    training_flops: float | None


@dataclass(frozen=True)
class CostBar:
    name: str
    usd: float | None
    energy_kwh: float | None


@dataclass(frozen=True)
class TrendLine:
    """A fitted trend over dates (ISO strings) with its interval band, drawn over the compute scatter."""

    x: Sequence[str]
    y: Sequence[float]
    low: Sequence[float]
    high: Sequence[float]
    label: str  # legend text, e.g. "trend 4.1x/year"
    band_label: str  # e.g. "95% confidence band"


def si(value: float | None) -> str:
    if value is None:
        return "unknown"
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _hover(p: ModelPoint) -> str:
    active = f" ({si(p.active_parameters)} active)" if p.active_parameters else ""
    compute = f"<br>6ND {p.training_flops:.3g} FLOP" if p.training_flops else ""
    return (
        f"<b>{p.name}</b><br>{p.organization or 'unknown organization'} · {p.family or 'no family'}"
        f"<br>params {si(p.parameters)}{active}<br>tokens {si(p.training_tokens)}{compute}"
    )


def _group(points: Sequence[ModelPoint], color_by: str) -> dict[str, list[ModelPoint]]:
    if color_by not in COLOR_BY_CHOICES:
        raise ValueError(f"color_by must be one of {COLOR_BY_CHOICES}, not {color_by!r}")
    groups: dict[str, list[ModelPoint]] = {}
    for p in points:
        key = (p.organization if color_by == "organization" else p.family) or "(none)"
        groups.setdefault(key, []).append(p)
    return dict(sorted(groups.items()))


def _dated_traces(
    points: Sequence[ModelPoint], color_by: str, y: Callable[[ModelPoint], float | None]
) -> list[dict[str, Any]]:
    """One marker trace per organization or family: release date on x, y(point) on y, hover text."""
    return [
        {
            "type": "scatter",
            "mode": "markers",
            "name": key,
            "x": [p.release_date.isoformat() for p in group],
            "y": [y(p) for p in group],
            "text": [_hover(p) for p in group],
            "hovertemplate": "%{text}<extra></extra>",
        }
        for key, group in _group(points, color_by).items()
    ]


def timeline_figure(points: Sequence[ModelPoint], *, color_by: str = "organization") -> dict[str, Any]:
    """Release date vs parameter count (log), one trace per organization or family."""
    # Models without a parameter count still appear on the timeline, pinned to the axis floor.
    return {
        "data": _dated_traces(points, color_by, lambda p: p.parameters),
        "layout": {
            "title": {"text": f"Model releases by {color_by}"},
            "xaxis": {"title": {"text": "release date"}, "type": "date"},
            "yaxis": {"title": {"text": "parameters"}, "type": "log"},
            "hovermode": "closest",
            "margin": {"t": 50, "r": 20},
        },
    }


def _trend_traces(trend: TrendLine) -> list[dict[str, Any]]:
    """The band as a filled area between its bounds (lower first, upper filled to it), then the line."""
    band = {"type": "scatter", "mode": "lines", "x": list(trend.x), "hoverinfo": "skip", "line": {"width": 0}}
    return [
        {**band, "name": trend.band_label, "y": list(trend.low), "showlegend": False},
        {
            **band,
            "name": trend.band_label,
            "y": list(trend.high),
            "fill": "tonexty",
            "fillcolor": "rgba(80, 80, 80, 0.15)",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": trend.label,
            "x": list(trend.x),
            "y": list(trend.y),
            "line": {"color": "rgb(60, 60, 60)", "dash": "dash", "width": 2},
            "hovertemplate": "%{x}: %{y:.3g} FLOP (trend)<extra></extra>",
        },
    ]


def compute_figure(
    points: Sequence[ModelPoint], *, color_by: str = "organization", trend: TrendLine | None = None
) -> dict[str, Any]:
    """Training compute 6ND (active parameters for mixture-of-experts) over time on a log axis, with the
    log-linear trend and its band when one is given."""
    markers = _dated_traces([p for p in points if p.training_flops], color_by, lambda p: p.training_flops)
    return {
        "data": markers + (_trend_traces(trend) if trend else []),
        "layout": {
            "title": {"text": "Training compute over time (C = 6ND)"},
            "xaxis": {"title": {"text": "release date"}, "type": "date"},
            "yaxis": {"title": {"text": "training FLOP"}, "type": "log", "exponentformat": "power"},
            "hovermode": "closest",
            "margin": {"t": 50, "r": 20},
        },
    }


def cost_figure(bars: Sequence[CostBar]) -> dict[str, Any]:
    """Estimated cost (USD, top panel) and energy (kWh, bottom panel) per model, each on its own linear
    axis with human ticks ($1.2M, 340k); models without a number are left out of that panel.

    Two panels, not two overlaid log axes: a bar's length on a log axis means nothing, and the overlaid
    right-hand axis printed unreadable ticks (core.plotstyle).
    """
    priced = [b for b in bars if b.usd is not None]
    powered = [b for b in bars if b.energy_kwh is not None]
    names = [b.name for b in bars]
    cost_axis = plotstyle.axis("estimated cost", "USD", ticks="usd")
    energy_axis = plotstyle.axis("energy", "kWh")
    return {
        "data": [
            {
                "type": "bar",
                "name": "cost (USD)",
                "x": [b.name for b in priced],
                "y": [b.usd for b in priced],
                "marker": {"color": plotstyle.color(0)},
                "hovertemplate": "%{x}: $%{y:,.0f}<extra></extra>",
            },
            {
                "type": "bar",
                "name": "energy (kWh)",
                "x": [b.name for b in powered],
                "y": [b.energy_kwh for b in powered],
                "xaxis": "x2",
                "yaxis": "y2",
                "marker": {"color": plotstyle.color(1)},
                "hovertemplate": "%{x}: %{y:,.0f} kWh<extra></extra>",
            },
        ],
        "layout": plotstyle.base_layout(
            "Estimated training cost and energy",
            height=560,
            showlegend=False,
            # Same model order in both panels; names only under the bottom one.
            xaxis={
                "anchor": "y",
                "categoryorder": "array",
                "categoryarray": names,
                "showticklabels": False,
            },
            xaxis2={"anchor": "y2", "matches": "x", "categoryorder": "array", "categoryarray": names},
            yaxis={**cost_axis, "domain": [0.55, 1.0], "rangemode": "tozero"},
            yaxis2={**energy_axis, "domain": [0.0, 0.45], "rangemode": "tozero"},
        ),
    }
