"""Celery tasks are an interface: ids in, one service call, explicit retry policy."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from ingestion import services

logger = logging.getLogger(__name__)

# Lost connections, a restarted or overloaded PostgreSQL, lock and statement timeouts: worth another try.
# Everything else is a property of the input and is recorded on the row by the services.
TRANSIENT = (OperationalError, InterfaceError)

# acks_late + reject_on_worker_lost: a worker killed mid-task leaves the message on the broker and the task
# runs again; the services make that safe (the claim and the done marker live in the database).
_POLICY: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "max_retries": settings.ISOFLOP_INGEST_MAX_ATTEMPTS - 1,
}


def _backoff_seconds(retries: int) -> float:
    base = settings.ISOFLOP_RETRY_BACKOFF_MS / 1000.0
    # Jitter spreads retries of many rows that failed together (one database restart) over time.
    return min(300.0, base * 2**retries) * random.uniform(0.5, 1.0)


def _retry_or_park(task: Any, exc: Exception, park: Callable[[str], None]) -> None:
    """Retry a transient failure with backoff; after the last retry park the row as failed (a poison task)."""
    attempt = task.request.retries + 1
    if task.request.retries >= task.max_retries:
        reason = f"gave up after {attempt} attempts; last error: {type(exc).__name__}: {exc}"
        logger.error("%s[%s]: %s", task.name, task.request.id, reason)
        park(reason)
        return
    raise task.retry(exc=exc, countdown=_backoff_seconds(task.request.retries))


@shared_task(
    soft_time_limit=services.INGEST_FILE_TIME_LIMIT - 60,
    time_limit=services.INGEST_FILE_TIME_LIMIT,
    **_POLICY,
)
def ingest_file_process(self: Any, file_id: int) -> None:
    try:
        services.ingest_file_process(file_id=file_id)
    except TRANSIENT as exc:
        _retry_or_park(self, exc, lambda reason: services.ingest_file_park(file_id=file_id, reason=reason))


@shared_task(soft_time_limit=120, time_limit=150, **_POLICY)
def webhook_delivery_process(self: Any, delivery_pk: int) -> None:
    try:
        services.webhook_delivery_process(delivery_pk=delivery_pk)
    except TRANSIENT as exc:
        _retry_or_park(
            self, exc, lambda reason: services.webhook_delivery_park(delivery_pk=delivery_pk, reason=reason)
        )


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def outbox_sweep() -> None:
    services.outbox_requeue(grace_seconds=settings.ISOFLOP_OUTBOX_GRACE_SECONDS)
