"""Intervals, bands and the batched solvers behind every fitter's uncertainty (pure: numpy/scipy only).

- `Interval`: an estimate with a lower/upper bound, the level and the method; bounds may be open (+-inf) when
  the data cannot bound a quantity (profile likelihood that never crosses its threshold).
- `Band`: lower/upper of a fitted curve at new x, either a confidence band (the curve itself) or a prediction
  band (one new run: the curve's uncertainty widened by the residual scatter).
- `bootstrap_counts`: multinomial resampling counts (B, n), optionally within strata; every bootstrap in this
  package refits all replicates at once by weighting points with these counts.
- `batched_least_squares`: Levenberg-Marquardt for many weighted least-squares problems in lock-step (one row
  per bootstrap replicate), so 1,000 replicates cost a few dozen vectorised iterations, not 1,000 fits.
- `profile_bounds` and `robust_deviance_scale`: read an interval off a profile of an objective, calibrated as
  a likelihood ratio (chi-square) also for Huber objectives.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq
from scipy.stats import chi2, norm
from threadpoolctl import threadpool_limits

from analytics.fitting.errors import FitError

FloatArray = NDArray[np.float64]
BandKind = Literal["confidence", "prediction"]


def single_threaded_blas[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` with BLAS limited to one thread. Fits here make thousands of tiny BLAS calls (5x5 L-BFGS
    updates, batched 4x4 solves); a multi-threaded OpenBLAS wakes its threads for each, which on a busy
    machine made a 64-run Chinchilla fit take 5.8 s instead of 0.3 s. The previous limits are restored."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


def check_level(level: float) -> float:
    if not (isinstance(level, int | float) and 0.0 < float(level) < 1.0):
        raise FitError(f"interval level must be in (0, 1), got {level!r}")
    return float(level)


@dataclass(frozen=True)
class Interval:
    """`estimate` with [low, high] at `level`; a bound of -inf/+inf (or 0 for positive quantities that run to
    zero) means the data do not bound the quantity on that side."""

    estimate: float
    low: float
    high: float
    level: float
    method: str

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def orders_of_magnitude(self) -> float:
        """log10(high / low) for a positive quantity (inf when open or not positive)."""
        if not self.bounded or self.low <= 0 or self.high <= 0:
            return math.inf
        return math.log10(self.high / self.low)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, float | str | bool]:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "method": self.method,
            "bounded": self.bounded,
        }


@dataclass(frozen=True)
class Band:
    """A fitted curve at new points with its lower/upper bound; `x` holds the inputs in the order given."""

    x: dict[str, FloatArray]
    estimate: FloatArray
    low: FloatArray
    high: FloatArray
    level: float
    kind: BandKind

    def to_dict(self) -> dict[str, object]:
        return {
            "x": {k: v.tolist() for k, v in self.x.items()},
            "estimate": self.estimate.tolist(),
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "level": self.level,
            "kind": self.kind,
        }


def percentile_interval(estimate: float, samples: ArrayLike, level: float, *, what: str = "") -> Interval:
    """Percentile bootstrap interval; non-finite replicates (failed refits) are dropped; >= 2 must remain."""
    level = check_level(level)
    s = np.asarray(samples, dtype=np.float64).ravel()
    s = s[np.isfinite(s)]
    if s.size < 2:
        raise FitError(f"{what or 'interval'}: fewer than 2 usable bootstrap replicates")
    lo, hi = np.percentile(s, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return Interval(float(estimate), float(lo), float(hi), level, "bootstrap percentile")


def normal_quantile(level: float) -> float:
    return float(norm.ppf(0.5 + check_level(level) / 2))


def band_from_samples(
    x: dict[str, FloatArray],
    estimate: FloatArray,
    samples: FloatArray,
    level: float,
    *,
    kind: BandKind = "confidence",
    log_sd: float = 0.0,
    sd: float = 0.0,
) -> Band:
    """Percentile band over replicate curves `samples` (B, m). A prediction band also widens by the
    residual scatter: by exp(+-z log_sd) for laws fitted on log loss, by +-z sd otherwise."""
    level = check_level(level)
    est = np.asarray(estimate, dtype=np.float64)
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim == 2 and s.shape[0] >= 2:
        ok = np.all(np.isfinite(s), axis=1)
        s = s[ok]
    if s.ndim != 2 or s.shape[0] < 2:
        lo, hi = est.copy(), est.copy()
    else:
        lo, hi = np.percentile(s, [100 * (1 - level) / 2, 100 * (1 + level) / 2], axis=0)
        lo, hi = np.minimum(lo, est), np.maximum(hi, est)
    if kind == "prediction":
        z = normal_quantile(level)
        lo, hi = lo * np.exp(-z * log_sd) - z * sd, hi * np.exp(z * log_sd) + z * sd
    return Band(x, est, np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64), level, kind)


def bootstrap_counts(
    n: int, n_boot: int, rng: np.random.Generator, *, strata: ArrayLike | None = None
) -> FloatArray:
    """(n_boot, n) resampling counts; each row sums to n (with strata: to each stratum's size within it)."""
    if n_boot < 1:
        raise FitError(f"number of bootstrap replicates must be >= 1, got {n_boot}")
    if strata is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    labels = np.asarray(strata)
    counts = np.zeros((n_boot, n))
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        k = idx.size
        counts[:, idx] = rng.multinomial(k, np.full(k, 1.0 / k), size=n_boot)
    return counts


ResidualJacobian = Callable[[FloatArray], tuple[FloatArray, FloatArray]]


def batched_least_squares(
    fun: ResidualJacobian,
    theta0: FloatArray,
    weights: FloatArray | None = None,
    *,
    max_iter: int = 100,
    tol: float = 1e-12,
    lam0: float = 1e-3,
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """Levenberg-Marquardt on k weighted least-squares problems at once.

    `fun(theta (k, p))` returns residuals (k, n) and the Jacobian (k, n, p); row i minimises
    sum_j weights[i, j] * r[i, j]^2. Returns (theta, weighted SSR, converged) per row. Rows stop when the
    relative decrease of the SSR falls below `tol` or the damping grows past 1e12 (no descent left).
    """
    theta = np.array(theta0, dtype=np.float64, copy=True)
    k, p = theta.shape
    r, jac = fun(theta)
    w = np.ones_like(r) if weights is None else np.asarray(weights, dtype=np.float64)
    cost = np.einsum("kn,kn->k", w, r * r)
    lam = np.full(k, lam0)
    active = np.isfinite(cost)
    converged = np.zeros(k, dtype=bool)
    eye = np.eye(p)
    for _ in range(max_iter):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        jw = jac[rows] * w[rows][:, :, None]
        jtj = np.einsum("knp,knq->kpq", jw, jac[rows])
        grad = np.einsum("knp,kn->kp", jw, r[rows])
        diag = np.einsum("kpp->kp", jtj)
        scale = np.maximum(diag, 1e-12 * np.maximum(diag.max(axis=1, keepdims=True), 1e-300))
        a = jtj + lam[rows, None, None] * scale[:, :, None] * eye
        try:
            step = -np.linalg.solve(a, grad[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = -np.stack([np.linalg.lstsq(ai, gi, rcond=None)[0] for ai, gi in zip(a, grad, strict=True)])
        cand = theta[rows] + step
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            rc, jc = fun(cand)
            cc = np.einsum("kn,kn->k", w[rows], rc * rc)
        ok = np.isfinite(cc) & np.all(np.isfinite(cand), axis=1) & (cc <= cost[rows])
        acc = rows[ok]
        rel = (cost[acc] - cc[ok]) / np.maximum(cost[acc], 1e-300)
        theta[acc] = cand[ok]
        r[acc] = rc[ok]
        jac[acc] = jc[ok]
        cost[acc] = cc[ok]
        lam[acc] = np.maximum(lam[acc] / 3.0, 1e-12)
        lam[rows[~ok]] *= 4.0
        done_acc = acc[rel < tol]
        converged[done_acc] = True
        active[done_acc] = False
        stuck = rows[~ok][lam[rows[~ok]] > 1e12]
        converged[stuck] = True  # no descent direction left at any damping: a (local) minimum
        active[stuck] = False
    return theta, cost, converged


def profile_bounds(
    grid: ArrayLike,
    deviance: ArrayLike,
    level: float,
    *,
    estimate: float,
    refine: Callable[[float], float] | None = None,
) -> tuple[float, float]:
    """Where a profile deviance (0 at the optimum) crosses the chi-square(1) quantile on either side of
    `estimate`; -inf/+inf when it never crosses within the grid.

    On each side the crossing is bracketed by the nearest grid point beyond the threshold and the nearest
    point towards the estimate below it (the estimate itself counts, deviance 0); with `refine` (the
    continuous profile deviance at x) it is then solved by Brent's method, else linearly interpolated.
    """
    g = np.asarray(grid, dtype=np.float64)
    dev = np.asarray(deviance, dtype=np.float64)
    thr = float(chi2.ppf(check_level(level), 1))
    order = np.argsort(g)
    g, dev = g[order], np.where(np.isfinite(dev[order]), dev[order], np.inf)
    est_dev = 0.0 if refine is None else min(max(refine(estimate), 0.0), thr)

    def crossing(outer: float, outer_dev: float, inner: float, inner_dev: float) -> float:
        if refine is not None and outer != inner:
            try:
                return float(
                    brentq(lambda x: refine(x) - thr, min(outer, inner), max(outer, inner), xtol=1e-6)
                )
            except ValueError:
                pass  # not a sign change after all (a jagged profile): fall back to interpolation
        if not math.isfinite(outer_dev):
            return inner
        return float(np.interp(thr, [inner_dev, outer_dev], [inner, outer]))

    bounds = []
    for side in (-1, 1):
        idx = np.flatnonzero(g < estimate) if side < 0 else np.flatnonzero(g > estimate)
        if side < 0:
            idx = idx[::-1]  # walk outwards from the estimate
        inner, inner_dev = estimate, est_dev
        found = math.inf * side
        for k in idx:
            if dev[k] > thr:
                found = crossing(float(g[k]), float(dev[k]), inner, inner_dev)
                break
            inner, inner_dev = float(g[k]), float(dev[k])
        bounds.append(found)
    return bounds[0], bounds[1]


def chi2_threshold(level: float, dof: int = 1) -> float:
    return float(chi2.ppf(check_level(level), dof))


def robust_deviance_scale(residuals: ArrayLike, delta: float) -> float:
    """Factor turning a Huber objective difference into a chi-square-calibrated deviance.

    For an M-estimator with psi = clip(r, -delta, delta) the likelihood-ratio-type statistic
    2 * (F_restricted - F_full) * E[psi'] / E[psi^2] is asymptotically chi-square (Ronchetti 1982; Heritier &
    Ronchetti 1994). With delta -> inf it is the Gaussian deviance SSR difference / sigma^2; with delta small
    it is Koenker's L1 (quantile-regression) likelihood-ratio statistic. E[psi'] = P(|r| <= delta) is read off
    a Gaussian-kernel estimate of the residual density (Silverman bandwidth), so a few residuals falling
    inside a tiny delta do not make the scale jump.
    """
    r = np.asarray(residuals, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size < 3:
        raise FitError("a profile interval needs at least 3 residuals")
    psi2 = float(np.mean(np.clip(r, -delta, delta) ** 2))
    sd = float(np.std(r))
    iqr = float(np.subtract(*np.percentile(r, [75, 25])))
    spread = min(sd, iqr / 1.349) if iqr > 0 else sd
    h = 0.9 * spread * r.size ** (-0.2)
    if h <= 0 or psi2 <= 0:
        # an exact fit: any departure is infinitely significant
        return math.inf
    inside = norm.cdf((delta - r) / h) - norm.cdf((-delta - r) / h)
    return float(np.mean(inside)) / psi2


def finite_rows(samples: FloatArray) -> FloatArray:
    s = np.asarray(samples, dtype=np.float64)
    return s[np.all(np.isfinite(s), axis=1)] if s.ndim == 2 else s[np.isfinite(s)]


def as_points(name: str, values: ArrayLike) -> FloatArray:
    """New x for a band: a finite, positive 1-d array (a scalar becomes one point)."""
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise FitError(f"{name}: band points must be finite and > 0")
    return arr


def interval_dict(intervals: Sequence[tuple[str, Interval]]) -> dict[str, dict[str, float | str | bool]]:
    return {name: iv.to_dict() for name, iv in intervals}
