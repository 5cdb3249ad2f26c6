"""Publishing a task must never fail the request or transaction that asked for it.

The rows it concerns are already committed (PostgreSQL is the outbox); a publish that fails while the broker
is away is logged, and a periodic sweep or the next read picks the work up again.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def publish(task: Any, *args: Any) -> bool:
    """Send now; False (logged) when the broker refused or timed out."""
    try:
        task.apply_async(args=args)
    except Exception:  # kombu raises OperationalError, redis and socket errors: all mean "not sent"
        logger.warning("could not publish %s%r; the outbox sweep will retry", task.name, args, exc_info=True)
        return False
    return True


def publish_on_commit(task: Any, *args: Any) -> None:
    transaction.on_commit(partial(publish, task, *args))
