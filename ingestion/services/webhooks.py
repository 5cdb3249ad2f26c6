"""Webhook deliveries: record a verified delivery once (dedup on its id), then apply it in the worker.

What each event does lives in `ingestion.services.webhook_events` (one handler per event in a table).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core import faults
from core.outbox import OutboxRow, publish_on_commit
from ingestion.models import WebhookDelivery
from ingestion.parsers.records import ParseError
from ingestion.services.processing import after_runs_landed
from ingestion.services.webhook_events import HANDLERS
from tracker.models import Integration

logger = logging.getLogger(__name__)

WEBHOOK_DELIVERY_TASK = "ingestion.webhook_delivery_process"


@dataclass(slots=True)
class WebhookOutcome:
    status: int
    body: dict[str, Any]


def webhook_receive(
    *,
    integration: Integration,
    delivery_id: str,
    event_type: str,
    payload: dict[str, Any],
    scheme: str = "standard",
    body_sha256: str = "",
) -> WebhookOutcome:
    """Record a verified delivery (dedup on its id; GitHub-scheme deliveries also on their body's digest,
    since GitHub's signature does not cover the id) and queue its processing after commit."""
    with transaction.atomic():
        if scheme == "github" and body_sha256:
            replay = (
                WebhookDelivery.objects.select_for_update()
                .filter(integration=integration, scheme="github", body_sha256=body_sha256)
                .exclude(delivery_id=delivery_id[:200])
                .first()
            )
            if replay is not None:
                logger.warning(
                    "webhook %s from integration %s replays the body of delivery %s; ignored",
                    delivery_id[:200],
                    integration.slug,
                    replay.delivery_id,
                )
                return WebhookOutcome(200, {"status": "duplicate", "delivery": replay.delivery_id})
        delivery, created = WebhookDelivery.objects.select_for_update().get_or_create(
            integration=integration,
            delivery_id=delivery_id[:200],
            defaults={
                "event_type": event_type[:100],
                "payload": payload,
                "enqueued_at": timezone.now(),
                "scheme": scheme,
                "body_sha256": body_sha256 if scheme == "github" else "",
            },
        )
        if not created:
            if delivery.status in (WebhookDelivery.Status.PROCESSED, WebhookDelivery.Status.IGNORED):
                return WebhookOutcome(200, {"status": "duplicate", "delivery": delivery.delivery_id})
            if delivery.status == WebhookDelivery.Status.RECEIVED:
                return WebhookOutcome(202, {"status": "in progress", "delivery": delivery.delivery_id})
            # A failed delivery may be retried by the sender: take the new payload and run it again.
            delivery.status = WebhookDelivery.Status.RECEIVED
            delivery.payload = payload
            delivery.event_type = event_type[:100]
            delivery.error = ""
            delivery.enqueued_at = timezone.now()
            delivery.save(update_fields=["status", "payload", "event_type", "error", "enqueued_at"])
        if event_type not in HANDLERS:
            logger.warning(
                "webhook %s from integration %s: unknown event type %r ignored",
                delivery_id,
                integration.slug,
                event_type,
            )
            delivery.status = WebhookDelivery.Status.IGNORED
            delivery.processed_at = timezone.now()
            delivery.save(update_fields=["status", "processed_at"])
            return WebhookOutcome(202, {"status": "ignored", "reason": f"unknown event type {event_type!r}"})
        publish_on_commit(WEBHOOK_DELIVERY_TASK, delivery.pk, row=OutboxRow(WebhookDelivery, delivery.pk))
    return WebhookOutcome(202, {"status": "accepted", "delivery": delivery.delivery_id})


def webhook_delivery_process(*, delivery_pk: int) -> None:
    """Apply one delivery. It counts as processed only when its writes commit in the same transaction."""
    claimed = WebhookDelivery.objects.filter(pk=delivery_pk, status=WebhookDelivery.Status.RECEIVED).update(
        attempts=F("attempts") + 1
    )
    if not claimed:
        return
    delivery = WebhookDelivery.objects.select_related("integration__team", "integration__created_by").get(
        pk=delivery_pk
    )
    label = f"webhook {delivery.delivery_id}"
    try:
        for attempt in (1, 2):
            try:
                with transaction.atomic():
                    locked = WebhookDelivery.objects.select_for_update().get(pk=delivery_pk)
                    if locked.status != WebhookDelivery.Status.RECEIVED:
                        return
                    faults.transient_fault(delivery.delivery_id)
                    handler = HANDLERS[delivery.event_type]
                    handler.apply(delivery)
                    WebhookDelivery.objects.filter(pk=delivery_pk).update(
                        status=WebhookDelivery.Status.PROCESSED, processed_at=timezone.now(), error=""
                    )
                break
            except IntegrityError:
                # run.started and run.metrics for a new run raced to create it; once more finds it.
                if attempt == 2:
                    raise
    except IntegrityError as exc:
        _delivery_fail(delivery_pk, f"{label}: conflicting write: {exc}")
        return
    except ParseError as exc:
        _delivery_fail(delivery_pk, str(exc.with_filename(label) if not exc.filename else exc))
        return
    except (ValueError, TypeError, KeyError) as exc:
        _delivery_fail(delivery_pk, f"{label}: {exc}")
        return
    if HANDLERS[delivery.event_type].lands_runs:
        after_runs_landed(team_id=delivery.integration.team_id, kind="run_log")


def _delivery_fail(delivery_pk: int, reason: str) -> None:
    WebhookDelivery.objects.filter(pk=delivery_pk, status=WebhookDelivery.Status.RECEIVED).update(
        status=WebhookDelivery.Status.FAILED, error=reason[:2000]
    )


def webhook_delivery_park(*, delivery_pk: int, reason: str) -> None:
    """A delivery that kept failing transiently stops being retried; the reason stays on the row."""
    WebhookDelivery.objects.filter(pk=delivery_pk, status=WebhookDelivery.Status.RECEIVED).update(
        status=WebhookDelivery.Status.FAILED, error=reason[:2000]
    )
