"""Chinchilla Approach 3 (Hoffmann et al. 2022, appendix D.2), as published.

L(N, D) = E + A / N^alpha + B / D^beta, fitted as
  min over (a, b, e, alpha, beta) of sum_i Huber_delta(LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i)
with delta = 1e-3, A = exp(a), B = exp(b), E = exp(e), by L-BFGS from a grid of 4,500 starts; best is kept.

Speed: the objective and its analytic gradient are evaluated for the whole grid at once (a (starts x points)
array), and a batched L-BFGS with a backtracking Armijo line search runs all starts in lock-step for
`max_iter` (40) iterations: a screen, not full convergence. The `n_polish` (8) best distinct end points are
then polished with scipy's L-BFGS-B (analytic gradient, tight tolerances), so the reported optimum is a proper
L-BFGS optimum. That the screen keeps the basin of the best start is checked, not proven: the benchmark
compares against the plain per-start scipy loop.

Uncertainty: `n_bootstrap` replicates resample the runs (multinomial counts) and are refitted all at once
by the same batched L-BFGS, each from the full-data optimum. `ChinchillaResult` turns the replicates into
percentile intervals for the parameters, the exponents a = beta/(alpha+beta), b = alpha/(alpha+beta),
and N_opt, D_opt, tokens per parameter and loss at any budget (`derived`), and into bands of the loss
surface (`band`).
Plausibility warnings (`warnings`, see analytics.fitting.plausibility) flag, among others, runs that repeat
data (pass U) and an optimum outside [1, 1000] tokens per parameter.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from analytics.fitting import plausibility as pl
from analytics.fitting.errors import FitError, positive_array, require_distinct, require_points, same_length
from analytics.fitting.intervals import (
    Band,
    BandKind,
    Interval,
    as_points,
    band_from_samples,
    check_level,
    percentile_interval,
    single_threaded_blas,
)

HUBER_DELTA = 1e-3
_EXP_FLOOR = -40.0
PARAM_NAMES = ("a", "b", "e", "alpha", "beta")

FloatArray = NDArray[np.float64]


def chinchilla_grid() -> FloatArray:
    """The published 4,500-start grid, rows in (a, b, e, alpha, beta) order."""
    alphas = np.arange(0.0, 2.0 + 1e-9, 0.5)
    es = np.arange(-1.0, 1.0 + 1e-9, 0.5)
    abs_ = np.arange(0.0, 25.0 + 1e-9, 5.0)
    rows = [(a, b, e, al, be) for al, be, e, a, b in itertools.product(alphas, alphas, es, abs_, abs_)]
    return np.asarray(rows, dtype=np.float64)


def huber(r: FloatArray, delta: float = HUBER_DELTA) -> FloatArray:
    ar = np.abs(r)
    return np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta))


def objective(theta: ArrayLike, log_n: FloatArray, log_d: FloatArray, log_l: FloatArray) -> float:
    """The published objective for one parameter vector (used by the baseline and by tests)."""
    a, b, e, alpha, beta = np.asarray(theta, dtype=np.float64)
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    m = terms.max(axis=0)
    lse = m + np.log(np.exp(terms - m).sum(axis=0))
    return float(huber(lse - log_l).sum())


def objective_and_grad_batch(
    theta: FloatArray,
    log_n: FloatArray,
    log_d: FloatArray,
    log_l: FloatArray,
    weights: FloatArray | None = None,
    delta: float = HUBER_DELTA,
) -> tuple[FloatArray, FloatArray]:
    """Objective (k,) and analytic gradient (k, 5) for k parameter vectors at once.

    `weights` (k, n) lets each row see a different resampling of the points (bootstrap by multinomial counts).
    """
    a, b, e, alpha, beta = (theta[:, j : j + 1] for j in range(5))
    t1 = a - alpha * log_n
    t2 = b - beta * log_d
    m = np.maximum(np.maximum(t1, t2), e)
    # Terms more than e^-40 below the largest cannot change s = x1 + x2 + x3 >= 1 in double precision;
    # clipping keeps exp() away from denormals, which are an order of magnitude slower.
    x1 = np.exp(np.maximum(t1 - m, _EXP_FLOOR))
    x2 = np.exp(np.maximum(t2 - m, _EXP_FLOOR))
    x3 = np.exp(np.maximum(e - m, _EXP_FLOOR))
    s = x1 + x2 + x3
    r = m + np.log(s) - log_l
    ar = np.abs(r)
    small = ar <= delta
    f_el = np.where(small, 0.5 * r * r, delta * (ar - 0.5 * delta))
    psi = np.clip(r, -delta, delta)  # d huber / d r
    if weights is not None:
        f_el = f_el * weights
        psi = psi * weights
    psi_over_s = psi / s
    w1 = psi_over_s * x1
    w2 = psi_over_s * x2
    w3 = psi_over_s * x3
    grad = np.empty_like(theta)
    grad[:, 0] = w1.sum(axis=1)
    grad[:, 1] = w2.sum(axis=1)
    grad[:, 2] = w3.sum(axis=1)
    grad[:, 3] = -(w1 @ log_n)
    grad[:, 4] = -(w2 @ log_d)
    return f_el.sum(axis=1), grad


def _two_loop(g: FloatArray, s_hist: FloatArray, y_hist: FloatArray, count: NDArray[np.int64]) -> FloatArray:
    """Batched L-BFGS two-loop recursion; rows with fewer stored pairs use only the ones they have."""
    k, m, _ = s_hist.shape
    q = g.copy()
    alphas = np.zeros((k, m))
    sy = np.einsum("kmj,kmj->km", s_hist, y_hist)
    rho = np.where(sy > 0, 1.0 / np.where(sy > 0, sy, 1.0), 0.0)
    idx = np.arange(m)
    valid = idx[None, :] < count[:, None]
    # pairs are stored newest-first at index 0
    for j in range(m):
        aj = rho[:, j] * np.einsum("kj,kj->k", s_hist[:, j], q) * valid[:, j]
        alphas[:, j] = aj
        q -= aj[:, None] * y_hist[:, j]
    yy = np.einsum("kj,kj->k", y_hist[:, 0], y_hist[:, 0])
    gamma = np.where((count > 0) & (yy > 0), sy[:, 0] / np.where(yy > 0, yy, 1.0), 1.0)
    r = gamma[:, None] * q
    for j in reversed(range(m)):
        bj = rho[:, j] * np.einsum("kj,kj->k", y_hist[:, j], r) * valid[:, j]
        r += (s_hist[:, j] * (alphas[:, j] - bj)[:, None]) * valid[:, j, None]
    return r


def batched_lbfgs(
    x0: FloatArray,
    fun: Any,
    *,
    max_iter: int = 200,
    history: int = 10,
    gtol: float = 1e-10,
    ftol: float = 1e-13,
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """Minimise many independent problems in lock-step. `fun(x, rows)` -> (f, g) for the given row subset."""
    x = x0.astype(np.float64).copy()
    k, dim = x.shape
    all_rows = np.arange(k)
    f, g = fun(x, all_rows)
    s_hist = np.zeros((k, history, dim))
    y_hist = np.zeros((k, history, dim))
    count = np.zeros(k, dtype=np.int64)
    active = np.isfinite(f)
    converged = np.zeros(k, dtype=bool)
    for _ in range(max_iter):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        gr = g[rows]
        d = -_two_loop(gr, s_hist[rows], y_hist[rows], count[rows])
        gd = np.einsum("kj,kj->k", gr, d)
        bad = ~(gd < 0) | ~np.isfinite(gd)
        d[bad] = -gr[bad]
        gd[bad] = -np.einsum("kj,kj->k", gr[bad], gr[bad])
        gnorm = np.sqrt(np.einsum("kj,kj->k", gr, gr))
        t = np.where(count[rows] == 0, np.minimum(1.0, 1.0 / np.maximum(gnorm, 1e-300)), 1.0)
        fr = f[rows]
        new_x = x[rows].copy()
        new_f = fr.copy()
        new_g = gr.copy()
        pending = np.ones(rows.size, dtype=bool)
        for _ls in range(60):
            p = np.flatnonzero(pending)
            if p.size == 0:
                break
            cand = x[rows[p]] + t[p, None] * d[p]
            fc, gc = fun(cand, rows[p])
            ok = np.isfinite(fc) & (fc <= fr[p] + 1e-4 * t[p] * gd[p])
            acc = p[ok]
            new_x[acc] = cand[ok]
            new_f[acc] = fc[ok]
            new_g[acc] = gc[ok]
            pending[acc] = False
            t[p[~ok]] *= 0.5
        stalled = pending
        s = new_x - x[rows]
        y = new_g - gr
        sy = np.einsum("kj,kj->k", s, y)
        upd = (sy > 1e-300) & ~stalled
        ur = rows[upd]
        s_hist[ur] = np.roll(s_hist[ur], 1, axis=1)
        y_hist[ur] = np.roll(y_hist[ur], 1, axis=1)
        s_hist[ur, 0] = s[upd]
        y_hist[ur, 0] = y[upd]
        count[ur] = np.minimum(count[ur] + 1, history)
        df = fr - new_f
        x[rows] = new_x
        f[rows] = new_f
        g[rows] = new_g
        done = (
            stalled
            | (np.abs(new_g).max(axis=1) <= gtol)
            | (df <= ftol * np.maximum(np.maximum(np.abs(fr), np.abs(new_f)), 1e-300))
        )
        converged[rows[done & ~stalled]] = True
        active[rows[done]] = False
    return x, f, converged


@dataclass(frozen=True)
class ChinchillaParams:
    a: float
    b: float
    e: float
    alpha: float
    beta: float

    @property
    def A(self) -> float:
        return float(np.exp(self.a))

    @property
    def B(self) -> float:
        return float(np.exp(self.b))

    @property
    def E(self) -> float:
        return float(np.exp(self.e))

    def as_array(self) -> FloatArray:
        return np.array([self.a, self.b, self.e, self.alpha, self.beta])

    def predict(self, n: ArrayLike, d: ArrayLike) -> FloatArray:
        n_ = np.asarray(n, dtype=np.float64)
        d_ = np.asarray(d, dtype=np.float64)
        return self.E + self.A / n_**self.alpha + self.B / d_**self.beta

    def compute_optimal(self, compute: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """N_opt(C), D_opt(C) under C = 6ND (Hoffmann et al. eq. 4)."""
        c = np.asarray(compute, dtype=np.float64)
        if self.alpha <= 0 or self.beta <= 0:
            raise FitError(
                f"compute-optimal allocation needs alpha, beta > 0 (got {self.alpha}, {self.beta})"
            )
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))
        ea = self.beta / (self.alpha + self.beta)
        eb = self.alpha / (self.alpha + self.beta)
        return g * (c / 6.0) ** ea, (1.0 / g) * (c / 6.0) ** eb

    def to_dict(self) -> dict[str, float]:
        return {
            "a": self.a,
            "b": self.b,
            "e": self.e,
            "alpha": self.alpha,
            "beta": self.beta,
            "A": self.A,
            "B": self.B,
            "E": self.E,
        }


def compute_optimal_batch(theta: FloatArray, compute: float) -> tuple[FloatArray, FloatArray]:
    """N_opt, D_opt at `compute` per row (a, b, e, alpha, beta) of `theta`; NaN where alpha or beta <= 0."""
    a, b, _, alpha, beta = (theta[:, j] for j in range(5))
    with np.errstate(all="ignore"):
        ok = (alpha > 0) & (beta > 0)
        s = alpha + beta
        log_g = (np.log(alpha) + a - np.log(beta) - b) / s
        log_c = math.log(compute / 6.0)
        log_n = log_g + (beta / s) * log_c
        log_d = -log_g + (alpha / s) * log_c
    return np.where(ok, np.exp(log_n), np.nan), np.where(ok, np.exp(log_d), np.nan)


def loss_batch(theta: FloatArray, n: FloatArray, d: FloatArray) -> FloatArray:
    """Loss (k, m) of k parameter rows at m points (n, d)."""
    a, b, e, alpha, beta = (theta[:, j : j + 1] for j in range(5))
    with np.errstate(over="ignore"):
        out: FloatArray = (
            np.exp(e) + np.exp(a - alpha * np.log(n)[None, :]) + np.exp(b - beta * np.log(d)[None, :])
        )
    return out


@dataclass(frozen=True)
class ChinchillaResult:
    params: ChinchillaParams
    objective: float
    n_points: int
    n_starts: int
    residuals: FloatArray  # log L_pred - log L
    r2: float
    rmse_log: float
    bootstrap: FloatArray = field(
        default_factory=lambda: np.empty((0, 5))
    )  # (B, 5) rows (a, b, e, alpha, beta)
    compute_range: tuple[float, float] = (math.nan, math.nan)  # min, max of 6 N D over the fitted runs
    warnings: tuple[pl.FitWarning, ...] = ()
    n_excluded_repeated: int = 0

    def ci(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        if self.bootstrap.shape[0] < 2:
            return {}
        lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
        out = {}
        for j, name in enumerate(PARAM_NAMES):
            col = self.bootstrap[:, j]
            out[name] = (float(np.percentile(col, lo)), float(np.percentile(col, hi)))
        return out

    @property
    def n_exponent(self) -> float:
        """a in N_opt ~ C^a (= beta / (alpha + beta))."""
        return self.params.beta / (self.params.alpha + self.params.beta)

    @property
    def d_exponent(self) -> float:
        """b in D_opt ~ C^b (= alpha / (alpha + beta))."""
        return self.params.alpha / (self.params.alpha + self.params.beta)

    def _require_bootstrap(self) -> FloatArray:
        if self.bootstrap.shape[0] < 2:
            raise FitError("intervals need a bootstrap: fit with n_bootstrap >= 2")
        return self.bootstrap

    def intervals(self, level: float = 0.95) -> dict[str, Interval]:
        """Percentile intervals of a, b, e, alpha, beta, A, B, E and the exponents a (N_opt) and b (D_opt)."""
        boot = self._require_bootstrap()
        p = self.params
        alpha, beta = boot[:, 3], boot[:, 4]
        with np.errstate(all="ignore"):
            n_exp = beta / (alpha + beta)
        out = {
            name: percentile_interval(float(getattr(p, name)), boot[:, j], level, what=name)
            for j, name in enumerate(PARAM_NAMES)
        }
        out["A"] = percentile_interval(p.A, np.exp(boot[:, 0]), level, what="A")
        out["B"] = percentile_interval(p.B, np.exp(boot[:, 1]), level, what="B")
        out["E"] = percentile_interval(p.E, np.exp(boot[:, 2]), level, what="E")
        out["n_exponent"] = percentile_interval(self.n_exponent, n_exp, level, what="a")
        out["d_exponent"] = percentile_interval(self.d_exponent, 1.0 - n_exp, level, what="b")
        return out

    def derived(self, compute: float, level: float = 0.95) -> dict[str, Interval]:
        """N_opt, D_opt, tokens per parameter and loss at the optimum for `compute` FLOPs, with intervals."""
        if not (math.isfinite(compute) and compute > 0):
            raise FitError(f"compute budget must be a positive number of FLOPs, got {compute!r}")
        boot = self._require_bootstrap()
        n_hat, d_hat = (float(v) for v in self.params.compute_optimal(compute))
        n_b, d_b = compute_optimal_batch(boot, compute)
        loss_hat = float(self.params.predict(n_hat, d_hat))
        a, b, e, alpha, beta = (boot[:, j] for j in range(5))
        with np.errstate(all="ignore"):
            loss_b = np.exp(e) + np.exp(a - alpha * np.log(n_b)) + np.exp(b - beta * np.log(d_b))
        return {
            "n_opt": percentile_interval(n_hat, n_b, level, what="N_opt"),
            "d_opt": percentile_interval(d_hat, d_b, level, what="D_opt"),
            "tokens_per_parameter": percentile_interval(d_hat / n_hat, d_b / n_b, level, what="D/N"),
            "loss_opt": percentile_interval(loss_hat, loss_b, level, what="loss at the optimum"),
        }

    def band(self, n: ArrayLike, d: ArrayLike, level: float = 0.95, kind: BandKind = "confidence") -> Band:
        """Loss at points (n, d): percentile band over the bootstrap replicates; a prediction band adds the
        residual scatter on log loss (rmse_log)."""
        n_ = as_points("N", n)
        d_ = as_points("D", d)
        if n_.shape != d_.shape:
            raise FitError(f"band points: N and D differ in length ({n_.size} vs {d_.size})")
        check_level(level)
        est = self.params.predict(n_, d_)
        samples = (
            loss_batch(self.bootstrap, n_, d_) if self.bootstrap.shape[0] >= 2 else np.empty((0, n_.size))
        )
        return band_from_samples({"N": n_, "D": d_}, est, samples, level, kind=kind, log_sd=self.rmse_log)

    def plausibility(self, compute: float | None = None, level: float = 0.95) -> list[pl.FitWarning]:
        """Warnings of the fit itself plus those of an allocation at `compute` FLOPs (default: the largest
        compute in the data): tokens per parameter, extrapolation, interval width."""
        return list(self.warnings) + allocation_warnings(self, compute, level)


def allocation_warnings(
    result: ChinchillaResult, compute: float | None, level: float = 0.95
) -> list[pl.FitWarning]:
    budget = result.compute_range[1] if compute is None else float(compute)
    if not (math.isfinite(budget) and budget > 0):
        return []
    out: list[pl.FitWarning] = []
    p = result.params
    if p.alpha <= 0 or p.beta <= 0:
        return [
            pl.FitWarning(
                "exponent_out_of_range",
                f"alpha = {p.alpha:.4g}, beta = {p.beta:.4g}: no compute-optimal allocation exists",
                "error",
            )
        ]
    n_opt, d_opt = (float(v) for v in p.compute_optimal(budget))
    out += pl.check_tokens_per_parameter(n_opt, d_opt, compute=budget)
    out += pl.check_extrapolation(budget, result.compute_range)
    if result.bootstrap.shape[0] >= 2:
        derived = result.derived(budget, level)
        out += pl.check_interval(f"N_opt at {budget:.3g} FLOPs", derived["n_opt"])
        out += pl.check_interval(
            f"tokens per parameter at {budget:.3g} FLOPs", derived["tokens_per_parameter"]
        )
    return out


def _prepare(n: ArrayLike, d: ArrayLike, loss: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    n_ = positive_array("N (parameters)", n)
    d_ = positive_array("D (tokens)", d)
    l_ = positive_array("loss", loss)
    count = same_length(N=n_, D=d_, loss=l_)
    require_points(count, 5, "Chinchilla Approach 3 (5 free parameters)")
    require_distinct("N", n_, 2, "Chinchilla Approach 3")
    require_distinct("D", d_, 2, "Chinchilla Approach 3")
    return np.log(n_), np.log(d_), np.log(l_)


def polish(
    theta: FloatArray, log_n: FloatArray, log_d: FloatArray, log_l: FloatArray
) -> tuple[FloatArray, float]:
    """scipy L-BFGS-B from one start with the analytic gradient and tight tolerances."""

    def fg(x: FloatArray) -> tuple[float, FloatArray]:
        f, g = objective_and_grad_batch(x[None, :], log_n, log_d, log_l)
        return float(f[0]), g[0]

    res = minimize(
        fg, theta, jac=True, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 15000}
    )
    return res.x, float(res.fun)


def _bound_warnings(params: ChinchillaParams) -> list[pl.FitWarning]:
    """The law is unconstrained, so 'at a bound' means a degenerate limit: an exponent at 0 (a term that no
    longer decays) or an irreducible loss E vanishing (e -> -inf, the grid's lower edge is -1)."""
    out: list[pl.FitWarning] = []
    for name in ("alpha", "beta"):
        value = float(getattr(params, name))
        if value <= 1e-3:
            out.append(
                pl.FitWarning("at_bound", f"{name} = {value:.3g}: that term does not decay with scale")
            )
    if params.e < -5.0:
        out.append(pl.FitWarning("at_bound", f"E = {params.E:.3g}: the irreducible loss ran to zero", "info"))
    return out


class ChinchillaApproach3:
    """scikit-learn style estimator: `fit(N, D, loss)` returns self; results in attributes ending in `_`."""

    def __init__(
        self,
        *,
        grid: FloatArray | None = None,
        n_polish: int = 8,
        n_bootstrap: int = 0,
        random_state: int = 0,
        max_iter: int = 40,
        repeated: Literal["warn", "exclude"] = "warn",
    ) -> None:
        self.grid = grid
        self.n_polish = n_polish
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state
        self.max_iter = max_iter
        self.repeated = repeated

    @single_threaded_blas
    def fit(
        self, n: ArrayLike, d: ArrayLike, loss: ArrayLike, *, u: ArrayLike | None = None
    ) -> ChinchillaApproach3:
        """`u` (unique tokens per run, optional): runs with D > U repeat data, which this law does not
        model; with repeated="warn" they are fitted and flagged, with repeated="exclude" they are left out
        (the mask of fitted runs is `kept_`)."""
        if self.repeated not in ("warn", "exclude"):
            raise FitError(f"repeated must be 'warn' or 'exclude', got {self.repeated!r}")
        kept = None
        repeated_warnings: list[pl.FitWarning] = []
        if u is not None:
            n_all = positive_array("N (parameters)", n)
            d_all = positive_array("D (tokens)", d)
            u_all = positive_array("U (unique tokens)", u)
            l_all = positive_array("loss", loss)
            same_length(N=n_all, D=d_all, U=u_all, loss=l_all)
            rep = d_all > u_all * (1 + 1e-9)
            repeated_warnings = pl.check_repeated_data(d_all, u_all, excluded=self.repeated == "exclude")
            if self.repeated == "exclude":
                kept = ~rep
                n, d, loss = n_all[kept], d_all[kept], l_all[kept]
        log_n, log_d, log_l = _prepare(n, d, loss)
        grid = chinchilla_grid() if self.grid is None else np.asarray(self.grid, dtype=np.float64)

        def fun(x: FloatArray, rows: NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
            with np.errstate(over="ignore", invalid="ignore"):
                return objective_and_grad_batch(x, log_n, log_d, log_l)

        ends, fvals, _ = batched_lbfgs(grid, fun, max_iter=self.max_iter)
        best_theta, best_f = self._polish_best(ends, fvals, log_n, log_d, log_l)
        params = ChinchillaParams(*map(float, best_theta))
        pred = np.log(params.predict(np.exp(log_n), np.exp(log_d)))
        resid = pred - log_l
        ss_res = float(np.sum(resid**2))
        ss_tot = float(np.sum((log_l - log_l.mean()) ** 2))
        boot = self._bootstrap(best_theta, log_n, log_d, log_l) if self.n_bootstrap else np.empty((0, 5))
        compute = 6.0 * np.exp(log_n + log_d)
        fit_warnings = pl.combine(
            repeated_warnings,
            pl.check_exponent("alpha", params.alpha),
            pl.check_exponent("beta", params.beta),
            pl.check_distinct("model sizes N", np.exp(log_n), 3, what="Chinchilla Approach 3"),
            pl.check_distinct("token counts D", np.exp(log_d), 3, what="Chinchilla Approach 3"),
            _bound_warnings(params),
        )
        self.result_ = ChinchillaResult(
            params=params,
            objective=best_f,
            n_points=log_n.size,
            n_starts=grid.shape[0],
            residuals=resid,
            r2=1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
            rmse_log=float(np.sqrt(np.mean(resid**2))),
            bootstrap=boot,
            compute_range=(float(compute.min()), float(compute.max())),
            warnings=tuple(fit_warnings),
            n_excluded_repeated=0 if kept is None else int((~kept).sum()),
        )
        self.params_ = params
        self.objective_ = best_f
        self.kept_ = np.ones(log_n.size, dtype=bool) if kept is None else kept
        self.warnings_ = list(self.result_.warnings) + allocation_warnings(self.result_, None)
        return self

    def _polish_best(
        self, ends: FloatArray, fvals: FloatArray, log_n: FloatArray, log_d: FloatArray, log_l: FloatArray
    ) -> tuple[FloatArray, float]:
        finite = np.flatnonzero(np.isfinite(fvals))
        if finite.size == 0:
            raise FitError("Chinchilla Approach 3: every start diverged (objective not finite)")
        order = finite[np.argsort(fvals[finite])]
        chosen: list[FloatArray] = []
        for i in order:
            if len(chosen) >= self.n_polish:
                break
            if all(np.max(np.abs(ends[i] - c)) > 1e-6 for c in chosen):
                chosen.append(ends[i])
        best_theta, best_f = chosen[0], float("inf")
        for c in chosen:
            theta, f = polish(c, log_n, log_d, log_l)
            if np.isfinite(f) and f < best_f:
                best_theta, best_f = theta, f
        return best_theta, best_f

    def _bootstrap(
        self, theta: FloatArray, log_n: FloatArray, log_d: FloatArray, log_l: FloatArray
    ) -> FloatArray:
        """Resample points with replacement; each replicate is refitted from the full-data optimum."""
        rng = np.random.default_rng(self.random_state)
        n = log_n.size
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=self.n_bootstrap).astype(np.float64)

        def fun(x: FloatArray, rows: NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
            with np.errstate(over="ignore", invalid="ignore"):
                return objective_and_grad_batch(x, log_n, log_d, log_l, weights=counts[rows])

        x0 = np.repeat(theta[None, :], self.n_bootstrap, axis=0)
        ends, fvals, _ = batched_lbfgs(x0, fun, max_iter=500)
        return ends[np.isfinite(fvals)]

    def predict(self, n: ArrayLike, d: ArrayLike) -> FloatArray:
        return self.params_.predict(n, d)
