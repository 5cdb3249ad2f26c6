"""Test-time compute scaling (Snell et al. 2024, "Scaling LLM Test-Time Compute Optimally can be More
Effective than Scaling Model Parameters").

Per strategy (best-of-N, beam search against a process reward model, sequential revisions, ...) accuracy is
fitted against log10 inference FLOPs as a logistic rising from a floor to a ceiling:
    acc(F) = b + a / (1 + exp(-k (log10 F - x0)))
(the same batched sigmoid fit and bootstrap as analytics.fitting.downstream). Inference FLOPs are 2 N per
generated or scored token (`inference_flops`), pretraining FLOPs 6 N D (`pretraining_flops`).

FLOPs-matched comparison (Snell et al. section 7): with X = 6 N D_pretrain and Y = 2 N D_inference, a model
M times larger costs M (X + Y). Spending the same total on the small model leaves it
    M + 3 (D_pretrain / D_inference) (M - 1)  =  M + 3 (M - 1) / R,   R = D_inference / D_pretrain
times its baseline inference compute (`flops_matched_multiplier`); R << 1 (few queries) favours test-time
compute, R >> 1 (heavy production load) favours pretraining the larger model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics.fitting import plausibility as pl
from analytics.fitting.downstream import finite_array, fit_sigmoid, sigmoid_model
from analytics.fitting.errors import FitError, positive_array, same_length
from analytics.fitting.intervals import (
    Band,
    BandKind,
    Interval,
    band_from_samples,
    check_level,
    percentile_interval,
    single_threaded_blas,
)

FloatArray = NDArray[np.float64]


def inference_flops(n_params: float, tokens: float) -> float:
    """2 N FLOPs per token processed at inference."""
    return 2.0 * n_params * tokens


def pretraining_flops(n_params: float, tokens: float) -> float:
    """6 N FLOPs per training token."""
    return 6.0 * n_params * tokens


def flops_matched_multiplier(m: float, r: float) -> float:
    """Test-time compute multiplier for the small model that matches the FLOPs of an m-times larger one,
    with R = D_inference / D_pretrain (Snell et al. 2024): m + 3 (m - 1) / R."""
    if not (m >= 1 and math.isfinite(m)):
        raise FitError(f"the larger model must be at least as large (M >= 1), got {m!r}")
    if not (r > 0 and math.isfinite(r)):
        raise FitError(f"R = D_inference / D_pretrain must be > 0, got {r!r}")
    return m + 3.0 * (m - 1.0) / r


@dataclass(frozen=True)
class StrategyCurve:
    strategy: str
    floor: float  # b
    gain: float  # a (ceiling = floor + gain)
    k: float  # per decade of FLOPs
    x0: float  # log10 FLOPs at the midpoint
    n_points: int
    residuals: FloatArray
    rmse: float
    flops_range: tuple[float, float]
    bootstrap: FloatArray = field(default_factory=lambda: np.empty((0, 4)))  # rows (a, k, x0, b)

    @property
    def theta(self) -> FloatArray:
        return np.array([self.gain, self.k, self.x0, self.floor])

    @property
    def ceiling(self) -> float:
        return self.floor + self.gain

    def predict(self, flops: ArrayLike) -> FloatArray:
        x = np.log10(positive_array("inference FLOPs", np.atleast_1d(np.asarray(flops, dtype=np.float64))))
        out: FloatArray = sigmoid_model(self.theta[None, :], x)[0][0]
        return out

    def predict_interval(self, flops: float, level: float = 0.95) -> Interval:
        x = np.array([math.log10(flops)])
        est = float(self.predict([flops])[0])
        if self.bootstrap.shape[0] < 2:
            return Interval(est, math.nan, math.nan, check_level(level), "no bootstrap")
        return percentile_interval(est, sigmoid_model(self.bootstrap, x)[0][:, 0], level, what="accuracy")

    def band(self, flops: ArrayLike, level: float = 0.95, kind: BandKind = "confidence") -> Band:
        f = positive_array("inference FLOPs", np.atleast_1d(np.asarray(flops, dtype=np.float64)))
        x = np.log10(f)
        b = self.bootstrap
        samples = sigmoid_model(b, x)[0] if b.shape[0] >= 2 else np.empty((0, x.size))
        return band_from_samples({"flops": f}, self.predict(f), samples, level, kind=kind, sd=self.rmse)

    def flops_to_reach(self, accuracy: float) -> float:
        """Inference FLOPs at which the curve reaches `accuracy` (inf if it never does)."""
        lo, hi = sorted((self.floor, self.ceiling))
        if not (lo < accuracy < hi):
            return math.inf
        frac = (accuracy - self.floor) / self.gain
        return float(10.0 ** (self.x0 - math.log(1.0 / frac - 1.0) / self.k))


@dataclass(frozen=True)
class FlopsMatchedComparison:
    strategy: str
    multiplier: float  # test-time compute multiplier allowed by the FLOPs match
    test_time_flops: float
    small_model_accuracy: Interval
    large_model_accuracy: float
    winner: str  # "test-time compute", "larger model" or "tie within the interval"


@dataclass(frozen=True)
class TestTimeResult:
    curves: dict[str, StrategyCurve]
    warnings: tuple[pl.FitWarning, ...] = ()

    def best_strategy(self, flops: float) -> str:
        """The strategy with the highest predicted accuracy at `flops` (the compute-optimal choice)."""
        return max(self.curves.values(), key=lambda c: float(c.predict([flops])[0])).strategy

    def compare_with_pretraining(
        self,
        strategy: str,
        *,
        base_inference_flops: float,
        m: float,
        r: float,
        large_model_accuracy: float,
        level: float = 0.95,
    ) -> FlopsMatchedComparison:
        """Small model with `strategy` at the FLOPs-matched test-time budget vs an m-times larger model."""
        if strategy not in self.curves:
            raise FitError(f"unknown strategy {strategy!r}; fitted: {sorted(self.curves)}")
        if not (base_inference_flops > 0 and math.isfinite(base_inference_flops)):
            raise FitError(f"base inference FLOPs must be > 0, got {base_inference_flops!r}")
        mult = flops_matched_multiplier(m, r)
        budget = base_inference_flops * mult
        curve = self.curves[strategy]
        small = curve.predict_interval(budget, level)
        if small.low > large_model_accuracy:
            winner = "test-time compute"
        elif small.high < large_model_accuracy:
            winner = "larger model"
        else:
            winner = "tie within the interval"
        return FlopsMatchedComparison(strategy, mult, budget, small, float(large_model_accuracy), winner)


class TestTimeScalingFit:
    """`fit(strategy, inference_flops, accuracy)` returns self; one saturating curve per strategy."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, *, n_bootstrap: int = 1000, random_state: int = 0) -> None:
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    @single_threaded_blas
    def fit(self, strategy: Sequence[str], flops: ArrayLike, accuracy: ArrayLike) -> TestTimeScalingFit:
        f = positive_array("inference FLOPs", flops)
        y = finite_array("accuracy", accuracy)
        labels = np.asarray([str(s) for s in strategy])
        same_length(strategy=np.zeros(labels.size), flops=f, accuracy=y)
        curves: dict[str, StrategyCurve] = {}
        warnings: list[pl.FitWarning] = []
        for i, name in enumerate(sorted(set(labels.tolist()))):
            sel = labels == name
            x = np.log10(f[sel])
            theta, resid, boot = fit_sigmoid(
                x,
                y[sel],
                n_bootstrap=self.n_bootstrap,
                random_state=self.random_state + i,
                what=f"test-time scaling of {name!r}",
            )
            a, k, x0, b = (float(v) for v in theta)
            curves[name] = StrategyCurve(
                strategy=name,
                floor=b,
                gain=a,
                k=k,
                x0=x0,
                n_points=int(sel.sum()),
                residuals=resid,
                rmse=float(np.sqrt(np.mean(resid**2))),
                flops_range=(float(f[sel].min()), float(f[sel].max())),
                bootstrap=boot,
            )
            if k < 0:
                warnings.append(
                    pl.FitWarning(
                        "exponent_out_of_range",
                        f"{name}: accuracy falls as test-time compute grows (k = {k:.3g})",
                    )
                )
            if not (x.min() <= x0 <= x.max()):
                warnings.append(
                    pl.FitWarning(
                        "extrapolation",
                        f"{name}: the curve's midpoint (10^{x0:.2f} FLOPs) is outside the measured budgets, "
                        f"so its ceiling is an extrapolation",
                        "info",
                    )
                )
        self.result_ = TestTimeResult(curves, tuple(warnings))
        self.warnings_ = list(warnings)
        return self
