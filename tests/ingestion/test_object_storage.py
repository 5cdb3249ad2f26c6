"""Files only through the storage API, against a real S3-compatible server (moto, a separate process).

MEDIA_ROOT points below a regular file in these tests (`s3_storage`), so any read or write of local media
behind the storage API's back fails them: uploads, archive members, report files and downloads all go to
the bucket and come back from it, and a worker process with its own (unusable) MEDIA_ROOT, like one on a
second host, processes what the web process stored.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from analytics.models import Report, ReportFile
from analytics.reports import services as report_services
from core.roles import Role
from ingestion.models import IngestFile, IngestJob
from ingestion.services import jobs
from tests.conftest import wait_for
from tests.ingestion.conftest import process_job
from tests.support.series import point_count, step_values
from tests.support.workers import worker_env, worker_start
from tracker.models import TrainingRun

CSV = b"step,loss,lr\n0,4.0,0.001\n10,3.5,0.001\n20,3.1,0.0009\n"
MANIFEST = b"external_id: run-s3\nname: r-s3\nparameters: 400M\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("logs/train.csv", CSV)
        zf.writestr("logs/run.yaml", MANIFEST)
    return buf.getvalue()


@pytest.mark.django_db
def test_upload_and_archive_members_are_stored_and_read_from_the_bucket(
    s3_storage, client, make_user, team_a
):
    client.force_login(make_user(role="editor", team=team_a))
    bundle = archive()
    r = client.post("/ingest/upload/", {"team": "lab-a", "files": [SimpleUploadedFile("bundle.zip", bundle)]})
    assert r.status_code == 302, r.content
    job = IngestJob.objects.get()
    assert (
        s3_storage.keys() == [f"ingest/{sha(bundle)}"] and s3_storage.get(f"ingest/{sha(bundle)}") == bundle
    )
    process_job(job)
    assert job.status == "done", list(IngestFile.objects.values_list("original_name", "errors"))
    members = {f.original_name: f.stored_path for f in IngestFile.objects.exclude(parent=None)}
    assert members == {"logs/train.csv": f"ingest/{sha(CSV)}", "logs/run.yaml": f"ingest/{sha(MANIFEST)}"}
    assert s3_storage.keys() == sorted(f"ingest/{sha(d)}" for d in (bundle, CSV, MANIFEST))
    assert s3_storage.get(f"ingest/{sha(CSV)}") == CSV
    run = TrainingRun.objects.get()
    assert (run.external_id, run.parameters) == ("run-s3", 4e8)
    assert step_values(run.series.get(name="loss").pk) == [(0, 4.0), (10, 3.5), (20, 3.1)]
    assert not Path(settings.MEDIA_ROOT).exists()


@pytest.mark.django_db
def test_missing_object_fails_the_file_with_a_reason(s3_storage, make_user, team_a):
    job = jobs.ingest_job_create(
        team=team_a,
        user=make_user(role="editor", team=team_a),
        source="api",
        uploads=[SimpleUploadedFile("t.csv", CSV)],
        enqueue=False,
    )
    s3_storage.client.delete_object(Bucket=s3_storage.bucket, Key=f"ingest/{sha(CSV)}")
    IngestFile.objects.filter(job=job).update(status="queued")
    process_job(job)
    f = IngestFile.objects.get(job=job)
    assert f.status == "failed" and "stored copy is unreadable" in f.errors[0]["reason"]
    assert point_count() == 0


@pytest.mark.django_db
def test_report_files_are_written_to_the_bucket_and_downloads_stream_from_it(
    s3_storage, client, make_user, team_a
):
    TrainingRun.objects.create(team=team_a, name="plain", parameters=1e9, final_loss=2.7)
    report = report_services.report_request(
        user=make_user(Role.EDITOR, team_a),
        team=team_a,
        scope="run_set",
        params={"run_ids": list(TrainingRun.objects.values_list("pk", flat=True))},
        formats=["html", "csv", "json"],
    )
    built = report_services.report_build(report_id=report.pk)
    assert built.status == "done", built.error
    names = [f"reports/{report.pk}/report.{fmt}" for fmt in ("csv", "html", "json")]
    assert s3_storage.keys() == names
    files = {f.format: f for f in ReportFile.objects.filter(report=report)}
    assert {f.path for f in files.values()} == set(names)
    client.force_login(make_user(Role.VIEWER, team_a))
    for fmt, f in files.items():
        response = client.get(f"/reports/{report.pk}/download/{fmt}/")
        assert response.status_code == 200 and response.streaming
        assert response["Content-Length"] == str(f.size)
        body = b"".join(response.streaming_content)
        assert body == s3_storage.get(f.path) and len(body) == f.size and sha(body) == f.sha256
    assert b"plain" in s3_storage.get(names[0])
    # A file gone from the store is a 404, not a server error.
    s3_storage.client.delete_object(Bucket=s3_storage.bucket, Key=names[0])
    assert client.get(f"/reports/{report.pk}/download/csv/").status_code == 404
    assert not Path(settings.MEDIA_ROOT).exists()


@pytest.mark.django_db
def test_failed_report_leaves_no_objects(s3_storage, make_user, team_a, monkeypatch):
    TrainingRun.objects.create(team=team_a, name="plain", parameters=1e9, final_loss=2.7)
    report = report_services.report_request(
        user=make_user(Role.EDITOR, team_a),
        team=team_a,
        scope="run_set",
        params={"run_ids": list(TrainingRun.objects.values_list("pk", flat=True))},
        formats=["csv", "json"],
    )
    # A leftover of a worker that died mid-build, then a build that fails after writing one file.
    s3_storage.client.put_object(Bucket=s3_storage.bucket, Key=f"reports/{report.pk}/report.csv", Body=b"old")
    real_save = report_services.file_save
    calls = []

    def save_then_fail(name, content):
        calls.append(name)
        if len(calls) == 2:
            raise ValueError("disk full, say")
        return real_save(name, content)

    monkeypatch.setattr(report_services, "file_save", save_then_fail)
    built = report_services.report_build(report_id=report.pk)
    assert built.status == Report.Status.FAILED and "disk full" in built.error
    assert (
        len(calls) == 2 and s3_storage.keys() == [] and not ReportFile.objects.filter(report=report).exists()
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_elsewhere_reads_the_upload_from_the_bucket(s3_storage, make_user, team_a, tmp_path):
    """The web process stores the upload; a worker process with only the bucket in common processes it."""
    from ingestion import tasks

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("needs a real broker")
    queue = f"{settings.ISOFLOP_QUEUE_PREFIX}s3"
    elsewhere = tmp_path / "other-host-media-is-a-file"
    elsewhere.write_text("the worker's MEDIA_ROOT is unusable too")
    env = worker_env(**s3_storage.env(), ISOFLOP_MEDIA_ROOT=str(elsewhere / "media"))
    proc = worker_start(log=tmp_path / "s3-worker.log", env=env, queue=queue, concurrency=1, name="s3")
    try:
        job = jobs.ingest_job_create(
            team=team_a,
            user=make_user(role="editor", team=team_a),
            source="api",
            uploads=[SimpleUploadedFile("remote.csv", CSV)],
            enqueue=False,
        )
        file = IngestFile.objects.get(job=job)
        tasks.ingest_file_process.apply_async(args=[file.pk], queue=queue)
        done = wait_for(
            lambda: IngestFile.objects.filter(pk=file.pk, status__in=["done", "failed"]).first(), 90
        )
        assert (done.status, done.errors, done.rows_done) == ("done", [], 6)
        assert point_count() == 6 and TrainingRun.objects.count() == 1
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.django_db
def test_an_unreachable_store_hands_work_back_for_a_retry(s3_storage, make_user, team_a, monkeypatch):
    """StorageUnavailable is transient (core.tasks retries it): the file and the report stay claimable."""
    from core.files import StorageUnavailable
    from core.tasks import TRANSIENT
    from ingestion.services import processing

    assert StorageUnavailable in TRANSIENT
    job = jobs.ingest_job_create(
        team=team_a,
        user=make_user(role="editor", team=team_a),
        source="api",
        uploads=[SimpleUploadedFile("t.csv", CSV)],
        enqueue=False,
    )
    file = IngestFile.objects.get(job=job)

    def down(_file):
        raise StorageUnavailable("object store unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(processing, "read_stored", down)
        with pytest.raises(StorageUnavailable):
            processing.ingest_file_process(file_id=file.pk)
    file.refresh_from_db()
    assert (file.status, file.attempts) == ("running", 1)  # not failed: the retry claims it again
    processing.ingest_file_process(file_id=file.pk)
    file.refresh_from_db()
    assert (file.status, file.attempts, point_count()) == ("done", 2, 6)

    TrainingRun.objects.create(team=team_a, name="plain", parameters=1e9, final_loss=2.7)
    report = report_services.report_request(
        user=make_user(Role.EDITOR, team_a), team=team_a, scope="catalog", params={}, formats=["csv"]
    )
    with monkeypatch.context() as patch:
        patch.setattr(report_services, "file_save", lambda name, content: down(None))
        with pytest.raises(StorageUnavailable):
            report_services.report_build(report_id=report.pk)
    report.refresh_from_db()
    assert (report.status, report.stage) == ("queued", "retrying")
    assert report_services.report_build(report_id=report.pk).status == "done"
    assert s3_storage.keys() == sorted([f"ingest/{sha(CSV)}", f"reports/{report.pk}/report.csv"])
