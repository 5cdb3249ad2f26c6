"""The shared machinery: batched least squares, bootstrap counts, profile bounds, robust deviance scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import least_squares

from analytics.fitting.errors import FitError
from analytics.fitting.intervals import (
    batched_least_squares,
    bootstrap_counts,
    percentile_interval,
    profile_bounds,
    robust_deviance_scale,
)


def test_batched_least_squares_matches_scipy_row_by_row() -> None:
    rng = np.random.default_rng(0)
    x = np.linspace(0.0, 3.0, 25)
    y = 2.0 * np.exp(-1.3 * x) + 0.4 + rng.normal(0, 0.01, x.size)

    def fun(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, k, c = (theta[:, j : j + 1] for j in range(3))
        e = np.exp(-k * x[None, :])
        return a * e + c - y[None, :], np.stack([e, -a * x[None, :] * e, np.ones_like(e)], axis=2)

    counts = bootstrap_counts(x.size, 20, np.random.default_rng(1))
    theta, cost, ok = batched_least_squares(fun, np.tile([1.0, 1.0, 0.0], (20, 1)), counts)
    assert ok.all()
    for i in (0, 7, 19):
        w = np.sqrt(counts[i])
        ref = least_squares(
            lambda t, w=w: w * (t[0] * np.exp(-t[1] * x) + t[2] - y),
            [1.0, 1.0, 0.0],
            xtol=1e-14,
            ftol=1e-14,
            gtol=1e-14,
        )
        np.testing.assert_allclose(theta[i], ref.x, rtol=1e-6)
        assert cost[i] == pytest.approx(2 * ref.cost, rel=1e-8)


def test_bootstrap_counts_respect_strata() -> None:
    counts = bootstrap_counts(6, 50, np.random.default_rng(0), strata=[0, 0, 0, 1, 1, 2])
    assert np.all(counts[:, :3].sum(axis=1) == 3) and np.all(counts[:, 3:5].sum(axis=1) == 2)
    assert np.all(counts[:, 5] == 1)
    with pytest.raises(FitError, match=">= 1"):
        bootstrap_counts(6, 0, np.random.default_rng(0))


def test_profile_bounds_solve_the_crossing_and_stay_open_when_flat() -> None:
    grid = np.linspace(-5, 5, 11)
    parabola = grid**2  # deviance x^2: the 95% bounds are +-sqrt(3.8415)
    lo, hi = profile_bounds(grid, parabola, 0.95, estimate=0.0, refine=lambda v: v * v)
    assert (lo, hi) == pytest.approx((-math.sqrt(3.841459), math.sqrt(3.841459)), abs=1e-5)
    flat_right = np.where(grid < 0, grid**2, 0.5)
    lo, hi = profile_bounds(grid, flat_right, 0.95, estimate=0.0)
    assert hi == math.inf and lo == pytest.approx(-1.96, abs=0.1)


def test_robust_deviance_scale_is_gaussian_for_a_wide_huber() -> None:
    # delta >> residuals: the statistic is the Gaussian deviance, scale 1 / sigma^2
    r = np.random.default_rng(0).normal(0, 0.02, 5000)
    assert robust_deviance_scale(r, 10.0) == pytest.approx(1 / 0.02**2, rel=0.05)
    # delta << residuals: Koenker's L1 statistic, scale 2 f(0) / delta = 2 / (sigma sqrt(2 pi) delta)
    assert robust_deviance_scale(r, 1e-4) == pytest.approx(
        2 / (0.02 * math.sqrt(2 * math.pi) * 1e-4), rel=0.1
    )


def test_percentile_interval_drops_failed_replicates() -> None:
    iv = percentile_interval(1.0, [0.9, np.nan, 1.1, 1.0, np.inf], 0.5)
    assert iv.low >= 0.9 and iv.high <= 1.1
    with pytest.raises(FitError, match="fewer than 2"):
        percentile_interval(1.0, [np.nan, 1.0], 0.95)
    with pytest.raises(FitError, match="level"):
        percentile_interval(1.0, [1.0, 2.0], 1.5)
