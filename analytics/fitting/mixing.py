"""Data-mixture regression (RegMix-style): predict per-domain validation loss from mixture weights.

RegMix (Liu et al. 2024) fits LightGBM on small proxy runs and ranks candidate mixtures for larger models by
predicted loss. We use scikit-learn models instead and judge them, as RegMix does, by the Spearman rank
correlation between predicted and actual loss on held-out mixtures, including mixtures trained at larger
scale.
Pure module: no Django.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV

from analytics.fitting.errors import FitError
from analytics.fitting.synthetic import ExpMixingLaw

WEIGHT_PREFIX = "train_"
LOSS_PREFIX = "metric/"
LOSS_SUFFIX = "_val_loss"


@dataclass(frozen=True)
class Table:
    """A numeric CSV keyed by its ``index`` column."""

    index: list[str]
    columns: list[str]
    values: NDArray[np.float64]  # shape (len(index), len(columns))

    def column(self, name: str) -> NDArray[np.float64]:
        try:
            return self.values[:, self.columns.index(name)]
        except ValueError:
            raise FitError(f"no column {name!r}; have {', '.join(self.columns)}") from None

    def reindex(self, index: list[str]) -> Table:
        pos = {k: i for i, k in enumerate(self.index)}
        missing = [k for k in index if k not in pos]
        if missing:
            raise FitError(f"index values {missing[:5]} not present")
        return Table(list(index), self.columns, self.values[[pos[k] for k in index]])


def read_table(text: str, *, name: str) -> Table:
    """Parse a RegMix-style CSV (first column ``index``, the rest numbers). Errors name the file and line."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise FitError(f"{name}: empty file") from None
    if not header or header[0] != "index":
        raise FitError(f"{name}:1: first column must be 'index', got {header[:1]}")
    index: list[str] = []
    rows: list[list[float]] = []
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        if not row:
            continue
        if len(row) != len(header):
            raise FitError(f"{name}:{line}: expected {len(header)} fields, got {len(row)}")
        if row[0] in seen:
            raise FitError(f"{name}:{line}: duplicate index {row[0]!r}")
        seen.add(row[0])
        try:
            vals = [float(c) for c in row[1:]]
        except ValueError as exc:
            raise FitError(f"{name}:{line}: not a number ({exc})") from None
        if not all(math.isfinite(v) for v in vals):
            raise FitError(f"{name}:{line}: NaN or infinite value")
        index.append(row[0])
        rows.append(vals)
    if not rows:
        raise FitError(f"{name}: no data rows")
    return Table(index, header[1:], np.asarray(rows, dtype=float))


def domain_of_weight(column: str) -> str:
    return column.removeprefix(WEIGHT_PREFIX)


def domain_of_loss(column: str) -> str:
    return column.removeprefix(LOSS_PREFIX).removesuffix(LOSS_SUFFIX)


def align(
    mixture: Table, losses: Table, target: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    """(weights, loss of ``target`` domain, domain names), rows joined on ``index``."""
    cols = [c for c in losses.columns if domain_of_loss(c) == target]
    if not cols:
        raise FitError(f"no loss column for domain {target!r}")
    mix = mixture.reindex(losses.index)
    return mix.values, losses.column(cols[0]), [domain_of_weight(c) for c in mixture.columns]


class ExpLinearMixingLaw(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Multi-domain data-mixing law L_i(w) = c + k * exp(sum_j t_j w_j) (Ye et al. 2024, eq. 2)."""

    def __init__(self, t_max: float = 30.0) -> None:
        self.t_max = t_max

    def fit(self, X: ArrayLike, y: ArrayLike) -> ExpLinearMixingLaw:
        w = np.asarray(X, dtype=float)
        t = np.asarray(y, dtype=float).ravel()
        if w.ndim != 2 or w.shape[0] != t.shape[0] or w.shape[0] <= w.shape[1] + 2:
            raise FitError(f"need more runs than domains + 2, got {w.shape[0]} runs x {w.shape[1]} domains")
        d = w.shape[1]
        c0 = float(t.min()) - 0.1 * (float(np.ptp(t)) or 1.0)
        # log(L - c) is linear in w when c is fixed: a least-squares start for (log k, t).
        design = np.column_stack([np.ones(len(t)), w])
        coef, *_ = np.linalg.lstsq(design, np.log(t - c0), rcond=None)
        x0 = np.concatenate([[c0, coef[0]], np.clip(coef[1:], -self.t_max, self.t_max)])
        lower = np.concatenate([[-np.inf, -np.inf], np.full(d, -self.t_max)])
        upper = np.concatenate([[float(t.min()), np.inf], np.full(d, self.t_max)])
        x0[0] = min(x0[0], upper[0] - 1e-9)
        res = least_squares(lambda p: p[0] + np.exp(p[1] + w @ p[2:]) - t, x0=x0, bounds=(lower, upper))
        self.c_ = float(res.x[0])
        self.k_ = float(np.exp(res.x[1]))
        self.t_ = res.x[2:].copy()
        self.n_features_in_ = d
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self.c_ + self.k_ * np.exp(np.asarray(X, dtype=float) @ self.t_)
        return out


ModelName = Literal["ridge", "hgb", "exp_law", "exp_target"]


def make_mixture_model(name: ModelName) -> Any:
    if name == "ridge":
        return RidgeCV(alphas=np.logspace(-6, 2, 17))
    if name == "hgb":
        # Small trees and a slow rate: 512 proxy runs are few for boosting (RegMix tuned LightGBM similarly).
        return HistGradientBoostingRegressor(
            max_iter=300, learning_rate=0.05, max_leaf_nodes=15, random_state=0
        )
    if name == "exp_law":
        return ExpLinearMixingLaw()
    if name == "exp_target":
        # Single-domain law on the target's own weight; the caller passes only that column.
        return ExpMixingLaw()
    raise FitError(f"unknown mixture model {name!r}")


def spearman(predicted: ArrayLike, actual: ArrayLike) -> float:
    rho = spearmanr(np.asarray(predicted, dtype=float), np.asarray(actual, dtype=float)).statistic
    return float(rho)


@dataclass(frozen=True)
class TransferResult:
    model: str
    target: str
    rho: dict[str, float]  # test-set label -> Spearman rho of predicted vs actual loss


def evaluate_transfer(
    train: tuple[Table, Table],
    tests: dict[str, tuple[Table, Table]],
    *,
    target: str,
    model: ModelName = "ridge",
) -> TransferResult:
    """Fit on the proxy (mixture, loss) pair; Spearman rho on each held-out (mixture, loss) pair."""
    w, y, domains = align(train[0], train[1], target)
    cols = [domains.index(target)] if model == "exp_target" else list(range(len(domains)))
    est = make_mixture_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        est.fit(w[:, cols], y)
    rho = {}
    for label, (mix, loss) in tests.items():
        wt, yt, _ = align(mix, loss, target)
        rho[label] = spearman(est.predict(wt[:, cols]), yt)
    return TransferResult(model, target, rho)
