"""Chinchilla Approach 2: IsoFLOP parabolas, then power laws N_opt ~ C^a and D_opt ~ C^b.

For each compute budget a parabola in log N is fitted to the loss of the `window` points on either side of
the lowest-loss run; its vertex is that budget's N_opt and D_opt = C / (6 N_opt). Known bias: when the runs
are not centred on the optimum, or the loss is asymmetric in log N, the vertex is shifted (see Porian et al.
2024 and the Open-Athena Approach 2 notes); a narrow window limits, but does not remove, that bias.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics.fitting.errors import FitError, positive_array, require_points, same_length

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class BudgetOptimum:
    compute: float
    n_opt: float
    d_opt: float
    loss_opt: float
    n_points: int


@dataclass(frozen=True)
class IsoflopResult:
    optima: list[BudgetOptimum]
    n_exponent: float  # a in N_opt = n_coef * C^a
    n_coef: float
    d_exponent: float  # b in D_opt = d_coef * C^b
    d_coef: float
    n_r2: float
    skipped: dict[float, str] = field(default_factory=dict)  # budget -> why it gave no optimum

    def n_opt(self, compute: ArrayLike) -> FloatArray:
        return self.n_coef * np.asarray(compute, dtype=np.float64) ** self.n_exponent

    def d_opt(self, compute: ArrayLike) -> FloatArray:
        return self.d_coef * np.asarray(compute, dtype=np.float64) ** self.d_exponent


def _loglog_fit(x: FloatArray, y: FloatArray) -> tuple[float, float, float]:
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    pred = slope * np.log(x) + intercept
    ss_res = float(np.sum((np.log(y) - pred) ** 2))
    ss_tot = float(np.sum((np.log(y) - np.log(y).mean()) ** 2))
    return float(slope), float(np.exp(intercept)), 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


class IsoflopFit:
    """`fit(compute, N, loss)` returns self; `result_` holds the per-budget optima and exponents."""

    def __init__(self, *, window: int = 2) -> None:
        self.window = window

    def fit(self, compute: ArrayLike, n: ArrayLike, loss: ArrayLike) -> IsoflopFit:
        c_ = positive_array("C (compute budget)", compute)
        n_ = positive_array("N (parameters)", n)
        l_ = positive_array("loss", loss)
        same_length(C=c_, N=n_, loss=l_)
        optima: list[BudgetOptimum] = []
        skipped: dict[float, str] = {}
        for budget in np.unique(c_):
            sel = c_ == budget
            order = np.argsort(n_[sel])
            ns, ls = n_[sel][order], l_[sel][order]
            if np.unique(ns).size < 3:
                skipped[float(budget)] = f"{np.unique(ns).size} distinct model sizes, a parabola needs 3"
                continue
            i = int(np.argmin(ls))
            lo, hi = max(0, i - self.window), min(ns.size, i + self.window + 1)
            if hi - lo < 3:
                skipped[float(budget)] = "fewer than 3 runs around the minimum"
                continue
            if i in (0, ns.size - 1):
                skipped[float(budget)] = "lowest loss at the edge of the sweep: the optimum is not bracketed"
                continue
            curv, slope, icpt = np.polyfit(np.log(ns[lo:hi]), ls[lo:hi], 2)
            if curv <= 0:
                skipped[float(budget)] = "parabola opens downwards: no minimum"
                continue
            log_n_opt = -slope / (2 * curv)
            n_opt = float(np.exp(log_n_opt))
            optima.append(
                BudgetOptimum(
                    compute=float(budget),
                    n_opt=n_opt,
                    d_opt=float(budget) / (6.0 * n_opt),
                    loss_opt=float(icpt - slope**2 / (4 * curv)),
                    n_points=hi - lo,
                )
            )
        require_points(len(optima), 2, f"IsoFLOP power law (budgets without an optimum: {skipped})")
        cs = np.array([o.compute for o in optima])
        a, n_coef, n_r2 = _loglog_fit(cs, np.array([o.n_opt for o in optima]))
        b, d_coef, _ = _loglog_fit(cs, np.array([o.d_opt for o in optima]))
        if not (np.isfinite(a) and np.isfinite(b)):
            raise FitError("IsoFLOP power law is not finite")
        self.result_ = IsoflopResult(
            optima=optima,
            n_exponent=a,
            n_coef=n_coef,
            d_exponent=b,
            d_coef=d_coef,
            n_r2=n_r2,
            skipped=skipped,
        )
        return self
