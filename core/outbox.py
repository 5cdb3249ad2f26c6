"""The outbox publisher: tasks are published by name, after the rows they concern are committed.

PostgreSQL is the outbox. A row (an ingest file, a webhook delivery, a report) is committed before its task
is sent; a publish that fails while the broker is away is logged and returns False, the row's
`enqueued_at` is cleared (when the caller names the row) and a periodic sweep publishes it again. Work is
claimed in the database, so a second message for the same row is harmless.

After a failure the breaker skips the broker for a few seconds: during an outage every request would
otherwise wait out the socket timeouts again. The first caller after that probes the broker (half-open)
while concurrent callers keep skipping until it reports.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from celery import current_app
from django.db import models, transaction

logger = logging.getLogger(__name__)

BROKER_BACKOFF_SECONDS = 5.0


class Breaker:
    """Closed (publish), open (skip until `backoff` has passed) or half-open (one probe goes through)."""

    def __init__(
        self, backoff_seconds: float = BROKER_BACKOFF_SECONDS, clock: Callable[[], float] = time.monotonic
    ):
        self.backoff_seconds = backoff_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._suspect = False

    def allow(self) -> bool:
        with self._lock:
            now = self._clock()
            if now < self._down_until:
                return False
            if self._suspect:
                self._down_until = now + self.backoff_seconds  # this caller is the probe
            return True

    def record_failure(self) -> None:
        with self._lock:
            self._suspect = True
            self._down_until = self._clock() + self.backoff_seconds

    def record_success(self) -> None:
        with self._lock:
            self._suspect, self._down_until = False, 0.0

    def reset(self) -> None:
        """Forget past failures (the broker is known to be back)."""
        self.record_success()

    @property
    def is_open(self) -> bool:
        return self._clock() < self._down_until


breaker = Breaker()


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """The committed row a task is about; a failed publish clears its `enqueued_at` for the sweep."""

    model: type[models.Model]
    pk: int

    def mark_unpublished(self) -> None:
        self.model._default_manager.filter(pk=self.pk).update(enqueued_at=None)


def publish(task_name: str, *args: Any, row: OutboxRow | None = None, app: Any = None) -> bool:
    """Send `task_name` with `args` now; False (logged, row marked unpublished) when it did not go out."""
    if not breaker.allow():
        if row is not None:
            row.mark_unpublished()
        return False
    try:
        (app or current_app).send_task(task_name, args=args)
    # Any broker failure (timeout, refused, paused, auth) is handled alike: the row waits in the outbox.
    except Exception as exc:
        breaker.record_failure()
        logger.warning(
            "could not publish %s%r (%s: %s); left in the outbox", task_name, args, type(exc).__name__, exc
        )
        if row is not None:
            row.mark_unpublished()
        return False
    breaker.record_success()
    return True


def publish_on_commit(task_name: str, *args: Any, row: OutboxRow | None = None) -> None:
    """Publish once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(partial(publish, task_name, *args, row=row))
