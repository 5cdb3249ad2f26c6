"""Login everywhere, roles per team, and no peeking into another team's runs."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.models import WorkerHeartbeat
from core.roles import Role
from tracker.accounts import services as account_services
from tracker.models import ApiToken, TrainingRun


@pytest.fixture
def run_a(team_a):
    return TrainingRun.objects.create(team=team_a, name="run-a", parameters=1e8, tokens=2e9)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["home", "runs:list", "catalog:model-list"])
def test_pages_redirect_anonymous_to_login(url_name):
    response = Client().get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_api_without_credentials_is_401_json():
    response = Client().get(reverse("api:me"))
    assert response.status_code == 401
    assert "authentication required" in response.json()["error"]


@pytest.mark.django_db
def test_health_is_public():
    # Public (no login, no redirect); "ok" needs a live worker, which the heartbeat row stands for here.
    now = timezone.now()
    WorkerHeartbeat.objects.create(hostname="w@test", pid=1, started_at=now, last_seen=now)
    assert Client().get(reverse("health")).json()["status"] == "ok"


@pytest.mark.django_db
def test_token_authenticates_and_revocation_stops_it(make_user):
    user = make_user(Role.EDITOR)
    token, key = account_services.api_token_create(user=user, name="ci")
    assert token.key_hash != key and key.startswith("isf_")
    response = Client().get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    # The SDK's shape: teams with their roles, and what the token may do.
    assert response.json() == {
        "username": user.username,
        "role": "editor",
        "teams": [{"slug": "lab-a", "name": "Lab A", "role": "editor"}],
        "scopes": ["read", "ingest", "reports", "write"],
    }
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None

    account_services.api_token_revoke(token=token)
    response = Client().get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 401


@pytest.mark.django_db
def test_wrong_token_is_401(make_user):
    response = Client().get(reverse("api:me"), HTTP_AUTHORIZATION="Bearer isf_not-a-real-token")
    assert response.status_code == 401


@pytest.mark.django_db
def test_viewer_sees_run_but_cannot_delete_it(make_user, run_a):
    viewer = make_user(Role.VIEWER)
    client = logged_in(viewer)
    assert client.get(reverse("runs:detail", args=[run_a.pk])).status_code == 200
    response = client.post(reverse("runs:delete", args=[run_a.pk]))
    assert response.status_code == 403
    assert TrainingRun.objects.filter(pk=run_a.pk).exists()


@pytest.mark.django_db
def test_editor_can_delete_run(make_user, run_a):
    editor = make_user(Role.EDITOR)
    response = logged_in(editor).post(reverse("runs:delete", args=[run_a.pk]))
    assert response.status_code == 302
    assert not TrainingRun.objects.filter(pk=run_a.pk).exists()


@pytest.mark.django_db
def test_other_team_gets_404_for_every_verb(make_user, run_a, team_b):
    outsider = make_user(Role.ADMIN, team=team_b)
    client = logged_in(outsider)
    assert client.get(reverse("runs:detail", args=[run_a.pk])).status_code == 404
    assert client.post(reverse("runs:delete", args=[run_a.pk])).status_code == 404
    assert TrainingRun.objects.filter(pk=run_a.pk).exists()
    listing = client.get(reverse("runs:list")).content.decode()
    assert "run-a" not in listing


@pytest.mark.django_db
def test_user_without_team_sees_no_runs(make_user, run_a):
    loner = make_user(role=None)
    client = logged_in(loner)
    assert client.get(reverse("runs:detail", args=[run_a.pk])).status_code == 404
    assert "run-a" not in client.get(reverse("home")).content.decode()


@pytest.mark.django_db
def test_login_form_logs_in(make_user):
    make_user(Role.VIEWER, username="alice")
    client = Client()
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-for-tests-123"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    bad = Client().post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert bad.status_code == 200 and b"didn't match" in bad.content
