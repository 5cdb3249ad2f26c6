"""The typed API: schema, scopes, one error shape, cursor pagination, runs logged from code exactly once."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from core.roles import Role
from tracker.accounts import services as account_services
from tracker.models import MetricSeries, TrainingRun
from tracker.runs.series.reads import series_points

pytestmark = pytest.mark.django_db


def bearer(user, scopes=("read", "ingest", "reports", "write")) -> Client:
    _token, key = account_services.api_token_create(user=user, name="t", scopes=scopes)
    return Client(headers={"Authorization": f"Bearer {key}"})


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"error", "code", "detail"} and isinstance(body["error"], str) and body["code"]
    return body


def test_schema_lists_the_operations(make_user):
    client = bearer(make_user(Role.VIEWER))
    schema = client.get("/api/openapi.json").json()
    for path in ("/api/runs/", "/api/runs/{run_id}/metrics/", "/api/studies/{study_id}/refit/", "/api/me/"):
        assert path in schema["paths"]
    assert "ErrorOut" in json.dumps(schema)


def test_every_error_has_one_shape(make_user, team_a):
    assert_error(Client().get("/api/runs/"), 401)
    assert_error(Client(headers={"Authorization": "Bearer nope"}).get("/api/runs/"), 401)
    viewer = make_user(Role.VIEWER)
    client = bearer(viewer, scopes=("read",))
    assert_error(client.get("/api/runs/999999/"), 404)
    assert_error(client.get("/api/no-such-thing/"), 404)
    assert_error(client.get("/api/runs/?limit=0"), 422)
    assert_error(client.get("/api/runs/?n_min=lots"), 422)
    assert_error(client.get("/api/runs/?cursor=%%%"), 400)
    body = assert_error(client.post("/api/runs/", {"team": "lab-a", "name": "x"}, "application/json"), 403)
    assert body["code"] == "scope"
    assert_error(client.put("/api/me/"), 405)


def test_run_logged_from_code_is_stored_once_and_read_back(make_user, team_a):
    editor = make_user(Role.EDITOR)
    client = bearer(editor)
    body = {"team": "lab-a", "name": "sdk-run", "external_id": "ext-1", "parameters": 1e8, "tags": ["sdk"]}
    created = client.post("/api/runs/", body, "application/json")
    assert created.status_code == 201
    run_id = created.json()["id"]
    again = client.post("/api/runs/", body, "application/json")
    assert again.status_code == 200 and again.json()["id"] == run_id

    batch = {"series": {"train/loss": {"steps": [2, 0, 1], "values": [1.5, 3.0, None]}}}
    first = client.post(
        f"/api/runs/{run_id}/metrics/", batch, "application/json", headers={"Idempotency-Key": "k1"}
    )
    assert first.json() == {"accepted": 2, "duplicate": False}  # the null is a gap, not a point
    dup = client.post(
        f"/api/runs/{run_id}/metrics/", batch, "application/json", headers={"Idempotency-Key": "k1"}
    )
    assert dup.json() == {"accepted": 2, "duplicate": True}
    more = {"series": {"train/loss": {"steps": [3], "values": [1.0], "wall_times": [1.7e9]}}}
    client.post(f"/api/runs/{run_id}/metrics/", more, "application/json", headers={"Idempotency-Key": "k2"})

    series = MetricSeries.objects.get(run_id=run_id, name="train/loss")
    points = series_points(series=series)
    assert points.steps.tolist() == [0, 2, 3] and series.n_points == 3

    finished = client.post(f"/api/runs/{run_id}/finish/", {"status": "finished"}, "application/json").json()
    assert finished["status"] == "finished"
    assert finished["series"][0]["name"] == "train/loss" and finished["series"][0]["n_points"] == 3

    window = client.get(f"/api/runs/{run_id}/series/train/loss/window?points=10").json()
    assert window["steps"] == [0, 2, 3] and window["total"] == 3
    csv = b"".join(client.get(f"/api/runs/{run_id}/series/train%2Floss/csv").streaming_content).decode()
    assert csv.splitlines()[0] == "step,value,wall_time" and len(csv.splitlines()) == 4

    listed = client.get("/api/runs/?tag=sdk&status=finished").json()
    assert [r["id"] for r in listed["items"]] == [run_id]


def test_cursor_pagination_walks_every_run_once(make_user, team_a):
    editor = make_user(Role.EDITOR)
    for i in range(7):
        TrainingRun.objects.create(team=team_a, name=f"r{i}")
    client = bearer(editor)
    seen, cursor = [], None
    while True:
        page = client.get("/api/runs/", {"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 == len(set(seen))


def test_other_teams_runs_are_404_and_viewers_cannot_log(make_user, team_a, team_b):
    other = TrainingRun.objects.create(team=team_b, name="theirs", external_id="x")
    viewer = make_user(Role.VIEWER)
    client = bearer(viewer)
    assert_error(client.get(f"/api/runs/{other.pk}/"), 404)
    assert_error(
        client.post("/api/runs/", {"team": "lab-a", "name": "n", "external_id": "e"}, "application/json"), 403
    )


def test_too_many_points_is_413(make_user, team_a):
    client = bearer(make_user(Role.EDITOR))
    run_id = client.post(
        "/api/runs/", {"team": "lab-a", "name": "n", "external_id": "e"}, "application/json"
    ).json()["id"]
    steps = list(range(100_001))
    big = {"series": {"a": {"steps": steps, "values": [0.0] * len(steps)}}}
    assert_error(client.post(f"/api/runs/{run_id}/metrics/", big, "application/json"), 413)


def test_study_create_refit_and_delete(make_user, team_a):
    editor = make_user(Role.EDITOR)
    client = bearer(editor)
    runs = [
        TrainingRun.objects.create(
            team=team_a, name=f"s{i}", parameters=1e8 * (i + 1), tokens=2e9, final_loss=3.0 - i * 0.1
        )
        for i in range(4)
    ]
    spec = {
        "team": "lab-a",
        "name": "api study",
        "kind": "power_law",
        "selection": {"run_ids": [r.pk for r in runs]},
    }
    created = client.post("/api/studies/", spec, "application/json")
    assert created.status_code == 201, created.content
    study_id = created.json()["id"]
    assert client.get(f"/api/studies/{study_id}/").json()["refit"] in ("queued", "running", "idle")
    bad = assert_error(client.post("/api/studies/", {**spec, "kind": "nope"}, "application/json"), 422)
    assert bad["detail"]
    assert client.post(f"/api/studies/{study_id}/refit/").status_code == 202
    assert client.delete(f"/api/studies/{study_id}/").status_code == 204
    assert_error(client.get(f"/api/studies/{study_id}/"), 404)


def test_me_lists_teams_with_roles_and_scopes(make_user, team_a):
    client = bearer(make_user(Role.EDITOR), scopes=("read",))
    me = client.get("/api/me/").json()
    assert me["teams"] == [{"slug": "lab-a", "name": "Lab A", "role": "editor"}] and me["scopes"] == ["read"]


def test_finishing_a_run_without_sender_id_changes_only_that_run(make_user, team_a):
    client = bearer(make_user(Role.EDITOR))
    a = TrainingRun.objects.create(team=team_a, name="a", status="running", config={"lr": 1})
    b = TrainingRun.objects.create(team=team_a, name="b", status="running")
    body = {"status": "failed", "summary": {"best": 1.5}}
    assert client.post(f"/api/runs/{a.pk}/finish/", body, "application/json").json()["status"] == "failed"
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.config == {"lr": 1, "summary": {"best": 1.5}} and b.status == "running"


def test_run_edits_catalog_reads_and_token_revocation(make_user, team_a):
    from tracker.catalog.models import Fact, Model, SourceDocument

    editor = make_user(Role.EDITOR)
    client = bearer(editor)
    run = TrainingRun.objects.create(team=team_a, name="edit-me")
    body = {"add_tags": ["Baseline"], "notes": "looks fine", "final_loss": 2.5, "final_loss_note": "eval"}
    edited = client.patch(f"/api/runs/{run.pk}/", body, "application/json").json()
    assert edited["tags"] == ["baseline"] and edited["notes"] == "looks fine"
    assert edited["final_loss"] == 2.5 and edited["final_loss_provenance"] == "entered"
    assert_error(client.patch(f"/api/runs/{run.pk}/", {"final_loss": -1}, "application/json"), 422)

    model = Model.objects.create(name="m-7b", parameters=7e9)
    source = SourceDocument.objects.create(kind=SourceDocument.Kind.UPLOAD, name="card.md")
    Fact.objects.create(model=model, name="parameters", value=7e9, source=source, line=3)
    listed = client.get("/api/models/").json()["items"]
    assert [m["name"] for m in listed] == ["m-7b"] and listed[0]["aliases"] == []
    detail = client.get(f"/api/models/{model.pk}/").json()
    assert detail["facts"][0]["source"] == "card.md" and detail["facts"][0]["line"] == 3
    assert client.get("/api/facts/", {"name": "parameters"}).json()["items"][0]["model"] == model.pk
    assert client.get("/api/papers/", {"q": "scaling"}).json() == {"items": [], "next_cursor": None}

    tokens = client.get("/api/tokens/").json()
    assert len(tokens) == 1 and "key" not in tokens[0]
    assert client.delete(f"/api/tokens/{tokens[0]['id']}/").status_code == 204
    assert_error(client.get("/api/me/"), 401)  # the token revoked itself


def test_session_writes_need_the_csrf_token(make_user, team_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user(Role.EDITOR))
    assert client.get("/api/me/").status_code == 200  # reads need no token
    body = {"team": "lab-a", "name": "n", "external_id": "csrf-1"}
    assert assert_error(client.post("/api/runs/", body, "application/json"), 403)["code"] == "csrf"
    client.get("/runs/")  # any page sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    assert (
        client.post("/api/runs/", body, "application/json", headers={"X-CSRFToken": token}).status_code == 201
    )


def test_fit_carries_intervals_derived_values_and_warnings(make_user, team_a):
    from analytics.models import Fit, Study

    client = bearer(make_user(Role.VIEWER))
    study = Study.objects.create(team=team_a, name="warned", kind="chinchilla")
    warning = {"code": "tokens_per_param", "message": "0.8 tokens/param at 1e22 FLOPs", "severity": "warn"}
    interval = {
        "estimate": 0.34,
        "low": 0.3,
        "high": None,
        "level": 0.95,
        "method": "bootstrap",
        "bounded": False,
    }
    fit = Fit.objects.create(
        study=study,
        version=1,
        inputs_hash="h",
        method="approach3",
        params={"alpha": 0.34},
        intervals={"alpha": interval},
        derived=[{"compute": 1e22, "n_opt": 1e10, "tokens_per_parameter": 0.8}],
        warnings=[warning],
    )
    body = client.get(f"/api/fits/{fit.pk}/").json()
    assert body["warnings"] == [warning]
    assert body["intervals"]["alpha"]["high"] is None and body["intervals"]["alpha"]["low"] == 0.3
    assert body["derived"][0]["tokens_per_parameter"] == 0.8
    assert client.get(f"/api/studies/{study.pk}/").json()["fit"]["warnings"] == [warning]
