"""The house plotting style: units in axis titles, human ticks, no bars on overlaid log axes."""

from __future__ import annotations

import pytest

from core import plotstyle
from tracker.catalog.figures import CostBar, cost_figure


def test_axis_title_carries_unit_and_human_ticks() -> None:
    ax = plotstyle.axis("estimated cost", "USD", ticks="usd")
    assert ax["title"]["text"] == "estimated cost (USD)"
    assert ax["tickformat"] == "$~s" and "type" not in ax
    assert plotstyle.axis("tokens", log=True)["type"] == "log"
    with pytest.raises(ValueError, match="ticks must be one of"):
        plotstyle.axis("x", ticks="exotic")


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1_121_837.0, "", "1.12M"),
        (340_000.0, "kWh", "340k kWh"),
        (7e9, "", "7B"),
        (0.0312, "", "0.0312"),
        (None, "", "\u2013"),
    ],
)
def test_human_numbers(value: float | None, unit: str, text: str) -> None:
    assert plotstyle.human(value, unit) == text


def test_cost_chart_has_two_linear_panels_not_dual_log_axes() -> None:
    fig = cost_figure(
        [CostBar("A", 3_000_000.0, 1_121_837.0), CostBar("B", 250_000.0, None), CostBar("C", None, 90_000.0)]
    )
    layout = fig["layout"]
    assert plotstyle.dual_log_bar_axes(fig) == []
    assert "overlaying" not in layout["yaxis2"] and layout["yaxis2"].get("type") != "log"
    assert layout["yaxis"].get("type") != "log"
    # Separate panels: the domains do not overlap, and each panel has a titled unit.
    assert layout["yaxis"]["domain"][0] > layout["yaxis2"]["domain"][1]
    assert layout["yaxis"]["title"]["text"] == "estimated cost (USD)"
    assert layout["yaxis2"]["title"]["text"] == "energy (kWh)"
    assert layout["yaxis"]["tickformat"] == "$~s" and layout["yaxis2"]["tickformat"] == "~s"
    cost, energy = fig["data"]
    assert cost["x"] == ["A", "B"] and energy["x"] == ["A", "C"] and energy["yaxis"] == "y2"
    assert layout["xaxis"]["categoryarray"] == ["A", "B", "C"]


def test_the_old_dual_log_bar_chart_is_flagged() -> None:
    old = {
        "data": [{"type": "bar", "y": [1]}, {"type": "bar", "y": [2], "yaxis": "y2"}],
        "layout": {"yaxis": {"type": "log"}, "yaxis2": {"type": "log", "overlaying": "y"}},
    }
    assert plotstyle.dual_log_bar_axes(old) == ["yaxis", "yaxis2"]


def test_styled_moves_a_horizontal_legend_off_the_x_axis_title() -> None:
    fig = plotstyle.styled({"data": [], "layout": {"legend": {"orientation": "h"}, "xaxis": {"title": "C"}}})
    assert fig["layout"]["legend"]["y"] == 1.02 and fig["layout"]["legend"]["yanchor"] == "bottom"
    kept = plotstyle.styled({"data": [], "layout": {"legend": {"orientation": "v", "x": 1.1}}})
    assert kept["layout"]["legend"] == {"orientation": "v", "x": 1.1}
    assert fig["layout"]["xaxis"]["gridcolor"] == plotstyle.GRID
