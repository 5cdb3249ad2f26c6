"""L = c + k x^-a."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.fitting.errors import FitError
from analytics.fitting.power_law import PowerLawFit


def test_noiseless_law_is_recovered_exactly() -> None:
    x = np.logspace(7, 10, 12)
    result = PowerLawFit(variable="N").fit(x, 1.8 + 400 * x**-0.3).result_
    assert result.c == pytest.approx(1.8, rel=1e-8)
    assert result.k == pytest.approx(400, rel=1e-6)
    assert result.a == pytest.approx(0.3, rel=1e-8)
    assert result.rmse_log < 1e-12


def test_noisy_law_is_recovered_closely() -> None:
    rng = np.random.default_rng(5)
    x = np.logspace(17, 22, 30)
    y = (2.0 + 1e3 * x**-0.15) * np.exp(rng.normal(0, 0.003, x.size))
    result = PowerLawFit(variable="C").fit(x, y).result_
    assert result.a == pytest.approx(0.15, abs=0.03)
    assert result.predict([1e23])[0] == pytest.approx(2.0 + 1e3 * 1e23**-0.15, rel=0.02)
    assert result.r2 > 0.99


def test_one_size_only_is_refused() -> None:
    with pytest.raises(FitError, match="distinct values of N"):
        PowerLawFit(variable="N").fit([1e8] * 5, [3.0, 3.1, 2.9, 3.0, 3.05])


def test_inf_is_refused_with_its_position() -> None:
    with pytest.raises(FitError, match="N at point 3 is infinite"):
        PowerLawFit(variable="N").fit([1e7, 1e8, 1e9, np.inf], [3.0, 2.8, 2.6, 2.5])


def test_bootstrap_interval_coverage_and_band() -> None:
    x = np.logspace(17, 22, 30)
    hits = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        y = (2.0 + 1e3 * x**-0.15) * np.exp(rng.normal(0, 0.003, x.size))
        hits += (
            PowerLawFit(variable="C", n_bootstrap=200, random_state=seed)
            .fit(x, y)
            .result_.intervals()["a"]
            .contains(0.15)
        )
    assert hits >= 34  # nominal 95% of 40 = 38; the percentile bootstrap runs a little short at n = 30
    rng = np.random.default_rng(1)
    y = (2.0 + 1e3 * x**-0.15) * np.exp(rng.normal(0, 0.003, x.size))
    result = PowerLawFit(variable="C", n_bootstrap=200).fit(x, y).result_
    band = result.band([1e20, 1e24])
    truth = 2.0 + 1e3 * np.array([1e20, 1e24]) ** -0.15
    assert np.all(band.low <= truth) and np.all(truth <= band.high)
    assert band.high[1] - band.low[1] > band.high[0] - band.low[0]  # wider when extrapolating
    assert result.warnings == ()


def test_few_sizes_and_wild_exponents_are_flagged() -> None:
    x = np.array([1e7, 1e8, 1e9, 1e10])
    result = PowerLawFit(variable="N", n_bootstrap=50).fit(x, 0.5 + 4000 * x**-0.9).result_
    codes = {w.code for w in result.warnings}
    assert "too_few_distinct" in codes
    assert "exponent_out_of_range" not in codes  # 0.9 is inside [0.03, 1.0]
    steep = PowerLawFit(variable="N", n_bootstrap=0).fit(
        np.logspace(7, 10, 8), 1.0 + 1e9 * np.logspace(7, 10, 8) ** -1.5
    )
    assert "exponent_out_of_range" in {w.code for w in steep.result_.warnings}
