"""Kaplan et al. 2020 joint law L(N, D) = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D (their eq. 1.5).

N counts non-embedding parameters, D tokens, L is in nats. Fitted by least squares on log loss, in the
log-sum-exp form ln L = alpha_D * LSE((alpha_N / alpha_D)(ln N_c - ln N), ln D_c - ln D), from a small grid
of exponent starts (ln N_c, ln D_c started from the data) with a batched Levenberg-Marquardt; the bootstrap
refits all replicates at once from the optimum. The law has no irreducible term: L -> 0 as N, D -> inf.

Published (Kaplan et al. 2020, Table 1 / eq. 1.5): alpha_N = 0.076, alpha_D = 0.095, N_c = 8.8e13,
D_c = 5.4e13. Derived: data needed to avoid overfitting grows as D ~ N^(alpha_N / alpha_D) = N^0.80
(their eq. 4.4 quotes 0.74 from the joint fit's exponents).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

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
class KaplanParams:
    alpha_n: float
    alpha_d: float
    n_c: float
    d_c: float

    def predict(self, n: ArrayLike, d: ArrayLike) -> FloatArray:
        n_ = np.asarray(n, dtype=np.float64)
        d_ = np.asarray(d, dtype=np.float64)
        out: FloatArray = ((self.n_c / n_) ** (self.alpha_n / self.alpha_d) + self.d_c / d_) ** self.alpha_d
        return out

    def as_theta(self) -> FloatArray:
        return np.array([math.log(self.n_c), math.log(self.d_c), self.alpha_n, self.alpha_d])


KAPLAN_2020 = KaplanParams(alpha_n=0.076, alpha_d=0.095, n_c=8.8e13, d_c=5.4e13)


def _model(theta: FloatArray, log_n: FloatArray, log_d: FloatArray) -> tuple[FloatArray, FloatArray]:
    """ln L (k, n) and its Jacobian (k, n, 4) for rows theta = (ln N_c, ln D_c, alpha_N, alpha_D)."""
    lnc, ldc, a_n, a_d = (theta[:, j : j + 1] for j in range(4))
    ratio = a_n / a_d
    u1 = ratio * (lnc - log_n[None, :])
    u2 = ldc - log_d[None, :]
    s = np.logaddexp(u1, u2)
    w1 = np.exp(u1 - s)
    w2 = 1.0 - w1
    f = a_d * s
    jac = np.stack(
        [
            a_n * w1,
            a_d * w2,
            w1 * (lnc - log_n[None, :]),
            s - w1 * u1,
        ],
        axis=2,
    )
    return f, jac


@dataclass(frozen=True)
class KaplanResult:
    params: KaplanParams
    n_points: int
    residuals: FloatArray  # ln L_pred - ln L
    rmse_log: float
    r2: float
    bootstrap: FloatArray = field(default_factory=lambda: np.empty((0, 4)))  # rows (ln N_c, ln D_c, aN, aD)
    warnings: tuple[pl.FitWarning, ...] = ()

    def intervals(self, level: float = 0.95) -> dict[str, Interval]:
        b = self.bootstrap
        if b.shape[0] < 2:
            raise FitError("intervals need a bootstrap: fit with n_bootstrap >= 2")
        p = self.params
        return {
            "alpha_n": percentile_interval(p.alpha_n, b[:, 2], level, what="alpha_N"),
            "alpha_d": percentile_interval(p.alpha_d, b[:, 3], level, what="alpha_D"),
            "n_c": percentile_interval(p.n_c, np.exp(b[:, 0]), level, what="N_c"),
            "d_c": percentile_interval(p.d_c, np.exp(b[:, 1]), level, what="D_c"),
            "data_exponent": percentile_interval(
                p.alpha_n / p.alpha_d, b[:, 2] / b[:, 3], level, what="alpha_N / alpha_D"
            ),
        }

    def band(self, n: ArrayLike, d: ArrayLike, level: float = 0.95, kind: BandKind = "confidence") -> Band:
        n_, d_ = as_points("N", n), as_points("D", d)
        if n_.shape != d_.shape:
            raise FitError("band points: N and D differ in length")
        b = self.bootstrap
        samples = np.exp(_model(b, np.log(n_), np.log(d_))[0]) if b.shape[0] >= 2 else np.empty((0, n_.size))
        est = self.params.predict(n_, d_)
        return band_from_samples({"N": n_, "D": d_}, est, samples, level, kind=kind, log_sd=self.rmse_log)


class KaplanJointFit:
    """`fit(N, D, loss)` returns self; `params_` and `result_` hold the fitted joint law."""

    def __init__(self, *, n_bootstrap: int = 1000, random_state: int = 0) -> None:
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    @single_threaded_blas
    def fit(self, n: ArrayLike, d: ArrayLike, loss: ArrayLike) -> KaplanJointFit:
        n_ = positive_array("N (parameters)", n)
        d_ = positive_array("D (tokens)", d)
        l_ = positive_array("loss", loss)
        count = same_length(N=n_, D=d_, loss=l_)
        require_points(count, 6, "Kaplan joint law (4 free parameters)")
        require_distinct("N", n_, 3, "Kaplan joint law")
        require_distinct("D", d_, 3, "Kaplan joint law")
        log_n, log_d, log_l = np.log(n_), np.log(d_), np.log(l_)

        def fun(theta: FloatArray) -> tuple[FloatArray, FloatArray]:
            f, jac = _model(theta, log_n, log_d)
            return f - log_l[None, :], jac

        starts = []
        for a_n in (0.03, 0.076, 0.2):
            for a_d in (0.04, 0.095, 0.25):
                # each term alone would have to explain the loss at the largest other variable
                lnc = float(np.median(log_l / a_n + log_n))
                ldc = float(np.median(log_l / a_d + log_d))
                starts.append([lnc, ldc, a_n, a_d])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ends, cost, _ = batched_least_squares(fun, np.array(starts), max_iter=500)
        ok = np.isfinite(cost) & (ends[:, 2] > 0) & (ends[:, 3] > 0)
        if not np.any(ok):
            raise FitError("Kaplan joint law: no start converged to positive exponents")
        best = ends[int(np.flatnonzero(ok)[np.argmin(cost[ok])])]
        params = KaplanParams(
            alpha_n=float(best[2]), alpha_d=float(best[3]), n_c=math.exp(best[0]), d_c=math.exp(best[1])
        )
        resid = _model(best[None, :], log_n, log_d)[0][0] - log_l
        boot = np.empty((0, 4))
        if self.n_bootstrap:
            counts = bootstrap_counts(count, self.n_bootstrap, np.random.default_rng(self.random_state))
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                b_ends, _, b_ok = batched_least_squares(
                    fun, np.repeat(best[None, :], self.n_bootstrap, axis=0), counts, max_iter=200
                )
            boot = b_ends[
                b_ok & np.all(np.isfinite(b_ends), axis=1) & (b_ends[:, 2] > 0) & (b_ends[:, 3] > 0)
            ]
        ss_tot = float(np.sum((log_l - log_l.mean()) ** 2))
        warnings = pl.combine(
            pl.check_exponent("alpha_N", params.alpha_n),
            pl.check_exponent("alpha_D", params.alpha_d),
            pl.check_distinct("model sizes N", n_, 4, what="Kaplan joint law"),
            pl.check_distinct("token counts D", d_, 4, what="Kaplan joint law"),
        )
        self.params_ = params
        self.result_ = KaplanResult(
            params=params,
            n_points=count,
            residuals=resid,
            rmse_log=float(np.sqrt(np.mean(resid**2))),
            r2=1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan"),
            bootstrap=boot,
            warnings=tuple(warnings),
        )
        self.warnings_ = list(warnings)
        return self

    def predict(self, n: ArrayLike, d: ArrayLike) -> FloatArray:
        return self.params_.predict(n, d)
