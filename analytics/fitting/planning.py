"""Compute-optimal allocation and expected loss for a budget, with a prediction interval (pure)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from analytics.fitting import plausibility as pl
from analytics.fitting.chinchilla import ChinchillaParams
from analytics.fitting.errors import FitError


@dataclass(frozen=True)
class AllocationPlan:
    compute: float
    n_opt: float
    d_opt: float
    tokens_per_parameter: float
    loss: float
    loss_low: float
    loss_high: float
    level: float
    n_bootstrap: int
    warnings: tuple[pl.FitWarning, ...] = ()


def plan_allocation(
    params: ChinchillaParams,
    *,
    compute: float,
    bootstrap: ArrayLike | None = None,
    rmse_log: float = 0.0,
    level: float = 0.95,
    data_compute: ArrayLike | None = None,
) -> AllocationPlan:
    """N_opt, D_opt for `compute` FLOPs and the loss there.

    The interval combines parameter uncertainty (the loss at this N, D under each bootstrap parameter set,
    percentile interval) with the fit's residual scatter on log loss (a normal band of sd `rmse_log`): a
    prediction interval for one new run, not only a confidence interval for the mean curve.

    Warnings: tokens per parameter outside [1, 1000], exponents outside published ranges, and, given the
    compute of the fitted runs (`data_compute`), a budget more than 10x beyond them.
    """
    if not np.isfinite(compute) or compute <= 0:
        raise FitError(f"compute budget must be a positive number of FLOPs, got {compute!r}")
    if not 0 < level < 1:
        raise FitError(f"interval level must be in (0, 1), got {level!r}")
    n_opt, d_opt = (float(v) for v in params.compute_optimal(compute))
    loss = float(params.predict(n_opt, d_opt))
    samples = np.asarray(bootstrap if bootstrap is not None else np.empty((0, 5)), dtype=np.float64)
    z = float(norm.ppf(0.5 + level / 2))
    if samples.ndim == 2 and samples.shape[0] >= 2:
        a, b, e, alpha, beta = samples.T
        preds = np.exp(e) + np.exp(a) / n_opt**alpha + np.exp(b) / d_opt**beta
        lo_q, hi_q = np.percentile(preds, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    else:
        lo_q = hi_q = loss
    return AllocationPlan(
        compute=float(compute),
        n_opt=n_opt,
        d_opt=d_opt,
        tokens_per_parameter=d_opt / n_opt,
        loss=loss,
        loss_low=float(min(lo_q, loss) * np.exp(-z * rmse_log)),
        loss_high=float(max(hi_q, loss) * np.exp(z * rmse_log)),
        level=level,
        n_bootstrap=int(samples.shape[0]) if samples.ndim == 2 else 0,
        warnings=tuple(
            pl.combine(
                pl.check_tokens_per_parameter(n_opt, d_opt, compute=float(compute)),
                pl.check_exponent("alpha", params.alpha),
                pl.check_exponent("beta", params.beta),
                [] if data_compute is None else pl.check_extrapolation(float(compute), data_compute),
            )
        ),
    )
