"""Liveness of the moving parts: workers record heartbeats, pages and /health/ read them.

A worker process starts a heartbeat thread when it is ready (Celery's `worker_ready` signal, connected in
`core.apps`) and removes its row when it shuts down cleanly; a killed worker simply stops renewing, and is
counted as gone after ISOFLOP_WORKER_STALE_SECONDS.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from core.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

START_COMMAND = "bash scripts/run.sh"  # starts web, database and workers (or: celery -A config worker -B)


@dataclass(frozen=True)
class WorkerStatus:
    alive: int
    last_seen: datetime | None

    @property
    def ok(self) -> bool:
        return self.alive > 0


def worker_status(*, now: datetime | None = None) -> WorkerStatus:
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ISOFLOP_WORKER_STALE_SECONDS)
    rows = WorkerHeartbeat.objects.values_list("last_seen", flat=True)
    seen = list(rows)
    return WorkerStatus(alive=sum(1 for t in seen if t >= cutoff), last_seen=max(seen, default=None))


def worker_notice() -> str:
    """What pages with queued work say when no worker runs (empty when one does)."""
    status = worker_status()
    if status.ok:
        return ""
    since = f" (last seen {status.last_seen:%Y-%m-%d %H:%M} UTC)" if status.last_seen else ""
    return (
        f"No worker is running{since}: queued work waits until one starts. Start one with `{START_COMMAND}`."
    )


def heartbeat_record(*, hostname: str, queues: list[str], started_at: datetime) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname[:255],
        defaults={"pid": os.getpid(), "queues": queues, "started_at": started_at, "last_seen": now},
    )


def heartbeat_remove(*, hostname: str) -> None:
    WorkerHeartbeat.objects.filter(hostname=hostname[:255]).delete()


class _Beater(threading.Thread):
    def __init__(self, hostname: str, queues: list[str]) -> None:
        super().__init__(name="isoflop-heartbeat", daemon=True)
        self.hostname, self.queues = hostname, queues
        self.started_at = timezone.now()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                close_old_connections()
                heartbeat_record(hostname=self.hostname, queues=self.queues, started_at=self.started_at)
            except DatabaseError:  # the database is away: liveness shows it; retry on the next beat
                logger.warning("worker heartbeat could not be recorded", exc_info=True)
            self.stopped.wait(settings.ISOFLOP_WORKER_HEARTBEAT_SECONDS)
        connection.close()


_beaters: dict[str, _Beater] = {}


def _consumed_queues(sender: Any) -> list[str]:
    """The queues a worker consumes (the `worker_ready` sender is its Consumer)."""
    app = getattr(sender, "app", None) or current_app
    consume_from = getattr(app.amqp.queues, "consume_from", None) or {}
    return sorted(consume_from)


def on_worker_ready(sender: Any = None, **_: Any) -> None:
    hostname = getattr(sender, "hostname", None) or f"worker-{os.getpid()}"
    queues = _consumed_queues(sender)
    beater = _Beater(hostname, queues)
    _beaters[hostname] = beater
    beater.start()


def on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    hostname = getattr(sender, "hostname", None) or f"worker-{os.getpid()}"
    beater = _beaters.pop(hostname, None)
    if beater is not None:
        beater.stopped.set()
    try:
        heartbeat_remove(hostname=hostname)
    except DatabaseError:
        logger.warning("worker heartbeat could not be removed", exc_info=True)


def broker_ok(timeout: int = 2) -> tuple[bool, str]:
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # any transport error means "unreachable" here
        return False, f"{type(exc).__name__}: {exc}"[:300]
    return True, ""
