"""Celery tasks are an interface: ids in, one service call. Task name = the service's name.

acks_late + reject_on_worker_lost: a worker killed mid-task leaves the message on the broker and the task
runs again; the services make that safe (the claim and the done marker live in the database). A row that
keeps failing transiently is parked as failed with the reason (core.tasks.db_task).
"""

from __future__ import annotations

from django.conf import settings

from core.tasks import db_task, periodic_task
from ingestion.services import jobs, outbox, processing, webhooks


def _park_file(file_id: int, *, reason: str) -> None:
    jobs.ingest_file_park(file_id=file_id, reason=reason)


def _park_delivery(delivery_pk: int, *, reason: str) -> None:
    webhooks.webhook_delivery_park(delivery_pk=delivery_pk, reason=reason)


@db_task(
    name=jobs.INGEST_FILE_TASK,
    soft_time_limit=processing.INGEST_FILE_TIME_LIMIT - 60,
    time_limit=processing.INGEST_FILE_TIME_LIMIT,
    park=_park_file,
)
def ingest_file_process(file_id: int) -> None:
    processing.ingest_file_process(file_id=file_id)


@db_task(name=webhooks.WEBHOOK_DELIVERY_TASK, soft_time_limit=120, time_limit=150, park=_park_delivery)
def webhook_delivery_process(delivery_pk: int) -> None:
    webhooks.webhook_delivery_process(delivery_pk=delivery_pk)


@periodic_task(name="ingestion.outbox_requeue", soft_time_limit=60, time_limit=90)
def outbox_requeue() -> None:
    outbox.outbox_requeue(grace_seconds=settings.ISOFLOP_OUTBOX_GRACE_SECONDS)
