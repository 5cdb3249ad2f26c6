"""The one task policy: Celery tasks are an interface (ids in, one service call) with explicit limits.

`db_task` is for work claimed in the database, so running it again is safe: acks_late with
reject_on_worker_lost (a killed worker's message is redelivered), transient database errors retried with
exponential backoff and jitter, and after the last retry an optional `park(*args, reason=...)` records the
failure on the row (a poison task stops being retried). `periodic_task` is for beat's maintenance sweeps:
no retry, the next tick is the retry. Both require a soft limit below the hard one, so Celery never
refuses to publish them.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from core.files import StorageUnavailable
from core.leases import LeaseBusy

logger = logging.getLogger(__name__)

# Lost connections, a restarted or overloaded PostgreSQL, lock and statement timeouts, an object store that
# does not answer: worth another try. Everything else is a property of the input and is recorded on the row
# by the services.
TRANSIENT: tuple[type[Exception], ...] = (OperationalError, InterfaceError, StorageUnavailable)

F = TypeVar("F", bound=Callable[..., Any])


def backoff_seconds(retries: int) -> float:
    base = settings.ISOFLOP_RETRY_BACKOFF_MS / 1000.0
    # Jitter spreads retries of many rows that failed together (one database restart) over time.
    return min(300.0, base * 2**retries) * random.uniform(0.5, 1.0)


def _check_limits(name: str, soft_time_limit: int, time_limit: int) -> None:
    if not 0 < soft_time_limit < time_limit:
        raise ValueError(
            f"task {name}: soft_time_limit ({soft_time_limit}) must be below time_limit ({time_limit})"
        )


def db_task(
    *,
    name: str,
    soft_time_limit: int,
    time_limit: int,
    max_retries: int | None = None,
    park: Callable[..., None] | None = None,
) -> Callable[[F], Any]:
    """A task for idempotent database work. `max_retries` defaults to ISOFLOP_INGEST_MAX_ATTEMPTS - 1."""
    _check_limits(name, soft_time_limit, time_limit)
    retries = settings.ISOFLOP_INGEST_MAX_ATTEMPTS - 1 if max_retries is None else max_retries

    def decorator(fn: F) -> Any:
        @shared_task(
            name=name,
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            max_retries=retries,
            soft_time_limit=soft_time_limit,
            time_limit=time_limit,
        )
        @wraps(fn)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except LeaseBusy as exc:
                # The row is being worked on by a live worker (e.g. a redelivered message): look again once
                # its lease could have expired. Does not count against the retries of real failures.
                raise self.retry(
                    exc=exc, countdown=settings.ISOFLOP_LEASE_SECONDS, max_retries=self.request.retries + 1
                ) from exc
            except TRANSIENT as exc:
                attempt = self.request.retries + 1
                if self.request.retries >= self.max_retries:
                    reason = f"gave up after {attempt} attempts; last error: {type(exc).__name__}: {exc}"
                    logger.error("%s[%s]: %s", self.name, self.request.id, reason)
                    if park is None:
                        raise
                    park(*args, reason=reason)
                    return None
                raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc

        return run

    return decorator


def periodic_task(*, name: str, soft_time_limit: int, time_limit: int) -> Callable[[F], Any]:
    """A beat-scheduled maintenance task: no retries (the next tick is the retry), acks_late."""
    _check_limits(name, soft_time_limit, time_limit)

    def decorator(fn: F) -> Any:
        return shared_task(name=name, acks_late=True, soft_time_limit=soft_time_limit, time_limit=time_limit)(
            fn
        )

    return decorator
