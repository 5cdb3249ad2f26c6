"""Plausibility warnings: each is triggered by a case and absent on a clean fit."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from analytics.fitting import plausibility as pl
from analytics.fitting.chinchilla import ChinchillaApproach3, chinchilla_grid
from analytics.fitting.intervals import Interval
from analytics.fitting.planning import plan_allocation
from analytics.fitting.simulate import HOFFMANN_A3, MUENNIGHOFF_C4, loss_surface_runs
from tests.conftest import REFERENCE


def test_tokens_per_parameter() -> None:
    assert pl.check_tokens_per_parameter(1e9, 2e10, compute=1.2e20) == []
    (w,) = pl.check_tokens_per_parameter(1e10, 8e9, compute=4.8e20)
    assert w.code == "tokens_per_parameter" and "0.8 tokens per parameter" in w.message
    assert pl.check_tokens_per_parameter(1e6, 2e9 * 1e3, compute=1.0)[0].code == "tokens_per_parameter"


def test_exponent_ranges_cite_their_sources() -> None:
    assert pl.check_exponent("alpha", 0.34) == []
    (w,) = pl.check_exponent("alpha", 0.9)
    assert w.code == "exponent_out_of_range" and "Hoffmann 2022" in w.message
    assert (
        pl.check_exponent("a", 0.5) == [] and pl.check_exponent("a", 0.83)[0].code == "exponent_out_of_range"
    )
    assert pl.check_exponent("R_D*", 15.4, key="rd_star") == []
    assert pl.check_exponent("growth per year", 4.2, key="growth_per_year") == []


def test_extrapolation() -> None:
    data = [1e19, 1e20, 1e21]
    assert pl.check_extrapolation(5e21, data) == []
    (w,) = pl.check_extrapolation(1e23, data)
    assert w.code == "extrapolation" and w.severity == "warning" and "100x" in w.message
    assert pl.check_extrapolation(1e17, data)[0].severity == "info"


def test_repeated_data() -> None:
    assert pl.check_repeated_data([1e9, 2e9], [1e9, 2e9]) == []
    (w,) = pl.check_repeated_data([1e9, 4e9], [1e9, 1e9])
    assert w.code == "repeated_data" and "up to 4 epochs" in w.message and w.severity == "warning"
    assert pl.check_repeated_data([1e9, 4e9], [1e9, 1e9], excluded=True)[0].severity == "info"


def test_distinct_bounds_and_intervals() -> None:
    assert pl.check_distinct("sizes", [1e8, 2e8, 3e8], 3, what="x") == []
    assert pl.check_distinct("sizes", [1e8, 1e8, 3e8], 3, what="x")[0].code == "too_few_distinct"
    assert pl.check_at_bound("P*", 8.0, 1.0, 32.0) == []
    assert pl.check_at_bound("P*", 32.0, 1.0, 32.0)[0].code == "at_bound"
    tight = Interval(10.0, 8.0, 12.0, 0.95, "test")
    assert pl.check_interval("N_opt", tight) == []
    assert pl.check_interval("N_opt", Interval(10.0, 0.5, 200.0, 0.95, "test"))[0].code == "wide_interval"
    (w,) = pl.check_interval("R_D*", Interval(15.0, 4.5, math.inf, 0.95, "profile"))
    assert w.code == "not_identified" and "not identified above" in w.message


def _datablations() -> dict[str, np.ndarray]:
    with open(REFERENCE / "datablations_c4_runs_parametric_fit.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols = {"N": "N_params", "D": "D_tokens_total", "U": "U_unique_tokens", "L": "val_loss"}
    return {k: np.array([float(r[v]) for r in rows]) for k, v in cols.items()}


def test_the_demo_chinchilla_fit_is_flagged() -> None:
    # The demo fitted Approach 3 on all 182 datablations runs, 153 of which repeat data, and recommended 0.84
    # tokens per parameter at 1e22 FLOPs. Measured: interval [0.34, 3.6] at 1e22; left out, the 29 fresh
    # runs give 11.8 tokens per parameter [4.7, 739].
    # Every 4th start of the published grid finds the same optimum on these runs (to 1e-8) in a quarter of
    # the time; 40 bootstrap replicates are enough for the interval checks here.
    data = _datablations()
    grid = chinchilla_grid()[::4]
    est = ChinchillaApproach3(grid=grid, n_bootstrap=40).fit(data["N"], data["D"], data["L"], u=data["U"])
    warnings = est.result_.plausibility(1e22)
    assert {"repeated_data", "tokens_per_parameter"} <= pl.codes(warnings)
    assert est.result_.derived(1e22)["tokens_per_parameter"].estimate == pytest.approx(0.843, abs=0.01)
    fresh = ChinchillaApproach3(grid=grid, n_bootstrap=40, repeated="exclude").fit(
        data["N"], data["D"], data["L"], u=data["U"]
    )
    assert fresh.result_.n_points == 29 and fresh.result_.n_excluded_repeated == 153
    assert int(fresh.kept_.sum()) == 29
    derived = fresh.result_.derived(1e22)
    assert derived["tokens_per_parameter"].estimate == pytest.approx(11.8, abs=0.5)
    assert "tokens_per_parameter" not in pl.codes(fresh.result_.plausibility(1e22))
    assert "wide_interval" in pl.codes(fresh.result_.plausibility(1e22))  # 29 runs do not pin it down


def test_a_clean_chinchilla_fit_has_no_warnings() -> None:
    n, d, loss = loss_surface_runs(HOFFMANN_A3, n_runs=120, noise=0.005, seed=0)
    est = ChinchillaApproach3(grid=chinchilla_grid()[::4], n_bootstrap=40).fit(n, d, loss, u=d)
    assert est.warnings_ == []
    assert est.result_.plausibility(float(est.result_.compute_range[1])) == []


def test_planning_warnings() -> None:
    clean = plan_allocation(HOFFMANN_A3, compute=1e22, data_compute=[1e20, 1e21])
    assert clean.warnings == ()
    far = plan_allocation(MUENNIGHOFF_C4, compute=1e25, data_compute=[1e18, 1e20])
    assert pl.codes(far.warnings) == {"extrapolation"}
    lopsided = type(HOFFMANN_A3)(a=2.0, b=12.0, e=0.5, alpha=0.34, beta=0.28)
    assert "tokens_per_parameter" in pl.codes(plan_allocation(lopsided, compute=1e22).warnings)


def test_warnings_serialise() -> None:
    (w,) = pl.check_exponent("alpha", 0.9)
    assert w.to_dict() == {"code": "exponent_out_of_range", "message": w.message, "severity": "warning"}
    assert pl.combine([w], [w]) == [w]
