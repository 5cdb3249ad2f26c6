"""Celery tasks are an interface: ids in, one service call, explicit retry policy."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from ingestion import services

# acks_late + reject_on_worker_lost: a worker killed mid-task leaves the message on the broker and the task
# runs again; the services make that safe (the claim and the done marker live in the database).
_POLICY = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 5,
}


@shared_task(soft_time_limit=25 * 60, time_limit=26 * 60, **_POLICY)
def ingest_file_process(file_id: int) -> None:
    services.ingest_file_process(file_id=file_id)


@shared_task(soft_time_limit=120, time_limit=150, **_POLICY)
def webhook_delivery_process(delivery_pk: int) -> None:
    services.webhook_delivery_process(delivery_pk=delivery_pk)
