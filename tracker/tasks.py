"""Celery tasks are an interface: ids in, one service call, explicit retry policy."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from tracker import services


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=300,
    time_limit=330,
)
def series_summary_refresh(series_id: int) -> None:
    services.series_summary_refresh(series_id=series_id)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=600,
    time_limit=630,
)
def series_rollup_build(series_id: int) -> None:
    services.series_rollup_build(series_id=series_id)
