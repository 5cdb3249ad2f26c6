"""Scaling laws for precision (Kumar et al. 2024, "Scaling Laws for Precision", arXiv:2411.04330).

Training in low precision shrinks the effective parameter count:
    N_eff = N (1 - exp(-P_w / gamma_w)) (1 - exp(-P_a / gamma_a)) (1 - exp(-P_kv / gamma_kv))
    L(N, D, P_w, P_a, P_kv) = E + A / N_eff^alpha + B / D^beta
`PrecisionFit` fits (A, B, E, alpha, beta, gamma_w, gamma_a, gamma_kv) by least squares on log loss: the base
law first on runs in 16+ bit precision (where N_eff ~ N), the three gammas with the base held, then all eight
jointly (batched Levenberg-Marquardt), with a bootstrap of all eight.

Post-training quantization of a model trained in high precision adds a degradation that grows with the data
seen per parameter (overtrained models are more fragile):
    delta_PTQ(N, D, P_post) = C_T (D^gamma_D / N^gamma_N) exp(-P_post / gamma_post)
which is linear in (ln C_T, gamma_D, gamma_N, 1/gamma_post) after taking logs: `PTQDegradationFit` is exact
least squares on ln delta with a bootstrap. Past `critical_data_size` more pretraining data makes the
quantized model worse.

Compute-optimal precision: with weights, activations and KV cache in one precision P, training cost scales
as 6 N D P / 16, and the loss depends on N only through N_eff = N f(P); so the optimum maximises f(P) / P,
independent of the compute budget (the paper's finding, ~7-8 bits with its fitted gammas). With N fixed,
the optimal P grows with compute (`compute_optimal_precision(..., n=...)`).

The paper's fitted constants could not be retrieved for this module; tests recover known parameters from
synthetic data and check the paper's structural findings (precision independent of compute, degradation
growing with D/N, a critical data size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar

from analytics.fitting import plausibility as pl
from analytics.fitting.chinchilla import ChinchillaParams
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
FULL_PRECISION_BITS = 16.0
PRECISION_NAMES = ("log_A", "log_B", "log_E", "alpha", "beta", "log_gamma_w", "log_gamma_a", "log_gamma_kv")


def precision_factor(p: FloatArray, gamma: float | FloatArray) -> FloatArray:
    out: FloatArray = -np.expm1(-p / gamma)
    return out


@dataclass(frozen=True)
class PrecisionParams:
    base: ChinchillaParams
    gamma_w: float
    gamma_a: float
    gamma_kv: float

    def n_eff(self, n: ArrayLike, p_w: ArrayLike, p_a: ArrayLike, p_kv: ArrayLike) -> FloatArray:
        out: FloatArray = (
            np.asarray(n, dtype=np.float64)
            * precision_factor(np.asarray(p_w, dtype=np.float64), self.gamma_w)
            * precision_factor(np.asarray(p_a, dtype=np.float64), self.gamma_a)
            * precision_factor(np.asarray(p_kv, dtype=np.float64), self.gamma_kv)
        )
        return out

    def predict(
        self, n: ArrayLike, d: ArrayLike, p_w: ArrayLike, p_a: ArrayLike, p_kv: ArrayLike
    ) -> FloatArray:
        return self.base.predict(self.n_eff(n, p_w, p_a, p_kv), d)

    def tied_factor(self, p: float | FloatArray) -> FloatArray:
        """f(P) = N_eff / N with weights, activations and KV cache all in precision P."""
        pp = np.asarray(p, dtype=np.float64)
        out: FloatArray = (
            precision_factor(pp, self.gamma_w)
            * precision_factor(pp, self.gamma_a)
            * precision_factor(pp, self.gamma_kv)
        )
        return out

    def as_theta(self) -> FloatArray:
        b = self.base
        return np.array(
            [
                b.a,
                b.b,
                b.e,
                b.alpha,
                b.beta,
                math.log(self.gamma_w),
                math.log(self.gamma_a),
                math.log(self.gamma_kv),
            ]
        )

    @classmethod
    def from_theta(cls, theta: FloatArray) -> PrecisionParams:
        t = [float(v) for v in theta]
        return cls(ChinchillaParams(*t[:5]), math.exp(t[5]), math.exp(t[6]), math.exp(t[7]))


def _model(
    theta: FloatArray, log_n: FloatArray, log_d: FloatArray, p: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """ln L (k, n) and Jacobian (k, n, 8); p is (n, 3) precisions (weights, activations, KV cache)."""
    la, lb, le, alpha, beta = (theta[:, j : j + 1] for j in range(5))
    gammas = np.exp(theta[:, 5:8])  # (k, 3)
    ratio = p[None, :, :] / gammas[:, None, :]  # (k, n, 3)
    log_f = np.log(-np.expm1(-ratio))
    log_neff = log_n[None, :] + log_f.sum(axis=2)
    t1 = la - alpha * log_neff
    t2 = lb - beta * log_d[None, :]
    t3 = np.broadcast_to(le, t1.shape)
    lse = np.logaddexp(np.logaddexp(t1, t2), t3)
    w1, w2, w3 = np.exp(t1 - lse), np.exp(t2 - lse), np.exp(t3 - lse)
    # d ln N_eff / d ln gamma = -(P/gamma) / (exp(P/gamma) - 1)
    dlog_f = -ratio / np.expm1(ratio)
    jac = np.concatenate(
        [
            np.stack([w1, w2, w3, -w1 * log_neff, -w2 * log_d[None, :]], axis=2),
            (-alpha * w1)[:, :, None] * dlog_f,
        ],
        axis=2,
    )
    return lse, jac


@dataclass(frozen=True)
class PrecisionResult:
    params: PrecisionParams
    n_points: int
    residuals: FloatArray
    rmse_log: float
    bootstrap: FloatArray = field(default_factory=lambda: np.empty((0, 8)))
    warnings: tuple[pl.FitWarning, ...] = ()

    def intervals(self, level: float = 0.95) -> dict[str, Interval]:
        b = self.bootstrap
        if b.shape[0] < 2:
            raise FitError("intervals need a bootstrap: fit with n_bootstrap >= 2")
        p = self.params
        pstar = optimal_tied_precision(p)
        boot_pstar = np.array([optimal_tied_precision(PrecisionParams.from_theta(row)) for row in b])
        return {
            "alpha": percentile_interval(p.base.alpha, b[:, 3], level, what="alpha"),
            "beta": percentile_interval(p.base.beta, b[:, 4], level, what="beta"),
            "gamma_w": percentile_interval(p.gamma_w, np.exp(b[:, 5]), level, what="gamma_w"),
            "gamma_a": percentile_interval(p.gamma_a, np.exp(b[:, 6]), level, what="gamma_a"),
            "gamma_kv": percentile_interval(p.gamma_kv, np.exp(b[:, 7]), level, what="gamma_kv"),
            "optimal_precision": percentile_interval(pstar, boot_pstar, level, what="P*"),
        }

    def band(
        self,
        n: ArrayLike,
        d: ArrayLike,
        p_w: ArrayLike,
        p_a: ArrayLike,
        p_kv: ArrayLike,
        level: float = 0.95,
        kind: BandKind = "confidence",
    ) -> Band:
        n_, d_ = as_points("N", n), as_points("D", d)
        p = _precisions(
            *(np.broadcast_to(np.asarray(v, dtype=np.float64), n_.shape) for v in (p_w, p_a, p_kv))
        )
        est = self.params.predict(n_, d_, p[:, 0], p[:, 1], p[:, 2])
        b = self.bootstrap
        samples = (
            np.exp(_model(b, np.log(n_), np.log(d_), p)[0]) if b.shape[0] >= 2 else np.empty((0, n_.size))
        )
        x = {"N": n_, "D": d_, "P_w": p[:, 0], "P_a": p[:, 1], "P_kv": p[:, 2]}
        return band_from_samples(x, est, samples, level, kind=kind, log_sd=self.rmse_log)


def _precisions(p_w: ArrayLike, p_a: ArrayLike, p_kv: ArrayLike) -> FloatArray:
    return np.stack(
        [
            positive_array(name, v)
            for name, v in (("P_w (bits)", p_w), ("P_a (bits)", p_a), ("P_kv (bits)", p_kv))
        ],
        axis=1,
    )


class PrecisionFit:
    """`fit(N, D, P_w, P_a, P_kv, loss)` returns self; `params_`, `result_` hold the precision-aware law."""

    def __init__(self, *, n_bootstrap: int = 300, random_state: int = 0) -> None:
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    @single_threaded_blas
    def fit(
        self, n: ArrayLike, d: ArrayLike, p_w: ArrayLike, p_a: ArrayLike, p_kv: ArrayLike, loss: ArrayLike
    ) -> PrecisionFit:
        n_ = positive_array("N (parameters)", n)
        d_ = positive_array("D (tokens)", d)
        l_ = positive_array("loss", loss)
        p = _precisions(p_w, p_a, p_kv)
        count = same_length(N=n_, D=d_, loss=l_, precision=p[:, 0])
        require_points(count, 10, "precision scaling law (8 free parameters)")
        require_distinct("N", n_, 2, "precision scaling law")
        require_distinct("D", d_, 2, "precision scaling law")
        for j, name in enumerate(("P_w", "P_a", "P_kv")):
            require_distinct(name, p[:, j], 2, f"precision scaling law ({name} must vary to fit gamma)")
        log_n, log_d, log_l = np.log(n_), np.log(d_), np.log(l_)

        def fun(theta: FloatArray) -> tuple[FloatArray, FloatArray]:
            f, jac = _model(theta, log_n, log_d, p)
            return f - log_l[None, :], jac

        # starts: base exponents and gammas on small grids, scales from the data
        starts = []
        for alpha in (0.2, 0.35, 0.5):
            for beta in (0.2, 0.35):
                for g in (1.0, 3.0):
                    e0 = math.log(0.8 * float(l_.min()))
                    la = float(np.median(np.log(np.maximum(l_ - 0.8 * l_.min(), 1e-3)) + alpha * log_n))
                    lb = float(np.median(np.log(np.maximum(l_ - 0.8 * l_.min(), 1e-3)) + beta * log_d))
                    starts.append([la, lb, e0, alpha, beta, math.log(g), math.log(g), math.log(g)])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            ends, cost, _ = batched_least_squares(fun, np.array(starts), max_iter=1000)
        ok = np.isfinite(cost) & np.all(np.isfinite(ends), axis=1)
        if not np.any(ok):
            raise FitError("precision scaling law: no start converged")
        best = ends[int(np.flatnonzero(ok)[np.argmin(cost[ok])])]
        params = PrecisionParams.from_theta(best)
        resid = _model(best[None, :], log_n, log_d, p)[0][0] - log_l
        boot = np.empty((0, 8))
        if self.n_bootstrap:
            counts = bootstrap_counts(count, self.n_bootstrap, np.random.default_rng(self.random_state))
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                b_ends, _, b_ok = batched_least_squares(
                    fun, np.repeat(best[None, :], self.n_bootstrap, axis=0), counts, max_iter=300
                )
            boot = b_ends[b_ok & np.all(np.isfinite(b_ends), axis=1)]
        warnings = pl.combine(
            pl.check_exponent("alpha", params.base.alpha),
            pl.check_exponent("beta", params.base.beta),
        )
        p_min = float(p.min())
        for name, g in (
            ("gamma_w", params.gamma_w),
            ("gamma_a", params.gamma_a),
            ("gamma_kv", params.gamma_kv),
        ):
            if g < p_min / 10:
                warnings.append(
                    pl.FitWarning(
                        "not_identified",
                        f"{name} = {g:.3g} bits is far below the lowest precision trained ({p_min:g} bits): "
                        f"no run is low enough in precision to show the effect",
                    )
                )
        self.params_ = params
        self.result_ = PrecisionResult(
            params=params,
            n_points=count,
            residuals=resid,
            rmse_log=float(np.sqrt(np.mean(resid**2))),
            bootstrap=boot,
            warnings=tuple(warnings),
        )
        self.warnings_ = list(warnings)
        return self


def optimal_tied_precision(params: PrecisionParams, bounds: tuple[float, float] = (1.0, 32.0)) -> float:
    """Compute-optimal precision when N, D and P are all free: argmax f(P) / P (independent of compute)."""
    res = minimize_scalar(
        lambda q: -math.log(float(params.tied_factor(q))) + math.log(q),
        bounds=bounds,
        method="bounded",
        options={"xatol": 1e-8},
    )
    return float(res.x)


@dataclass(frozen=True)
class PrecisionPlan:
    precision: float
    n: float
    d: float
    loss: float
    compute: float
    warnings: tuple[pl.FitWarning, ...] = ()


def compute_optimal_precision(
    params: PrecisionParams,
    compute: float,
    *,
    n: float | None = None,
    bounds: tuple[float, float] = (1.0, 32.0),
) -> PrecisionPlan:
    """Best tied precision for `compute` FLOPs, counting training cost as 6 N D P / 16. With `n` given the
    model size is fixed and D follows from the budget; otherwise N and D are chosen optimally too (then the
    precision does not depend on the budget)."""
    if not (math.isfinite(compute) and compute > 0):
        raise FitError(f"compute must be a positive number of FLOPs, got {compute!r}")
    base = params.base
    if n is None:
        pstar = optimal_tied_precision(params, bounds)
        c_eff = compute * FULL_PRECISION_BITS / pstar
        n_eff_opt, d_opt = (float(v) for v in base.compute_optimal(c_eff * float(params.tied_factor(pstar))))
        n_opt = n_eff_opt / float(params.tied_factor(pstar))
        d_opt = c_eff / (6.0 * n_opt)
        loss = float(params.predict(n_opt, d_opt, pstar, pstar, pstar))
        warn = pl.check_at_bound("compute-optimal precision (bits)", pstar, *bounds, rtol=1e-4)
        return PrecisionPlan(pstar, n_opt, d_opt, loss, compute, tuple(warn))
    if not (math.isfinite(n) and n > 0):
        raise FitError(f"n must be a positive parameter count, got {n!r}")

    def loss_at(q: float) -> float:
        d = compute * FULL_PRECISION_BITS / (6.0 * n * q)
        return float(params.predict(n, d, q, q, q))

    res = minimize_scalar(loss_at, bounds=bounds, method="bounded", options={"xatol": 1e-8})
    q = float(res.x)
    d = compute * FULL_PRECISION_BITS / (6.0 * n * q)
    warn = pl.check_at_bound("compute-optimal precision (bits)", q, *bounds, rtol=1e-4)
    return PrecisionPlan(q, float(n), d, loss_at(q), compute, tuple(warn))


@dataclass(frozen=True)
class PTQParams:
    c_t: float
    gamma_d: float
    gamma_n: float
    gamma_post: float

    def degradation(self, n: ArrayLike, d: ArrayLike, p_post: ArrayLike) -> FloatArray:
        out: FloatArray = (
            self.c_t
            * np.asarray(d, dtype=np.float64) ** self.gamma_d
            / np.asarray(n, dtype=np.float64) ** self.gamma_n
            * np.exp(-np.asarray(p_post, dtype=np.float64) / self.gamma_post)
        )
        return out


def critical_data_size(base: ChinchillaParams, ptq: PTQParams, n: float, p_post: float) -> float:
    """D beyond which more pretraining data raises the post-quantization loss: where
    d/dD [B D^-beta + delta_PTQ] = 0, D* = (beta B / (gamma_D K))^(1 / (beta + gamma_D)),
    K = C_T N^-gamma_N exp(-P_post / gamma_post)."""
    if ptq.gamma_d <= 0:
        return math.inf
    k = ptq.c_t * n ** (-ptq.gamma_n) * math.exp(-p_post / ptq.gamma_post)
    return float((base.beta * base.B / (ptq.gamma_d * k)) ** (1.0 / (base.beta + ptq.gamma_d)))


@dataclass(frozen=True)
class PTQResult:
    params: PTQParams
    n_points: int
    residuals: FloatArray  # ln delta_pred - ln delta
    rmse_log: float
    bootstrap: FloatArray = field(
        default_factory=lambda: np.empty((0, 4))
    )  # (ln C_T, gamma_D, gamma_N, 1/g_post)
    warnings: tuple[pl.FitWarning, ...] = ()

    def intervals(self, level: float = 0.95) -> dict[str, Interval]:
        b = self.bootstrap
        if b.shape[0] < 2:
            raise FitError("intervals need a bootstrap: fit with n_bootstrap >= 2")
        p = self.params
        with np.errstate(divide="ignore"):
            inv = 1.0 / b[:, 3]
        return {
            "c_t": percentile_interval(p.c_t, np.exp(b[:, 0]), level, what="C_T"),
            "gamma_d": percentile_interval(p.gamma_d, b[:, 1], level, what="gamma_D"),
            "gamma_n": percentile_interval(p.gamma_n, b[:, 2], level, what="gamma_N"),
            "gamma_post": percentile_interval(p.gamma_post, inv, level, what="gamma_post"),
        }

    def band(
        self,
        n: ArrayLike,
        d: ArrayLike,
        p_post: ArrayLike,
        level: float = 0.95,
        kind: BandKind = "confidence",
    ) -> Band:
        """PTQ degradation at new points; a prediction band adds the residual scatter of ln delta."""
        n_, d_ = as_points("N", n), as_points("D", d)
        pp = np.broadcast_to(np.asarray(p_post, dtype=np.float64), n_.shape)
        x = np.stack([np.ones(n_.size), np.log(d_), -np.log(n_), -pp], axis=1)
        b = self.bootstrap
        samples = np.exp(b @ x.T) if b.shape[0] >= 2 else np.empty((0, n_.size))
        est = self.params.degradation(n_, d_, pp)
        return band_from_samples(
            {"N": n_, "D": d_, "P_post": pp}, est, samples, level, kind=kind, log_sd=self.rmse_log
        )


class PTQDegradationFit:
    """`fit(N, D, P_post, delta_loss)` returns self: delta = loss after quantization - loss before (> 0)."""

    def __init__(self, *, n_bootstrap: int = 1000, random_state: int = 0) -> None:
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    @single_threaded_blas
    def fit(self, n: ArrayLike, d: ArrayLike, p_post: ArrayLike, delta: ArrayLike) -> PTQDegradationFit:
        n_ = positive_array("N (parameters)", n)
        d_ = positive_array("D (tokens)", d)
        pp = positive_array("P_post (bits)", p_post)
        dl = positive_array("PTQ degradation (loss after - before)", delta)
        count = same_length(N=n_, D=d_, P_post=pp, delta=dl)
        require_points(count, 6, "PTQ degradation law (4 free parameters)")
        for name, v in (("N", n_), ("D", d_), ("P_post", pp)):
            require_distinct(name, v, 2, "PTQ degradation law")
        x = np.stack([np.ones(count), np.log(d_), -np.log(n_), -pp], axis=1)
        y = np.log(dl)
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        if np.linalg.matrix_rank(x) < 4:
            raise FitError("PTQ degradation law: N, D and P_post are collinear in these runs")
        if coef[3] <= 0:
            raise FitError("PTQ degradation does not shrink with more post-training bits: 1/gamma_post <= 0")
        resid = x @ coef - y
        boot = np.empty((0, 4))
        if self.n_bootstrap:
            w = bootstrap_counts(count, self.n_bootstrap, np.random.default_rng(self.random_state))
            xtwx = np.einsum("bn,ni,nj->bij", w, x, x)
            xtwy = np.einsum("bn,ni,n->bi", w, x, y)
            ok = np.linalg.matrix_rank(xtwx) == 4
            boot = np.linalg.solve(xtwx[ok], xtwy[ok][:, :, None])[:, :, 0]
        params = PTQParams(
            c_t=float(math.exp(coef[0])),
            gamma_d=float(coef[1]),
            gamma_n=float(coef[2]),
            gamma_post=float(1.0 / coef[3]),
        )
        warnings: list[pl.FitWarning] = []
        if params.gamma_d <= 0:
            warnings.append(
                pl.FitWarning(
                    "exponent_out_of_range",
                    f"gamma_D = {params.gamma_d:.3g}: degradation does not grow with data (Kumar et al.: it "
                    f"does)",
                )
            )
        self.params_ = params
        self.result_ = PTQResult(
            params=params,
            n_points=count,
            residuals=resid,
            rmse_log=float(np.sqrt(np.mean(resid**2))),
            bootstrap=boot,
            warnings=tuple(warnings),
        )
        self.warnings_ = list(warnings)
        return self
