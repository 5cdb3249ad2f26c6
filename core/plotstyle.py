"""One plotting style for the app's pages and the reports (pure: dicts in, dicts out; no Django).

Rules every figure follows:
- axis titles carry their unit ("cost (USD)", "energy (kWh)", "training compute (FLOP)");
- tick labels are human: SI suffixes (1.2M, 300k), never "1.121837M" or exponent soup;
- bars never sit on two log axes: a second quantity gets its own panel, each on a linear scale (a bar's
  length on a log axis has no meaning, and two overlaid log axes make unreadable right-hand ticks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Colour-blind-safe qualitative palette (Okabe-Ito, black last): traces take them in order.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
FONT = {"family": "DejaVu Sans, Helvetica, Arial, sans-serif", "size": 12, "color": "#222222"}
GRID = "#e5e5e5"

# Plotly d3 formats: "~s" = SI prefix with trailing zeros trimmed (2.5M, 300k, 1G).
_HUMAN_TICKS: dict[str, dict[str, Any]] = {
    "count": {"tickformat": "~s", "exponentformat": "SI"},
    "usd": {"tickformat": "$~s", "exponentformat": "SI"},
    "plain": {"tickformat": "~g"},
    "share": {"tickformat": ".0%"},
}


def axis(title: str, unit: str = "", *, log: bool = False, ticks: str = "count") -> dict[str, Any]:
    """An axis dict: title with its unit in brackets, human tick labels, light grid."""
    if ticks not in _HUMAN_TICKS:
        raise ValueError(f"ticks must be one of {sorted(_HUMAN_TICKS)}, not {ticks!r}")
    text = f"{title} ({unit})" if unit else title
    out: dict[str, Any] = {
        "title": {"text": text},
        "gridcolor": GRID,
        "zeroline": False,
        "automargin": True,
        **_HUMAN_TICKS[ticks],
    }
    if log:
        out["type"] = "log"
    return out


def human(value: float | None, unit: str = "") -> str:
    """A number as a reader says it: 1.2M, 340k, 7B, 0.031; unit after a space."""
    if value is None:
        return "\u2013"
    for scale, suffix in ((1e15, "P"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            text = f"{value / scale:.3g}{suffix}"
            break
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip() if unit else text


def base_layout(title: str = "", **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "font": dict(FONT),
        "colorway": list(PALETTE),
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "margin": {"t": 50, "r": 20, "b": 50, "l": 60},
        # Above the plot, right-aligned: below it, a horizontal legend collides with the x-axis title.
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1.0, "xanchor": "right"},
        "hoverlabel": {"namelength": -1},
    }
    if title:
        layout["title"] = {"text": title, "x": 0.0, "xanchor": "left"}
    layout.update(extra)
    return layout


def styled(figure: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `figure` with the house style filled in where the builder left a key unset."""
    layout = dict(figure.get("layout") or {})
    legend = layout.get("legend")
    if isinstance(legend, Mapping) and legend.get("orientation") == "h" and (legend.get("y") or -1) < 0:
        # A horizontal legend under the plot (plotly's default place for one) overprints the x-axis title:
        # it goes above the plot instead.
        layout["legend"] = {**legend, **base_layout()["legend"]}
    for key, value in base_layout().items():
        layout.setdefault(key, value)
    for key in list(layout):
        if key.startswith(("xaxis", "yaxis")) and isinstance(layout[key], Mapping):
            ax = dict(layout[key])
            ax.setdefault("gridcolor", GRID)
            ax.setdefault("automargin", True)
            layout[key] = ax
    return {"data": list(figure.get("data") or []), "layout": layout}


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def dual_log_bar_axes(figure: Mapping[str, Any]) -> list[str]:
    """Names of log-scaled y-axes that carry bars while another y-axis overlays them (the style forbids it).

    An empty list means the figure follows the rule; tests run every chart builder through this.
    """
    layout = figure.get("layout") or {}
    data: Sequence[Mapping[str, Any]] = figure.get("data") or []
    bar_axes = {str(t.get("yaxis") or "y") for t in data if t.get("type") == "bar"}
    overlaid = any(
        isinstance(v, Mapping) and v.get("overlaying") for k, v in layout.items() if k.startswith("yaxis")
    )
    bad = []
    for ref in sorted(bar_axes):
        key = "yaxis" if ref == "y" else "yaxis" + ref[1:]
        ax = layout.get(key) or {}
        if overlaid and ax.get("type") == "log":
            bad.append(key)
    return bad
