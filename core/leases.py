"""Leases on rows being worked on: a heartbeat thread renews them; sweeps find rows whose worker died.

    with lease_held(IngestFile, file_id):
        ...  # parse and store; the lease stays fresh however long the row stays locked

`stale_ids(model, ids)` / `fresh_lease_ids(model)` tell the sweeps which running rows lost their worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, models
from django.db.models import QuerySet
from django.utils import timezone

from core.models import Lease

logger = logging.getLogger(__name__)


class LeaseBusy(Exception):
    """Another worker holds a fresh lease on the row: try again once it may have expired."""


def resource_of(model: type[models.Model]) -> str:
    return model._meta.label_lower


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:255]


def lease_renew(model: type[models.Model], pk: int) -> None:
    fields = {"holder": _holder(), "heartbeat_at": timezone.now()}
    Lease.objects.update_or_create(resource=resource_of(model), object_id=pk, defaults=fields)


def lease_release(model: type[models.Model], pk: int) -> None:
    Lease.objects.filter(resource=resource_of(model), object_id=pk).delete()


def fresh_lease_ids(model: type[models.Model], *, now: datetime | None = None) -> QuerySet[Lease, int]:
    """Ids of rows of `model` whose lease was renewed within ISOFLOP_LEASE_SECONDS (a subquery)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.ISOFLOP_LEASE_SECONDS)
    return Lease.objects.filter(resource=resource_of(model), heartbeat_at__gte=cutoff).values_list(
        "object_id", flat=True
    )


@contextmanager
def lease_held(model: type[models.Model], pk: int, *, interval: float | None = None) -> Iterator[None]:
    """Hold a lease on `model(pk)` while the block runs; renewed from a thread with its own connection."""
    every = settings.ISOFLOP_HEARTBEAT_SECONDS if interval is None else interval
    lease_renew(model, pk)
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                try:
                    close_old_connections()
                    lease_renew(model, pk)
                except DatabaseError:
                    logger.warning("lease on %s#%s not renewed", resource_of(model), pk, exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"lease-{resource_of(model)}-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every + 5)
        try:
            lease_release(model, pk)
        except DatabaseError:  # the lease simply expires
            logger.warning("lease on %s#%s not released", resource_of(model), pk, exc_info=True)
