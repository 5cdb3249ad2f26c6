"""Scaling laws for precision (Kumar et al. 2024): effective parameters, PTQ degradation, optimal precision.

The paper's fitted constants could not be retrieved for these tests (see analytics/fitting/precision.py);
the recovery tests use illustrative constants on Hoffmann et al.'s base law and check the paper's findings
that hold for any constants: compute-optimal precision does not depend on compute when N, D and P are all
free; with N fixed it grows with compute; PTQ degradation grows with D/N, so past a critical data size more
pretraining hurts the quantized model.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from analytics.fitting.errors import FitError
from analytics.fitting.precision import (
    PrecisionFit,
    PrecisionParams,
    PTQDegradationFit,
    PTQParams,
    _model,
    compute_optimal_precision,
    critical_data_size,
    optimal_tied_precision,
)
from analytics.fitting.simulate import HOFFMANN_A3

TRUE = PrecisionParams(HOFFMANN_A3, gamma_w=2.7, gamma_a=2.2, gamma_kv=1.0)  # illustrative gammas (bits)
PTQ = PTQParams(c_t=0.05, gamma_d=0.5, gamma_n=0.45, gamma_post=0.6)  # illustrative

PRECISIONS = [
    (16, 16, 16), (3, 16, 16), (4, 16, 16), (6, 16, 16), (8, 16, 16), (16, 3, 16), (16, 4, 16), (16, 6, 16),
    (16, 8, 16), (16, 16, 3), (16, 16, 4), (16, 16, 6), (5, 5, 5), (8, 8, 8),
]  # fmt: skip


def _runs(seed: int) -> tuple[np.ndarray, ...]:
    # the paper's grid: 30M..220M parameters, D/N from 10 to 150, weights/activations/KV cache at 3..16 bits
    rows = np.array(
        [(n, n * tpp, *p) for n in (30e6, 60e6, 110e6, 220e6) for tpp in (10, 50, 150) for p in PRECISIONS]
    )
    rng = np.random.default_rng(seed)
    return (*rows.T, TRUE.predict(*rows.T) * np.exp(rng.normal(0, 0.003, len(rows))))


def test_jacobian_matches_finite_differences() -> None:
    theta = TRUE.as_theta()
    log_n, log_d = np.log([3e7, 1e8]), np.log([1e9, 3e9])
    p = np.array([[4.0, 8.0, 3.0], [16.0, 3.0, 8.0]])
    _, jac = _model(theta[None, :], log_n, log_d, p)
    for i in range(2):
        fd = approx_fprime(theta, lambda t, i=i: _model(t[None, :], log_n, log_d, p)[0][0, i], 1e-7)
        np.testing.assert_allclose(jac[0, i], fd, rtol=1e-4, atol=1e-8)


def test_recovers_gammas_and_base_law() -> None:
    # Measured (seed 0): gamma_w 2.63 [2.56, 2.71], gamma_a 2.18 [2.09, 2.26], gamma_kv 1.00 [0.85, 1.12].
    result = PrecisionFit(n_bootstrap=200).fit(*_runs(0)).result_
    p = result.params
    assert (p.gamma_w, p.gamma_a, p.gamma_kv) == pytest.approx((2.7, 2.2, 1.0), rel=0.05)
    assert (p.base.alpha, p.base.beta) == pytest.approx((0.34, 0.28), abs=0.02)
    iv = result.intervals()
    for name, truth in (("gamma_w", 2.7), ("gamma_a", 2.2), ("gamma_kv", 1.0)):
        assert iv[name].contains(truth), (name, iv[name])
    assert iv["optimal_precision"].contains(optimal_tied_precision(TRUE))
    assert result.warnings == ()


def test_effective_parameters_multiply() -> None:
    n_eff = TRUE.n_eff(1e9, 4, 8, 16)
    expected = 1e9 * (1 - np.exp(-4 / 2.7)) * (1 - np.exp(-8 / 2.2)) * (1 - np.exp(-16 / 1.0))
    assert float(n_eff) == pytest.approx(expected, rel=1e-12)
    assert float(TRUE.n_eff(1e9, 32, 32, 32)) == pytest.approx(1e9, rel=1e-4)


def test_compute_optimal_precision_is_independent_of_compute_unless_n_is_fixed() -> None:
    plans = [compute_optimal_precision(TRUE, c) for c in (1e20, 1e22, 1e24)]
    assert [pl.precision for pl in plans] == pytest.approx([plans[0].precision] * 3, abs=1e-6)
    assert plans[0].precision == pytest.approx(optimal_tied_precision(TRUE), abs=1e-6)
    # the plan spends exactly the budget: 6 N D P / 16 = C
    assert 6 * plans[1].n * plans[1].d * plans[1].precision / 16 == pytest.approx(1e22, rel=1e-9)
    fixed = [compute_optimal_precision(TRUE, c, n=1e9).precision for c in (1e20, 1e22, 1e24)]
    assert fixed[0] < fixed[1] < fixed[2]


def test_ptq_degradation_grows_with_data_and_has_a_critical_data_size() -> None:
    rng = np.random.default_rng(0)
    n = np.repeat([3e7, 1e8, 3e8], 12)
    d = np.tile(np.repeat([1e9, 1e10, 1e11], 4), 3)
    p_post = np.tile([3.0, 4.0, 5.0, 6.0], 9)
    delta = PTQ.degradation(n, d, p_post) * np.exp(rng.normal(0, 0.05, n.size))
    result = PTQDegradationFit(n_bootstrap=500).fit(n, d, p_post, delta).result_
    iv = result.intervals()
    for name, truth in (("gamma_d", 0.5), ("gamma_n", 0.45), ("gamma_post", 0.6), ("c_t", 0.05)):
        assert iv[name].contains(truth), (name, iv[name])
    assert result.params.gamma_d > 0  # more data per parameter, more fragile to quantization
    d_crit = critical_data_size(HOFFMANN_A3, PTQ, 1e8, 4.0)

    def quantized_loss(dd: float) -> float:
        return float(HOFFMANN_A3.predict(1e8, dd) + PTQ.degradation(1e8, dd, 4.0))

    assert quantized_loss(d_crit) < quantized_loss(d_crit * 0.8)
    assert quantized_loss(d_crit) < quantized_loss(d_crit * 1.25)


def test_bad_input_is_refused() -> None:
    with pytest.raises(FitError, match="at least 10 points"):
        PrecisionFit().fit([1e8] * 3, [1e9] * 3, [4, 8, 16], [16] * 3, [16] * 3, [3.0, 2.9, 2.8])
    n, d, pw, pa, _, loss = _runs(0)
    with pytest.raises(FitError, match="P_kv must vary"):
        PrecisionFit().fit(n, d, pw, pa, np.full(n.size, 16.0), loss)
    with pytest.raises(FitError, match="must be > 0"):
        PTQDegradationFit().fit([1e8] * 6, [1e9] * 6, [4] * 6, [0.1, 0.2, -0.1, 0.1, 0.1, 0.1])


def test_bands_and_plan_warnings() -> None:
    result = PrecisionFit(n_bootstrap=100).fit(*_runs(1)).result_
    band = result.band([1e8, 1e9], [2e9, 2e10], 4, 16, 16)
    truth = TRUE.predict([1e8, 1e9], [2e9, 2e10], 4, 16, 16)
    assert np.all(band.low <= truth) and np.all(truth <= band.high)
    assert compute_optimal_precision(TRUE, 1e22).warnings == ()
    # with 2 bits allowed at most the optimum sits on the bound
    capped = compute_optimal_precision(TRUE, 1e22, bounds=(1.0, 2.0))
    assert capped.precision == pytest.approx(2.0, abs=1e-3) and capped.warnings[0].code == "at_bound"
    n = np.repeat([3e7, 1e8, 3e8], 12)
    d = np.tile(np.repeat([1e9, 1e10, 1e11], 4), 3)
    p_post = np.tile([3.0, 4.0, 5.0, 6.0], 9)
    ptq = PTQDegradationFit(n_bootstrap=200).fit(n, d, p_post, PTQ.degradation(n, d, p_post)).result_
    pb = ptq.band([1e8], [1e12], 4.0, kind="prediction")
    assert pb.low[0] <= float(PTQ.degradation(1e8, 1e12, 4.0)) <= pb.high[0]
