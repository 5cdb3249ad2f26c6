"""Loss -> accuracy sigmoid and the OLMo-ladder two-step prediction (N, D) -> task loss -> accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from analytics.fitting.chinchilla import ChinchillaParams
from analytics.fitting.downstream import LadderPredictor, SigmoidAccuracyFit, sigmoid_model
from analytics.fitting.errors import FitError
from analytics.fitting.plausibility import codes

# Step 1 (task loss, bits per byte) and step 2 of a synthetic task; the ladder mirrors Bhagia et al. 2024:
# 190M..1.3B parameters at 0.5..10x Chinchilla's 20 tokens per parameter; targets 7B-4T and 13B-5T.
TASK_LAW = ChinchillaParams(a=math.log(300), b=math.log(600), e=math.log(0.6), alpha=0.35, beta=0.3)
A, K, L0, B = 0.7, -6.0, 1.2, 0.25
SIZES = np.array([190e6, 370e6, 760e6, 1.3e9])
MULTIPLIERS = np.array([0.5, 1.0, 2.0, 5.0, 10.0])


def accuracy(loss: np.ndarray | float) -> np.ndarray:
    return A / (1 + np.exp(-K * (np.asarray(loss) - L0))) + B


def _ladder(seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n, mult = (x.ravel() for x in np.meshgrid(SIZES, MULTIPLIERS))
    d = 20 * mult * n
    task_loss = TASK_LAW.predict(n, d) * np.exp(rng.normal(0, 0.005, n.size))
    # step 2 also sees intermediate checkpoints (20..100% of each run), accuracy on 1,000 questions
    frac = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    cn, cd = np.repeat(n, 5), np.concatenate([x * frac for x in d])
    c_loss = TASK_LAW.predict(cn, cd) * np.exp(rng.normal(0, 0.005, cn.size))
    c_acc = rng.binomial(1000, accuracy(c_loss)) / 1000
    return n, d, task_loss, c_loss, c_acc


def test_sigmoid_jacobian_matches_finite_differences() -> None:
    theta = np.array([A, K, L0, B])
    x = np.array([0.9, 1.3])
    _, jac = sigmoid_model(theta[None, :], x)
    for i in range(2):
        fd = approx_fprime(theta, lambda t, i=i: sigmoid_model(t[None, :], x)[0][0, i], 1e-8)
        np.testing.assert_allclose(jac[0, i], fd, rtol=1e-5, atol=1e-9)


def test_sigmoid_recovers_known_parameters_with_intervals() -> None:
    rng = np.random.default_rng(0)
    loss = np.linspace(0.8, 1.9, 60)
    acc = rng.binomial(2000, accuracy(loss)) / 2000
    result = SigmoidAccuracyFit(n_bootstrap=400).fit(loss, acc).result_
    # the fit is canonical (a > 0), so k is negative when accuracy falls with loss
    assert (result.a, result.k, result.l0, result.b) == pytest.approx((A, K, L0, B), rel=0.05)
    iv = result.intervals()
    for name, truth in zip(("a", "k", "L0", "b"), (A, K, L0, B), strict=True):
        assert iv[name].contains(truth), (name, iv[name])
    band = result.band([1.0, 1.5], kind="prediction")
    assert np.all(band.low < accuracy(np.array([1.0, 1.5]))) and np.all(
        band.high > accuracy(np.array([1.0, 1.5]))
    )
    assert result.warnings == ()


def test_ladder_predicts_7b_and_13b_accuracy() -> None:
    # Measured (seed 0): 7B-4T 0.864 [0.834, 0.910] vs true 0.890; 13B-5T 0.871 [0.840, 0.921] vs 0.898.
    # Bhagia et al. report most task predictions within 2 points; this steep synthetic task extrapolates
    # further (0.27..0.62 accuracy on the ladder), so we allow 4 points and require the interval to cover.
    n, d, task_loss, c_loss, c_acc = _ladder(0)
    ladder = LadderPredictor(n_bootstrap=200).fit(n, d, task_loss, c_loss, c_acc)
    for size, tokens in ((7e9, 4e12), (13e9, 5e12)):
        pred = ladder.predict(size, tokens)
        truth = float(accuracy(TASK_LAW.predict(size, tokens)))
        assert abs(pred.accuracy.estimate - truth) < 0.04
        assert pred.accuracy.contains(truth)
        assert pred.loss.contains(float(TASK_LAW.predict(size, tokens)))


def test_midpoint_outside_the_data_is_flagged() -> None:
    loss = np.linspace(1.4, 1.9, 12)  # only the low-accuracy tail of the sigmoid
    result = SigmoidAccuracyFit(n_bootstrap=0).fit(loss, accuracy(loss)).result_
    assert "extrapolation" in codes(result.warnings)


def test_degenerate_input_is_refused() -> None:
    with pytest.raises(FitError, match="at least 5 points"):
        SigmoidAccuracyFit().fit([1.0, 1.1, 1.2], [0.5, 0.4, 0.3])
    with pytest.raises(FitError, match="accuracy at point 2 is not finite"):
        SigmoidAccuracyFit().fit([1.0, 1.1, 1.2, 1.3, 1.4], [0.5, 0.4, float("nan"), 0.3, 0.2])
    with pytest.raises(FitError, match="step 2 needs accuracies"):
        LadderPredictor().fit(*_ladder(0)[:3])
