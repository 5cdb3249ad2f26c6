"""The retry policy shared by tasks whose work is claimed in the database and so safe to run again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.db import OperationalError


def idempotent_db_task(*, soft_time_limit: int, time_limit: int, max_retries: int = 5) -> Callable[..., Any]:
    """acks_late + reject_on_worker_lost (a killed worker's task is redelivered), retries only for transient
    database errors with exponential backoff, hard and soft time limits."""
    return shared_task(
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=(OperationalError,),
        retry_backoff=True,
        max_retries=max_retries,
        soft_time_limit=soft_time_limit,
        time_limit=time_limit,
    )
