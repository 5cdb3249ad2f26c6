"""Chinchilla Approach 2: IsoFLOP parabolas, then power laws N_opt ~ C^a and D_opt ~ C^b.

Steps, each guarding against a way the naive method fails:
1. Budgets. Runs are grouped into compute budgets by tolerance in log10 C (a new budget starts where sorted
   log10 C jumps by more than `budget_tolerance`, 0.05 dex by default), or by an explicit `budget` label per
   run. Raw per-run compute (each run's own 6 N D, jittered by rounding of steps and batch sizes) and 1e-15
   float noise therefore land in the same budget as the nominal value. A budget's nominal compute is its
   label, the common value when all runs agree, else the geometric mean of its runs.
2. Sizes. Within a budget, runs whose N agree within `size_tolerance` (relative) are one model size;
   replicate seeds are averaged, and the parabola weights each size by its number of runs.
3. Parabola. Around the size with the lowest mean loss, `window` distinct sizes on each side (all sizes
   when None) get a weighted quadratic in ln N. A budget is skipped, with the reason in `skipped`, when it
   has fewer than 3 distinct sizes, when its lowest loss is at either end of the sweep (the optimum is not
   bracketed), when the parabola opens downwards, or when its minimum lies outside the sampled sizes.
   D_opt = C / (6 N_opt).
4. Power law. ln N_opt = ln n_coef + a ln C by least squares over the usable budgets; D_opt follows with
   b = 1 - a.
5. Uncertainty. A residual bootstrap: the runs' residuals around their budget's parabola are pooled (rescaled
   for the parameters used), resampled onto every run, and the whole chain (size means, parabolas, vertices,
   regression) is recomputed for all replicates at once, conditional on the chosen windows. `intervals`,
   `derived` and `band` read percentile intervals off it. `window_exponents` refits the exponent for every
   window; a spread wider than the bootstrap interval is reported as `window_sensitive`.

Known bias of Approach 2: the IsoFLOP curve L(ln N) = E + A N^-alpha + B (C/6N)^-beta is not a parabola and
is asymmetric unless alpha = beta, so the vertex of a fitted parabola sits off the true optimum by an amount
that depends on where and how widely sizes were sampled. A constant offset only shifts n_coef; but when the
sampled sizes drift relative to the true optimum across budgets (for example sizes centred on a fixed
tokens-per-parameter heuristic while the true optimum scales differently), the offset changes with C and the
exponent is pulled towards the drift's slope. Narrow windows limit, but do not remove, the bias (Hoffmann et
al. 2022 Approach 2; Porian et al. 2024; Open-Athena "scaling-law-analysis" simulations). The bootstrap
interval covers noise, not this bias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics.fitting import plausibility as pl
from analytics.fitting.errors import FitError, positive_array, require_points, same_length
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

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class BudgetOptimum:
    compute: float
    n_opt: float
    d_opt: float
    loss_opt: float
    n_points: int  # runs in the parabola's window
    n_sizes: int = 0  # distinct sizes in the window


@dataclass(frozen=True)
class BudgetCurve:
    """Everything needed to plot one budget's IsoFLOP curve: loss vs N with the fitted parabola."""

    compute: float
    n_runs: int
    sizes: FloatArray  # distinct N, ascending
    mean_loss: FloatArray
    counts: FloatArray  # runs (replicates) per size
    in_window: NDArray[np.bool_]
    x_ref: float  # parabola centre, ln N of the lowest-loss size
    coef: tuple[float, float, float] | None  # loss = c0 + c1 (ln N - x_ref) + c2 (ln N - x_ref)^2
    n_opt: float | None
    loss_opt: float | None
    skipped: str | None

    def curve(self, num: int = 50) -> tuple[FloatArray, FloatArray]:
        """(N, loss) along the fitted parabola over the window's size range; empty when skipped."""
        if self.coef is None:
            return np.empty(0), np.empty(0)
        xs = np.log(self.sizes[self.in_window])
        grid = np.linspace(xs.min(), xs.max(), num) - self.x_ref
        c0, c1, c2 = self.coef
        return np.exp(grid + self.x_ref), c0 + c1 * grid + c2 * grid**2

    def to_dict(self) -> dict[str, object]:
        n_curve, l_curve = self.curve()
        return {
            "compute": self.compute,
            "n_runs": self.n_runs,
            "sizes": self.sizes.tolist(),
            "mean_loss": self.mean_loss.tolist(),
            "counts": self.counts.tolist(),
            "in_window": self.in_window.tolist(),
            "n_opt": self.n_opt,
            "loss_opt": self.loss_opt,
            "skipped": self.skipped,
            "parabola": {"N": n_curve.tolist(), "loss": l_curve.tolist()},
        }


@dataclass(frozen=True)
class IsoflopResult:
    optima: list[BudgetOptimum]
    n_exponent: float  # a in N_opt = n_coef * C^a
    n_coef: float
    d_exponent: float  # b in D_opt = d_coef * C^b
    d_coef: float
    n_r2: float
    skipped: dict[float, str] = field(default_factory=dict)  # budget -> why it gave no optimum
    curves: tuple[BudgetCurve, ...] = ()
    residuals: FloatArray = field(default_factory=lambda: np.empty(0))  # ln N_opt - fitted, per optimum
    bootstrap: FloatArray = field(default_factory=lambda: np.empty((0, 2)))  # rows (a, ln n_coef)
    window_exponents: dict[str, float] = field(default_factory=dict)  # window -> exponent a
    budget_of_run: FloatArray = field(default_factory=lambda: np.empty(0))  # nominal budget per input run
    warnings: tuple[pl.FitWarning, ...] = ()

    def n_opt(self, compute: ArrayLike) -> FloatArray:
        return self.n_coef * np.asarray(compute, dtype=np.float64) ** self.n_exponent

    def d_opt(self, compute: ArrayLike) -> FloatArray:
        return self.d_coef * np.asarray(compute, dtype=np.float64) ** self.d_exponent

    def _boot(self) -> FloatArray:
        if self.bootstrap.shape[0] < 2:
            raise FitError(
                "intervals need a bootstrap: fit with n_bootstrap >= 2 and residual degrees of freedom"
            )
        return self.bootstrap

    def intervals(self, level: float = 0.95) -> dict[str, Interval]:
        b = self._boot()
        return {
            "n_exponent": percentile_interval(self.n_exponent, b[:, 0], level, what="a"),
            "d_exponent": percentile_interval(self.d_exponent, 1.0 - b[:, 0], level, what="b"),
            "n_coef": percentile_interval(self.n_coef, np.exp(b[:, 1]), level, what="n_coef"),
        }

    def derived(self, compute: float, level: float = 0.95) -> dict[str, Interval]:
        """N_opt, D_opt and tokens per parameter at `compute` FLOPs, with intervals."""
        if not (math.isfinite(compute) and compute > 0):
            raise FitError(f"compute budget must be a positive number of FLOPs, got {compute!r}")
        b = self._boot()
        n_b = np.exp(b[:, 1] + b[:, 0] * math.log(compute))
        d_b = compute / (6.0 * n_b)
        n_hat = float(self.n_opt(compute))
        d_hat = compute / (6.0 * n_hat)
        return {
            "n_opt": percentile_interval(n_hat, n_b, level, what="N_opt"),
            "d_opt": percentile_interval(d_hat, d_b, level, what="D_opt"),
            "tokens_per_parameter": percentile_interval(d_hat / n_hat, d_b / n_b, level, what="D/N"),
        }

    def band(self, compute: ArrayLike, level: float = 0.95, kind: BandKind = "confidence") -> Band:
        """N_opt at new budgets; a prediction band adds the scatter of the budgets' optima about the line."""
        c = as_points("C", compute)
        check_level(level)
        b = self.bootstrap
        samples = (
            np.exp(b[:, 1:2] + b[:, 0:1] * np.log(c)[None, :]) if b.shape[0] >= 2 else np.empty((0, c.size))
        )
        dof = max(self.residuals.size - 2, 1)
        log_sd = float(np.sqrt(np.sum(self.residuals**2) / dof)) if self.residuals.size > 2 else 0.0
        return band_from_samples({"C": c}, self.n_opt(c), samples, level, kind=kind, log_sd=log_sd)


def _loglog_fit(x: FloatArray, y: FloatArray) -> tuple[float, float, float]:
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    pred = slope * np.log(x) + intercept
    ss_res = float(np.sum((np.log(y) - pred) ** 2))
    ss_tot = float(np.sum((np.log(y) - np.log(y).mean()) ** 2))
    return float(slope), float(np.exp(intercept)), 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def cluster_log(values: FloatArray, tolerance_dex: float) -> IntArray:
    """Group labels (0..k-1, in ascending order of value) where sorted log10 values jump by > tolerance."""
    order = np.argsort(values, kind="stable")
    logs = np.log10(values[order])
    starts = np.concatenate([[True], np.diff(logs) > tolerance_dex])
    labels_sorted = np.cumsum(starts) - 1
    labels = np.empty(values.size, dtype=np.int64)
    labels[order] = labels_sorted
    return labels


def _nominal(values: FloatArray) -> float:
    if values.max() == values.min():
        return float(values[0])
    return float(np.exp(np.mean(np.log(values))))


def group_budgets(
    compute: FloatArray, *, tolerance_dex: float = 0.05, labels: FloatArray | None = None
) -> tuple[IntArray, FloatArray]:
    """(group index per run, nominal compute per group), groups in ascending order of compute."""
    if labels is not None:
        uniq, idx = np.unique(labels, return_inverse=True)
        return idx.astype(np.int64), uniq.astype(np.float64)
    groups = cluster_log(compute, tolerance_dex)
    nominal = np.array([_nominal(compute[groups == g]) for g in range(int(groups.max()) + 1)])
    return groups, nominal


@dataclass
class _Window:
    """A usable budget: its window's design, for the point estimate and the vectorised bootstrap."""

    budget: float
    x_ref: float
    xs: FloatArray  # ln N of the window's sizes, centred on x_ref
    counts: FloatArray
    run_size: IntArray  # for each run in the window, index into xs
    run_loss: FloatArray
    hat: FloatArray  # (3, m): coefficients = hat @ mean losses
    coef: FloatArray


def _parabola(xs: FloatArray, ys: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Weighted least-squares quadratic: (coefficients c0, c1, c2; the (3, m) hat matrix)."""
    design = np.stack([np.ones_like(xs), xs, xs**2], axis=1)
    sw = np.sqrt(w)[:, None]
    pinv = np.linalg.pinv(design * sw)
    hat = pinv * np.sqrt(w)[None, :]
    return hat @ ys, hat


class IsoflopFit:
    """`fit(compute, N, loss, budget=None)` returns self; `result_` holds per-budget optima and exponents."""

    def __init__(
        self,
        *,
        window: int | None = 2,
        budget_tolerance: float = 0.05,
        size_tolerance: float = 1e-3,
        n_bootstrap: int = 1000,
        random_state: int = 0,
    ) -> None:
        self.window = window
        self.budget_tolerance = budget_tolerance
        self.size_tolerance = size_tolerance
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    @single_threaded_blas
    def fit(
        self, compute: ArrayLike, n: ArrayLike, loss: ArrayLike, *, budget: ArrayLike | None = None
    ) -> IsoflopFit:
        """`compute`: each run's FLOPs (nominal budget or its own 6 N D); `budget`: optional nominal budget
        label per run, which then defines the groups."""
        if self.window is not None and (not isinstance(self.window, int) or self.window < 1):
            raise FitError(
                f"window must be a positive number of sizes on each side, or None; got {self.window!r}"
            )
        if not (self.budget_tolerance > 0 and self.size_tolerance >= 0):
            raise FitError("budget_tolerance must be > 0 and size_tolerance >= 0")
        c_ = positive_array("C (compute budget)", compute)
        n_ = positive_array("N (parameters)", n)
        l_ = positive_array("loss", loss)
        labels = None if budget is None else positive_array("budget label", budget)
        if labels is None:
            same_length(C=c_, N=n_, loss=l_)
        else:
            same_length(C=c_, N=n_, loss=l_, budget=labels)
        require_points(c_.size, 3, "IsoFLOP fit")
        groups, nominal = group_budgets(c_, tolerance_dex=self.budget_tolerance, labels=labels)
        windows, curves, skipped = self._budgets(groups, nominal, n_, l_, self.window)
        optima = [self._optimum(w) for w in windows]
        require_points(len(optima), 2, f"IsoFLOP power law (budgets without an optimum: {skipped})")
        cs = np.array([o.compute for o in optima])
        if np.unique(cs).size < 2:
            raise FitError("IsoFLOP power law needs optima at 2 or more distinct budgets")
        a, n_coef, n_r2 = _loglog_fit(cs, np.array([o.n_opt for o in optima]))
        b, d_coef, _ = _loglog_fit(cs, np.array([o.d_opt for o in optima]))
        if not (np.isfinite(a) and np.isfinite(b) and n_coef > 0):
            raise FitError("IsoFLOP power law is not finite")
        resid = np.log([o.n_opt for o in optima]) - (math.log(n_coef) + a * np.log(cs))
        boot, boot_note = self._bootstrap(windows)
        window_exps = self._window_sensitivity(groups, nominal, n_, l_)
        warnings = self._warnings(optima, skipped, a, boot, window_exps, boot_note)
        self.result_ = IsoflopResult(
            optima=optima,
            n_exponent=a,
            n_coef=n_coef,
            d_exponent=b,
            d_coef=d_coef,
            n_r2=n_r2,
            skipped=skipped,
            curves=tuple(curves),
            residuals=resid,
            bootstrap=boot,
            window_exponents=window_exps,
            budget_of_run=nominal[groups],
            warnings=tuple(warnings),
        )
        self.warnings_ = list(warnings)
        return self

    def _budgets(
        self, groups: IntArray, nominal: FloatArray, n_: FloatArray, l_: FloatArray, window: int | None
    ) -> tuple[list[_Window], list[BudgetCurve], dict[float, str]]:
        windows: list[_Window] = []
        curves: list[BudgetCurve] = []
        skipped: dict[float, str] = {}
        for g, c_nom in enumerate(nominal):
            sel = np.flatnonzero(groups == g)
            if sel.size == 0:
                continue
            size_labels = (
                cluster_log(n_[sel], math.log10(1.0 + self.size_tolerance))
                if self.size_tolerance > 0
                else np.unique(n_[sel], return_inverse=True)[1].astype(np.int64)
            )
            k = int(size_labels.max()) + 1
            counts = np.bincount(size_labels, minlength=k).astype(np.float64)
            sizes = np.exp(np.bincount(size_labels, weights=np.log(n_[sel]), minlength=k) / counts)
            mean_loss = np.bincount(size_labels, weights=l_[sel], minlength=k) / counts
            order = np.argsort(sizes)
            rank = np.empty(k, dtype=np.int64)
            rank[order] = np.arange(k)
            sizes, mean_loss, counts = sizes[order], mean_loss[order], counts[order]
            run_size = rank[size_labels]
            in_window = np.zeros(k, dtype=bool)
            reason: str | None = None
            coef: FloatArray | None = None
            x_ref = float(np.log(sizes[int(np.argmin(mean_loss))]))
            n_opt = loss_opt = None
            if k < 3:
                reason = f"{k} distinct model size(s), a parabola needs 3"
            else:
                i = int(np.argmin(mean_loss))
                if i in (0, k - 1):
                    reason = "lowest loss at the edge of the sweep: the optimum is not bracketed"
                else:
                    lo, hi = (0, k) if window is None else (max(0, i - window), min(k, i + window + 1))
                    in_window[lo:hi] = True
                    xs = np.log(sizes[lo:hi]) - x_ref
                    run_in = (run_size >= lo) & (run_size < hi)
                    coef, hat = _parabola(xs, mean_loss[lo:hi], counts[lo:hi])
                    c0, c1, c2 = (float(v) for v in coef)
                    scale = max(float(np.ptp(mean_loss[lo:hi])), 1e-12 * abs(float(mean_loss[i])), 1e-300)
                    if not (c2 * float(np.ptp(xs)) ** 2 > 1e-9 * scale):
                        reason = "parabola opens downwards (or is flat): no minimum"
                        coef = None
                    else:
                        v = -c1 / (2.0 * c2)
                        if not (xs.min() <= v <= xs.max()):
                            reason = (
                                f"the parabola's minimum (N = {math.exp(v + x_ref):.3g}) lies outside the "
                                f"sampled sizes {sizes[lo]:.3g}..{sizes[hi - 1]:.3g}: the optimum is not "
                                f"bracketed"
                            )
                        else:
                            n_opt = math.exp(v + x_ref)
                            loss_opt = c0 + c1 * v + c2 * v * v
                            windows.append(
                                _Window(
                                    budget=float(c_nom),
                                    x_ref=x_ref,
                                    xs=xs,
                                    counts=counts[lo:hi],
                                    run_size=run_size[run_in] - lo,
                                    run_loss=l_[sel][run_in],
                                    hat=hat,
                                    coef=coef,
                                )
                            )
            if reason is not None:
                skipped[float(c_nom)] = reason
            curves.append(
                BudgetCurve(
                    compute=float(c_nom),
                    n_runs=int(sel.size),
                    sizes=sizes,
                    mean_loss=mean_loss,
                    counts=counts,
                    in_window=in_window,
                    x_ref=x_ref,
                    coef=None
                    if coef is None or reason is not None
                    else (float(coef[0]), float(coef[1]), float(coef[2])),
                    n_opt=n_opt,
                    loss_opt=loss_opt,
                    skipped=reason,
                )
            )
        return windows, curves, skipped

    @staticmethod
    def _optimum(w: _Window) -> BudgetOptimum:
        c0, c1, c2 = (float(v) for v in w.coef)
        v = -c1 / (2.0 * c2)
        n_opt = math.exp(v + w.x_ref)
        return BudgetOptimum(
            compute=w.budget,
            n_opt=n_opt,
            d_opt=w.budget / (6.0 * n_opt),
            loss_opt=c0 + c1 * v + c2 * v * v,
            n_points=int(w.run_loss.size),
            n_sizes=int(w.xs.size),
        )

    def _bootstrap(self, windows: list[_Window]) -> tuple[FloatArray, str | None]:
        if not self.n_bootstrap:
            return np.empty((0, 2)), None
        fitted = [
            w.coef[0] + w.coef[1] * w.xs[w.run_size] + w.coef[2] * w.xs[w.run_size] ** 2 for w in windows
        ]
        resid = np.concatenate([w.run_loss - f for w, f in zip(windows, fitted, strict=True)])
        dof = resid.size - 3 * len(windows)
        if dof <= 0 or not np.any(resid != 0):
            return np.empty(
                (0, 2)
            ), "no residual degrees of freedom (every parabola passes through its points)"
        resid = (resid - resid.mean()) * math.sqrt(resid.size / dof)
        rng = np.random.default_rng(self.random_state)
        bsz = self.n_bootstrap
        log_c = np.log([w.budget for w in windows])
        vertices = np.full((bsz, len(windows)), np.nan)
        for j, (w, f) in enumerate(zip(windows, fitted, strict=True)):
            y = f[None, :] + rng.choice(resid, size=(bsz, f.size), replace=True)
            m = w.xs.size
            sums = np.zeros((bsz, m))
            np.add.at(sums.T, w.run_size, y.T)
            means = sums / w.counts[None, :]
            coef = means @ w.hat.T  # (B, 3)
            with np.errstate(divide="ignore", invalid="ignore"):
                v = -coef[:, 1] / (2.0 * coef[:, 2])
            ok = (coef[:, 2] > 0) & (v >= w.xs.min()) & (v <= w.xs.max())
            vertices[:, j] = np.where(ok, v + w.x_ref, np.nan)
        valid = np.isfinite(vertices)
        wts = valid.astype(np.float64)
        cnt = wts.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            xm = (wts * log_c[None, :]).sum(axis=1) / cnt
            ym = np.nansum(vertices, axis=1) / cnt
            dx = np.where(valid, log_c[None, :] - xm[:, None], 0.0)
            dy = np.where(valid, vertices - ym[:, None], 0.0)
            sxx = (dx * dx).sum(axis=1)
            slope = (dx * dy).sum(axis=1) / sxx
            intercept = ym - slope * xm
        good = (cnt >= 2) & (sxx > 0) & np.isfinite(slope)
        return np.stack([slope[good], intercept[good]], axis=1), None

    def _window_sensitivity(
        self, groups: IntArray, nominal: FloatArray, n_: FloatArray, l_: FloatArray
    ) -> dict[str, float]:
        out: dict[str, float] = {}
        for w in (1, 2, 3, 4, None):
            wins, _, _ = self._budgets(groups, nominal, n_, l_, w)
            if len(wins) >= 2 and np.unique([x.budget for x in wins]).size >= 2:
                opt = [self._optimum(x) for x in wins]
                a, _, _ = _loglog_fit(np.array([o.compute for o in opt]), np.array([o.n_opt for o in opt]))
                out["all" if w is None else str(w)] = a
        return out

    def _warnings(
        self,
        optima: list[BudgetOptimum],
        skipped: dict[float, str],
        a: float,
        boot: FloatArray,
        window_exps: dict[str, float],
        boot_note: str | None,
    ) -> list[pl.FitWarning]:
        out = pl.check_exponent("a (N_opt ~ C^a)", a, key="a")
        out += pl.check_distinct(
            "budgets with an optimum", np.array([o.compute for o in optima]), 3, what="IsoFLOP"
        )
        if skipped:
            detail = "; ".join(f"{c:.3g}: {why}" for c, why in sorted(skipped.items()))
            out.append(
                pl.FitWarning(
                    "skipped_budgets", f"{len(skipped)} budget(s) gave no optimum ({detail})", "info"
                )
            )
        if boot_note:
            out.append(pl.FitWarning("no_interval", f"no bootstrap interval: {boot_note}", "info"))
        if boot.shape[0] >= 2 and len(window_exps) >= 2:
            lo, hi = np.percentile(boot[:, 0], [2.5, 97.5])
            spread = max(window_exps.values()) - min(window_exps.values())
            if spread > hi - lo:
                detail = ", ".join(f"{k}: {v:.3f}" for k, v in window_exps.items())
                out.append(
                    pl.FitWarning(
                        "window_sensitive",
                        f"the exponent moves by {spread:.3f} with the window ({detail}), more than its 95% "
                        f"bootstrap interval is wide ({lo:.3f}..{hi:.3f}): the parabolas do not describe the "
                        f"IsoFLOP curves (Approach 2 bias)",
                    )
                )
        return out
