"""A broker outage never fails the request that asked for work; the breaker skips a down broker; the report
sweep re-publishes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.models import Report
from analytics.reports import services as report_services
from core.outbox import Breaker, OutboxRow, breaker, publish
from ingestion.models import IngestFile, IngestJob


class RefusingApp:
    """Stands in for the Celery app: records what it was asked to send, then refuses like a dead broker."""

    def __init__(self):
        self.calls = []

    def send_task(self, name, args):
        self.calls.append((name, args))
        raise ConnectionRefusedError("broker down")


class RecordingApp(RefusingApp):
    def send_task(self, name, args):
        self.calls.append((name, args))


@pytest.fixture(autouse=True)
def _breaker_closed():
    breaker.reset()
    yield
    breaker.reset()


def test_publish_reports_failure_instead_of_raising(caplog):
    app = RefusingApp()
    assert publish("test.refusing", 7, app=app) is False
    assert app.calls == [("test.refusing", (7,))]
    assert "could not publish test.refusing(7,)" in caplog.text
    breaker.reset()
    ok = RecordingApp()
    assert publish("test.ok", 8, "x", app=ok) is True and ok.calls == [("test.ok", (8, "x"))]


def test_breaker_skips_the_broker_after_a_failure_then_one_caller_probes():
    now = [100.0]
    b = Breaker(backoff_seconds=5.0, clock=lambda: now[0])
    assert b.allow()
    b.record_failure()
    assert not b.allow() and b.is_open
    now[0] += 5.1
    assert b.allow()  # the probe
    assert not b.allow()  # concurrent callers keep skipping while the probe is out
    b.record_success()
    assert b.allow() and not b.is_open


@pytest.mark.django_db
def test_failed_publish_marks_the_row_for_the_sweep(team_a):
    job = IngestJob.objects.create(team=team_a, source="api")
    row = IngestFile.objects.create(job=job, team=team_a, original_name="a.csv", enqueued_at=timezone.now())
    assert (
        publish("ingestion.ingest_file_process", row.pk, row=OutboxRow(IngestFile, row.pk), app=RefusingApp())
        is False
    )
    row.refresh_from_db()
    assert row.enqueued_at is None
    # While the breaker is open nothing is sent at all, and the row is still marked.
    IngestFile.objects.filter(pk=row.pk).update(enqueued_at=timezone.now())
    skipped = RecordingApp()
    assert (
        publish("ingestion.ingest_file_process", row.pk, row=OutboxRow(IngestFile, row.pk), app=skipped)
        is False
    )
    assert skipped.calls == []
    row.refresh_from_db()
    assert row.enqueued_at is None


@pytest.mark.django_db
def test_reports_requeue_publishes_only_old_queued_reports(team_a, make_user, monkeypatch):
    user = make_user("editor", team=team_a)
    old = Report.objects.create(team=team_a, created_by=user, scope="catalog", params={})
    fresh = Report.objects.create(team=team_a, created_by=user, scope="catalog", params={})
    done = Report.objects.create(team=team_a, created_by=user, scope="catalog", params={}, status="done")
    Report.objects.filter(pk__in=[old.pk, done.pk]).update(created_at=timezone.now() - timedelta(minutes=10))
    sent = []
    monkeypatch.setattr(report_services, "publish", lambda name, *args: sent.append((name, args)))
    assert report_services.reports_requeue() == [old.pk]
    assert sent == [("analytics.report_build", (old.pk,))]
    assert fresh.pk not in [a[0] for _, a in sent]
