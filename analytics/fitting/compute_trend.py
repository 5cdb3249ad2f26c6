"""Training compute of notable models over time: a log-linear trend, as Epoch measures it.

log10 C = intercept + slope * year (year as a decimal calendar year), by ordinary least squares; growth per
year is 10^slope and the doubling time log10(2) / slope years. Intervals are the OLS t-intervals (the
residuals of such trends are close to log-normal); `band` gives the trend's confidence band and the
prediction band for one new model. `frontier` selects, as Sevilla et al. 2022 did for their "large-scale"
analysis, the models that were among the top `top_n` by compute when they were published.

Published: Sevilla et al. 2022 ("Compute trends across three eras of machine learning"): a doubling time
of about 6 months (5.7) for the deep-learning era since 2010, i.e. ~4x per year; Epoch (2024) puts frontier
growth at 4-5x per year.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import t as student_t

from analytics.fitting import plausibility as pl
from analytics.fitting.errors import FitError, positive_array, require_distinct, require_points, same_length
from analytics.fitting.intervals import Band, BandKind, Interval, check_level, single_threaded_blas

FloatArray = NDArray[np.float64]
DateLike = float | int | date | datetime


def decimal_year(value: DateLike) -> float:
    """A calendar date as a decimal year (2020-07-02 -> ~2020.5). Naive datetimes are refused: a publication
    time without a zone is ambiguous by up to a day."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise FitError(f"naive datetime {value.isoformat()}: pass an aware datetime or a date")
        value = value.date()
    if isinstance(value, date):
        start = date(value.year, 1, 1).toordinal()
        length = date(value.year + 1, 1, 1).toordinal() - start
        return value.year + (value.toordinal() - start) / length
    if isinstance(value, int | float) and math.isfinite(float(value)):
        return float(value)
    raise FitError(f"not a date or decimal year: {value!r}")


def frontier(years: ArrayLike, compute: ArrayLike, *, top_n: int = 10) -> NDArray[np.bool_]:
    """Mask of models among the `top_n` most compute-intensive published up to their own date."""
    y = np.asarray(years, dtype=np.float64)
    c = np.asarray(compute, dtype=np.float64)
    order = np.argsort(y, kind="stable")
    keep = np.zeros(y.size, dtype=bool)
    seen: list[float] = []
    for i in order:
        larger = sum(1 for v in seen if v > c[i])
        keep[i] = larger < top_n
        seen.append(float(c[i]))
    return keep


@dataclass(frozen=True)
class ComputeTrendResult:
    slope: float  # orders of magnitude per year
    intercept: float  # log10 C at mean_year
    mean_year: float
    n_points: int
    year_range: tuple[float, float]
    residuals: FloatArray  # log10 C - trend
    r2: float
    sigma: float  # residual sd of log10 C
    xtx_inv: FloatArray  # (X'X)^-1 of the centred design, for intervals and bands
    warnings: tuple[pl.FitWarning, ...] = ()

    @property
    def growth_per_year(self) -> float:
        return float(10.0**self.slope)

    @property
    def doubling_months(self) -> float:
        return 12.0 * math.log10(2.0) / self.slope if self.slope > 0 else math.inf

    def intervals(self, level: float = 0.95) -> dict[str, Interval]:
        level = check_level(level)
        dof = self.n_points - 2
        q = float(student_t.ppf(0.5 + level / 2, dof))
        se = self.sigma * math.sqrt(float(self.xtx_inv[1, 1]))
        lo, hi = self.slope - q * se, self.slope + q * se
        method = "OLS t-interval"

        def doubling(s: float) -> float:
            return 12.0 * math.log10(2.0) / s if s > 0 else math.inf

        return {
            "slope": Interval(self.slope, lo, hi, level, method),
            "growth_per_year": Interval(self.growth_per_year, 10.0**lo, 10.0**hi, level, method),
            "doubling_months": Interval(self.doubling_months, doubling(hi), doubling(lo), level, method),
        }

    def predict(self, years: ArrayLike) -> FloatArray:
        y = np.asarray(years, dtype=np.float64)
        out: FloatArray = 10.0 ** (self.intercept + self.slope * (y - self.mean_year))
        return out

    def band(self, years: Sequence[DateLike], level: float = 0.95, kind: BandKind = "confidence") -> Band:
        level = check_level(level)
        y = np.array([decimal_year(v) for v in years])
        x = np.stack([np.ones_like(y), y - self.mean_year], axis=1)
        var = np.einsum("ij,jk,ik->i", x, self.xtx_inv, x) * self.sigma**2
        if kind == "prediction":
            var = var + self.sigma**2
        q = float(student_t.ppf(0.5 + level / 2, self.n_points - 2))
        centre = self.intercept + self.slope * (y - self.mean_year)
        half = q * np.sqrt(var)
        return Band({"year": y}, 10.0**centre, 10.0 ** (centre - half), 10.0 ** (centre + half), level, kind)


class ComputeTrendFit:
    """`fit(dates, compute)` returns self: dates as decimal years, `date`s or aware `datetime`s."""

    @single_threaded_blas
    def fit(self, dates: Sequence[DateLike], compute: ArrayLike) -> ComputeTrendFit:
        years = np.array([decimal_year(v) for v in dates], dtype=np.float64)
        c = positive_array("training compute (FLOPs)", compute)
        n = same_length(date=years, compute=c)
        require_points(n, 3, "compute trend (a line needs residual degrees of freedom)")
        require_distinct("publication date", years, 2, "compute trend")
        x_mean = float(years.mean())
        x = np.stack([np.ones(n), years - x_mean], axis=1)
        y = np.log10(c)
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ coef
        dof = n - 2
        sigma = float(np.sqrt(np.sum(resid**2) / dof))
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        slope = float(coef[1])
        warnings = pl.combine(
            pl.check_exponent("growth per year", 10.0**slope, key="growth_per_year"),
            pl.check_distinct("publication years", np.floor(years), 3, what="compute trend"),
        )
        self.result_ = ComputeTrendResult(
            slope=slope,
            intercept=float(coef[0]),
            mean_year=x_mean,
            n_points=n,
            year_range=(float(years.min()), float(years.max())),
            residuals=resid,
            r2=1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan"),
            sigma=sigma,
            xtx_inv=np.linalg.inv(x.T @ x),
            warnings=tuple(warnings),
        )
        self.warnings_ = list(warnings)
        return self
