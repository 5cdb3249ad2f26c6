"""Muennighoff et al. 2023: R_D*, R_N* on the 182 datablations runs."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.fitting.chinchilla import ChinchillaParams
from analytics.fitting.data_constrained import DataConstrainedFit, predict_loss
from analytics.fitting.errors import FitError

C4 = ChinchillaParams(a=6.255414, b=7.3049974, e=0.6254804, alpha=0.3526596, beta=0.3526596)


def test_reproduces_published_rd_star_and_rn_star(datablations: dict[str, np.ndarray]) -> None:
    data = datablations
    assert data["N"].size == 182
    fit = DataConstrainedFit(base=C4).fit(data["N"], data["D"], data["U"], data["L"])
    result = fit.result_
    assert result.rd_star == pytest.approx(15.387756, rel=0.02)
    assert result.rn_star == pytest.approx(5.309743, rel=0.02)
    # The notebook printed "Min Loss: 0.015825936570763588" (float32) for these parameters.
    assert result.objective == pytest.approx(0.015825936570763588, rel=1e-5)
    # Two of the nine published starts slide down the unidentified valley (R_D* -> large); they are not chosen.
    assert result.runaway_starts >= 1
    assert result.n_points == 182


def test_without_repetition_the_law_is_the_base_law() -> None:
    n = np.array([1e8, 4e8])
    d = np.array([2e9, 8e9])
    np.testing.assert_allclose(predict_loss(C4, 15.0, 5.0, n, d, d), C4.predict(n, d), rtol=1e-12)


def test_repeated_data_is_worth_less_than_fresh_data() -> None:
    fresh = predict_loss(C4, 15.387756, 5.309743, [1e9], [4e10], [4e10])
    repeated = predict_loss(C4, 15.387756, 5.309743, [1e9], [4e10], [1e10])
    assert repeated[0] > fresh[0]


def test_unique_tokens_above_tokens_seen_is_refused() -> None:
    fit = DataConstrainedFit(base=C4)
    with pytest.raises(FitError, match=r"U \(unique tokens\) at point 1 exceeds D"):
        fit.fit([1e8, 2e8, 3e8], [1e9, 1e9, 1e9], [1e9, 2e9, 1e8], [3.0, 2.9, 2.8])
    assert not hasattr(fit, "result_")


def test_runs_without_repetition_cannot_identify_r_star() -> None:
    with pytest.raises(FitError, match="none do"):
        DataConstrainedFit(base=C4).fit([1e8, 2e8, 3e8], [1e9, 2e9, 3e9], [1e9, 2e9, 3e9], [3.0, 2.9, 2.8])
