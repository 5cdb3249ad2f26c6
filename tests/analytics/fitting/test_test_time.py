"""Test-time compute scaling per strategy and the FLOPs-matched comparison with pretraining (Snell et al.)."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.fitting.errors import FitError
from analytics.fitting.test_time import (
    TestTimeScalingFit,
    flops_matched_multiplier,
    inference_flops,
    pretraining_flops,
)

N_SMALL = 3e9
BUDGET_TOKENS = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256]) * 1000.0  # generation budgets 1..256 samples
TRUE = {  # gain a, slope k per decade of FLOPs, midpoint x0 (log10 FLOPs), floor b
    "best_of_n": (0.30, 1.6, 14.0, 0.10),
    "beam_prm": (0.40, 2.5, 13.7, 0.10),
    "revisions": (0.34, 2.0, 14.2, 0.10),
}


def truth(name: str, flops: np.ndarray | float) -> np.ndarray:
    a, k, x0, b = TRUE[name]
    return b + a / (1 + np.exp(-k * (np.log10(flops) - x0)))


def _runs(seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    names, flops, acc = [], [], []
    f = inference_flops(N_SMALL, BUDGET_TOKENS)
    for name in TRUE:
        names += [name] * f.size
        flops.append(f)
        acc.append(rng.binomial(1000, truth(name, f)) / 1000)  # 1,000 problems
    return names, np.concatenate(flops), np.concatenate(acc)


def test_flops_accounting_and_snell_multiplier() -> None:
    assert inference_flops(3e9, 1000) == 6e12 and pretraining_flops(3e9, 1e12) == 1.8e22
    # Snell et al. compare with a 14x larger model at R = D_inference / D_pretrain in {0.16, 0.79, 22}:
    # M + 3 (M - 1) / R = 257.75, 63.37, 15.77 times the small model's inference compute.
    assert [round(flops_matched_multiplier(14, r), 2) for r in (0.16, 0.79, 22)] == [257.75, 63.37, 15.77]
    # the multiplier is exact: total FLOPs match
    x, y, m = 6 * 1e9 * 1e12, 2 * 1e9 * 1e11, 14.0
    k = flops_matched_multiplier(m, 1e11 / 1e12)
    assert x + k * y == pytest.approx(m * (x + y), rel=1e-12)


def test_curves_recover_accuracy_within_the_measured_budgets() -> None:
    result = TestTimeScalingFit(n_bootstrap=300).fit(*_runs(0)).result_
    assert set(result.curves) == set(TRUE)
    grid = inference_flops(N_SMALL, np.array([1500.0, 20000.0, 200000.0]))
    for name, curve in result.curves.items():
        pred = curve.predict(grid)
        np.testing.assert_allclose(pred, truth(name, grid), atol=0.03)
        band = curve.band(grid)
        assert np.all(band.low <= truth(name, grid) + 0.01) and np.all(truth(name, grid) - 0.01 <= band.high)
    # beam search against a PRM is the best strategy at large budgets in this synthetic setup
    assert result.best_strategy(1e15) == "beam_prm"


def test_flops_matched_comparison_picks_the_winner() -> None:
    result = TestTimeScalingFit(n_bootstrap=300).fit(*_runs(1)).result_
    base = inference_flops(N_SMALL, 1000)
    few_queries = result.compare_with_pretraining(
        "beam_prm", base_inference_flops=base, m=14, r=0.16, large_model_accuracy=0.35
    )
    assert few_queries.multiplier == pytest.approx(257.75)
    assert few_queries.winner == "test-time compute"
    heavy_load = result.compare_with_pretraining(
        "beam_prm", base_inference_flops=base, m=14, r=22, large_model_accuracy=0.45
    )
    assert heavy_load.winner == "larger model"
    assert heavy_load.small_model_accuracy.high < 0.45


def test_flops_to_reach_inverts_the_curve() -> None:
    curve = TestTimeScalingFit(n_bootstrap=0).fit(*_runs(2)).result_.curves["revisions"]
    f = curve.flops_to_reach(0.3)
    assert float(curve.predict([f])[0]) == pytest.approx(0.3, abs=1e-9)
    assert curve.flops_to_reach(0.99) == np.inf


def test_bad_input_is_refused() -> None:
    with pytest.raises(FitError, match="at least 5 points"):
        TestTimeScalingFit().fit(["a"] * 3, [1e12, 1e13, 1e14], [0.1, 0.2, 0.3])
    with pytest.raises(FitError, match="M >= 1"):
        flops_matched_multiplier(0.5, 1.0)
    result = TestTimeScalingFit(n_bootstrap=0).fit(*_runs(0)).result_
    with pytest.raises(FitError, match="unknown strategy"):
        result.compare_with_pretraining(
            "majority", base_inference_flops=1e13, m=2, r=1, large_model_accuracy=0.3
        )
