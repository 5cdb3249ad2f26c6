"""Loss -> downstream accuracy, and the two-step prediction (N, D) -> task loss -> accuracy of OLMo's ladder.

Step 2 (Bhagia et al. 2024, "Establishing Task Scaling Laws via Compute-Efficient Model Ladders", eq. 2):
    Acc(L) = a / (1 + exp(-k (L - L0))) + b
a sigmoid of the task loss L (k < 0 when accuracy falls as loss rises), fitted by least squares with a
batched Levenberg-Marquardt from a few starts; the bootstrap refits all replicates at once.
Step 1 is a Chinchilla-form law of the task loss, L(N, D) = E + A / N^alpha + B / D^beta, fitted with
`ChinchillaApproach3` (Huber on log loss, grid of starts) and its bootstrap.
`LadderPredictor.predict(N, D)` chains the two: each step-1 replicate's loss at (N, D) goes through the
step-2 replicate of the same index, so the interval carries both steps' uncertainty (Bhagia et al. report
predictions for 7B and 13B models within about 2 accuracy points of the truth for most tasks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics.fitting import plausibility as pl
from analytics.fitting.chinchilla import ChinchillaApproach3, ChinchillaResult, loss_batch
from analytics.fitting.errors import FitError, positive_array, require_distinct, require_points, same_length
from analytics.fitting.intervals import (
    Band,
    BandKind,
    Interval,
    band_from_samples,
    batched_least_squares,
    bootstrap_counts,
    check_level,
    percentile_interval,
    single_threaded_blas,
)

FloatArray = NDArray[np.float64]
SIGMOID_NAMES = ("a", "k", "L0", "b")


def sigmoid_model(theta: FloatArray, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """a / (1 + exp(-k (x - x0))) + b for rows theta = (a, k, x0, b): values (m, n) and Jacobian (m, n, 4)."""
    a, k, x0, b = (theta[:, j : j + 1] for j in range(4))
    z = k * (x[None, :] - x0)
    s = 0.5 * (1.0 + np.tanh(0.5 * z))  # logistic, overflow-free
    ds = s * (1.0 - s)
    f = a * s + b
    jac = np.stack([s, a * ds * (x[None, :] - x0), -a * ds * k, np.ones_like(s)], axis=2)
    return f, jac


def finite_array(name: str, values: ArrayLike) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise FitError(f"{name}: not numeric ({exc})") from exc
    if arr.ndim != 1:
        raise FitError(f"{name}: expected a 1-d array, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise FitError(f"{name} at point {int(bad[0])} is not finite (value {arr[bad[0]]!r})")
    return arr


def fit_sigmoid(
    x: FloatArray, y: FloatArray, *, n_bootstrap: int, random_state: int, what: str
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(theta, residuals, bootstrap rows) of y ~ a / (1 + exp(-k (x - x0))) + b."""
    n = same_length(x=x, y=y)
    require_points(n, 5, f"{what} (4 free parameters)")
    require_distinct("x", x, 4, what)
    span_x = float(np.ptp(x))
    lo, hi = float(y.min()), float(y.max())
    starts = []
    for sign in (-1.0, 1.0):
        for width in (0.25, 1.0):
            for centre in np.percentile(x, [25, 50, 75]):
                starts.append(
                    [(hi - lo) * 1.2 + 1e-9, sign * 4.0 / (width * span_x), centre, lo - 0.1 * (hi - lo)]
                )

    def fun(theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        f, jac = sigmoid_model(theta, x)
        return f - y[None, :], jac

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ends, cost, _ = batched_least_squares(fun, np.array(starts), max_iter=500)
    ok = np.isfinite(cost) & np.all(np.isfinite(ends), axis=1)
    if not np.any(ok):
        raise FitError(f"{what}: the sigmoid fit did not converge from any start")
    theta = canonical_sigmoid(ends[int(np.flatnonzero(ok)[np.argmin(cost[ok])])][None, :])[0]
    resid = sigmoid_model(theta[None, :], x)[0][0] - y
    boot = np.empty((0, 4))
    if n_bootstrap:
        counts = bootstrap_counts(n, n_bootstrap, np.random.default_rng(random_state))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            b_ends, _, b_ok = batched_least_squares(
                fun, np.repeat(theta[None, :], n_bootstrap, axis=0), counts, max_iter=200
            )
        boot = canonical_sigmoid(b_ends[b_ok & np.all(np.isfinite(b_ends), axis=1)])
    return theta, resid, boot


def canonical_sigmoid(theta: FloatArray) -> FloatArray:
    """(a, k, x0, b) and (-a, -k, x0, a + b) are the same curve; keep the one with a >= 0."""
    out = theta.copy()
    neg = out[:, 0] < 0
    out[neg, 3] = out[neg, 3] + out[neg, 0]
    out[neg, 0] = -out[neg, 0]
    out[neg, 1] = -out[neg, 1]
    return out


@dataclass(frozen=True)
class SigmoidResult:
    a: float
    k: float
    l0: float
    b: float
    n_points: int
    residuals: FloatArray  # predicted - observed accuracy
    rmse: float
    bootstrap: FloatArray = field(default_factory=lambda: np.empty((0, 4)))  # rows (a, k, L0, b)
    warnings: tuple[pl.FitWarning, ...] = ()

    @property
    def theta(self) -> FloatArray:
        return np.array([self.a, self.k, self.l0, self.b])

    def predict(self, loss: ArrayLike) -> FloatArray:
        x = np.atleast_1d(np.asarray(loss, dtype=np.float64))
        out: FloatArray = sigmoid_model(self.theta[None, :], x)[0][0]
        return out

    def intervals(self, level: float = 0.95) -> dict[str, Interval]:
        if self.bootstrap.shape[0] < 2:
            raise FitError("intervals need a bootstrap: fit with n_bootstrap >= 2")
        return {
            name: percentile_interval(float(self.theta[j]), self.bootstrap[:, j], level, what=name)
            for j, name in enumerate(SIGMOID_NAMES)
        }

    def band(self, loss: ArrayLike, level: float = 0.95, kind: BandKind = "confidence") -> Band:
        x = finite_array("loss", np.atleast_1d(np.asarray(loss, dtype=np.float64)))
        b = self.bootstrap
        samples = sigmoid_model(b, x)[0] if b.shape[0] >= 2 else np.empty((0, x.size))
        return band_from_samples({"loss": x}, self.predict(x), samples, level, kind=kind, sd=self.rmse)


class SigmoidAccuracyFit:
    """`fit(loss, accuracy)` returns self; `result_` holds a, k, L0, b with bootstrap intervals."""

    def __init__(self, *, n_bootstrap: int = 1000, random_state: int = 0) -> None:
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    @single_threaded_blas
    def fit(self, loss: ArrayLike, accuracy: ArrayLike) -> SigmoidAccuracyFit:
        x = positive_array("loss", loss)
        y = finite_array("accuracy", accuracy)
        theta, resid, boot = fit_sigmoid(
            x,
            y,
            n_bootstrap=self.n_bootstrap,
            random_state=self.random_state,
            what="loss -> accuracy sigmoid",
        )
        a, k, l0, b = (float(v) for v in theta)
        warnings = pl.check_distinct("task losses", x, 8, what="loss -> accuracy sigmoid")
        if not (x.min() <= l0 <= x.max()):
            warnings.append(
                pl.FitWarning(
                    "extrapolation",
                    f"the sigmoid's midpoint L0 = {l0:.4g} lies outside the observed losses "
                    f"{x.min():.4g}..{x.max():.4g}: its ceiling or floor is an extrapolation",
                )
            )
        self.result_ = SigmoidResult(
            a=a,
            k=k,
            l0=l0,
            b=b,
            n_points=x.size,
            residuals=resid,
            rmse=float(np.sqrt(np.mean(resid**2))),
            bootstrap=boot,
            warnings=tuple(warnings),
        )
        self.warnings_ = list(warnings)
        return self


@dataclass(frozen=True)
class LadderPrediction:
    n: float
    d: float
    loss: Interval
    accuracy: Interval


class LadderPredictor:
    """Two-step task scaling law (OLMo ladder): step 1 on (N, D, task loss) of the ladder's runs, step 2 on
    (task loss, accuracy) pairs (ladder runs and, as in the paper, their intermediate checkpoints)."""

    def __init__(self, *, n_bootstrap: int = 300, random_state: int = 0) -> None:
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    @single_threaded_blas
    def fit(
        self,
        n: ArrayLike,
        d: ArrayLike,
        task_loss: ArrayLike,
        step2_loss: ArrayLike | None = None,
        step2_accuracy: ArrayLike | None = None,
        *,
        accuracy: ArrayLike | None = None,
    ) -> LadderPredictor:
        """Step 2 uses (`step2_loss`, `step2_accuracy`) when given, else (`task_loss`, `accuracy`)."""
        if self.n_bootstrap < 2:
            raise FitError("the ladder prediction's interval needs n_bootstrap >= 2")
        if step2_loss is None:
            if accuracy is None:
                raise FitError("step 2 needs accuracies: pass accuracy= (or step2_loss and step2_accuracy)")
            step2_loss, step2_accuracy = task_loss, accuracy
        elif step2_accuracy is None:
            raise FitError("step2_loss given without step2_accuracy")
        step1 = ChinchillaApproach3(n_bootstrap=self.n_bootstrap, random_state=self.random_state)
        step1.fit(n, d, task_loss)
        step2 = SigmoidAccuracyFit(n_bootstrap=self.n_bootstrap, random_state=self.random_state + 1)
        step2.fit(step2_loss, step2_accuracy)
        self.step1_: ChinchillaResult = step1.result_
        self.step2_: SigmoidResult = step2.result_
        self.warnings_ = list(step1.warnings_) + list(step2.warnings_)
        return self

    @single_threaded_blas
    def predict(self, n: float, d: float, level: float = 0.95) -> LadderPrediction:
        check_level(level)
        if not (math.isfinite(n) and n > 0 and math.isfinite(d) and d > 0):
            raise FitError(f"N and D must be positive, got {n!r}, {d!r}")
        s1, s2 = self.step1_, self.step2_
        loss_hat = float(s1.params.predict(n, d))
        acc_hat = float(s2.predict([loss_hat])[0])
        losses = loss_batch(s1.bootstrap, np.array([n]), np.array([d]))[:, 0]
        m = min(losses.size, s2.bootstrap.shape[0])
        if m < 2:
            raise FitError("too few bootstrap replicates converged in one of the steps")
        a, k, l0, b = (s2.bootstrap[:m, j] for j in range(4))
        accs = a * 0.5 * (1.0 + np.tanh(0.5 * k * (losses[:m] - l0))) + b
        return LadderPrediction(
            n=float(n),
            d=float(d),
            loss=percentile_interval(loss_hat, losses, level, what="task loss"),
            accuracy=percentile_interval(acc_hat, accs, level, what="accuracy"),
        )
