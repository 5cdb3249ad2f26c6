"""The outbox sweep: rows whose task never reached a worker (or whose worker vanished) are published again.

Rows are the outbox (core.outbox): a file still `queued` or a delivery still `received` past the grace
period is re-published, and so is a file abandoned while `running` past its task's hard time limit. Work is
claimed in the database, so a row published twice is processed once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.leases import fresh_lease_ids
from core.outbox import OutboxRow, publish
from ingestion.models import IngestFile, WebhookDelivery
from ingestion.services.jobs import INGEST_FILE_TASK
from ingestion.services.webhooks import WEBHOOK_DELIVERY_TASK

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class OutboxSweep:
    deliveries: int = 0
    files: int = 0
    failed: int = 0


def outbox_requeue(*, grace_seconds: float, limit: int = 1000) -> OutboxSweep:
    """Re-publish deliveries still `received` and files still `queued` whose message never went out or has
    not been picked up within the grace period, and files abandoned while `running`. A row processed twice
    is harmless (claimed in the DB)."""
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    stale = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=cutoff)
    result = OutboxSweep()
    pending: list[tuple[type[models.Model], int, str]] = []
    delivery_pks = list(
        WebhookDelivery.objects.filter(stale, status=WebhookDelivery.Status.RECEIVED)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    pending += [(WebhookDelivery, pk, WEBHOOK_DELIVERY_TASK) for pk in delivery_pks]
    # A file still `running` whose lease is no longer renewed lost its worker (killed, or its message was
    # acked without finishing). The claim lets a new task take it over; a just-claimed file is left alone.
    abandoned = (
        Q(status=IngestFile.Status.RUNNING)
        & Q(started_at__lt=timezone.now() - timedelta(seconds=settings.ISOFLOP_LEASE_SECONDS))
        & ~Q(pk__in=fresh_lease_ids(IngestFile))
    )
    file_pks = list(
        IngestFile.objects.filter((stale & Q(status=IngestFile.Status.QUEUED)) | abandoned)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    pending += [(IngestFile, pk, INGEST_FILE_TASK) for pk in file_pks]
    now = timezone.now()
    WebhookDelivery.objects.filter(pk__in=delivery_pks).update(enqueued_at=now)
    IngestFile.objects.filter(pk__in=file_pks).update(enqueued_at=now)
    for model, pk, task_name in pending:
        if publish(task_name, pk, row=OutboxRow(model, pk)):
            if model is WebhookDelivery:
                result.deliveries += 1
            else:
                result.files += 1
        else:
            result.failed += 1
    if pending:
        logger.info("outbox sweep: %s", result)
    return result
