"""Chinchilla Approach 3: the published objective, grid and compute-optimal allocation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime, minimize

from analytics.fitting.chinchilla import (
    ChinchillaApproach3,
    ChinchillaParams,
    chinchilla_grid,
    objective,
    objective_and_grad_batch,
)
from analytics.fitting.errors import FitError

# Muennighoff et al. 2023 refit of Chinchilla's C4 IsoFLOP points (datablations utils/parametric_fit.ipynb).
C4 = ChinchillaParams(a=6.255414, b=7.3049974, e=0.6254804, alpha=0.3526596, beta=0.3526596)
TRUE = ChinchillaParams(a=6.0, b=6.5, e=0.5, alpha=0.34, beta=0.28)


def _synthetic(seed: int, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, d = np.meshgrid(np.logspace(7, 9.5, 8), np.logspace(8.5, 11, 8))
    n, d = n.ravel(), d.ravel()
    loss = TRUE.predict(n, d) * np.exp(rng.normal(0.0, sigma, n.size))
    return n, d, loss


def test_grid_is_the_published_4500_starts() -> None:
    grid = chinchilla_grid()
    assert grid.shape == (4500, 5)
    assert sorted(set(grid[:, 0])) == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
    assert sorted(set(grid[:, 2])) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert sorted(set(grid[:, 3])) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert len({tuple(r) for r in grid}) == 4500


def test_analytic_gradient_matches_finite_differences() -> None:
    n, d, loss = _synthetic(1, 0.01)
    ln, ld, ll = np.log(n), np.log(d), np.log(loss)
    theta = np.array([[5.0, 7.0, 0.2, 0.3, 0.4], [6.1, 6.4, 0.45, 0.35, 0.27]])
    f, g = objective_and_grad_batch(theta, ln, ld, ll)
    for row in range(2):
        assert f[row] == pytest.approx(objective(theta[row], ln, ld, ll), rel=1e-12)
        fd = approx_fprime(theta[row], objective, 1e-7, ln, ld, ll)
        np.testing.assert_allclose(g[row], fd, rtol=1e-4, atol=1e-8)


def test_compute_optimal_reproduces_the_notebook_gopher_allocation() -> None:
    # The notebook prints "Gopher Params: 69962173313.52132", "Gopher Data: 1372170066384.2363" for C = 5.76e23.
    n_opt, d_opt = C4.compute_optimal(5.76e23)
    assert float(n_opt) == pytest.approx(69962173313.52132, rel=1e-9)
    assert float(d_opt) == pytest.approx(1372170066384.2363, rel=1e-9)
    assert 6 * float(n_opt) * float(d_opt) == pytest.approx(5.76e23, rel=1e-12)


def test_synthetic_parameters_recovered_within_bootstrap_ci() -> None:
    n, d, loss = _synthetic(7, 0.005)
    est = ChinchillaApproach3(n_bootstrap=60, random_state=3).fit(n, d, loss)
    ci = est.result_.ci()
    truth = {"a": TRUE.a, "b": TRUE.b, "e": TRUE.e, "alpha": TRUE.alpha, "beta": TRUE.beta}
    for name, value in truth.items():
        lo, hi = ci[name]
        assert lo <= value <= hi, (name, value, lo, hi)
        assert hi - lo < 2.0 if name in ("a", "b") else hi - lo < 0.3
    assert est.result_.r2 > 0.99
    assert est.result_.n_points == 64


def test_fit_is_an_lbfgs_optimum_at_least_as_good_as_scipy_from_its_best_start() -> None:
    n, d, loss = _synthetic(11, 0.01)
    ln, ld, ll = np.log(n), np.log(d), np.log(loss)
    est = ChinchillaApproach3().fit(n, d, loss)
    # Plain scipy L-BFGS-B with finite differences from the fitted point cannot improve it.
    res = minimize(objective, est.params_.as_array(), args=(ln, ld, ll), method="L-BFGS-B")
    assert est.objective_ <= res.fun * (1 + 1e-9)
    assert est.objective_ == pytest.approx(objective(est.params_.as_array(), ln, ld, ll), rel=1e-12)


@pytest.mark.parametrize(
    ("n", "d", "loss", "message"),
    [
        ([1e8] * 6, [1e9, 2e9, 3e9, 4e9, 5e9, 6e9], [3.0, 2.9, 2.8, 2.7, 2.6, 2.5], "distinct values of N"),
        ([1e8, 2e8, 3e8], [1e9, 2e9, 3e9], [3.0, 2.9, 2.8], "at least 5 points"),
        ([1e8, 2e8, 3e8, 4e8, 5e8], [1e9] * 5, [3.0, float("nan"), 2.8, 2.7, 2.6], "loss at point 1 is NaN"),
        (
            [1e8, 2e8, 3e8, 4e8, 5e8],
            [1e9, 2e9, 3e9, 4e9, 5e9],
            [3.0, 2.9, -2.8, 2.7, 2.6],
            "loss at point 2 must",
        ),
        ([1e8, 2e8, 3e8, 4e8], [1e9, 2e9, 3e9], [3.0, 2.9, 2.8, 2.7], "differ in length"),
    ],
)
def test_degenerate_input_is_refused(n: list, d: list, loss: list, message: str) -> None:
    est = ChinchillaApproach3(grid=chinchilla_grid()[:10])
    with pytest.raises(FitError, match=message):
        est.fit(n, d, loss)
    assert not hasattr(est, "params_")


# --- intervals of parameters and derived quantities, bands, repeated data --------------------------------------


def test_intervals_of_exponents_and_allocation_cover_the_truth() -> None:
    n, d, loss = _synthetic(7, 0.005)
    result = ChinchillaApproach3(n_bootstrap=60, random_state=3).fit(n, d, loss).result_
    iv = result.intervals()
    a_true = TRUE.beta / (TRUE.alpha + TRUE.beta)
    assert iv["n_exponent"].contains(a_true) and iv["d_exponent"].contains(1 - a_true)
    assert iv["E"].contains(TRUE.E) and iv["alpha"].contains(TRUE.alpha)
    # ci() (kept for the existing callers) and intervals() agree
    assert (iv["alpha"].low, iv["alpha"].high) == pytest.approx(result.ci()["alpha"], rel=1e-12)
    derived = result.derived(1e21)
    n_true, d_true = (float(v) for v in TRUE.compute_optimal(1e21))
    assert derived["n_opt"].contains(n_true) and derived["d_opt"].contains(d_true)
    assert derived["tokens_per_parameter"].contains(d_true / n_true)
    assert derived["loss_opt"].contains(float(TRUE.predict(n_true, d_true)))


def test_band_contains_the_truth_and_prediction_band_is_wider() -> None:
    n, d, loss = _synthetic(8, 0.005)
    result = ChinchillaApproach3(n_bootstrap=60, random_state=1).fit(n, d, loss).result_
    pts_n, pts_d = np.array([3e7, 1e9]), np.array([1e9, 5e10])
    conf = result.band(pts_n, pts_d)
    pred = result.band(pts_n, pts_d, kind="prediction")
    truth = TRUE.predict(pts_n, pts_d)
    assert np.all(conf.low <= truth) and np.all(truth <= conf.high)
    assert np.all(pred.low < conf.low) and np.all(pred.high > conf.high)
    assert conf.to_dict()["kind"] == "confidence"
    with pytest.raises(FitError, match="differ in length"):
        result.band([1e8, 2e8], [1e9])


def test_intervals_need_a_bootstrap() -> None:
    n, d, loss = _synthetic(9, 0.01)
    result = ChinchillaApproach3(grid=chinchilla_grid()[::10]).fit(n, d, loss).result_
    with pytest.raises(FitError, match="n_bootstrap"):
        result.intervals()
    with pytest.raises(FitError, match="positive number of FLOPs"):
        result.derived(-1.0)


def test_repeated_runs_are_flagged_or_excluded() -> None:
    n, d, loss = _synthetic(10, 0.005)
    u = d.copy()
    u[:8] = d[:8] / 4  # eight runs saw their data four times
    warned = ChinchillaApproach3(grid=chinchilla_grid()[::10]).fit(n, d, loss, u=u)
    assert any(w.code == "repeated_data" and w.severity == "warning" for w in warned.warnings_)
    excluded = ChinchillaApproach3(grid=chinchilla_grid()[::10], repeated="exclude").fit(n, d, loss, u=u)
    assert excluded.result_.n_points == 56 and excluded.kept_[:8].sum() == 0
    with pytest.raises(FitError, match="repeated must be"):
        ChinchillaApproach3(repeated="drop").fit(n, d, loss, u=u)  # type: ignore[arg-type]
