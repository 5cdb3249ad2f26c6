"""Liveness: /health/ says whether database, broker and workers are up; pages with queued work say when no
worker runs; real workers record heartbeats."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics.models import Report, Study
from config.celery import queue_names
from core.liveness import worker_status
from core.models import WorkerHeartbeat
from core.roles import Role
from ingestion.models import IngestFile, IngestJob
from tests.conftest import wait_for
from tests.hardening.stack import app_broker, free_port

pytestmark = pytest.mark.django_db


def _beat(age_seconds: float = 0.0, name: str = "w@test") -> WorkerHeartbeat:
    seen = timezone.now() - timedelta(seconds=age_seconds)
    return WorkerHeartbeat.objects.create(hostname=name, pid=1, started_at=seen, last_seen=seen)


def test_health_is_503_without_a_worker_and_says_how_to_start_one():
    response = Client().get(reverse("health"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == {"ok": True} and body["broker"]["ok"] is True
    assert body["workers"]["ok"] is False and body["workers"]["alive"] == 0
    assert "scripts/run.sh" in body["workers"]["hint"]


def test_health_counts_only_recent_heartbeats(settings):
    settings.ISOFLOP_WORKER_STALE_SECONDS = 60
    _beat(age_seconds=300, name="dead@test")
    assert Client().get(reverse("health")).status_code == 503
    _beat(age_seconds=5, name="live@test")
    response = Client().get(reverse("health"))
    assert response.status_code == 200
    assert response.json()["workers"]["alive"] == 1
    assert worker_status().alive == 1


def test_health_is_503_when_the_broker_is_unreachable():
    _beat()
    with app_broker(f"redis://127.0.0.1:{free_port()}/0"):
        response = Client().get(reverse("health"))
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False
    # The web-only check (container health) does not depend on broker or workers.
    assert Client().get(reverse("health-web")).status_code == 200


def test_pages_with_queued_work_say_no_worker_is_running(make_user, team_a):
    user = make_user(role=Role.EDITOR, team=team_a)
    client = Client()
    client.force_login(user)
    job = IngestJob.objects.create(team=team_a, source="api")
    IngestFile.objects.create(job=job, team=team_a, original_name="a.csv")
    Report.objects.create(team=team_a, created_by=user, scope="catalog", params={}, formats=["json"])
    study = Study.objects.create(team=team_a, name="s", kind="chinchilla", refit_requested_at=timezone.now())
    pages = [
        reverse("ingestion:job-detail", args=[job.pk]),
        reverse("reports:list"),
        reverse("studies:detail", args=[study.pk]),
    ]
    for url in pages:
        text = client.get(url).text
        assert 'data-testid="worker-notice"' in text, url
        assert "No worker is running" in text and "bash scripts/run.sh" in text
    _beat()
    for url in pages:
        assert 'data-testid="worker-notice"' not in client.get(url).text, url


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_records_heartbeats(celery_worker_process):
    row = wait_for(lambda: WorkerHeartbeat.objects.filter(hostname__startswith="test-").first(), timeout=30)
    first = row.last_seen
    assert sorted(row.queues) == sorted(queue_names().split(","))
    wait_for(lambda: WorkerHeartbeat.objects.get(pk=row.pk).last_seen > first, timeout=30)
    assert Client().get(reverse("health")).status_code == 200
