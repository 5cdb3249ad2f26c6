"""Diffusion vs autoregressive under repeated data (Prabhudesai et al. 2025)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.fitting.chinchilla import ChinchillaParams
from analytics.fitting.diffusion_ar import (
    PUBLISHED_CCRIT_EXPONENT,
    DiffusionVsARFit,
    DiffusionVsARResult,
    ObjectiveLaw,
    critical_compute,
)
from analytics.fitting.errors import FitError
from analytics.fitting.simulate import HOFFMANN_A3, MUENNIGHOFF_C4, data_constrained_runs

# AR: Muennighoff et al.'s C4 law with R_D* = 15, R_N* = 5.31. Diffusion (illustrative): the same exponents,
# 1.5x the reducible terms on fresh data (less compute-efficient), R_D* = 500 (Prabhudesai et al.), R_N* = 500.
DIFFUSION_BASE = ChinchillaParams(
    a=MUENNIGHOFF_C4.a + math.log(1.5),
    b=MUENNIGHOFF_C4.b + math.log(1.5),
    e=MUENNIGHOFF_C4.e,
    alpha=MUENNIGHOFF_C4.alpha,
    beta=MUENNIGHOFF_C4.beta,
)
EPOCHS = tuple(2.0**k for k in range(11))
TRUE = DiffusionVsARResult(
    ObjectiveLaw("ar", MUENNIGHOFF_C4, 15.0, 5.31), ObjectiveLaw("diffusion", DIFFUSION_BASE, 500.0, 500.0)
)


def _runs() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ar = data_constrained_runs(MUENNIGHOFF_C4, rd_star=15, rn_star=5.31, epochs=EPOCHS, noise=0.002, seed=0)
    di = data_constrained_runs(DIFFUSION_BASE, rd_star=500, rn_star=500, epochs=EPOCHS, noise=0.002, seed=1)
    objective = ["ar"] * ar[0].size + ["diffusion"] * di[0].size
    n, d, u, loss = (np.concatenate([a, b]) for a, b in zip(ar, di, strict=True))
    return objective, n, d, u, loss


def test_fits_r_d_star_per_objective_and_the_critical_compute() -> None:
    # Measured: AR R_D* 15.09 [14.79, 15.44], diffusion 515 [491, 542]; C_crit(1e9 unique tokens) =
    # 2.81e20 [2.76e20, 2.86e20] FLOPs vs 2.82e20 from the generating laws.
    result = DiffusionVsARFit(base_ar=MUENNIGHOFF_C4, base_diffusion=DIFFUSION_BASE).fit(*_runs()).result_
    assert result.ar.rd_star == pytest.approx(15.0, rel=0.2)
    assert result.diffusion.rd_star == pytest.approx(500.0, rel=0.2)
    iv = result.critical_compute(1e9)
    truth = critical_compute(TRUE.ar, TRUE.diffusion, 1e9)
    assert iv.contains(truth)
    assert iv.estimate == pytest.approx(truth, rel=0.05)
    # below C_crit AR's frontier is lower, above it diffusion's
    assert result.ar.best_loss(truth / 3, 1e9)[0] < result.diffusion.best_loss(truth / 3, 1e9)[0]
    assert result.ar.best_loss(truth * 3, 1e9)[0] > result.diffusion.best_loss(truth * 3, 1e9)[0]
    assert result.warnings == ()


def test_critical_compute_exponent_is_one_plus_beta_over_alpha() -> None:
    # Scale invariance: with shared base exponents C_crit ~ U^(1 + beta/alpha); the paper's 2.174 means
    # beta/alpha = 1.174. Muennighoff's C4 law has alpha = beta: exponent 2.
    law = TRUE.critical_compute_law(np.geomspace(1e8, 1e11, 5))
    assert law.exponent == pytest.approx(2.0, abs=1e-6)
    alpha, beta = 0.3, 0.3 * (PUBLISHED_CCRIT_EXPONENT - 1.0)
    ar = ChinchillaParams(a=HOFFMANN_A3.a, b=HOFFMANN_A3.b, e=HOFFMANN_A3.e, alpha=alpha, beta=beta)
    di = ChinchillaParams(a=ar.a + math.log(1.5), b=ar.b + math.log(1.5), e=ar.e, alpha=alpha, beta=beta)
    skewed = DiffusionVsARResult(
        ObjectiveLaw("ar", ar, 15.0, 5.31), ObjectiveLaw("diffusion", di, 500.0, 500.0)
    )
    assert skewed.critical_compute_law(np.geomspace(1e8, 1e11, 4)).exponent == pytest.approx(2.174, abs=1e-3)


def test_base_laws_can_be_fitted_from_single_epoch_runs() -> None:
    objective, n, d, u, loss = _runs()
    rng = np.random.default_rng(5)
    extra_n, extra_d = (x.ravel() for x in np.meshgrid(np.logspace(7.5, 9.5, 5), np.logspace(9, 11, 5)))
    for name, base in (("ar", MUENNIGHOFF_C4), ("diffusion", DIFFUSION_BASE)):
        objective = objective + [name] * extra_n.size
        n, d, u = (np.concatenate([a, b]) for a, b in ((n, extra_n), (d, extra_d), (u, extra_d)))
        loss = np.concatenate(
            [loss, base.predict(extra_n, extra_d) * np.exp(rng.normal(0, 0.002, extra_n.size))]
        )
    result = DiffusionVsARFit().fit(objective, n, d, u, loss).result_
    assert result.ar.base.alpha == pytest.approx(MUENNIGHOFF_C4.alpha, abs=0.05)
    assert result.diffusion.rd_star == pytest.approx(500.0, rel=0.3)


def test_bad_input_is_refused() -> None:
    objective, n, d, u, loss = _runs()
    with pytest.raises(FitError, match="'ar' or 'diffusion'"):
        DiffusionVsARFit(base_ar=MUENNIGHOFF_C4, base_diffusion=DIFFUSION_BASE).fit(
            ["gpt"] * n.size, n, d, u, loss
        )
    with pytest.raises(FitError, match="no runs for objective 'diffusion'"):
        sel = np.array(objective) == "ar"
        DiffusionVsARFit(base_ar=MUENNIGHOFF_C4, base_diffusion=DIFFUSION_BASE).fit(
            ["ar"] * int(sel.sum()), n[sel], d[sel], u[sel], loss[sel]
        )
    equal = DiffusionVsARResult(TRUE.ar, ObjectiveLaw("diffusion", MUENNIGHOFF_C4, 15.0, 5.31))
    assert critical_compute(equal.ar, equal.diffusion, 1e9) == pytest.approx(1e15)  # no gap: "already ahead"
