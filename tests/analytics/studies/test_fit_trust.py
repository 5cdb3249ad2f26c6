"""Fits you can trust, end to end on PostgreSQL: intervals, derived quantities, bands and plausibility
warnings are stored with the Fit, read through `selectors.fit_summary`, drawn on the study page."""

from __future__ import annotations

import csv
import math
from typing import Any

import numpy as np
import pytest
from django.urls import reverse

from analytics.fitting.simulate import isoflop_sweep
from analytics.models import Fit
from analytics.studies import selectors
from analytics.studies import services as study_services
from analytics.studies.registry import kind_get
from tests.analytics.fitting.test_isoflop import EPOCH_LAW, HOFFMANN_A2_INTERVAL
from tests.conftest import REFERENCE
from tracker.models import Hardware, TrainingRun

pytestmark = pytest.mark.django_db


def _datablations(team: Any) -> None:
    with open(REFERENCE / "datablations_c4_runs_parametric_fit.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    TrainingRun.objects.bulk_create(
        TrainingRun(
            team=team,
            name=f"db-{i}-{r['run_name']}",
            parameters=float(r["N_params"]),
            tokens=float(r["D_tokens_total"]),
            unique_tokens=float(r["U_unique_tokens"]),
            final_loss=float(r["val_loss"]),
        )
        for i, r in enumerate(rows)
    )


def test_demo_chinchilla_fit_warns_about_its_allocation_at_1e22(team_a: Any) -> None:
    # The demo study (datablations runs, 20 replicates) recommends < 1 token per parameter at 1e22 FLOPs:
    # the fit must say so, and say that these runs repeat data, which the law does not model.
    _datablations(team_a)
    study = study_services.study_create(
        team=team_a,
        name="chin",
        kind="chinchilla",
        run_filter={"name__startswith": "db-"},
        options={"n_bootstrap": 20},
    )
    fit = study_services.study_refit(study_id=study.pk)
    assert fit.status == Fit.Status.CURRENT, fit.error_message
    summary = selectors.fit_summary(fit)
    at_plan = next(b for b in summary["derived"] if b["compute"] == 1e22)
    tpp = at_plan["values"]["tokens_per_parameter"]
    assert tpp["estimate"] < 1.0 and tpp["low"] < tpp["estimate"] < tpp["high"]
    codes = {w["code"] for w in summary["warnings"]}
    assert {"tokens_per_parameter", "repeated_data"} <= codes
    # At the planning budget and at the data's own largest compute (9.26e21) alike.
    tpp_warnings = [w["message"] for w in summary["warnings"] if w["code"] == "tokens_per_parameter"]
    assert any("at 1e+22 FLOPs" in m for m in tpp_warnings) and len(tpp_warnings) == 2
    for name in ("alpha", "beta", "n_exponent", "d_exponent", "E"):
        iv = summary["intervals"][name]
        assert iv["low"] <= iv["estimate"] <= iv["high"] and iv["level"] == 0.95
    # Bands on the fitted curve: prediction wider than confidence everywhere, both around the estimate.
    bands = fit.ci["bands"]
    conf, pred = (
        np.array([bands[k][s] for s in ("low", "estimate", "high")]) for k in ("confidence", "prediction")
    )
    assert np.all(pred[0] <= conf[0]) and np.all(conf[2] <= pred[2]) and np.all(pred[0] < pred[2])
    assert np.allclose(conf[1], pred[1])
    # Residuals carry run names, and the figure hovers them.
    figures = selectors.fit_figures(study, fit)
    runs_trace = next(t for t in figures[0]["data"] if t.get("name") == "runs")
    assert runs_trace["text"][0].startswith("db-0-") and "%{text}" in runs_trace["hovertemplate"]
    # "Plan a run" far beyond the data says so, and flags the allocation.
    h100 = Hardware.objects.create(name="H100", tdp_watts=700, peak_bf16_tflops=989.0)
    plan = selectors.run_plan(fit=fit, compute=1e24, hardware=h100)
    assert any("is 108x the largest compute in the data" in w for w in plan.warnings)
    assert any("tokens per parameter" in w for w in plan.warnings)
    resid_trace = figures[-1]["data"][0]
    assert (
        resid_trace["text"] == [r["run"] for r in fit.residuals] and "%{text}" in resid_trace["hovertemplate"]
    )


def test_study_page_shows_warnings_intervals_and_derived_values(
    client: Any, team_a: Any, make_user: Any
) -> None:
    _datablations(team_a)
    study = study_services.study_create(
        team=team_a,
        name="chin",
        kind="chinchilla",
        run_filter={"name__startswith": "db-"},
        options={"n_bootstrap": 10},
    )
    fit = study_services.study_refit(study_id=study.pk)
    client.force_login(make_user("viewer", team=team_a))
    page = client.get(reverse("studies:detail", args=[study.pk])).content.decode()
    assert 'id="fit-warnings"' in page and 'data-code="tokens_per_parameter"' in page
    assert "At C = 1e+22 FLOPs (planning budget)" in page
    low = fit.intervals["alpha"]["low"]
    assert f"{low:.4g} to " in page


def test_isoflop_study_groups_raw_compute_and_draws_the_parabolas(team_a: Any) -> None:
    # Runs as a Chinchilla-style sweep logs them: N and D only (each run's own 6ND, no budget label).
    sweep = isoflop_sweep(EPOCH_LAW, seed=1)
    TrainingRun.objects.bulk_create(
        TrainingRun(
            team=team_a,
            name=f"iso-{i}",
            parameters=float(n),
            tokens=float(c / (6 * n)),
            final_loss=float(loss),
        )
        for i, (c, n, loss) in enumerate(zip(sweep.compute, sweep.n, sweep.loss, strict=True))
    )
    study = study_services.study_create(
        team=team_a, name="iso", kind="isoflop", run_filter={"name__startswith": "iso-"}, options={}
    )
    fit = study_services.study_refit(study_id=study.pk)
    assert fit.status == Fit.Status.CURRENT, fit.error_message
    assert fit.params["n_budgets"] == 9 and fit.params["grouping"] == "0.05 dex in log10 C"
    low, high = HOFFMANN_A2_INTERVAL
    assert low <= fit.params["n_exponent"] <= high
    iv = fit.intervals["n_exponent"]
    assert iv["low"] < fit.params["n_exponent"] < iv["high"] and iv["method"] == "bootstrap percentile"
    assert "not a parabola" in selectors.fit_summary(fit)["notes"][0]
    derived = fit.derived[0]["values"]
    assert derived["tokens_per_parameter"]["estimate"] == pytest.approx(
        derived["d_opt"]["estimate"] / derived["n_opt"]["estimate"]
    )
    figures = kind_get("isoflop").figures(fit.params, fit.ci, fit.residuals)
    parabolas, optima, residuals = figures
    assert parabolas["layout"]["title"]["text"].startswith("IsoFLOP curves")
    run_traces = [
        t
        for t in parabolas["data"]
        if t["name"].startswith("C = ")
        and "text" in t
        and t["mode"] == "markers"
        and t.get("showlegend", True)
    ]
    assert len(run_traces) == 9 and sum(len(t["x"]) for t in run_traces) == 81
    assert all(name.startswith("iso-") for t in run_traces for name in t["text"])
    assert sum(1 for t in parabolas["data"] if t["name"].endswith("parabola")) == 9
    assert any(t.get("fill") == "tonexty" for t in optima["data"])  # bands on N_opt(C)
    assert any(t.get("line", {}).get("dash") == "dash" for t in optima["data"])  # extrapolation dashed
    # Each run's residual is its loss minus its budget's parabola, named on hover.
    r0 = fit.residuals[0]
    assert r0["residual"] == pytest.approx(r0["observed"] - r0["predicted"]) and r0["run"] == "iso-0"
    assert all(math.isfinite(r["budget"]) for r in fit.residuals)
    assert residuals["data"][0]["text"][0].startswith("iso-")


def test_data_constrained_study_stores_the_open_interval_and_says_not_identified(team_a: Any) -> None:
    _datablations(team_a)
    base = {"a": 6.255414, "b": 7.3049974, "e": 0.6254804, "alpha": 0.3526596, "beta": 0.3526596}
    study = study_services.study_create(
        team=team_a,
        name="dc",
        kind="data_constrained",
        run_filter={"name__startswith": "db-"},
        options={"base": base},
    )
    fit = study_services.study_refit(study_id=study.pk)
    assert fit.status == Fit.Status.CURRENT, fit.error_message
    # Muennighoff et al.: R_D* = 15.388, R_N* = 5.310 on these 182 runs.
    assert fit.params["rd_star"] == pytest.approx(15.388, rel=0.01)
    assert fit.params["rn_star"] == pytest.approx(5.310, rel=0.01)
    rd = selectors.fit_summary(fit)["intervals"]["rd_star"]
    assert rd["high"] is None and rd["bounded"] is False and 0 < rd["low"] < 15.388  # open above
    assert fit.params["rd_identified"] is False
    assert "not_identified" in {w["code"] for w in fit.warnings}
    figures = kind_get("data_constrained").figures(fit.params, fit.ci, fit.residuals)
    profile = next(
        f for f in figures if f["layout"]["title"]["text"].startswith("Profile likelihood of R_D*")
    )
    deviance = [v for v in profile["data"][0]["y"] if v is not None]
    assert deviance[-1] < fit.ci["threshold"]  # the profile never crosses the threshold above: open
    curves = figures[0]["data"]
    assert any(t.get("fill") == "tonexty" for t in curves) and any(
        t.get("line", {}).get("dash") == "dash" for t in curves
    )
