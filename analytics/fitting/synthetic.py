"""Synthetic-data ratio studies: loss or score against the synthetic share r (and epochs on synthetic data).

Pure module (arrays in, results out; no Django). Estimators follow scikit-learn conventions: ``fit`` returns
self and fitted attributes end in ``_``, so they work with ``clone`` and the model-selection utilities.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares
from scipy.spatial import ConvexHull, QhullError
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GroupKFold, KFold, LeaveOneOut, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

# Re-exported: callers catch `synthetic.FitError`; it is the one FitError of analytics.fitting.errors.
from analytics.fitting.errors import FitError as FitError

Category = Literal["knowledge", "reasoning", "loss"]

# Phi-4 report (arXiv:2412.08905, Sec. 3): synthetic-only data hurts knowledge-heavy benchmarks.
KNOWLEDGE_BENCHMARKS = frozenset({"MMLU", "MMLU_pro", "TQA"})
REASONING_BENCHMARKS = frozenset({"GSM8k", "MATH", "HumanEval", "MBPP", "ARC_C"})
MIN_DISTINCT_RATIOS = 3


def benchmark_category(metric: str) -> Category:
    if metric in KNOWLEDGE_BENCHMARKS:
        return "knowledge"
    if metric in REASONING_BENCHMARKS:
        return "reasoning"
    if "loss" in metric.lower():
        return "loss"
    raise FitError(f"unknown benchmark {metric!r}: not a known knowledge/reasoning benchmark and not a loss")


@dataclass(frozen=True)
class MixtureRecord:
    """One observation of a synthetic-ratio study: a run of size N on a mixture, and one outcome metric."""

    model_size: float
    synthetic_share: float
    synthetic_epochs: float
    metric: str
    value: float
    category: Category
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.synthetic_share <= 1.0:
            raise FitError(f"synthetic_share must be in [0, 1], got {self.synthetic_share!r}")
        if not (math.isfinite(self.value) and math.isfinite(self.model_size) and self.model_size > 0):
            raise FitError(f"record for {self.metric!r} has a non-finite value or non-positive model size")
        if self.synthetic_epochs < 0 or not math.isfinite(self.synthetic_epochs):
            raise FitError(f"synthetic_epochs must be finite and >= 0, got {self.synthetic_epochs!r}")
        if self.category not in ("knowledge", "reasoning", "loss"):
            raise FitError(f"unknown category {self.category!r}")


def _as_xy(
    r: ArrayLike, y: ArrayLike, *, min_distinct: int = MIN_DISTINCT_RATIOS
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(r, dtype=float)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    t = np.asarray(y, dtype=float).ravel()
    if x.ndim != 2 or x.shape[0] != t.shape[0]:
        raise FitError(f"shape mismatch: {x.shape[0]} inputs vs {t.shape[0]} targets")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t))):
        raise FitError("inputs contain NaN or infinity")
    distinct = len(np.unique(x[:, 0]))
    if distinct < min_distinct:
        raise FitError(f"need at least {min_distinct} distinct synthetic shares, got {distinct}")
    return x, t


class ExpMixingLaw(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Data-mixing law L(r) = c + k * exp(t * r) (Ye et al. 2024), fitted by bounded least squares.

    ``t`` is bounded to [-t_max, t_max] because r lives in [0, 1]: larger rates look like a step.
    Several starting rates are tried because the problem is not convex in t.
    """

    def __init__(self, t_max: float = 30.0) -> None:
        self.t_max = t_max

    def fit(self, X: ArrayLike, y: ArrayLike) -> ExpMixingLaw:
        x, t = _as_xy(X, y)
        r = x[:, 0]
        span = float(np.ptp(t)) or 1.0
        best = None
        for t0 in (-5.0, -1.0, 1.0, 5.0):
            # With t fixed the model is linear in (c, k): start from that exact solution.
            basis = np.column_stack([np.ones_like(r), np.exp(t0 * r)])
            (c0, k0), *_ = np.linalg.lstsq(basis, t, rcond=None)
            res = least_squares(
                lambda p: p[0] + p[1] * np.exp(p[2] * r) - t,
                x0=[c0, k0, t0],
                bounds=([-np.inf, -np.inf, -self.t_max], [np.inf, np.inf, self.t_max]),
                x_scale=[span, span, 1.0],
                # Starts on the wrong side of t drift towards k -> inf, t -> 0 (a line); cap them.
                max_nfev=100,
            )
            if best is None or res.cost < best.cost:
                best = res
        assert best is not None
        self.c_, self.k_, self.t_ = (float(v) for v in best.x)
        self.n_features_in_ = x.shape[1]
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        x = np.asarray(X, dtype=float)
        r = x[:, 0] if x.ndim == 2 else x
        return self.c_ + self.k_ * np.exp(self.t_ * r)


class SaturatingLaw(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Score(D) = a - b * (D / d0) ** (-alpha): rises with synthetic tokens D and saturates at a."""

    def __init__(self, d0: float = 1e10) -> None:
        self.d0 = d0

    def fit(self, X: ArrayLike, y: ArrayLike) -> SaturatingLaw:
        x, t = _as_xy(X, y)
        if np.any(x[:, 0] <= 0):
            raise FitError("token counts must be positive")
        z = x[:, 0] / self.d0
        res = least_squares(
            lambda p: p[0] - p[1] * z ** (-p[2]) - t,
            x0=[float(t.max()) + 1.0, float(np.ptp(t)) or 1.0, 0.3],
            bounds=([-np.inf, 0.0, 1e-4], [np.inf, np.inf, 5.0]),
        )
        self.a_, self.b_, self.alpha_ = (float(v) for v in res.x)
        self.n_features_in_ = 1
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        x = np.asarray(X, dtype=float)
        d = x[:, 0] if x.ndim == 2 else x
        return self.a_ - self.b_ * (d / self.d0) ** (-self.alpha_)

    def tokens_to_fraction(self, fraction: float, start: float) -> float:
        """Tokens at which the score has covered ``fraction`` of its headroom above ``start`` tokens."""
        # a - b z^-alpha = s0 + f (a - s0), with a - s0 = b z0^-alpha  =>  z = z0 * (1 - f) ** (-1/alpha)
        return float(start * (1.0 - fraction) ** (-1.0 / self.alpha_))


def make_polynomial(degree: int = 2) -> Pipeline:
    """Ridge-regularised polynomial; the ridge strength is chosen by RidgeCV's efficient leave-one-out."""
    return make_pipeline(
        StandardScaler(),
        PolynomialFeatures(degree=degree, include_bias=False),
        RidgeCV(alphas=np.logspace(-6, 3, 28)),
    )


def make_gp() -> GaussianProcessRegressor:
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(length_scale=0.3, length_scale_bounds=(1e-2, 1e2))
    kernel += WhiteKernel(noise_level=1e-2, noise_level_bounds=(1e-8, 1e1))
    return GaussianProcessRegressor(kernel=kernel, normalize_y=True, n_restarts_optimizer=0, random_state=0)


def default_candidates() -> dict[str, BaseEstimator]:
    return {"exp_mixing_law": ExpMixingLaw(), "poly2_ridge": make_polynomial(2), "gp_rbf": make_gp()}


@dataclass(frozen=True)
class SelectionResult:
    best_name: str
    best_model: Any  # fitted on all data
    cv_rmse: dict[str, float]  # NaN where a candidate failed on some fold
    cv_scheme: str
    failures: dict[str, str] = field(default_factory=dict)


def _splitter(n: int, groups: NDArray[Any] | None) -> tuple[Any, str]:
    if groups is not None:
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            raise FitError("grouped cross-validation needs at least 2 groups")
        return GroupKFold(n_splits=min(5, n_groups)), f"group-{min(5, n_groups)}-fold"
    if n <= 20:
        return LeaveOneOut(), "leave-one-out"
    return KFold(n_splits=5, shuffle=True, random_state=0), "5-fold"


def select_model(
    r: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike | None = None,
    *,
    candidates: Mapping[str, BaseEstimator] | None = None,
) -> SelectionResult:
    """Cross-validate each candidate (leave-one-out if n <= 20, else 5-fold) and refit the best."""
    x, t = _as_xy(r, y)
    g = None if groups is None else np.asarray(groups)
    cv, scheme = _splitter(len(t), g)
    cands = dict(candidates) if candidates is not None else default_candidates()
    scores: dict[str, float] = {}
    failures: dict[str, str] = {}
    for name, est in cands.items():
        try:
            with warnings.catch_warnings():
                # GP hyper-parameters hitting their bounds on tiny folds is expected, not actionable.
                warnings.simplefilter("ignore", ConvergenceWarning)
                pred = cross_val_predict(clone(est), x, t, cv=cv, groups=g)
            scores[name] = float(np.sqrt(np.mean((pred - t) ** 2)))
        except (FitError, ValueError, np.linalg.LinAlgError) as exc:
            # A fold can drop below 3 distinct ratios; that candidate is then unrankable, not the study.
            scores[name] = math.nan
            failures[name] = str(exc)
    ranked = [n for n in scores if math.isfinite(scores[n])]
    if not ranked:
        raise FitError(f"no candidate could be cross-validated: {failures}")
    best_name = min(ranked, key=lambda n: scores[n])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        best = clone(cands[best_name]).fit(x, t)
    return SelectionResult(best_name, best, scores, scheme, failures)


def optimal_ratio(model: Any, r_grid: ArrayLike, minimize: bool = True) -> float:
    grid = np.asarray(r_grid, dtype=float).ravel()
    pred = np.asarray(model.predict(grid.reshape(-1, 1)), dtype=float)
    return float(grid[int(np.argmin(pred) if minimize else np.argmax(pred))])


@dataclass(frozen=True)
class RatioCI:
    r_star: float
    lo: float
    hi: float
    model_name: str
    n_boot: int
    n_failed: int


def optimal_ratio_ci(
    r: ArrayLike,
    y: ArrayLike,
    n_boot: int = 200,
    seed: int = 0,
    *,
    minimize: bool = True,
    level: float = 0.95,
    r_grid: ArrayLike | None = None,
    candidates: Mapping[str, BaseEstimator] | None = None,
) -> RatioCI:
    """r* of the CV-selected model with a percentile bootstrap CI (pairs resampled, model type fixed)."""
    x, t = _as_xy(r, y)
    grid = np.linspace(0.0, 1.0, 201) if r_grid is None else np.asarray(r_grid, dtype=float)
    sel = select_model(x, t, candidates=candidates)
    r_star = optimal_ratio(sel.best_model, grid, minimize)
    template = (dict(candidates) if candidates is not None else default_candidates())[sel.best_name]
    rng = np.random.default_rng(seed)
    stars: list[float] = []
    failed = 0
    for _ in range(n_boot):
        idx = rng.integers(0, len(t), len(t))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                m = clone(template).fit(x[idx], t[idx])
        except FitError:
            failed += 1  # resample with < 3 distinct ratios
            continue
        stars.append(optimal_ratio(m, grid, minimize))
    if not stars:
        raise FitError("every bootstrap resample was degenerate")
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(stars, [tail, 100.0 - tail])
    return RatioCI(r_star, float(lo), float(hi), sel.best_name, n_boot, failed)


def ratio_by_size(
    records: Iterable[MixtureRecord],
    *,
    metric: str | None = None,
    minimize: bool | None = None,
    n_boot: int = 100,
    seed: int = 0,
    candidates: Mapping[str, BaseEstimator] | None = None,
) -> list[tuple[float, float, float, float]]:
    """(N, r*, lo, hi) per model size, sorted by N. Loss is minimised, benchmark scores maximised."""
    by_size: dict[float, list[MixtureRecord]] = defaultdict(list)
    for rec in records:
        if metric is None or rec.metric == metric:
            by_size[rec.model_size].append(rec)
    if not by_size:
        raise FitError(f"no records for metric {metric!r}")
    out = []
    for size in sorted(by_size):
        recs = by_size[size]
        if len({rec.metric for rec in recs}) > 1:
            raise FitError(f"records for N={size:g} mix several metrics; pass metric=")
        mini = (recs[0].category == "loss") if minimize is None else minimize
        ci = optimal_ratio_ci(
            [rec.synthetic_share for rec in recs],
            [rec.value for rec in recs],
            n_boot=n_boot,
            seed=seed,
            minimize=mini,
            candidates=candidates,
        )
        out.append((size, ci.r_star, ci.lo, ci.hi))
    return out


@dataclass(frozen=True)
class Heatmap:
    r_grid: NDArray[np.float64]
    epochs_grid: NDArray[np.float64]
    z: NDArray[np.float64]  # shape (len(epochs_grid), len(r_grid)), as Plotly's heatmap expects
    model_name: str


def heatmap(
    r: ArrayLike,
    epochs: ArrayLike,
    y: ArrayLike,
    grid: tuple[ArrayLike, ArrayLike] | None = None,
    *,
    model: Literal["gp", "poly"] = "gp",
) -> Heatmap:
    """Fit a 2-D surface over (r, epochs) and evaluate it on a grid."""
    x = np.column_stack([np.asarray(r, dtype=float).ravel(), np.asarray(epochs, dtype=float).ravel()])
    x, t = _as_xy(x, y)
    if len(np.unique(x[:, 1])) < 2:
        raise FitError("a heatmap needs at least 2 distinct epoch counts")
    if grid is None:
        grid = (np.linspace(x[:, 0].min(), x[:, 0].max(), 21), np.linspace(x[:, 1].min(), x[:, 1].max(), 21))
    rg, eg = (np.asarray(g, dtype=float).ravel() for g in grid)
    est: Any
    if model == "gp":
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(
            length_scale=[0.3, 1.0], length_scale_bounds=(1e-2, 1e3)
        )
        kernel += WhiteKernel(1e-2, (1e-8, 1e1))
        est = make_pipeline(
            StandardScaler(), GaussianProcessRegressor(kernel, normalize_y=True, random_state=0)
        )
    elif model == "poly":
        est = make_polynomial(2)
    else:
        raise FitError(f"unknown heatmap model {model!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(x, t)
    rr, ee = np.meshgrid(rg, eg)
    z = est.predict(np.column_stack([rr.ravel(), ee.ravel()])).reshape(len(eg), len(rg))
    return Heatmap(rg, eg, z, model)


def category_means(
    deltas: Mapping[str, float], *, categorise: Callable[[str], Category] = benchmark_category
) -> dict[str, float]:
    """Mean delta per benchmark category (e.g. a Phi-4 ablation row): {'knowledge': ..., 'reasoning': ...}."""
    buckets: dict[str, list[float]] = defaultdict(list)
    for name, value in deltas.items():
        if value is None or not math.isfinite(value):
            raise FitError(f"benchmark {name!r} has no value")
        buckets[categorise(name)].append(float(value))
    return {cat: float(np.mean(vals)) for cat, vals in buckets.items()}


def split_by_category(records: Sequence[MixtureRecord]) -> dict[Category, list[MixtureRecord]]:
    """Knowledge-heavy and reasoning benchmarks respond to synthetic data oppositely: keep them apart."""
    out: dict[Category, list[MixtureRecord]] = defaultdict(list)
    for rec in records:
        out[rec.category].append(rec)
    return dict(out)


def support_mask(
    r: ArrayLike,
    epochs: ArrayLike,
    r_grid: ArrayLike,
    epochs_grid: ArrayLike,
    *,
    tolerance: float = 1e-9,
    max_distance: float = 0.35,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Which cells of an (epochs, r) grid the runs support: those inside the convex hull of the runs' (r,
    epochs), in coordinates scaled to the data's span. Runs all on one line (or one point) span no area, so
    they support no surface: the mask is all False. A cell inside the hull but further than `max_distance`
    (scaled units) from every run is not supported either (runs along two edges of the square leave its far
    corner unmeasured). Returns (mask of shape (len(epochs_grid), len(r_grid)),
    the hull's outline as (k, 2) rows of (r, epochs), closed; empty when degenerate)."""
    pts = np.column_stack([np.asarray(r, dtype=float).ravel(), np.asarray(epochs, dtype=float).ravel()])
    rg, eg = np.asarray(r_grid, dtype=float).ravel(), np.asarray(epochs_grid, dtype=float).ravel()
    empty = np.zeros((eg.size, rg.size), dtype=bool), np.empty((0, 2))
    pts = np.unique(pts[np.all(np.isfinite(pts), axis=1)], axis=0)
    if pts.shape[0] < 3:
        return empty
    lo, span = pts.min(axis=0), np.ptp(pts, axis=0)
    if np.any(span <= 0):
        return empty
    scaled = (pts - lo) / span
    try:
        hull = ConvexHull(scaled)
    except QhullError:  # collinear runs: no area
        return empty
    if hull.volume <= 1e-12:
        return empty
    rr, ee = np.meshgrid(rg, eg)
    cells = (np.column_stack([rr.ravel(), ee.ravel()]) - lo) / span
    # inside every facet's half-plane: normal . x + offset <= tolerance
    inside = np.all(cells @ hull.equations[:, :2].T + hull.equations[:, 2] <= tolerance, axis=1)
    nearest = np.min(np.linalg.norm(cells[:, None, :] - scaled[None, :, :], axis=2), axis=1)
    inside &= nearest <= max_distance
    outline = pts[np.append(hull.vertices, hull.vertices[0])]
    return inside.reshape(eg.size, rg.size), outline
