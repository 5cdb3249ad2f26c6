"""Single-variable saturating power law L = c + k * x^-a, for x in {N, D, C = 6ND}.

Fitted on log loss in the log-sum-exp form log L = LSE(log c, log k - a log x), which keeps c, k > 0 without
bounds, by least squares from a small grid of starts (the surface has shallow local minima in a).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from analytics.fitting.errors import FitError, positive_array, require_distinct, require_points, same_length

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

    def predict(self, x: ArrayLike) -> FloatArray:
        return self.c + self.k * np.asarray(x, dtype=np.float64) ** (-self.a)


def _log_model(theta: FloatArray, log_x: FloatArray) -> FloatArray:
    log_c, log_k, a = theta
    out: FloatArray = np.logaddexp(log_c, log_k - a * log_x)
    return out


class PowerLawFit:
    """`fit(x, loss)` returns self; `result_` holds the fitted law. `variable` is a label (N, D or C)."""

    def __init__(self, *, variable: str = "N") -> None:
        self.variable = variable

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
        self.result_ = PowerLawResult(
            c=float(np.exp(log_c)),
            k=float(np.exp(log_k)),
            a=a,
            n_points=n,
            residuals=resid,
            r2=1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan"),
            rmse_log=float(np.sqrt(np.mean(resid**2))),
        )
        return self
