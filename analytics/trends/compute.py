"""The compute trend on the timeline: Epoch's log-linear fit over the timeline's (filtered) models.

OLS of log10(training compute) on decimal year (analytics.fitting.compute_trend), growth per year as a factor
and doubling time in months with t-intervals, and the trend's confidence band drawn on the compute figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from analytics.fitting.compute_trend import ComputeTrendFit, decimal_year, frontier
from analytics.fitting.errors import FitError
from analytics.fitting.intervals import Interval
from tracker.catalog.figures import ModelPoint, TrendLine

LEVEL = 0.95
BAND_POINTS = 60
SELECTIONS = {
    "all": "all models with compute",
    "frontier": "frontier models (top 10 by compute when released)",
}
FRONTIER_TOP_N = 10
# What the fit is compared with on the page (same method: OLS on log10 compute vs decimal year).
EPOCH_PUBLISHED = (
    "Epoch AI: training compute of frontier models grew 4-5x per year (2010-2024); "
    "Sevilla et al. 2022: ~4.2x per year, doubling ~6 months, deep-learning era"
)


@dataclass(frozen=True)
class ComputeTrend:
    """Either a fit (numbers and a line) or the reason there is none."""

    selection: str
    n_models: int
    growth_per_year: Interval | None = None
    doubling_months: Interval | None = None
    r2: float | None = None
    year_range: tuple[float, float] | None = None
    line: TrendLine | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    reason: str = ""  # why there is no fit

    @property
    def fitted(self) -> bool:
        return self.growth_per_year is not None

    def summary(self) -> str:
        g, d = self.growth_per_year, self.doubling_months
        if g is None or d is None or self.year_range is None:
            return self.reason
        years = f"{date_of(self.year_range[0]).isoformat()} to {date_of(self.year_range[1]).isoformat()}"
        doubling = (
            f"doubling every {d.estimate:.1f} months ({_months(d.low)}-{_months(d.high)})"
            if math.isfinite(d.estimate)
            else f"no doubling: the fitted trend does not rise ({_months(d.low)}-{_months(d.high)} months)"
        )
        return (
            f"{_factor(g.estimate)}x per year ({g.level:.0%} CI {_factor(g.low)}-{_factor(g.high)}); "
            f"{doubling}; {self.n_models} models, {years}"
        )


def _factor(value: float) -> str:
    return f"{value:.2f}" if value < 1000 else f"{value:.3g}"


def _months(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "unbounded"


def date_of(year: float) -> date:
    """A decimal year as a calendar date (the inverse of decimal_year, to the day)."""
    whole = math.floor(year)
    start = date(whole, 1, 1)
    length = (date(whole + 1, 1, 1) - start).days
    return start + timedelta(days=round((year - whole) * length))


def compute_trend(
    points: Sequence[ModelPoint], *, selection: str = "all", level: float = LEVEL
) -> ComputeTrend:
    """Fit the trend over the points with known compute (`selection` "frontier": Epoch's top-10 rule)."""
    if selection not in SELECTIONS:
        raise ValueError(f"trend: {selection!r} is not one of {', '.join(SELECTIONS)}")
    dated = [p for p in points if p.training_flops]
    if dated and selection == "frontier":
        mask = frontier(
            [decimal_year(p.release_date) for p in dated],
            [p.training_flops or 0.0 for p in dated],
            top_n=FRONTIER_TOP_N,
        )
        dated = [p for p, keep in zip(dated, mask, strict=True) if keep]
    n, n_dates = len(dated), len({p.release_date for p in dated})
    if n < 3 or n_dates < 2:
        return ComputeTrend(
            selection,
            n,
            reason=f"no trend: {n} model{'s' if n != 1 else ''} with compute on {n_dates} date(s); "
            "a trend needs at least 3 models on 2 or more dates",
        )
    try:
        flops = [p.training_flops or 0.0 for p in dated]  # all known here; 0 would be refused by the fit
        result = ComputeTrendFit().fit([p.release_date for p in dated], flops).result_
    except FitError as exc:
        return ComputeTrend(selection, n, reason=f"no trend: {exc}")
    intervals = result.intervals(level)
    lo, hi = result.year_range
    years = np.linspace(lo, hi, BAND_POINTS) if hi > lo else np.array([lo])
    band = result.band([float(y) for y in years], level=level)
    growth = intervals["growth_per_year"]
    line = TrendLine(
        x=[date_of(float(y)).isoformat() for y in years],
        y=band.estimate.tolist(),
        low=band.low.tolist(),
        high=band.high.tolist(),
        label=f"trend {growth.estimate:.2f}x/year",
        band_label=f"{level:.0%} confidence band",
    )
    return ComputeTrend(
        selection=selection,
        n_models=n,
        growth_per_year=growth,
        doubling_months=intervals["doubling_months"],
        r2=result.r2,
        year_range=result.year_range,
        line=line,
        warnings=tuple(w.message for w in result.warnings),
    )
