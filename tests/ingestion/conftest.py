"""Ingestion fixtures: an integration with a signing secret, signed requests, and a synchronous job runner."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from ingestion.services import processing, webhooks
from ingestion.signatures import github_signature, standard_signature

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "old-plain-secret"


@pytest.fixture
def integration(team_a, make_user):
    from tracker.models import Integration, WebhookSecret

    owner = make_user(role="editor", team=team_a, username="hook-owner")
    integ = Integration.objects.create(team=team_a, name="Cluster", slug="cluster", created_by=owner)
    WebhookSecret.objects.create(integration=integ, secret=SECRET)
    return integ


def post_standard(
    client, payload: Any, *, msg_id: str, secret: str = SECRET, ts: int | None = None, slug="cluster"
):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    ts = int(time.time()) if ts is None else ts
    sig = standard_signature(secret=secret, msg_id=msg_id, timestamp=ts, body=body)
    return client.post(
        f"/hooks/{slug}/",
        data=body,
        content_type="application/json",
        headers={"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig},
    )


def post_github(
    client, payload: Any, *, delivery: str, secret: str = SECRET, event: str = "", slug="cluster"
):
    body = json.dumps(payload).encode()
    headers = {
        "X-Hub-Signature-256": github_signature(secret=secret, body=body),
        "X-GitHub-Delivery": delivery,
    }
    if event:
        headers["X-GitHub-Event"] = event
    return client.post(f"/hooks/{slug}/", data=body, content_type="application/json", headers=headers)


def process_deliveries() -> None:
    """Run queued delivery processing in this process (the worker path is covered by the worker tests)."""

    from ingestion.models import WebhookDelivery

    for pk in WebhookDelivery.objects.filter(status="received").order_by("pk").values_list("pk", flat=True):
        webhooks.webhook_delivery_process(delivery_pk=pk)


def process_job(job) -> None:
    """Run every queued file of a job (archive members included) in this process."""

    from ingestion.models import IngestFile

    for _ in range(10):
        queued = list(IngestFile.objects.filter(job=job, status="queued").values_list("pk", flat=True))
        if not queued:
            break
        for pk in queued:
            processing.ingest_file_process(file_id=pk)
    job.refresh_from_db()
