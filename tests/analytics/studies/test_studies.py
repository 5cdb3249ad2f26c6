"""Studies and fits on PostgreSQL: versioning, idempotency, staleness, failures, planning, real worker refit."""

from __future__ import annotations

import csv
import math
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.db import transaction

from analytics.fitting.chinchilla import ChinchillaParams
from analytics.fitting.errors import FitError
from analytics.models import Fit, Study
from analytics.studies import points as study_points_mod
from analytics.studies import selectors as study_selectors
from analytics.studies import services as study_services
from analytics.studies.authoring import SpecError
from tests.conftest import REFERENCE, wait_for
from tracker.models import Hardware, HardwarePrice, MetricSeries, TrainingRun

pytestmark = pytest.mark.django_db


def _law_runs(
    team: Any, prefix: str = "pl-", sizes: tuple[float, ...] = (1e7, 3e7, 1e8, 3e8, 1e9, 3e9)
) -> list:
    return [
        TrainingRun.objects.create(
            team=team, name=f"{prefix}{i}", parameters=n, tokens=20 * n, final_loss=1.8 + 400 * n**-0.3
        )
        for i, n in enumerate(sizes)
    ]


def _power_study(team: Any, **kw: Any) -> Study:
    return study_services.study_create(
        team=team,
        name=kw.pop("name", "N law"),
        kind="power_law",
        run_filter=kw.pop("run_filter", {"name__startswith": "pl-"}),
        options={"variable": "N"},
        **kw,
    )


def test_refit_makes_a_current_version_with_exact_parameters(team_a: Any) -> None:
    _law_runs(team_a)
    study = _power_study(team_a)
    fit = study_services.study_refit(study_id=study.pk)
    assert (fit.version, fit.status, fit.method) == (1, Fit.Status.CURRENT, "power_law")
    assert fit.params["a"] == pytest.approx(0.3, rel=1e-7)
    assert fit.params["c"] == pytest.approx(1.8, rel=1e-7)
    assert fit.goodness["n_points"] == 6
    assert fit.goodness["rmse_log"] < 1e-10
    assert len(fit.residuals) == 6 and len(fit.inputs_hash) == 64


def test_same_inputs_never_make_a_new_version(team_a: Any) -> None:
    _law_runs(team_a)
    study = _power_study(team_a)
    first = study_services.study_refit(study_id=study.pk)
    second = study_services.study_refit(study_id=study.pk)
    assert second.pk == first.pk
    assert Fit.objects.filter(study=study).count() == 1


def test_new_run_gives_a_new_version_and_stales_the_old(team_a: Any) -> None:
    _law_runs(team_a)
    study = _power_study(team_a)
    v1 = study_services.study_refit(study_id=study.pk)
    TrainingRun.objects.create(
        team=team_a, name="pl-new", parameters=1e10, tokens=2e11, final_loss=1.81 + 400 * 1e10**-0.3
    )
    v2 = study_services.study_refit(study_id=study.pk)
    v1.refresh_from_db()
    assert (v2.version, v2.status) == (2, Fit.Status.CURRENT)
    assert v1.status == Fit.Status.STALE
    assert v2.inputs_hash != v1.inputs_hash


def test_enqueue_marks_stale_and_schedules_one_refit_per_study_after_commit(
    team_a: Any, team_b: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _law_runs(team_a)
    study = _power_study(team_a)
    other = _power_study(team_b, name="other team")
    fit = study_services.study_refit(study_id=study.pk)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ids = study_services.enqueue_refits_for_runs(team_id=team_a.pk)
    assert ids == [study.pk]
    assert len(callbacks) == 1
    fit.refresh_from_db()
    assert fit.status == Fit.Status.STALE
    # Unchanged inputs: the refit brings the same version back instead of creating another.
    again = study_services.study_refit(study_id=study.pk)
    assert (again.pk, again.status) == (fit.pk, Fit.Status.CURRENT)
    assert not Fit.objects.filter(study=other).exists()


def test_nan_loss_fails_with_the_run_named_and_keeps_the_current_fit(team_a: Any) -> None:
    _law_runs(team_a)
    study = _power_study(team_a)
    good = study_services.study_refit(study_id=study.pk)
    TrainingRun.objects.create(
        team=team_a, name="pl-broken", parameters=5e9, tokens=1e11, final_loss=float("nan")
    )
    failed = study_services.study_refit(study_id=study.pk)
    assert failed.status == Fit.Status.FAILED
    assert "run 'pl-broken'" in failed.error_message and "loss is NaN" in failed.error_message
    assert failed.params == {}
    good.refresh_from_db()
    assert good.status == Fit.Status.CURRENT


def test_negative_loss_and_single_size_are_clear_failures(team_a: Any) -> None:
    TrainingRun.objects.create(team=team_a, name="pl-neg", parameters=1e8, tokens=2e9, final_loss=-1.0)
    neg = study_services.study_refit(study_id=_power_study(team_a).pk)
    assert neg.status == Fit.Status.FAILED and "loss must be > 0" in neg.error_message
    _law_runs(team_a, prefix="one-", sizes=(1e8,) * 5)
    one = study_services.study_refit(
        study_id=_power_study(team_a, name="one", run_filter={"name__startswith": "one-"}).pk
    )
    assert one.status == Fit.Status.FAILED and "distinct values of N" in one.error_message
    assert not Fit.objects.filter(status=Fit.Status.CURRENT).exists()


def test_disallowed_filter_key_is_refused_and_a_stored_one_fails_the_fit(team_a: Any) -> None:
    _law_runs(team_a)
    with pytest.raises(SpecError, match="'team__name' is not an allowed filter"):
        _power_study(team_a, run_filter={"team__name": "Lab B"})
    assert not Study.objects.exists()
    # A row stored with a lookup (the admin's raw JSON before the whitelist) fails its fit, saying why.
    study = _power_study(team_a)
    Study.objects.filter(pk=study.pk).update(
        run_filter=[{"field": "team__name", "op": "lookup", "value": "B"}]
    )
    fit = study_services.study_refit(study_id=study.pk)
    assert fit.status == Fit.Status.FAILED
    assert "stored run filter is not usable" in fit.error_message
    assert "'team__name' is not a filter field" in fit.error_message


def test_selection_never_crosses_teams(team_a: Any, team_b: Any) -> None:
    _law_runs(team_a)
    foreign = _law_runs(team_b)
    study = _power_study(team_a)
    assert {p.run_name for p in study_points_mod.study_points(study)} == {f"pl-{i}" for i in range(6)}
    assert all(p.run_id not in {r.pk for r in foreign} for p in study_points_mod.study_points(study))
    with pytest.raises(ValueError, match="belong to another team"):
        study_services.study_create(team=team_a, name="x", kind="power_law", runs=foreign)


def test_metric_series_target_uses_last_value(team_a: Any) -> None:
    runs = _law_runs(team_a)
    for run in runs:
        MetricSeries.objects.create(run=run, name="val/loss", last_value=2.0 * run.final_loss)
    study = _power_study(team_a, target_metric="val/loss")
    fit = study_services.study_refit(study_id=study.pk)
    assert fit.params["c"] == pytest.approx(3.6, rel=1e-6)
    assert fit.params["k"] == pytest.approx(800, rel=1e-5)


def test_data_constrained_study_reproduces_published_r_star(team_a: Any) -> None:
    with open(REFERENCE / "datablations_c4_runs_parametric_fit.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    TrainingRun.objects.bulk_create(
        TrainingRun(
            team=team_a,
            name=f"db-{i}-{r['run_name']}",
            parameters=float(r["N_params"]),
            tokens=float(r["D_tokens_total"]),
            unique_tokens=float(r["U_unique_tokens"]),
            final_loss=float(r["val_loss"]),
        )
        for i, r in enumerate(rows)
    )
    base = {"a": 6.255414, "b": 7.3049974, "e": 0.6254804, "alpha": 0.3526596, "beta": 0.3526596}
    study = study_services.study_create(
        team=team_a,
        name="datablations",
        kind="data_constrained",
        run_filter={"name__startswith": "db-"},
        options={"base": base},
    )
    fit = study_services.study_refit(study_id=study.pk)
    assert fit.status == Fit.Status.CURRENT, fit.error_message
    assert fit.params["rd_star"] == pytest.approx(15.387756, rel=0.02)
    assert fit.params["rn_star"] == pytest.approx(5.309743, rel=0.02)
    assert fit.goodness["n_points"] == 182


def test_plan_a_run_on_chinchilla_fit(team_a: Any) -> None:
    truth = ChinchillaParams(a=6.0, b=6.5, e=0.5, alpha=0.34, beta=0.28)
    rng = np.random.default_rng(2)
    for i, (n, d) in enumerate((n, d) for n in np.logspace(7, 9, 5) for d in np.logspace(9, 11, 5)):
        loss = float(truth.predict(n, d)) * math.exp(rng.normal(0, 0.004))
        TrainingRun.objects.create(team=team_a, name=f"ch-{i}", parameters=n, tokens=d, final_loss=loss)
    study = study_services.study_create(
        team=team_a,
        name="chin",
        kind="chinchilla",
        run_filter={"name__startswith": "ch-"},
        options={"n_bootstrap": 30},
    )
    fit = study_services.study_refit(study_id=study.pk)
    assert fit.status == Fit.Status.CURRENT, fit.error_message
    assert len(fit.ci["bootstrap"]) == 30
    h100 = Hardware.objects.create(name="H100-SXM5-80GB", tdp_watts=700, peak_bf16_tflops=989.0)
    HardwarePrice.objects.create(hardware=h100, usd_per_gpu_hour=Decimal("4.00"), valid_from=date(2024, 1, 1))
    HardwarePrice.objects.create(hardware=h100, usd_per_gpu_hour=Decimal("2.50"), valid_from=date(2025, 1, 1))
    plan = study_selectors.run_plan(fit=fit, compute=1e21, hardware=h100, on=date(2024, 6, 1))
    fitted = ChinchillaParams(**{k: fit.params[k] for k in ("a", "b", "e", "alpha", "beta")})
    n_opt, d_opt = fitted.compute_optimal(1e21)
    assert plan.d_opt == pytest.approx(float(d_opt), rel=1e-12)
    assert plan.n_opt == pytest.approx(float(n_opt), rel=1e-12)
    assert 6 * plan.n_opt * plan.d_opt == pytest.approx(1e21, rel=1e-12)
    assert plan.tokens_per_parameter == pytest.approx(plan.d_opt / plan.n_opt)
    assert plan.loss_low < plan.loss < plan.loss_high
    gpu_hours = 1e21 / (989e12 * 0.4) / 3600
    assert plan.gpu_hours == pytest.approx(gpu_hours, rel=1e-12)
    assert plan.usd_per_gpu_hour == 4.0  # the 2025 price is not yet in force on 2024-06-01
    assert plan.cost_usd == pytest.approx(gpu_hours * 4.0, rel=1e-12)
    # Epoch's method, the costs page's PUE: DGX H100 10.2 kW / 8 GPUs x 0.75 average power x PUE 1.1.
    assert plan.energy_kwh == pytest.approx(gpu_hours * 10.2 / 8 * 0.75 * 1.1, rel=1e-12)
    assert plan.pue == 1.1 and plan.power is not None and plan.power.server_multiplier > 1.8
    later = study_selectors.run_plan(fit=fit, compute=1e21, hardware=h100, on=date(2025, 3, 1), mfu=0.5)
    assert later.usd_per_gpu_hour == 2.5 and later.gpu_hours == pytest.approx(gpu_hours * 0.8)
    with pytest.raises(FitError, match="MFU must be in"):
        study_selectors.run_plan(fit=fit, compute=1e21, hardware=h100, mfu=1.5)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_refits_after_runs_land(celery_worker_process: Any, team_a: Any) -> None:
    study = _power_study(team_a)
    with transaction.atomic():
        _law_runs(team_a)
        study_services.enqueue_refits_for_runs(team_id=team_a.pk)
        assert not Fit.objects.filter(study=study).exists()  # nothing is sent before commit
    fit = wait_for(lambda: Fit.objects.filter(study=study, status=Fit.Status.CURRENT).first(), timeout=60)
    assert fit.version == 1
    assert fit.params["a"] == pytest.approx(0.3, rel=1e-7)
