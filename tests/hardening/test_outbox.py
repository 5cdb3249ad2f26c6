"""The committed row is the outbox: a broker that refuses or hangs never fails or stalls the request, and the
sweep publishes what did not get through. Messages are read back from a private Redis, then run as tasks."""

from __future__ import annotations

import base64
import json
import time

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from config.celery import queue_names
from core.outbox import breaker
from ingestion import tasks
from ingestion.models import IngestFile, WebhookDelivery
from ingestion.services import jobs, outbox, processing
from ingestion.signatures import standard_signature
from tests.hardening.conftest import SECRET
from tests.hardening.stack import RedisServer, app_broker, free_port
from tests.support.series import point_count
from tracker.models import TrainingRun

pytestmark = pytest.mark.django_db


def _post(client, msg_id: str, external_id: str, loss: float):
    body = json.dumps(
        {"type": "run.finished", "data": {"external_id": external_id, "final_loss": loss}}
    ).encode()
    ts = int(time.time())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": standard_signature(secret=SECRET, msg_id=msg_id, timestamp=ts, body=body),
    }
    started = time.monotonic()
    r = client.post("/hooks/cluster/", data=body, content_type="application/json", headers=headers)
    return r, time.monotonic() - started


def _drain(server: RedisServer) -> list[tuple[str, list[int]]]:
    """Pop every message of our queues from the private Redis: (task name, args)."""
    out = []
    for queue in queue_names().split(","):
        while True:
            raw = server.command("RPOP", queue)
            if not raw:
                break
            message = json.loads(raw)
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            out.append((message["headers"]["task"], args))
    return out


def _run(messages: list[tuple[str, list[int]]]) -> None:
    by_name = {t.name: t for t in (tasks.webhook_delivery_process, tasks.ingest_file_process)}
    for name, args in messages:
        by_name[name].apply(args=args).get()


def test_refused_broker_still_acks_and_sweep_publishes_later(
    client, integration, private_redis, django_capture_on_commit_callbacks
):
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there: connection refused
    with app_broker(dead), django_capture_on_commit_callbacks(execute=True):
        r, seconds = _post(client, "out-1", "run-out", 3.25)
    assert (r.status_code, r.json()["status"]) == (202, "accepted")
    assert seconds < 5
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.enqueued_at) == ("received", None)  # recorded, marked unpublished
    assert _drain(private_redis) == []

    breaker.reset()  # the broker is back: no need to wait for the breaker's 5 s
    swept = outbox.outbox_requeue(grace_seconds=60)
    assert (swept.deliveries, swept.files, swept.failed) == (1, 0, 0)
    delivery.refresh_from_db()
    assert delivery.enqueued_at is not None
    # A second sweep within the grace period publishes nothing more.
    assert outbox.outbox_requeue(grace_seconds=60).deliveries == 0
    first = _drain(private_redis)
    assert first == [("ingestion.webhook_delivery_process", [delivery.pk])]
    _run(first)
    run = TrainingRun.objects.get()
    assert (run.external_id, run.final_loss) == ("run-out", 3.25)
    assert outbox.outbox_requeue(grace_seconds=0).deliveries == 0  # processed rows leave the outbox


def test_double_enqueue_is_harmless(client, integration, private_redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        r, _ = _post(client, "dbl-1", "run-dbl", 1.5)
    assert r.status_code == 202
    # The message looks lost (grace 0): the sweep publishes the same row a second time.
    assert outbox.outbox_requeue(grace_seconds=0).deliveries == 1
    messages = _drain(private_redis)
    pk = WebhookDelivery.objects.get().pk
    assert messages == [("ingestion.webhook_delivery_process", [pk])] * 2
    _run(messages)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("processed", 1)  # the second message claimed nothing
    assert list(TrainingRun.objects.values_list("external_id", "final_loss")) == [("run-dbl", 1.5)]


def test_paused_redis_does_not_stall_requests(
    client, integration, private_redis, django_capture_on_commit_callbacks
):
    private_redis.pause()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            r1, first = _post(client, "pause-1", "run-p1", 1.0)
        with django_capture_on_commit_callbacks(execute=True):
            r2, second = _post(client, "pause-2", "run-p2", 2.0)
    finally:
        private_redis.resume()
    assert (r1.status_code, r2.status_code) == (202, 202)
    # The first publish waits out the socket timeouts (2 s, one reconnect); the breaker spares the second.
    assert first < 8, first
    assert second < 1, second
    assert set(WebhookDelivery.objects.values_list("enqueued_at", flat=True)) == {None}
    breaker.reset()
    assert outbox.outbox_requeue(grace_seconds=60).deliveries == 2
    messages = _drain(private_redis)
    pks = set(WebhookDelivery.objects.values_list("pk", flat=True))
    # A publish that timed out may still land once Redis resumes: at least one message per row.
    assert {args[0] for _, args in messages} == pks
    _run(messages)
    assert sorted(TrainingRun.objects.values_list("external_id", "final_loss")) == [
        ("run-p1", 1.0),
        ("run-p2", 2.0),
    ]
    assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {1}


def test_upload_outbox_with_refused_broker(
    make_user, team_a, private_redis, django_capture_on_commit_callbacks
):
    csv = b"step,loss\n0,4.0\n1,3.5\n"
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with app_broker(dead), django_capture_on_commit_callbacks(execute=True):
        job = jobs.ingest_job_create(
            team=team_a,
            user=make_user(role="editor", team=team_a),
            source="api",
            uploads=[SimpleUploadedFile("loss.csv", csv)],
        )
    file = IngestFile.objects.get(job=job)
    assert (file.status, file.enqueued_at) == ("queued", None)
    breaker.reset()
    swept = outbox.outbox_requeue(grace_seconds=60)
    assert (swept.deliveries, swept.files) == (0, 1)
    messages = _drain(private_redis)
    assert messages == [("ingestion.ingest_file_process", [file.pk])]
    _run(messages)
    file.refresh_from_db()
    assert (file.status, file.rows_done) == ("done", 2)
    assert point_count() == 2


def test_file_that_exhausted_its_attempts_is_parked_not_rerun(make_user, team_a):
    # As if its worker had been killed on every attempt: redelivered with all attempts used up.
    job = jobs.ingest_job_create(
        team=team_a,
        user=make_user(role="editor", team=team_a),
        source="api",
        uploads=[SimpleUploadedFile("crashy.csv", b"step,loss\n0,1.0\n")],
        enqueue=False,
    )
    IngestFile.objects.filter(job=job).update(status="running", attempts=settings.ISOFLOP_INGEST_MAX_ATTEMPTS)
    file = IngestFile.objects.get(job=job)
    processing.ingest_file_process(file_id=file.pk)
    file.refresh_from_db()
    assert file.status == "failed"
    assert file.attempts == settings.ISOFLOP_INGEST_MAX_ATTEMPTS  # not claimed again
    assert file.errors == [
        {
            "file": "crashy.csv",
            "line": None,
            "reason": f"gave up after {settings.ISOFLOP_INGEST_MAX_ATTEMPTS} attempts",
        }
    ]
    assert point_count() == 0 and not TrainingRun.objects.exists()
    job.refresh_from_db()
    assert job.status == "failed"


@pytest.mark.django_db(transaction=True)
def test_database_unreachable_gives_503_with_retry_after(client, integration):
    from django.db import connection

    port = connection.settings_dict["PORT"]
    connection.close()
    # A real connection failure: this thread's next connect goes to a port where nothing listens.
    connection.settings_dict["PORT"] = str(free_port())
    try:
        r, seconds = _post(client, "db-down", "run-db", 1.0)
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port
    assert r.status_code == 503
    assert (r["Retry-After"], r.json()["error"]) == ("30", "temporarily unavailable, retry later")
    assert seconds < 5
    assert not WebhookDelivery.objects.exists()
    # With the database back the sender's retry of the same delivery is accepted.
    r, _ = _post(client, "db-down", "run-db", 1.0)
    assert (r.status_code, r.json()["status"]) == (202, "accepted")


def test_file_abandoned_while_running_is_republished(make_user, team_a, private_redis):
    from datetime import timedelta

    from django.utils import timezone

    user = make_user(role="editor", team=team_a)
    created = [
        jobs.ingest_job_create(
            team=team_a, user=user, source="api", uploads=[SimpleUploadedFile(name, body)], enqueue=False
        )
        for name, body in (("old.csv", b"step,loss\n0,4.0\n"), ("fresh.csv", b"step,loss\n0,3.0\n"))
    ]
    long_ago = timezone.now() - timedelta(seconds=processing.INGEST_FILE_TIME_LIMIT + 3600)
    old, fresh = (IngestFile.objects.get(job=job) for job in created)
    IngestFile.objects.filter(pk=old.pk).update(status="running", attempts=1, started_at=long_ago)
    # Still within its time limit: its task may be alive, so it is left alone.
    IngestFile.objects.filter(pk=fresh.pk).update(status="running", attempts=1, started_at=timezone.now())
    assert outbox.outbox_requeue(grace_seconds=60).files == 1
    messages = _drain(private_redis)
    assert messages == [("ingestion.ingest_file_process", [old.pk])]
    _run(messages)
    assert list(IngestFile.objects.order_by("pk").values_list("status", "attempts")) == [
        ("done", 2),
        ("running", 1),
    ]
