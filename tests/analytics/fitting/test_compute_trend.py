"""Training compute over time: growth per year and doubling time with intervals (Epoch's method)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import numpy as np
import pytest

from analytics.fitting.compute_trend import ComputeTrendFit, decimal_year, frontier
from analytics.fitting.errors import FitError
from analytics.fitting.plausibility import codes

GROWTH = 4.2  # Sevilla et al. 2022: ~4.2x/year, doubling 5.7 months, deep-learning era


def _models(seed: int, n: int = 80, sd: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    years = np.sort(rng.uniform(2012.0, 2024.0, n))
    log_c = 21.0 + math.log10(GROWTH) * (years - 2018.0) + rng.normal(0.0, sd, n)
    return years, 10.0**log_c


def test_growth_and_doubling_time_are_recovered() -> None:
    years, compute = _models(0)
    result = ComputeTrendFit().fit(years, compute).result_
    iv = result.intervals()
    # Measured: 4.11x/year [3.83, 4.40], doubling 5.89 months [5.62, 6.19]; truth 4.2x, 5.79 months.
    assert iv["growth_per_year"].contains(GROWTH)
    assert iv["doubling_months"].contains(12 * math.log10(2) / math.log10(GROWTH))
    assert result.doubling_months == pytest.approx(5.8, abs=0.4)
    assert iv["doubling_months"].low < result.doubling_months < iv["doubling_months"].high
    assert result.warnings == ()


def test_interval_coverage_is_nominal() -> None:
    hits = sum(
        ComputeTrendFit().fit(*_models(seed, n=30)).result_.intervals()["growth_per_year"].contains(GROWTH)
        for seed in range(200)
    )
    assert 180 <= hits <= 200  # 95% of 200 = 190 (measured: 186)


def test_band_prediction_is_wider_than_confidence() -> None:
    years, compute = _models(1)
    result = ComputeTrendFit().fit(years, compute).result_
    conf = result.band([2016.0, 2030.0])
    pred = result.band([2016.0, 2030.0], kind="prediction")
    assert np.all(pred.low < conf.low) and np.all(pred.high > conf.high)
    assert conf.high[1] / conf.low[1] > conf.high[0] / conf.low[0]  # wider far from the data
    assert result.predict([2018.0])[0] == pytest.approx(1e21, rel=0.3)


def test_dates_and_frontier() -> None:
    assert decimal_year(date(2020, 1, 1)) == 2020.0
    assert decimal_year(datetime(2021, 7, 2, 12, tzinfo=UTC)) == pytest.approx(2021.5, abs=0.01)
    with pytest.raises(FitError, match="naive datetime"):
        decimal_year(datetime(2021, 7, 2))
    mask = frontier([2020, 2021, 2022, 2023], [1e24, 1e22, 1e25, 1e23], top_n=1)
    assert mask.tolist() == [True, False, True, False]
    dated = ComputeTrendFit().fit([date(2019, 1, 1), date(2020, 1, 1), date(2021, 1, 1)], [1e21, 1e22, 1e23])
    assert dated.result_.growth_per_year == pytest.approx(10.0, rel=1e-6)


def test_implausible_growth_and_few_years_are_flagged() -> None:
    result = ComputeTrendFit().fit([2020.0, 2020.5, 2021.0], [1e20, 1e21, 1e24]).result_
    assert {"exponent_out_of_range", "too_few_distinct"} <= codes(result.warnings)


@pytest.mark.parametrize(
    ("dates", "compute", "message"),
    [
        ([2020.0, 2021.0], [1e20, 1e21], "at least 3 points"),
        ([2020.0] * 3, [1e20, 1e21, 1e22], "distinct values of publication date"),
        ([2020.0, 2021.0, 2022.0], [1e20, -1.0, 1e22], "at point 1 must be > 0"),
        ([2020.0, "soon", 2022.0], [1e20, 1e21, 1e22], "not a date"),
    ],
)
def test_degenerate_input_is_refused(dates: list, compute: list, message: str) -> None:
    with pytest.raises(FitError, match=message):
        ComputeTrendFit().fit(dates, compute)
