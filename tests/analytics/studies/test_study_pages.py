"""Study pages: team scoping (404 elsewhere), figures, plan form, refit permissions."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from analytics.figures.chinchilla import chinchilla_figures
from analytics.models import Fit
from analytics.studies import services as study_services
from core.roles import Role
from tracker.models import Hardware, HardwarePrice, TrainingRun

pytestmark = pytest.mark.django_db


def _study(team: Any, name: str = "N law") -> Any:
    for i, n in enumerate((1e7, 3e7, 1e8, 3e8, 1e9)):
        TrainingRun.objects.create(
            team=team, name=f"{name}-{i}", parameters=n, tokens=20 * n, final_loss=1.8 + 400 * n**-0.3
        )
    study = study_services.study_create(
        team=team,
        name=name,
        kind="power_law",
        run_filter={"name__startswith": f"{name}-"},
        options={"variable": "N"},
    )
    study_services.study_refit(study_id=study.pk)
    return study


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_list_and_detail_are_scoped_to_the_users_teams(make_user: Any, team_a: Any, team_b: Any) -> None:
    mine = _study(team_a, "mine")
    theirs = _study(team_b, "theirs")
    client = _client(make_user(Role.VIEWER, team_a))
    listing = client.get("/studies/")
    assert listing.status_code == 200
    assert b"mine" in listing.content and b"theirs" not in listing.content
    assert client.get(f"/studies/{theirs.pk}/").status_code == 404
    detail = client.get(f"/studies/{mine.pk}/")
    assert detail.status_code == 200
    assert b"plotly/plotly.min.js" in detail.content
    assert b'id="fig-0"' in detail.content and b'id="fig-1"' in detail.content


def test_viewer_cannot_refit_and_nothing_is_queued(
    make_user: Any, team_a: Any, django_capture_on_commit_callbacks: Any
) -> None:
    study = _study(team_a)
    client = _client(make_user(Role.VIEWER, team_a))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/studies/{study.pk}/refit/")
    assert response.status_code == 403
    assert callbacks == []


def test_editor_refit_queues_one_task(
    make_user: Any, team_a: Any, django_capture_on_commit_callbacks: Any
) -> None:
    study = _study(team_a)
    client = _client(make_user(Role.EDITOR, team_a))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/studies/{study.pk}/refit/")
    assert response.status_code == 302 and response["Location"] == f"/studies/{study.pk}/"
    assert len(callbacks) == 1


def test_failed_fit_page_shows_the_reason(make_user: Any, team_a: Any) -> None:
    TrainingRun.objects.create(team=team_a, name="bad-0", parameters=1e8, tokens=2e9, final_loss=-3.0)
    study = study_services.study_create(
        team=team_a, name="bad", kind="power_law", run_filter={"name__startswith": "bad-"}
    )
    assert study_services.study_refit(study_id=study.pk).status == Fit.Status.FAILED
    page = _client(make_user(Role.VIEWER, team_a)).get(f"/studies/{study.pk}/")
    assert page.status_code == 200
    assert b"run &#x27;bad-0&#x27;" in page.content and b"loss must be &gt; 0" in page.content


def test_plan_form_on_a_chinchilla_fit(make_user: Any, team_a: Any) -> None:
    study = study_services.study_create(team=team_a, name="chin", kind="chinchilla")
    Fit.objects.create(
        study=study, version=1, inputs_hash="x" * 64, method="chinchilla_approach3",
        params={"a": 6.255414, "b": 7.3049974, "e": 0.6254804, "alpha": 0.3526596, "beta": 0.3526596},
        goodness={"rmse_log": 0.0, "n_points": 54, "r2": 0.99},
    )  # fmt: skip
    h100 = Hardware.objects.create(name="H100", tdp_watts=700, peak_bf16_tflops=989.0)
    HardwarePrice.objects.create(hardware=h100, usd_per_gpu_hour=Decimal("2.00"), valid_from=date(2020, 1, 1))
    client = _client(make_user(Role.VIEWER, team_a))
    page = client.get(f"/studies/{study.pk}/", {"compute": "5.76e23", "hardware": h100.pk, "mfu": "0.4"})
    assert page.status_code == 200
    assert page.context["plan"].n_opt == pytest.approx(69962173313.52132, rel=1e-9)
    assert b"69962173314" in page.content
    bad = client.get(f"/studies/{study.pk}/", {"compute": "lots", "hardware": h100.pk})
    assert bad.status_code == 400 and b"compute (FLOPs) must be a number" in bad.content


def test_chinchilla_figures_have_band_frontier_and_extrapolation() -> None:
    params = {"a": 6.0, "b": 6.5, "e": 0.5, "alpha": 0.34, "beta": 0.28}
    boot = [[6.0 + 0.01 * i, 6.5, 0.5, 0.34, 0.28] for i in range(5)]
    residuals = [{"run": "r", "n": 1e8, "d": 2e9, "observed": 3.0, "residual": 0.01}]
    figs = chinchilla_figures(params, {"bootstrap": boot}, residuals)
    assert len(figs) == 3
    names = [t["name"] for t in figs[0]["data"]]
    assert "95% band (bootstrap)" in names and "extrapolation (beyond the data)" in names
    extrap = next(t for t in figs[0]["data"] if t["name"] == "extrapolation (beyond the data)")
    # dashed from the largest compute in the data (where the solid curve ends) to 100x beyond it
    assert extrap["line"]["dash"] == "dash"
    assert min(extrap["x"]) == pytest.approx(6 * 1e8 * 2e9) and max(extrap["x"]) == pytest.approx(
        100 * 6 * 1e8 * 2e9
    )
    json.dumps(figs)  # must be JSON-serialisable for json_script
