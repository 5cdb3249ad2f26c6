"""Infrastructure state kept in PostgreSQL: which workers are alive."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """A Celery worker process that is (or was) alive; renewed every ISOFLOP_WORKER_HEARTBEAT_SECONDS."""

    hostname = models.CharField(max_length=255, unique=True, help_text="the worker's node name")
    pid = models.PositiveIntegerField()
    queues = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.hostname} (last seen {self.last_seen:%Y-%m-%d %H:%M:%S})"


class Lease(models.Model):
    """A task's claim on a row it is working on, renewed by a heartbeat while the work runs.

    Kept apart from the row itself: the work may hold the row's lock for minutes (a large COPY), and the
    heartbeat must never wait for it. A row still marked running whose lease is older than
    ISOFLOP_LEASE_SECONDS lost its worker; the outbox sweeps hand it to another.
    """

    resource = models.CharField(max_length=64, help_text="app_label.model of the leased row")
    object_id = models.BigIntegerField()
    holder = models.CharField(max_length=255, blank=True, help_text="worker and process holding it")
    heartbeat_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["resource", "object_id"], name="lease_one_per_row")]

    def __str__(self) -> str:
        return f"{self.resource}#{self.object_id} by {self.holder}"
