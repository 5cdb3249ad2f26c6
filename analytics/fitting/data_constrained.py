"""Data-constrained scaling (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models").

Effective data   D' = U_D + U_D R_D* (1 - exp(-R_D / R_D*)),  R_D = D / U_D - 1 (epochs beyond the first)
Effective params N' = U_N + U_N R_N* (1 - exp(-R_N / R_N*)),  U_N = min(N_opt(U_D), N),  R_N = N / U_N - 1
L = E + A / N'^alpha + B / D'^beta, with (A, B, E, alpha, beta) of a base Chinchilla law held fixed and only
R_D*, R_N* fitted: Huber (delta 1e-3) on log loss, L-BFGS from the paper's start grid (linspace(0, 20, 4) in
each, 0 excluded because R* = 0 divides by zero) and gradient tolerance 1e-7 (torch.optim.LBFGS's default,
which the reference notebook used).

The objective is very flat along a valley where R_D* grows without bound while R_N* shrinks (repeated data
never decays within the observed epochs). Ends in that valley are not identified; we keep the best end point
strictly inside `max_star` and say how many ends ran away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from analytics.fitting.chinchilla import HUBER_DELTA, ChinchillaParams, huber
from analytics.fitting.errors import FitError, positive_array, require_points, same_length

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class DataConstrainedResult:
    rd_star: float
    rn_star: float
    objective: float
    n_points: int
    residuals: FloatArray
    r2: float
    rmse_log: float
    runaway_starts: int


def effective_terms(
    base: ChinchillaParams, n: FloatArray, d: FloatArray, u: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """U_N, R_N and R_D for each run, from the base law's compute-optimal allocation."""
    g = (base.alpha * base.A / (base.beta * base.B)) ** (1.0 / (base.alpha + base.beta))
    ea = base.beta / (base.alpha + base.beta)
    eb = base.alpha / (base.alpha + base.beta)
    compute_for_u = ((g * u) ** (1.0 / eb)) * 6.0  # C at which U tokens are compute-optimal
    n_opt_u = g * (compute_for_u / 6.0) ** ea
    u_n = np.minimum(n_opt_u, n)
    r_n = np.maximum(n / u_n - 1.0, 0.0)
    r_d = np.maximum(d / u - 1.0, 0.0)
    return u_n, r_n, r_d, u


def predict_loss(
    base: ChinchillaParams, rd_star: float, rn_star: float, n: ArrayLike, d: ArrayLike, u: ArrayLike
) -> FloatArray:
    u_n, r_n, r_d, u_ = effective_terms(
        base, np.asarray(n, dtype=float), np.asarray(d, dtype=float), np.asarray(u, dtype=float)
    )
    n_eff = u_n + u_n * rn_star * (1.0 - np.exp(-r_n / rn_star))
    d_eff = u_ + u_ * rd_star * (1.0 - np.exp(-r_d / rd_star))
    return base.E + base.A / n_eff**base.alpha + base.B / d_eff**base.beta


class DataConstrainedFit:
    def __init__(
        self,
        *,
        base: ChinchillaParams,
        starts: tuple[float, ...] = (20 / 3, 40 / 3, 20.0),
        gtol: float = 1e-7,
        max_star: float = 40.0,
    ) -> None:
        self.base = base
        self.starts = starts
        self.gtol = gtol
        self.max_star = max_star

    def fit(self, n: ArrayLike, d: ArrayLike, u: ArrayLike, loss: ArrayLike) -> DataConstrainedFit:
        n_ = positive_array("N (parameters)", n)
        d_ = positive_array("D (tokens)", d)
        u_ = positive_array("U (unique tokens)", u)
        l_ = positive_array("loss", loss)
        count = same_length(N=n_, D=d_, U=u_, loss=l_)
        require_points(count, 3, "data-constrained fit (2 free parameters)")
        over = np.flatnonzero(u_ > d_ * (1 + 1e-9))
        if over.size:
            i = int(over[0])
            raise FitError(f"U (unique tokens) at point {i} exceeds D (tokens seen): {u_[i]!r} > {d_[i]!r}")
        if not np.any(d_ > u_):
            raise FitError("data-constrained fit needs some runs that repeat data (D > U); none do")
        base = self.base
        u_n, r_n, r_d, _ = effective_terms(base, n_, d_, u_)
        log_l = np.log(l_)

        def obj(x: FloatArray) -> float:
            rd, rn = x
            if rd <= 0 or rn <= 0:
                return float("inf")
            n_eff = u_n + u_n * rn * (1.0 - np.exp(-r_n / rn))
            d_eff = u_ + u_ * rd * (1.0 - np.exp(-r_d / rd))
            terms = np.stack(
                [
                    base.a - base.alpha * np.log(n_eff),
                    base.b - base.beta * np.log(d_eff),
                    np.full(count, base.e),
                ]
            )
            m = terms.max(axis=0)
            lse = m + np.log(np.exp(terms - m).sum(axis=0))
            return float(huber(lse - log_l, HUBER_DELTA).sum())

        best: tuple[float, FloatArray] | None = None
        runaway = 0
        for rd0 in self.starts:
            for rn0 in self.starts:
                with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                    res = minimize(
                        obj, [rd0, rn0], method="L-BFGS-B", options={"gtol": self.gtol, "ftol": 0.0}
                    )
                if not np.isfinite(res.fun) or np.any(res.x <= 0):
                    continue
                if np.any(res.x >= self.max_star):
                    runaway += 1
                    continue
                if best is None or res.fun < best[0]:
                    best = (float(res.fun), res.x)
        if best is None:
            raise FitError(
                f"data-constrained fit: no start converged inside R* < {self.max_star} "
                f"({runaway} ran away): R_D*, R_N* are not identified by these runs"
            )
        rd_star, rn_star = map(float, best[1])
        pred = np.log(predict_loss(base, rd_star, rn_star, n_, d_, u_))
        resid = pred - log_l
        ss_tot = float(np.sum((log_l - log_l.mean()) ** 2))
        self.result_ = DataConstrainedResult(
            rd_star=rd_star,
            rn_star=rn_star,
            objective=best[0],
            n_points=count,
            residuals=resid,
            r2=1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan"),
            rmse_log=float(np.sqrt(np.mean(resid**2))),
            runaway_starts=runaway,
        )
        return self
