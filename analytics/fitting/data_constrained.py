"""Data-constrained scaling (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models").

Effective data   D' = U_D + U_D R_D* (1 - exp(-R_D / R_D*)),  R_D = D / U_D - 1 (epochs beyond the first)
Effective params N' = U_N + U_N R_N* (1 - exp(-R_N / R_N*)),  U_N = min(N_opt(U_D), N),  R_N = N / U_N - 1
L = E + A / N'^alpha + B / D'^beta, with (A, B, E, alpha, beta) of a base Chinchilla law held fixed and only
R_D*, R_N* fitted: Huber (delta 1e-3) on log loss, as in the reference notebook.

No cap on R*: the fit works in (ln R_D*, ln R_N*), which keeps both positive and lets either run to the
limits the data allow (R* -> inf: repeated tokens are worth fresh ones; R* -> 0: worthless).

Estimate. L-BFGS from the paper's start grid (R* in {20/3, 40/3, 20} each, in log space), from starts far
along the valley, and from the best cells of a 2-D grid scan and of the R_D* profile. The objective is nearly
L1 (delta is small against the residuals), so it has several local optima. Among the optima the data cannot
tell apart from the best one (deviance below the chi-square(1) quantile), the estimate is the one with the
smallest R_D*: the most cautious about the value of repeated data, which is what a plan to repeat data
should assume. On well-identified data there is one such optimum; on the datablations runs this rule gives
the published R_D* = 15.4 where the lowest objective (R_D* = 95) is statistically indistinguishable.
`alternatives` lists the distinct optima found inside the joint confidence region, with their deviance.

Intervals. Profile likelihood: for each ln R_D* on a grid the objective is minimised over ln R_N* (and vice
versa); the objective difference is turned into a deviance with the robust (Huber M-estimator) scale of
`intervals.robust_deviance_scale` and compared with the chi-square(1) quantile. Where the deviance never
crosses it within the grid, the bound is open (0 or inf) and the quantity is reported as not identified.
Bands use the joint confidence region (chi-square(2)) of the 2-D grid: the min/max prediction over it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar

from analytics.fitting import plausibility as pl
from analytics.fitting.chinchilla import HUBER_DELTA, ChinchillaParams, batched_lbfgs, huber
from analytics.fitting.errors import FitError, positive_array, require_points, same_length
from analytics.fitting.intervals import (
    Band,
    BandKind,
    Interval,
    as_points,
    check_level,
    chi2_threshold,
    normal_quantile,
    profile_bounds,
    robust_deviance_scale,
    single_threaded_blas,
)

FloatArray = NDArray[np.float64]
PAPER_STARTS = (20 / 3, 40 / 3, 20.0)
LOG_STAR_LIMITS = (math.log(1e-3), math.log(1e9))


@dataclass(frozen=True)
class Optimum:
    rd_star: float
    rn_star: float
    objective: float
    deviance: float  # relative to the best optimum found, on the chi-square scale


@dataclass(frozen=True)
class Profile:
    """A profile of the objective along one R*: grid values, the other R* minimising there, and deviance."""

    values: FloatArray
    other: FloatArray
    deviance: FloatArray


@dataclass(frozen=True)
class DataConstrainedResult:
    rd_star: float
    rn_star: float
    objective: float
    n_points: int
    residuals: FloatArray
    r2: float
    rmse_log: float
    runaway_starts: int  # starts that ended at another optimum further along the valley
    rd_interval: Interval | None = None
    rn_interval: Interval | None = None
    profile_rd: Profile | None = None
    profile_rn: Profile | None = None
    alternatives: tuple[Optimum, ...] = ()
    deviance_scale: float = math.nan
    base: ChinchillaParams | None = None
    region: FloatArray = field(default_factory=lambda: np.empty((0, 2)))  # (rd*, rn*) in the joint region
    warnings: tuple[pl.FitWarning, ...] = ()

    @property
    def rd_identified(self) -> bool:
        return self.rd_interval is not None and self.rd_interval.bounded and self.rd_interval.low > 0

    @property
    def rn_identified(self) -> bool:
        return self.rn_interval is not None and self.rn_interval.bounded and self.rn_interval.low > 0

    def intervals(self) -> dict[str, Interval]:
        out: dict[str, Interval] = {}
        if self.rd_interval is not None:
            out["rd_star"] = self.rd_interval
        if self.rn_interval is not None:
            out["rn_star"] = self.rn_interval
        return out

    def predict(self, n: ArrayLike, d: ArrayLike, u: ArrayLike) -> FloatArray:
        if self.base is None:
            raise FitError("this result carries no base law")
        return predict_loss(self.base, self.rd_star, self.rn_star, n, d, u)

    def band(
        self, n: ArrayLike, d: ArrayLike, u: ArrayLike, level: float = 0.95, kind: BandKind = "confidence"
    ) -> Band:
        """Loss at (N, D, U): min/max over the joint profile confidence region at the level of the fit (the
        region is computed once, at fit time); a prediction band adds the residual scatter on log loss."""
        check_level(level)
        n_, d_, u_ = as_points("N", n), as_points("D", d), as_points("U", u)
        if not (n_.size == d_.size == u_.size):
            raise FitError("band points: N, D and U differ in length")
        est = self.predict(n_, d_, u_)
        lo, hi = est.copy(), est.copy()
        if self.base is not None:
            for rd, rn in self.region:
                p = predict_loss(self.base, float(rd), float(rn), n_, d_, u_)
                lo, hi = np.minimum(lo, p), np.maximum(hi, p)
        if kind == "prediction":
            z = normal_quantile(level)
            lo, hi = lo * np.exp(-z * self.rmse_log), hi * np.exp(z * self.rmse_log)
        return Band({"N": n_, "D": d_, "U": u_}, est, lo, hi, level, kind)


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


def _decayed(r: FloatArray, star: FloatArray) -> FloatArray:
    """R* (1 - exp(-R / R*)), accurate for R* from tiny to huge."""
    out: FloatArray = star * -np.expm1(-r / star)
    return out


def predict_loss(
    base: ChinchillaParams, rd_star: float, rn_star: float, n: ArrayLike, d: ArrayLike, u: ArrayLike
) -> FloatArray:
    d_ = np.asarray(d, dtype=float)
    # U_D is the unique data actually seen: a run shorter than one epoch sees D < U unique tokens
    u_seen = np.minimum(np.asarray(u, dtype=float), d_)
    u_n, r_n, r_d, u_ = effective_terms(base, np.asarray(n, dtype=float), d_, u_seen)
    n_eff = u_n + u_n * _decayed(r_n, np.asarray(rn_star, dtype=float))
    d_eff = u_ + u_ * _decayed(r_d, np.asarray(rd_star, dtype=float))
    out: FloatArray = base.E + base.A / n_eff**base.alpha + base.B / d_eff**base.beta
    return out


class _Objective:
    """Huber objective on log loss in theta = (ln R_D*, ln R_N*), batched over rows, with its gradient."""

    def __init__(self, base: ChinchillaParams, n: FloatArray, d: FloatArray, u: FloatArray, loss: FloatArray):
        self.base = base
        self.u_n, self.r_n, self.r_d, self.u = effective_terms(base, n, d, u)
        self.log_l = np.log(loss)

    def residuals(self, theta: FloatArray) -> FloatArray:
        rd = np.exp(theta[:, 0:1])
        rn = np.exp(theta[:, 1:2])
        b = self.base
        n_eff = self.u_n + self.u_n * _decayed(self.r_n[None, :], rn)
        d_eff = self.u + self.u * _decayed(self.r_d[None, :], rd)
        t1 = b.a - b.alpha * np.log(n_eff)
        t2 = b.b - b.beta * np.log(d_eff)
        lse = np.logaddexp(np.logaddexp(t1, t2), b.e)
        out: FloatArray = lse - self.log_l[None, :]
        return out

    def value(self, theta: FloatArray) -> FloatArray:
        out: FloatArray = huber(self.residuals(theta), HUBER_DELTA).sum(axis=1)
        return out

    def value_and_grad(self, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Objective (k,) and gradient (k, 2) for k rows (ln R_D*, ln R_N*), clipped to LOG_STAR_LIMITS."""
        th = np.clip(theta, *LOG_STAR_LIMITS)
        rd = np.exp(th[:, 0:1])
        rn = np.exp(th[:, 1:2])
        b = self.base
        e_d = np.exp(-self.r_d[None, :] / rd)
        e_n = np.exp(-self.r_n[None, :] / rn)
        dec_d = rd * -np.expm1(-self.r_d[None, :] / rd)
        dec_n = rn * -np.expm1(-self.r_n[None, :] / rn)
        n_eff = self.u_n + self.u_n * dec_n
        d_eff = self.u + self.u * dec_d
        t1 = b.a - b.alpha * np.log(n_eff)
        t2 = b.b - b.beta * np.log(d_eff)
        lse = np.logaddexp(np.logaddexp(t1, t2), b.e)
        r = lse - self.log_l[None, :]
        f = huber(r, HUBER_DELTA).sum(axis=1)
        psi = np.clip(r, -HUBER_DELTA, HUBER_DELTA)
        w1, w2 = np.exp(t1 - lse), np.exp(t2 - lse)
        # d/d ln s of s (1 - exp(-R/s)) = s (1 - exp(-R/s)) - R exp(-R/s)
        dd = dec_d - self.r_d[None, :] * e_d
        dn = dec_n - self.r_n[None, :] * e_n
        grad = np.empty_like(th)
        grad[:, 0] = np.sum(psi * w2 * -b.beta * self.u * dd / d_eff, axis=1)
        grad[:, 1] = np.sum(psi * w1 * -b.alpha * self.u_n * dn / n_eff, axis=1)
        return f, grad


def _local_fits(obj: _Objective, starts: FloatArray, gtol: float) -> list[tuple[FloatArray, float]]:
    """L-BFGS from every start at once (batched), ends clipped to the limits."""

    def fun(x: FloatArray, rows: NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
            return obj.value_and_grad(x)

    ends, _, _ = batched_lbfgs(np.atleast_2d(starts), fun, max_iter=300, gtol=gtol, ftol=1e-15)
    ends = np.clip(ends, *LOG_STAR_LIMITS)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        vals = obj.value(ends)
    return [(ends[k], float(vals[k])) for k in range(ends.shape[0])]


class DataConstrainedFit:
    """`fit(N, D, U, loss)` returns self; `result_` holds R_D*, R_N* with profile intervals and warnings."""

    def __init__(
        self,
        *,
        base: ChinchillaParams,
        starts: tuple[float, ...] = PAPER_STARTS,
        gtol: float = 1e-7,
        level: float = 0.95,
        n_grid: int = 61,
    ) -> None:
        self.base = base
        self.starts = starts
        self.gtol = gtol
        self.level = level
        self.n_grid = n_grid

    @single_threaded_blas
    def fit(self, n: ArrayLike, d: ArrayLike, u: ArrayLike, loss: ArrayLike) -> DataConstrainedFit:
        level = check_level(self.level)
        if self.n_grid < 5:
            raise FitError(f"n_grid must be >= 5, got {self.n_grid}")
        if not self.starts or any(not (math.isfinite(s) and s > 0) for s in self.starts):
            raise FitError(f"starts must be positive R* values, got {self.starts!r}")
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
        obj = _Objective(self.base, n_, d_, u_, l_)

        # 1. local fits: the paper's starts, then starts far along the valley
        paper = [np.log([rd, rn]) for rd in self.starts for rn in self.starts]
        wide = [np.log([rd, rn]) for rd in (1.0, 1e2, 1e4) for rn in (1.0, 1e2, 1e4)]
        ends = _local_fits(obj, np.array(paper + wide), self.gtol)
        candidates = [(x, f) for x, f in ends if math.isfinite(f)]
        if not candidates:
            raise FitError("data-constrained fit: the objective is not finite at any start")

        # 2. 2-D grid scan (finds basins no start reached) and profiles
        hi = LOG_STAR_LIMITS[1]
        max_r = float(max(obj.r_d.max(), obj.r_n.max(), 1.0))
        upper = min(hi, math.log(max(1e4, 100.0 * max_r)))
        grid = np.linspace(math.log(1e-2), upper, self.n_grid)
        gd, gn = np.meshgrid(grid, grid, indexing="ij")
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            surface = obj.value(np.stack([gd.ravel(), gn.ravel()], axis=1)).reshape(gd.shape)
        surface = np.where(np.isfinite(surface), surface, np.inf)
        cell = np.unravel_index(int(np.argmin(surface)), surface.shape)
        prof_rd = self._profile(obj, grid, axis=0)
        prof_rn = self._profile(obj, grid, axis=1)
        k = int(np.argmin(prof_rd[1]))
        candidates += _local_fits(
            obj, np.array([[grid[cell[0]], grid[cell[1]]], [grid[k], prof_rd[0][k]]]), self.gtol
        )
        best_x, best_f = min(candidates, key=lambda e: e[1])
        f_min = min(best_f, float(prof_rd[1].min()), float(prof_rn[1].min()))
        scale = robust_deviance_scale(obj.residuals(best_x[None, :])[0], HUBER_DELTA)

        def deviance(f: float | FloatArray) -> FloatArray:
            return np.asarray(2.0 * scale * (np.asarray(f) - f_min), dtype=np.float64)

        # 3. the estimate: among optima the data cannot tell apart, the most cautious about repetition
        one = chi2_threshold(level, 1)
        joint = chi2_threshold(level, 2)
        plausible = [(x, f) for x, f in candidates if float(deviance(f)) <= one]
        est_x, est_f = min(plausible or [(best_x, best_f)], key=lambda e: (round(float(e[0][0]), 3), e[1]))
        rd_star, rn_star = (float(v) for v in np.exp(est_x))

        dev_rd = deviance(prof_rd[1])
        dev_rn = deviance(prof_rn[1])

        def refine(axis: int) -> Callable[[float], float]:
            return lambda x: float(deviance(self._profile_at(obj, grid, axis, x)[1]))

        rd_iv = self._interval(grid, dev_rd, float(est_x[0]), rd_star, level, refine(0))
        rn_iv = self._interval(grid, dev_rn, float(est_x[1]), rn_star, level, refine(1))
        region = self._region(obj, grid, surface, rd_iv, rn_iv, deviance, joint)

        alternatives = tuple(o for o in self._alternatives(candidates, deviance) if o.deviance <= joint)
        runaway = sum(1 for x, _ in ends if np.max(np.abs(x - est_x)) > math.log(2.0))
        pred = np.log(predict_loss(self.base, rd_star, rn_star, n_, d_, u_))
        resid = pred - obj.log_l
        ss_tot = float(np.sum((obj.log_l - obj.log_l.mean()) ** 2))
        warnings = self._warnings(rd_iv, rn_iv, rd_star, rn_star, alternatives, est_x, obj, joint)
        self.result_ = DataConstrainedResult(
            rd_star=rd_star,
            rn_star=rn_star,
            objective=float(est_f),
            n_points=count,
            residuals=resid,
            r2=1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan"),
            rmse_log=float(np.sqrt(np.mean(resid**2))),
            runaway_starts=runaway,
            rd_interval=rd_iv,
            rn_interval=rn_iv,
            profile_rd=Profile(np.exp(grid), np.exp(prof_rd[0]), dev_rd),
            profile_rn=Profile(np.exp(grid), np.exp(prof_rn[0]), dev_rn),
            alternatives=alternatives,
            deviance_scale=scale,
            base=self.base,
            region=region,
            warnings=tuple(warnings),
        )
        self.warnings_ = list(warnings)
        return self

    @staticmethod
    def _profile_at(obj: _Objective, grid: FloatArray, axis: int, x: float) -> tuple[float, float]:
        """min over the other coordinate of the objective with coordinate `axis` fixed at x: (argmin, min)."""
        fixed = np.full(grid.size, x)
        theta = np.stack([fixed, grid], axis=1) if axis == 0 else np.stack([grid, fixed], axis=1)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            row = obj.value(theta)
        row = np.where(np.isfinite(row), row, np.inf)
        m = int(np.argmin(row))
        lo, hi = grid[max(m - 1, 0)], grid[min(m + 1, grid.size - 1)]

        def f(o: float) -> float:
            t = np.array([[x, o]]) if axis == 0 else np.array([[o, x]])
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                return float(obj.value(t)[0])

        res = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
        if math.isfinite(float(res.fun)) and float(res.fun) <= row[m]:
            return float(res.x), float(res.fun)
        return float(grid[m]), float(row[m])

    def _profile(self, obj: _Objective, grid: FloatArray, axis: int) -> tuple[FloatArray, FloatArray]:
        """For each grid value along `axis`, the other coordinate minimising the objective and the minimum."""
        pts = [self._profile_at(obj, grid, axis, float(g)) for g in grid]
        return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])

    @staticmethod
    def _region(
        obj: _Objective,
        grid: FloatArray,
        surface: FloatArray,
        rd_iv: Interval,
        rn_iv: Interval,
        deviance: Callable[[FloatArray], FloatArray],
        joint: float,
    ) -> FloatArray:
        """(R_D*, R_N*) pairs inside the joint confidence region: the coarse grid's cells plus a 25 x 25 grid
        over the box of the two profile intervals (open sides run to the coarse grid's edge)."""
        gd, gn = np.meshgrid(grid, grid, indexing="ij")
        keep = deviance(surface) <= joint
        pts = [np.stack([gd[keep], gn[keep]], axis=1)]

        def span(iv: Interval) -> FloatArray:
            lo = math.log(iv.low) if iv.low > 0 else float(grid[0])
            hi = math.log(iv.high) if math.isfinite(iv.high) else float(grid[-1])
            return np.linspace(lo, hi, 25)

        fd, fn = np.meshgrid(span(rd_iv), span(rn_iv), indexing="ij")
        fine = np.stack([fd.ravel(), fn.ravel()], axis=1)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            inside = deviance(obj.value(fine)) <= joint
        pts.append(fine[inside])
        out: FloatArray = np.exp(np.concatenate(pts))
        return out

    @staticmethod
    def _interval(
        grid: FloatArray,
        dev: FloatArray,
        est_log: float,
        est: float,
        level: float,
        refine: Callable[[float], float],
    ) -> Interval:
        lo, hi = profile_bounds(grid, dev, level, estimate=est_log, refine=refine)
        low = 0.0 if not math.isfinite(lo) else math.exp(lo)
        high = math.inf if not math.isfinite(hi) else math.exp(hi)
        return Interval(est, low, high, level, "profile likelihood (robust deviance)")

    @staticmethod
    def _alternatives(candidates: list[tuple[FloatArray, float]], deviance: object) -> tuple[Optimum, ...]:
        out: list[Optimum] = []
        for x, f in sorted(candidates, key=lambda e: e[1]):
            if any(
                abs(math.log(o.rd_star) - x[0]) < 0.05 and abs(math.log(o.rn_star) - x[1]) < 0.05 for o in out
            ):
                continue
            dev = float(deviance(f))  # type: ignore[operator]
            out.append(Optimum(float(math.exp(x[0])), float(math.exp(x[1])), float(f), dev))
        return tuple(out)

    @staticmethod
    def _warnings(
        rd_iv: Interval,
        rn_iv: Interval,
        rd_star: float,
        rn_star: float,
        alternatives: tuple[Optimum, ...],
        est_x: FloatArray,
        obj: _Objective,
        joint: float,
    ) -> list[pl.FitWarning]:
        out: list[pl.FitWarning] = []
        out += pl.check_interval("R_D*", _positive_open(rd_iv))
        if not np.any(obj.r_n > 0):
            out.append(
                pl.FitWarning(
                    "not_identified",
                    "R_N* is not identified: no run has more parameters than its unique data supports "
                    "(R_N = 0 everywhere), so R_N* does not enter the fit",
                )
            )
        else:
            out += pl.check_interval("R_N*", _positive_open(rn_iv))
        out += pl.check_exponent("R_D*", rd_star, key="rd_star")
        out += pl.check_exponent("R_N*", rn_star, key="rn_star")
        lo, hi = LOG_STAR_LIMITS
        for name, v in (("R_D*", est_x[0]), ("R_N*", est_x[1])):
            out += pl.check_at_bound(f"ln {name}", float(v), lo, hi, rtol=1e-6)
        others = [
            o
            for o in alternatives
            if o.deviance <= joint and abs(math.log(o.rd_star / rd_star)) > math.log(2.0)
        ]
        if others:
            listed = ", ".join(
                f"R_D*={o.rd_star:.3g}, R_N*={o.rn_star:.3g} (deviance {o.deviance:.2f})" for o in others
            )
            out.append(
                pl.FitWarning(
                    "local_optima",
                    f"the data cannot tell the estimate R_D*={rd_star:.3g}, R_N*={rn_star:.3g} from other "
                    f"optima: {listed}",
                )
            )
        return out


def _positive_open(iv: Interval) -> Interval:
    """A lower bound of 0 for a positive quantity means 'open below'."""
    return Interval(iv.estimate, -math.inf if iv.low <= 0 else iv.low, iv.high, iv.level, iv.method)
