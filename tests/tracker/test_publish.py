"""A broker outage never fails the request that asked for work; the report sweep re-publishes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from analytics import services as analytics_services
from analytics.models import Report
from tracker.publish import publish


class RefusingTask:
    name = "test.refusing"

    def __init__(self):
        self.calls = []

    def apply_async(self, args):
        self.calls.append(args)
        raise ConnectionRefusedError("broker down")


class RecordingTask(RefusingTask):
    def apply_async(self, args):
        self.calls.append(args)


def test_publish_reports_failure_instead_of_raising(caplog):
    task = RefusingTask()
    assert publish(task, 7) is False
    assert task.calls == [(7,)]
    assert "could not publish test.refusing(7,)" in caplog.text
    ok = RecordingTask()
    assert publish(ok, 8, "x") is True and ok.calls == [(8, "x")]


@pytest.mark.django_db
def test_reports_requeue_publishes_only_old_queued_reports(team_a, make_user, monkeypatch):
    user = make_user("editor", team=team_a)
    old = Report.objects.create(team=team_a, created_by=user, scope="catalog", params={})
    fresh = Report.objects.create(team=team_a, created_by=user, scope="catalog", params={})
    done = Report.objects.create(team=team_a, created_by=user, scope="catalog", params={}, status="done")
    Report.objects.filter(pk__in=[old.pk, done.pk]).update(created_at=timezone.now() - timedelta(minutes=10))
    sent = []
    monkeypatch.setattr(analytics_services, "publish", lambda task, *args: sent.append((task.name, args)))
    assert analytics_services.reports_requeue() == [old.pk]
    assert sent == [("analytics.tasks.build_report", (old.pk,))]
    assert fresh.pk not in [a[0] for _, a in sent]
