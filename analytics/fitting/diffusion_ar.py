"""Diffusion vs autoregressive language models under repeated data (Prabhudesai et al. 2025, "Diffusion Beats
Autoregressive in Data-Constrained Settings").

Each objective gets Muennighoff et al.'s data-constrained law (analytics.fitting.data_constrained): a base
Chinchilla law (given, or fitted with Approach 3 on that objective's single-epoch runs, D <= U) and R_D*,
R_N* with profile-likelihood intervals. Prabhudesai et al. report R_D* ~ 500 for masked diffusion against
~15 for AR: repeated data stays valuable for diffusion for hundreds of epochs.

Critical compute. For U unique tokens, each objective's best loss at compute C is the minimum over N of
L(N, D = C / 6N, U). AR wins at small C (it is the more compute-efficient learner on fresh data); past the
critical compute C_crit(U) the diffusion frontier is lower. C_crit is found by bracketing the sign change of
L*_diffusion(C) - L*_AR(C) on a log grid and Brent's method; `critical_compute_law` fits C_crit = k U^gamma
over a range of U (the paper's closed form has gamma = 2.174). When both objectives share the base exponents
alpha, beta the law is exactly scale-invariant: U -> s U, N -> s^(beta/alpha) N, D -> s D multiplies every
reducible term by s^-beta, so gamma = 1 + beta/alpha (2.174 corresponds to beta/alpha = 1.174).
Interval: C_crit recomputed at the ends of the two R_D* profile intervals (a larger diffusion R_D* or a
smaller AR R_D* moves the crossover earlier), with R_N* and the base laws held at their estimates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq, minimize_scalar

from analytics.fitting import plausibility as pl
from analytics.fitting.chinchilla import ChinchillaApproach3, ChinchillaParams
from analytics.fitting.data_constrained import DataConstrainedFit, DataConstrainedResult, predict_loss
from analytics.fitting.errors import FitError, positive_array, same_length
from analytics.fitting.intervals import Interval, single_threaded_blas

FloatArray = NDArray[np.float64]
PUBLISHED_CCRIT_EXPONENT = 2.174  # C_crit(U) ~ U^2.174 (Prabhudesai et al. 2025)
STAR_CAP = 1e9  # stands in for an open (infinite) R* bound when recomputing the crossover
_LOG_SPAN = np.linspace(-9.0, 9.0, 361)  # ln N around the base law's compute-optimal N (+-4 decades)


@dataclass(frozen=True)
class ObjectiveLaw:
    name: str
    base: ChinchillaParams
    rd_star: float
    rn_star: float
    fit: DataConstrainedResult | None = None

    def best_loss(self, compute: float, u: float, *, rd_star: float | None = None) -> tuple[float, float]:
        """(min over N of L(N, C / 6N, U), the N attaining it)."""
        rd = self.rd_star if rd_star is None else rd_star
        log_n = math.log(float(self.base.compute_optimal(compute)[0])) + _LOG_SPAN
        n = np.exp(log_n)
        loss = predict_loss(self.base, rd, self.rn_star, n, compute / (6.0 * n), np.full(n.size, u))
        i = int(np.argmin(loss))
        if i in (0, log_n.size - 1):
            raise FitError(
                f"{self.name}: the best model size at {compute:.3g} FLOPs is 4 decades from Chinchilla's"
            )
        lo, hi = log_n[i - 1], log_n[i + 1]

        def f(x: float) -> float:
            nn = math.exp(x)
            return float(predict_loss(self.base, rd, self.rn_star, [nn], [compute / (6.0 * nn)], [u])[0])

        res = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-9})
        if float(res.fun) <= float(loss[i]):
            return float(res.fun), math.exp(float(res.x))
        return float(loss[i]), float(n[i])


def critical_compute(
    ar: ObjectiveLaw,
    diffusion: ObjectiveLaw,
    u: float,
    *,
    c_range: tuple[float, float] = (1e15, 1e32),
    rd_ar: float | None = None,
    rd_diffusion: float | None = None,
) -> float:
    """Smallest compute at which diffusion's best loss falls below AR's for `u` unique tokens; inf if it
    never does within `c_range`, c_range[0] if diffusion is already ahead there."""
    grid = np.geomspace(c_range[0], c_range[1], 69)

    def gap(c: float) -> float:
        return diffusion.best_loss(c, u, rd_star=rd_diffusion)[0] - ar.best_loss(c, u, rd_star=rd_ar)[0]

    prev_c, prev_g = float(grid[0]), gap(float(grid[0]))
    if prev_g <= 0:
        return prev_c
    for c in grid[1:]:
        g = gap(float(c))
        if g <= 0:
            root = brentq(lambda x: gap(math.exp(x)), math.log(prev_c), math.log(float(c)), xtol=1e-6)
            return float(math.exp(root))
        prev_c, prev_g = float(c), g
    return math.inf


@dataclass(frozen=True)
class CriticalComputeLaw:
    coefficient: float
    exponent: float
    u: FloatArray
    c_crit: FloatArray
    published_exponent: float = PUBLISHED_CCRIT_EXPONENT


@dataclass(frozen=True)
class DiffusionVsARResult:
    ar: ObjectiveLaw
    diffusion: ObjectiveLaw
    warnings: tuple[pl.FitWarning, ...] = ()

    @single_threaded_blas
    def critical_compute(self, u: float, level: float = 0.95) -> Interval:
        if not (math.isfinite(u) and u > 0):
            raise FitError(f"U must be a positive number of unique tokens, got {u!r}")
        est = critical_compute(self.ar, self.diffusion, u)
        ar_iv = self.ar.fit.rd_interval if self.ar.fit is not None else None
        di_iv = self.diffusion.fit.rd_interval if self.diffusion.fit is not None else None
        if ar_iv is None or di_iv is None:
            return Interval(est, math.nan, math.nan, level, "no R_D* intervals")

        def capped(v: float) -> float:
            return min(max(v, 1e-3), STAR_CAP)

        low = critical_compute(
            self.ar, self.diffusion, u, rd_ar=capped(ar_iv.low), rd_diffusion=capped(di_iv.high)
        )
        high = critical_compute(
            self.ar, self.diffusion, u, rd_ar=capped(ar_iv.high), rd_diffusion=capped(di_iv.low)
        )
        return Interval(est, min(low, est), max(high, est), ar_iv.level, "R_D* profile-interval ends")

    @single_threaded_blas
    def critical_compute_law(self, u_values: Sequence[float]) -> CriticalComputeLaw:
        """C_crit over a range of U and the power law C_crit = k U^gamma through it."""
        u = positive_array("U (unique tokens)", u_values)
        c = np.array([critical_compute(self.ar, self.diffusion, float(x)) for x in u])
        ok = np.isfinite(c)
        if ok.sum() < 2:
            raise FitError("diffusion never overtakes AR within the compute range for these U")
        slope, intercept = np.polyfit(np.log(u[ok]), np.log(c[ok]), 1)
        return CriticalComputeLaw(float(math.exp(intercept)), float(slope), u, c)


class DiffusionVsARFit:
    """`fit(objective, N, D, U, loss)` with objective labels "ar" and "diffusion" per run; returns self."""

    def __init__(
        self,
        *,
        base_ar: ChinchillaParams | None = None,
        base_diffusion: ChinchillaParams | None = None,
        level: float = 0.95,
    ) -> None:
        self.base_ar = base_ar
        self.base_diffusion = base_diffusion
        self.level = level

    @single_threaded_blas
    def fit(
        self, objective: Sequence[str], n: ArrayLike, d: ArrayLike, u: ArrayLike, loss: ArrayLike
    ) -> DiffusionVsARFit:
        n_ = positive_array("N (parameters)", n)
        d_ = positive_array("D (tokens)", d)
        u_ = positive_array("U (unique tokens)", u)
        l_ = positive_array("loss", loss)
        labels = np.asarray([str(o) for o in objective])
        same_length(objective=np.zeros(labels.size), N=n_, D=d_, U=u_, loss=l_)
        unknown = sorted(set(labels.tolist()) - {"ar", "diffusion"})
        if unknown:
            raise FitError(f"objective labels must be 'ar' or 'diffusion', got {unknown}")
        laws: dict[str, ObjectiveLaw] = {}
        warnings: list[pl.FitWarning] = []
        for name, given in (("ar", self.base_ar), ("diffusion", self.base_diffusion)):
            sel = labels == name
            if not np.any(sel):
                raise FitError(f"no runs for objective {name!r}")
            base = given
            if base is None:
                fresh = sel & (d_ <= u_ * (1 + 1e-9))
                try:
                    est = ChinchillaApproach3().fit(n_[fresh], d_[fresh], l_[fresh])
                except FitError as exc:
                    raise FitError(f"{name}: the base law needs single-epoch runs (D <= U): {exc}") from exc
                base = est.params_
                warnings += [
                    pl.FitWarning(w.code, f"{name} base law: {w.message}", w.severity) for w in est.warnings_
                ]
            dc = DataConstrainedFit(base=base, level=self.level).fit(n_[sel], d_[sel], u_[sel], l_[sel])
            res = dc.result_
            warnings += [pl.FitWarning(w.code, f"{name}: {w.message}", w.severity) for w in res.warnings]
            laws[name] = ObjectiveLaw(name, base, res.rd_star, res.rn_star, res)
        if laws["diffusion"].rd_star <= laws["ar"].rd_star:
            warnings.append(
                pl.FitWarning(
                    "exponent_out_of_range",
                    f"diffusion R_D* ({laws['diffusion'].rd_star:.3g}) is not above AR's "
                    f"({laws['ar'].rd_star:.3g}); Prabhudesai et al. found ~500 vs ~15",
                )
            )
        self.result_ = DiffusionVsARResult(laws["ar"], laws["diffusion"], tuple(warnings))
        self.warnings_ = list(warnings)
        return self
