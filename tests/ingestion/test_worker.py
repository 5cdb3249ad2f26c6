"""The real path: HTTP request -> commit -> broker -> worker process -> PostgreSQL, including a worker killed
with SIGKILL in the middle of writing a file."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from ingestion.models import IngestFile, IngestJob, WebhookDelivery
from ingestion.services import jobs
from tests.conftest import wait_for
from tests.ingestion.conftest import post_standard
from tests.support.series import point_count, step_values
from tests.support.workers import worker_env, worker_start
from tracker.models import MetricSeries, TrainingRun

CSV = b"step,loss\n" + b"".join(b"%d,%f\n" % (s, 5.0 / (s + 1)) for s in range(2000))


def _job_finished(job_id: int):
    job = IngestJob.objects.get(pk=job_id)
    return job if job.status in ("done", "failed", "partial") else None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_upload_is_processed_by_worker_and_duplicate_is_skipped(
    celery_worker_process, client, make_user, team_a
):
    client.force_login(make_user(role="editor", team=team_a))
    r = client.post("/ingest/upload/", {"team": "lab-a", "files": [SimpleUploadedFile("loss.csv", CSV)]})
    assert r.status_code == 302
    job = wait_for(lambda: _job_finished(IngestJob.objects.get().pk), timeout=60)
    assert (job.status, job.rows_done, job.bytes_done) == ("done", 2000, len(CSV)), list(
        IngestFile.objects.values_list("errors", flat=True)
    )
    series = MetricSeries.objects.get(name="loss")
    assert (series.n_points, series.max_step, series.last_value) == (2000, 1999, 5.0 / 2000)
    assert point_count() == 2000

    r = client.post("/ingest/upload/", {"team": "lab-a", "files": [SimpleUploadedFile("again.csv", CSV)]})
    job2 = IngestJob.objects.exclude(pk=job.pk).get()
    assert job2.status == "done"  # already decided at upload time: nothing to queue
    assert IngestFile.objects.get(job=job2).status == "duplicate"
    assert (TrainingRun.objects.count(), point_count()) == (1, 2000)
    assert celery_worker_process.poll() is None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_webhook_is_processed_by_worker(celery_worker_process, client, integration):
    r = post_standard(
        client,
        {
            "type": "run.metrics",
            "data": {"external_id": "w1", "points": [{"step": 5, "name": "loss", "value": 2.5}]},
        },
        msg_id="worker-1",
    )
    assert r.status_code == 202
    wait_for(lambda: WebhookDelivery.objects.filter(status="processed").exists(), timeout=60)
    assert step_values() == [(5, 2.5)]
    assert TrainingRun.objects.get().external_id == "w1"


def _start_worker(queue: str, log: Path, delay: float) -> subprocess.Popen[bytes]:
    env = worker_env(ISOFLOP_TEST_INGEST_DELAY=str(delay))
    return worker_start(log=log, env=env, queue=queue, concurrency=1, name="kill")


def _pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_write_gives_exactly_one_complete_result(team_a, make_user):
    from ingestion import tasks

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("needs PostgreSQL and a real broker")
    queue = f"{settings.ISOFLOP_QUEUE_PREFIX}kill"
    log = Path(settings.VAR_DIR) / "kill-worker.log"
    # Every attempt sleeps 4 s after writing its rows and before committing: the kill lands in that window.
    proc = _start_worker(queue, log, delay=4.0)
    try:
        job = jobs.ingest_job_create(
            team=team_a,
            user=make_user(role="editor", team=team_a),
            source="api",
            uploads=[SimpleUploadedFile("kill.csv", CSV)],
            enqueue=False,
        )
        file = IngestFile.objects.get(job=job)
        tasks.ingest_file_process.apply_async(args=[file.pk], queue=queue)
        wait_for(
            lambda: IngestFile.objects.filter(pk=file.pk, status="running", attempts=1).exists(), timeout=60
        )
        time.sleep(1.5)  # inside the delay: rows written, transaction open
        children = _pool_children(proc.pid)
        assert len(children) == 1
        os.kill(children[0], signal.SIGKILL)
        # Nothing from the killed attempt is visible.
        assert point_count() == 0
        assert not TrainingRun.objects.exists()
        done = wait_for(lambda: IngestFile.objects.filter(pk=file.pk, status="done").first(), timeout=90)
        assert done.attempts == 2  # redelivered by reject_on_worker_lost, then completed once
        assert (TrainingRun.objects.count(), MetricSeries.objects.count(), point_count()) == (
            1,
            1,
            2000,
        )
        series = MetricSeries.objects.get()
        assert (series.n_points, series.max_step) == (2000, 1999)
        assert IngestJob.objects.get(pk=job.pk).status == "done"
        assert proc.poll() is None
        assert b"WorkerLostError" in log.read_bytes() or b"SIGKILL" in log.read_bytes()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
