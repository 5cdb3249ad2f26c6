"""Single-variable saturating power law L = c + k * x^-a, for x in {N, D, C = 6ND}.

Fitted on log loss in the log-sum-exp form log L = LSE(log c, log k - a log x), which keeps c, k > 0 without
bounds, by least squares from a small grid of starts (the surface has shallow local minima in a).

Uncertainty: with `n_bootstrap` > 0 the runs are resampled (multinomial counts) and every replicate is
refitted at once by a batched Levenberg-Marquardt from the full-data optimum; `PowerLawResult.intervals` gives
percentile intervals of c, k, a, and `band` the curve's confidence or prediction band at new x.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from analytics.fitting import plausibility as pl
from analytics.fitting.errors import FitError, positive_array, require_distinct, require_points, same_length
from analytics.fitting.intervals import (
    Band,
    BandKind,
    Interval,
    as_points,
    band_from_samples,
    batched_least_squares,
    bootstrap_counts,
    percentile_interval,
    single_threaded_blas,
)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class PowerLawResult:
    c: float
    k: float
    a: float
    n_points: int
    residuals: FloatArray  # log L_pred - log L
    r2: float
    rmse_log: float
    bootstrap: FloatArray = field(default_factory=lambda: np.empty((0, 3)))  # rows (log c, log k, a)
    x_range: tuple[float, float] = (np.nan, np.nan)
    warnings: tuple[pl.FitWarning, ...] = ()

    def predict(self, x: ArrayLike) -> FloatArray:
        return self.c + self.k * np.asarray(x, dtype=np.float64) ** (-self.a)

    def intervals(self, level: float = 0.95) -> dict[str, Interval]:
        if self.bootstrap.shape[0] < 2:
            raise FitError("intervals need a bootstrap: fit with n_bootstrap >= 2")
        b = self.bootstrap
        return {
            "c": percentile_interval(self.c, np.exp(b[:, 0]), level, what="c"),
            "k": percentile_interval(self.k, np.exp(b[:, 1]), level, what="k"),
            "a": percentile_interval(self.a, b[:, 2], level, what="a"),
        }

    def band(self, x: ArrayLike, level: float = 0.95, kind: BandKind = "confidence") -> Band:
        x_ = as_points("x", x)
        est = self.predict(x_)
        b = self.bootstrap
        samples = (
            np.exp(b[:, :1]) + np.exp(b[:, 1:2] - b[:, 2:3] * np.log(x_)[None, :])
            if b.shape[0] >= 2
            else np.empty((0, x_.size))
        )
        return band_from_samples({"x": x_}, est, samples, level, kind=kind, log_sd=self.rmse_log)


def _residuals_and_jacobian(
    theta: FloatArray, log_x: FloatArray, log_l: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Rows of theta (log c, log k, a): residuals (k, n) of log L and their Jacobian (k, n, 3)."""
    t1 = theta[:, 0:1] + 0.0 * log_x[None, :]
    t2 = theta[:, 1:2] - theta[:, 2:3] * log_x[None, :]
    lse = np.logaddexp(t1, t2)
    w1 = np.exp(t1 - lse)
    w2 = 1.0 - w1
    jac = np.stack([w1, w2, -w2 * log_x[None, :]], axis=2)
    return lse - log_l[None, :], jac


def _log_model(theta: FloatArray, log_x: FloatArray) -> FloatArray:
    log_c, log_k, a = theta
    out: FloatArray = np.logaddexp(log_c, log_k - a * log_x)
    return out


class PowerLawFit:
    """`fit(x, loss)` returns self; `result_` holds the fitted law. `variable` is a label (N, D or C)."""

    def __init__(self, *, variable: str = "N", n_bootstrap: int = 1000, random_state: int = 0) -> None:
        self.variable = variable
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    @single_threaded_blas
    def fit(self, x: ArrayLike, loss: ArrayLike) -> PowerLawFit:
        x_ = positive_array(self.variable, x)
        l_ = positive_array("loss", loss)
        n = same_length(**{self.variable: x_, "loss": l_})
        require_points(n, 4, f"power law in {self.variable} (3 free parameters)")
        require_distinct(self.variable, x_, 3, f"power law in {self.variable}")
        log_x, log_l = np.log(x_), np.log(l_)
        floor = float(np.log(l_.min()))
        best = None
        # The log-sum-exp scale: exponents of published laws lie in 0.05..1; the offset of log k follows from
        # requiring the reducible term to be of the order of the loss at the smallest x.
        for a0 in (0.05, 0.1, 0.3, 0.6, 1.0):
            for c_frac in (0.1, 0.5, 0.9):
                log_c0 = floor + np.log(c_frac)
                log_k0 = float(np.log(l_.max()) + a0 * log_x.min())
                res = least_squares(
                    lambda th: _log_model(th, log_x) - log_l,
                    x0=[log_c0, log_k0, a0],
                    method="lm",
                    xtol=1e-12,
                    ftol=1e-12,
                    max_nfev=5000,
                )
                if np.all(np.isfinite(res.x)) and (best is None or res.cost < best.cost):
                    best = res
        if best is None:
            raise FitError(f"power law in {self.variable}: the optimiser did not converge from any start")
        log_c, log_k, a = map(float, best.x)
        resid = _log_model(best.x, log_x) - log_l
        ss_tot = float(np.sum((log_l - log_l.mean()) ** 2))
        boot = np.empty((0, 3))
        if self.n_bootstrap:
            counts = bootstrap_counts(n, self.n_bootstrap, np.random.default_rng(self.random_state))
            theta0 = np.repeat(np.asarray(best.x, dtype=np.float64)[None, :], self.n_bootstrap, axis=0)
            ends, _, ok = batched_least_squares(
                lambda th: _residuals_and_jacobian(th, log_x, log_l), theta0, counts, max_iter=200
            )
            boot = ends[ok & np.all(np.isfinite(ends), axis=1)]
        warnings = pl.combine(
            pl.check_exponent(f"exponent a ({self.variable})", a, key="power_law"),
            pl.check_distinct(self.variable, x_, 5, what=f"power law in {self.variable}"),
        )
        if boot.shape[0] >= 2:
            a_low, a_high = np.percentile(boot[:, 2], [2.5, 97.5])
            if not (a_low > 0 and a_high / a_low <= 10):
                warnings.append(
                    pl.FitWarning(
                        "wide_interval",
                        f"exponent a: 95% bootstrap interval [{a_low:.3g}, {a_high:.3g}] does not pin the "
                        f"exponent within an order of magnitude",
                    )
                )
        self.result_ = PowerLawResult(
            c=float(np.exp(log_c)),
            k=float(np.exp(log_k)),
            a=a,
            n_points=n,
            residuals=resid,
            r2=1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan"),
            rmse_log=float(np.sqrt(np.mean(resid**2))),
            bootstrap=boot,
            x_range=(float(x_.min()), float(x_.max())),
            warnings=tuple(warnings),
        )
        self.warnings_ = list(self.result_.warnings)
        return self
