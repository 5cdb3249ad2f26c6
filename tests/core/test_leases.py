"""Leases: a row being worked on is never taken over while its worker lives, and is handed on once its
lease stops being renewed (the worker died); the sweeps find such rows for files, reports and refits."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from analytics.models import Report, Study
from analytics.reports import services as report_services
from analytics.studies import services as study_services
from core.leases import LeaseBusy, fresh_lease_ids, lease_held, lease_renew
from core.models import Lease
from ingestion.models import IngestFile
from ingestion.services import jobs, outbox, processing

pytestmark = pytest.mark.django_db

CSV = b"step,loss\n0,4.0\n1,3.5\n"


def _file(team, user) -> IngestFile:
    job = jobs.ingest_job_create(
        team=team, user=user, source="api", uploads=[SimpleUploadedFile("a.csv", CSV)], enqueue=False
    )
    return IngestFile.objects.get(job=job)


def _age_lease(model, pk, seconds: float) -> None:
    Lease.objects.filter(resource=model._meta.label_lower, object_id=pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=seconds)
    )


@pytest.mark.django_db(transaction=True)  # the renewing thread has its own connection
def test_lease_is_renewed_while_held_and_released_after(settings):
    settings.ISOFLOP_LEASE_SECONDS = 30
    with lease_held(IngestFile, 123, interval=0.05):
        assert list(fresh_lease_ids(IngestFile)) == [123]
        first = Lease.objects.get(object_id=123).heartbeat_at
        time.sleep(0.3)
        assert Lease.objects.get(object_id=123).heartbeat_at > first
    assert not Lease.objects.filter(object_id=123).exists()


def test_running_file_with_a_fresh_lease_is_not_taken_over(make_user, team_a):
    file = _file(team_a, make_user(role="editor", team=team_a))
    IngestFile.objects.filter(pk=file.pk).update(status="running", attempts=1, started_at=timezone.now())
    lease_renew(IngestFile, file.pk)
    with pytest.raises(LeaseBusy):
        processing.ingest_file_process(file_id=file.pk)
    file.refresh_from_db()
    assert (file.status, file.attempts) == ("running", 1)


def test_running_file_whose_lease_expired_is_redone_exactly_once(make_user, team_a, settings):
    settings.ISOFLOP_LEASE_SECONDS = 30
    file = _file(team_a, make_user(role="editor", team=team_a))
    IngestFile.objects.filter(pk=file.pk).update(
        status="running", attempts=1, started_at=timezone.now() - timedelta(minutes=5)
    )
    lease_renew(IngestFile, file.pk)
    _age_lease(IngestFile, file.pk, 60)  # the worker died a minute ago
    processing.ingest_file_process(file_id=file.pk)
    file.refresh_from_db()
    assert (file.status, file.attempts) == ("done", 2)
    processing.ingest_file_process(file_id=file.pk)  # a second message changes nothing
    file.refresh_from_db()
    assert (file.status, file.attempts) == ("done", 2)


def test_outbox_sweep_picks_only_files_whose_lease_lapsed(make_user, team_a, settings, monkeypatch):
    settings.ISOFLOP_LEASE_SECONDS = 30
    user = make_user(role="editor", team=team_a)
    alive, dead = _file(team_a, user), None
    job = jobs.ingest_job_create(
        team=team_a,
        user=user,
        source="api",
        uploads=[SimpleUploadedFile("b.csv", CSV + b"2,3\n")],
        enqueue=False,
    )
    dead = IngestFile.objects.get(job=job)
    long_ago = timezone.now() - timedelta(minutes=5)
    IngestFile.objects.filter(pk__in=[alive.pk, dead.pk]).update(status="running", started_at=long_ago)
    lease_renew(IngestFile, alive.pk)
    lease_renew(IngestFile, dead.pk)
    _age_lease(IngestFile, dead.pk, 45)
    sent = []
    monkeypatch.setattr(outbox, "publish", lambda name, pk, row=None: sent.append((name, pk)) or True)
    assert outbox.outbox_requeue(grace_seconds=600).files == 1
    assert sent == [("ingestion.ingest_file_process", dead.pk)]


def test_report_left_running_by_a_dead_worker_is_reclaimed(make_user, team_a, settings, monkeypatch):
    settings.ISOFLOP_LEASE_SECONDS = 30
    user = make_user(role="editor", team=team_a)
    report = Report.objects.create(
        team=team_a,
        created_by=user,
        scope="catalog",
        params={},
        formats=["json"],
        status="running",
        started_at=timezone.now() - timedelta(minutes=3),
    )
    lease_renew(Report, report.pk)
    assert report_services.report_build(report_id=report.pk).status == "running"  # its worker lives
    _age_lease(Report, report.pk, 60)
    sent = []
    monkeypatch.setattr(report_services, "publish", lambda name, *args: sent.append((name, args)))
    assert report_services.reports_requeue() == [report.pk]
    assert report_services.report_build(report_id=report.pk).status == "done"
    assert report.files.count() == 1


def test_lost_refit_is_published_again_and_cleared_when_the_fit_lands(team_a, monkeypatch):
    study = Study.objects.create(team=team_a, name="s", kind="power_law", options={"variable": "N"})
    old = timezone.now() - timedelta(minutes=10)
    Study.objects.filter(pk=study.pk).update(refit_requested_at=old)
    sent = []
    monkeypatch.setattr(study_services, "publish", lambda name, *args: sent.append((name, args)))
    assert study_services.studies_refit_requeue() == [study.pk]
    assert sent == [("analytics.study_refit", (study.pk,))]
    study_services.study_refit(study_id=study.pk)  # fails (no runs) but answers the request
    study.refresh_from_db()
    assert study.refit_requested_at is None
    assert study_services.studies_refit_requeue() == []
