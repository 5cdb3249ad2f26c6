"""Kaplan et al. 2020 joint law L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from analytics.fitting.errors import FitError
from analytics.fitting.kaplan import KAPLAN_2020, KaplanJointFit, _model
from analytics.fitting.plausibility import codes


def _runs(seed: int, noise: float = 0.005) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Kaplan's ranges: non-embedding N ~ 3e6..1.5e9, D ~ 3e7..3e10 tokens; 8 x 8 grid, 0.5% loss noise.
    n, d = np.meshgrid(np.logspace(6.5, 9.2, 8), np.logspace(7.5, 10.5, 8))
    n, d = n.ravel(), d.ravel()
    rng = np.random.default_rng(seed)
    return n, d, KAPLAN_2020.predict(n, d) * np.exp(rng.normal(0.0, noise, n.size))


def test_published_constants_give_kaplans_losses() -> None:
    # With D -> inf the law is (N_c/N)^alpha_N: 1e9 non-embedding parameters -> (8.8e4)^0.076 = 2.3756 nats.
    assert KAPLAN_2020.predict(1e9, 1e30) == pytest.approx((8.8e13 / 1e9) ** 0.076, rel=1e-9)
    assert KAPLAN_2020.predict(1e9, 1e30) == pytest.approx(2.3756, abs=1e-4)
    # and with N -> inf it is (D_c/D)^alpha_D
    assert KAPLAN_2020.predict(1e30, 1e10) == pytest.approx((5.4e13 / 1e10) ** 0.095, rel=1e-9)


def test_jacobian_matches_finite_differences() -> None:
    theta = KAPLAN_2020.as_theta()
    log_n, log_d = np.log([1e7, 1e9]), np.log([1e9, 1e10])
    _, jac = _model(theta[None, :], log_n, log_d)
    for i in range(2):
        fd = approx_fprime(theta, lambda t, i=i: _model(t[None, :], log_n, log_d)[0][0, i], 1e-7)
        np.testing.assert_allclose(jac[0, i], fd, rtol=1e-5)


def test_recovers_the_published_constants_from_synthetic_runs() -> None:
    # Measured (seed 0): alpha_N 0.0765 (+0.7%), alpha_D 0.0937 (-1.4%), N_c 8.0e13 (-9%), D_c 6.5e13 (+21%);
    # over 10 seeds the exponents stay within 1.5% and every 95% interval covers the truth.
    n, d, loss = _runs(0)
    result = KaplanJointFit(n_bootstrap=300).fit(n, d, loss).result_
    p = result.params
    assert p.alpha_n == pytest.approx(0.076, rel=0.03)
    assert p.alpha_d == pytest.approx(0.095, rel=0.03)
    assert p.n_c == pytest.approx(8.8e13, rel=0.3)
    assert p.d_c == pytest.approx(5.4e13, rel=0.4)
    iv = result.intervals()
    for name, truth in (("alpha_n", 0.076), ("alpha_d", 0.095), ("n_c", 8.8e13), ("d_c", 5.4e13)):
        assert iv[name].contains(truth), (name, iv[name])
    assert iv["data_exponent"].contains(0.076 / 0.095)
    assert result.warnings == ()


def test_band_and_prediction() -> None:
    n, d, loss = _runs(1)
    est = KaplanJointFit(n_bootstrap=200).fit(n, d, loss)
    band = est.result_.band([1e8, 1e10], [1e9, 1e12])
    truth = KAPLAN_2020.predict([1e8, 1e10], [1e9, 1e12])
    assert np.all(band.low <= truth) and np.all(truth <= band.high)
    assert est.predict([1e8], [1e9])[0] == pytest.approx(float(truth[0]), rel=0.01)


def test_exponent_outside_published_range_is_flagged() -> None:
    n, d = np.meshgrid(np.logspace(7, 9, 6), np.logspace(8, 10, 6))
    n, d = n.ravel(), d.ravel()
    steep = type(KAPLAN_2020)(alpha_n=0.4, alpha_d=0.095, n_c=8.8e13, d_c=5.4e13)
    result = KaplanJointFit(n_bootstrap=0).fit(n, d, steep.predict(n, d)).result_
    assert "exponent_out_of_range" in codes(result.warnings)


def test_degenerate_input_is_refused() -> None:
    with pytest.raises(FitError, match="at least 6 points"):
        KaplanJointFit().fit([1e8, 2e8, 3e8], [1e9, 2e9, 3e9], [3.0, 2.9, 2.8])
    with pytest.raises(FitError, match="distinct values of N"):
        KaplanJointFit().fit([1e8] * 6, np.logspace(9, 10, 6), [3.0, 2.9, 2.8, 2.7, 2.6, 2.5])
