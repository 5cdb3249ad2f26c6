"""Synthetic-ratio studies through the Study/Fit flow on PostgreSQL, with Phi-4 Table 3 reproduced."""

from __future__ import annotations

import csv
from typing import Any

import pytest
from django.test import Client

from analytics.models import Fit
from analytics.studies import services as study_services
from core.roles import Role
from tests.conftest import REFERENCE
from tracker.models import TrainingRun

pytestmark = pytest.mark.django_db
FAST = {"models": ["poly2_ridge"], "n_bootstrap": 30}
RATIOS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _phi4_table3(row: str) -> dict[str, float]:
    with open(REFERENCE / "phi4_table3_table4_table5.csv") as fh:
        (found,) = [r for r in csv.DictReader(fh) if r["table"] == "3" and r["row"] == row]
    names = ["MMLU", "MMLU_pro", "GSM8k", "HumanEval", "ARC_C", "MBPP", "MATH", "TQA"]
    return {n: float(found[n]) for n in names}


def _runs(team: Any, *, epochs: tuple[float, ...] = (1.0,)) -> None:
    """Quadratic loss in r with the optimum moving from 0.2 (N=1e8) to 0.4 (N=1e9)."""
    for n, opt in ((1e8, 0.2), (1e9, 0.4)):
        for r in RATIOS:
            for ep in epochs:
                TrainingRun.objects.create(
                    team=team,
                    name=f"syn-{n:g}-{r}-{ep}",
                    parameters=n,
                    synthetic_share=r,
                    synthetic_epochs=ep,
                    data_sources={"web": 1 - r, "synthetic": r},
                    final_loss=2.5 + 1.5 * (r - opt) ** 2 + 0.02 * (ep - 1) * r,
                )


def _study(team: Any, **options: Any) -> Any:
    return study_services.study_create(
        team=team,
        name="synthetic share",
        kind="synthetic_ratio",
        run_filter={"name__startswith": "syn-"},
        options={**FAST, **options},
    )


def test_synthetic_study_fits_r_star_per_size(team_a: Any) -> None:
    _runs(team_a)
    fit = study_services.study_refit(study_id=_study(team_a).pk)
    assert (fit.status, fit.method, fit.version) == (Fit.Status.CURRENT, "synthetic_ratio", 1), (
        fit.error_message
    )
    per_size = {row["n"]: row for row in fit.params["per_size"]}
    assert sorted(per_size) == [1e8, 1e9]
    # Exact quadratics: the ridge polynomial recovers the optimum to the 0.01 grid step.
    assert per_size[1e8]["r_star"] == pytest.approx(0.2, abs=0.011)
    assert per_size[1e9]["r_star"] == pytest.approx(0.4, abs=0.011)
    assert per_size[1e9]["r_star_low"] <= 0.4 <= per_size[1e9]["r_star_high"]
    assert (fit.params["n"], fit.params["r_star"]) == (1e9, per_size[1e9]["r_star"])
    assert fit.params["cv_scheme"] == "leave-one-out" and fit.params["model"] == "poly2_ridge"
    assert fit.ci["params"]["r_star"] == [per_size[1e9]["r_star_low"], per_size[1e9]["r_star_high"]]
    assert fit.goodness["n_points"] == 12 and fit.goodness["rmse"] < 1e-3
    # r* intervals per size are stored with the fit; both optima are inside the sampled shares: no warning
    assert fit.intervals["r_star"]["low"] == per_size[1e9]["r_star_low"]
    assert fit.intervals["r_star at N=1e+08"]["high"] == per_size[1e8]["r_star_high"]
    assert fit.warnings == []
    assert "heatmap" not in fit.params  # epochs do not vary
    assert len(per_size[1e9]["curve"]) == len(fit.params["r_grid"]) == 101


def test_default_candidates_are_chosen_by_cross_validation(team_a: Any) -> None:
    _runs(team_a)
    fit = study_services.study_refit(study_id=_study(team_a, models=None, n_bootstrap=20).pk)
    row = fit.params["per_size"][-1]
    assert set(row["cv_rmse"]) == {"exp_mixing_law", "poly2_ridge", "gp_rbf"}
    finite = {k: v for k, v in row["cv_rmse"].items() if v is not None}
    assert row["model"] == min(finite, key=finite.__getitem__)


def test_heatmap_when_epochs_vary_and_same_inputs_reuse_the_fit(team_a: Any) -> None:
    _runs(team_a, epochs=(1.0, 4.0))
    study = _study(team_a)
    fit = study_services.study_refit(study_id=study.pk)
    surface = fit.params["heatmap"]
    assert surface["n"] == 1e9 and surface["epochs"][0] == 1.0 and surface["epochs"][-1] == 4.0
    assert len(surface["z"]) == len(surface["epochs"]) and len(surface["z"][0]) == len(surface["r"])
    assert study_services.study_refit(study_id=study.pk).pk == fit.pk
    TrainingRun.objects.filter(name__startswith="syn-1e+09-0.6").update(synthetic_epochs=2.0)
    again = study_services.study_refit(study_id=study.pk)
    assert again.version == 2  # r/epochs are part of the inputs hash, not only N, D and loss


def test_phi4_table3_knowledge_vs_reasoning_split(team_a: Any) -> None:
    """Web-only run scores 0, synthetic-only run scores Phi-4 Table 3's deltas: the split is Phi-4's finding."""
    _runs(team_a)
    deltas = _phi4_table3("Synthetic")
    for r, scores in ((0.0, dict.fromkeys(deltas, 0.0)), (1.0, deltas)):
        run = TrainingRun.objects.get(name=f"syn-1e+09-{r}-1.0")
        run.config = {"benchmarks": {**scores, "MyPrivateEval": 3.0}}
        run.save()
    fit = study_services.study_refit(study_id=_study(team_a).pk)
    bench = fit.params["benchmarks"]
    assert bench["deltas"] == pytest.approx(deltas)
    assert bench["ignored"] == ["MyPrivateEval"]
    # Knowledge-heavy (MMLU, MMLU_pro, TQA) fall, reasoning (GSM8k, MATH, HumanEval, MBPP, ARC_C) rise.
    assert bench["category_means"]["knowledge"] == pytest.approx((0.8 + 4.0 - 14.8) / 3)
    assert bench["category_means"]["reasoning"] == pytest.approx((2.2 + 12.1 + 0.0 + 5.0 + 4.9) / 5)
    assert bench["r_star"] == {}  # two distinct shares cannot locate an optimum


def test_bad_values_fail_clearly_and_keep_the_current_fit(team_a: Any) -> None:
    _runs(team_a)
    study = _study(team_a)
    good = study_services.study_refit(study_id=study.pk)
    # The database already keeps synthetic_share in [0, 1]; a benchmark score is free-form JSON.
    TrainingRun.objects.filter(name="syn-1e+08-0.4-1.0").update(config={"benchmarks": {"MMLU": "high"}})
    bad = study_services.study_refit(study_id=study.pk)
    assert bad.status == Fit.Status.FAILED
    run_id = TrainingRun.objects.get(name="syn-1e+08-0.4-1.0").pk
    assert (
        bad.error_message
        == f"run 'syn-1e+08-0.4-1.0' (id {run_id}): MMLU must be a finite number, got 'high'"
    )
    good.refresh_from_db()
    assert good.status == Fit.Status.CURRENT
    TrainingRun.objects.filter(name="syn-1e+08-0.4-1.0").update(config={"benchmarks": [1]})
    listed = study_services.study_refit(study_id=study.pk)
    assert (
        listed.status == Fit.Status.FAILED and "config.benchmarks must be an object" in listed.error_message
    )


def test_too_few_ratios_is_a_failed_fit_naming_the_sizes(team_a: Any) -> None:
    for i, r in enumerate((0.0, 0.5)):
        TrainingRun.objects.create(
            team=team_a, name=f"syn-{i}", parameters=1e8, synthetic_share=r, final_loss=3
        )
    fit = study_services.study_refit(study_id=_study(team_a).pk)
    assert fit.status == Fit.Status.FAILED
    assert "no model size has runs at 3 or more distinct synthetic shares" in fit.error_message
    assert "1e+08" in fit.error_message


def test_study_page_shows_synthetic_figures(make_user: Any, team_a: Any) -> None:
    _runs(team_a, epochs=(1.0, 4.0))
    study = _study(team_a)
    study_services.study_refit(study_id=study.pk)
    client = Client()
    client.force_login(make_user(Role.VIEWER, team_a))
    page = client.get(f"/studies/{study.pk}/")
    assert page.status_code == 200
    for fig in ("fig-0", "fig-1", "fig-2"):
        assert f'id="{fig}"'.encode() in page.content
    assert b'id="fig-3"' not in page.content  # no benchmark scores, so no knowledge/reasoning bars
    assert b"r* against model size" in page.content and b"leave-one-out" in page.content
