"""Faults with real processes: racing identical deliveries, Redis paused for 30 s under webhook traffic,
PostgreSQL connections killed under a worker, and a poison task. Each test runs its own redis-server and
Celery worker, so nothing here touches the shared broker's queues."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from config.celery import queue_name
from ingestion import tasks
from ingestion.models import IngestFile, WebhookDelivery
from ingestion.services import jobs, webhooks
from tests.conftest import wait_for
from tests.hardening.conftest import SECRET
from tests.hardening.stack import database_url, process_stop, run_finished, send_signed, worker_start
from tests.support.series import point_count
from tracker.models import MetricSeries, TrainingRun

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CSV = b"step,loss\n" + b"".join(b"%d,%f\n" % (s, 5.0 / (s + 1)) for s in range(2000))


def _log(name: str) -> Path:
    return Path(settings.VAR_DIR) / f"harden-{name}.log"


def test_identical_deliveries_in_parallel_give_one_row_and_one_task(live_server, integration, private_redis):
    ids = [f"par-{i}" for i in range(5)]
    ts = int(time.time())

    def race(msg_id: str) -> list[int]:
        barrier = threading.Barrier(2)

        def send(_: int):
            barrier.wait()
            return send_signed(
                live_server.url,
                slug="cluster",
                secret=SECRET,
                msg_id=msg_id,
                payload=run_finished(f"run-{msg_id}", 2.0),
                ts=ts,
            )

        with ThreadPoolExecutor(2) as pool:
            return sorted(r.status for r in pool.map(send, range(2)))

    for msg_id in ids:
        assert race(msg_id) == [202, 202]
    assert sorted(WebhookDelivery.objects.values_list("delivery_id", flat=True)) == ids
    # One message per delivery on the broker: the loser of each race found the row and published nothing.
    assert private_redis.command("LLEN", queue_name("webhooks")) == str(len(ids))

    worker = worker_start(broker_url=private_redis.url(0), log=_log("parallel"), database=database_url())
    try:
        wait_for(lambda: WebhookDelivery.objects.filter(status="processed").count() == len(ids), timeout=60)
    finally:
        process_stop(worker)
    assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {1}
    assert sorted(TrainingRun.objects.values_list("external_id", flat=True)) == [f"run-{i}" for i in ids]
    assert private_redis.command("LLEN", queue_name("webhooks")) == "0"


def test_redis_paused_30s_requests_stay_fast_and_every_event_is_processed_once(
    live_server, integration, private_redis
):
    worker = worker_start(
        broker_url=private_redis.url(0),
        log=_log("pause"),
        database=database_url(),
        beat=True,  # the outbox sweep runs on beat, here every 3 s
        extra_env={"ISOFLOP_OUTBOX_SWEEP_SECONDS": "3", "ISOFLOP_OUTBOX_GRACE_SECONDS": "20"},
    )
    sent: list = []
    lock = threading.Lock()

    def sender(k: int, until: float) -> None:
        n = 0
        while time.monotonic() < until:
            result = send_signed(
                live_server.url,
                slug="cluster",
                secret=SECRET,
                msg_id=f"pause-{k}-{n}",
                payload=run_finished(f"run-{k}-{n}", float(n)),
            )
            with lock:
                sent.append(result)
            n += 1
            time.sleep(0.5)

    try:
        before = send_signed(
            live_server.url,
            slug="cluster",
            secret=SECRET,
            msg_id="before",
            payload=run_finished("before", 1.0),
        )
        assert before.status == 202
        wait_for(
            lambda: WebhookDelivery.objects.filter(delivery_id="before", status="processed").exists(), 30
        )

        private_redis.pause()
        try:
            until = time.monotonic() + 30
            threads = [threading.Thread(target=sender, args=(k, until)) for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
        finally:
            private_redis.resume()
        resumed = time.monotonic()

        assert len(sent) >= 100
        assert {r.status for r in sent} == {202}
        max_latency = max(r.seconds for r in sent)
        print(f"redis paused 30 s: {len(sent)} webhooks, max ack latency {max_latency:.2f} s")
        assert max_latency < 10
        expected = {r.msg_id for r in sent} | {"before"}
        wait_for(
            lambda: WebhookDelivery.objects.filter(status="processed").count() == len(expected), timeout=90
        )
        print(f"all processed {time.monotonic() - resumed:.1f} s after Redis resumed")
    finally:
        process_stop(worker)
    deliveries = dict(WebhookDelivery.objects.values_list("delivery_id", "attempts"))
    assert set(deliveries) == expected
    assert set(deliveries.values()) == {1}  # exactly once, even where a message was published twice
    assert TrainingRun.objects.count() == len(expected)


def test_database_connections_killed_under_a_worker_tasks_reconnect(
    private_redis, make_user, team_a, integration
):
    worker = worker_start(
        broker_url=private_redis.url(0),
        log=_log("pgkill"),
        database=database_url(),
        concurrency=1,
        # Each write waits 3 s before committing: the connection is killed in that window.
        extra_env={"ISOFLOP_TEST_INGEST_DELAY": "3", "ISOFLOP_RETRY_BACKOFF_MS": "200"},
    )
    try:
        job = jobs.ingest_job_create(
            team=team_a,
            user=make_user(role="editor", team=team_a),
            source="api",
            uploads=[SimpleUploadedFile("pg.csv", CSV)],
            enqueue=False,
        )
        file = IngestFile.objects.get(job=job)
        tasks.ingest_file_process.delay(file.pk)
        wait_for(lambda: IngestFile.objects.filter(pk=file.pk, status="running", attempts=1).exists(), 60)
        time.sleep(1.0)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (killed,) = cursor.fetchone()
        assert killed >= 1
        assert point_count() == 0  # the killed transaction left nothing
        done = wait_for(lambda: IngestFile.objects.filter(pk=file.pk, status="done").first(), timeout=60)
        assert done.attempts == 2  # the task retried on a fresh connection and completed once
        assert (MetricSeries.objects.count(), point_count()) == (1, 2000)

        # Kill whatever the idle worker holds, then the next task must still find the database.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        webhooks.webhook_receive(
            integration=integration,
            delivery_id="after-kill",
            event_type="run.finished",
            payload=run_finished("ak", 1.0),
        )
        wait_for(
            lambda: WebhookDelivery.objects.filter(delivery_id="after-kill", status="processed").exists(), 30
        )
        assert worker.poll() is None
        assert b"OperationalError" in _log("pgkill").read_bytes()
    finally:
        process_stop(worker)


def test_poison_task_is_retried_n_times_then_parked_as_failed(private_redis, integration):
    worker = worker_start(
        broker_url=private_redis.url(0),
        log=_log("poison"),
        database=database_url(),
        extra_env={
            "ISOFLOP_TEST_TRANSIENT_FAULT": "poison-",
            "ISOFLOP_INGEST_MAX_ATTEMPTS": "3",
            "ISOFLOP_RETRY_BACKOFF_MS": "100",
        },
    )
    try:
        webhooks.webhook_receive(
            integration=integration,
            delivery_id="poison-1",
            event_type="run.finished",
            payload=run_finished("p", 1.0),
        )
        webhooks.webhook_receive(
            integration=integration,
            delivery_id="fine-1",
            event_type="run.finished",
            payload=run_finished("f", 2.0),
        )
        poison = wait_for(
            lambda: WebhookDelivery.objects.filter(delivery_id="poison-1", status="failed").first(),
            timeout=60,
        )
        wait_for(
            lambda: WebhookDelivery.objects.filter(delivery_id="fine-1", status="processed").exists(), 30
        )
        time.sleep(2.0)  # no further attempts after parking
        poison.refresh_from_db()
    finally:
        process_stop(worker)
    assert (poison.status, poison.attempts) == ("failed", 3)
    assert poison.error.startswith(
        "gave up after 3 attempts; last error: OperationalError: simulated transient"
    )
    assert list(TrainingRun.objects.values_list("external_id", flat=True)) == ["f"]
    assert private_redis.command("LLEN", queue_name("webhooks")) == "0"
