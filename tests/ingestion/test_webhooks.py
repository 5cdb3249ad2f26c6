"""Webhook endpoint: signatures, tolerance, dedup, unknown events, and each event's effect on the catalog."""

from __future__ import annotations

import json
import time

import pytest

from ingestion.models import WebhookDelivery
from tests.ingestion.conftest import OLD_SECRET, SECRET, post_github, post_standard, process_deliveries
from tests.support.series import point_count, step_values
from tracker.models import MetricSeries, Paper, TrainingRun, WebhookSecret

pytestmark = pytest.mark.django_db

STARTED = {
    "type": "run.started",
    "data": {
        "external_id": "run-42",
        "name": "chinchilla-400m",
        "parameters": 4.0e8,
        "tokens": 8.0e9,
        "hardware": "H100-SXM5-80GB",
        "gpu_count": 64,
        "precision": "bf16",
        "synthetic_share": 0.25,
        "data_sources": {"web": 0.75, "synthetic": 0.25},
    },
}


def test_run_lifecycle_started_metrics_finished(client, integration, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = post_standard(client, STARTED, msg_id="msg-1")
    assert r.status_code == 202, r.content
    assert r.json()["status"] == "accepted"
    assert len(callbacks) == 1  # processing is queued after commit, not done in the request
    assert not TrainingRun.objects.exists()
    process_deliveries()
    run = TrainingRun.objects.select_related("hardware").get(team=integration.team, external_id="run-42")
    assert (run.name, run.parameters, run.tokens, run.gpu_count, run.precision) == (
        "chinchilla-400m",
        4.0e8,
        8.0e9,
        64,
        "bf16",
    )
    assert run.hardware.name == "H100-SXM5-80GB"
    assert (run.synthetic_share, run.data_sources, run.status) == (
        0.25,
        {"web": 0.75, "synthetic": 0.25},
        "running",
    )

    batch1 = [{"step": s, "name": "loss", "value": 10.0 - s} for s in range(0, 5)]
    batch2 = [{"step": s, "metrics": {"loss": 1.0 / (s + 1)}} for s in range(3, 8)]  # overlaps steps 3, 4
    assert (
        post_standard(
            client, {"type": "run.metrics", "data": {"external_id": "run-42", "points": batch1}}, msg_id="m2"
        ).status_code
        == 202
    )
    assert (
        post_standard(
            client, {"type": "run.metrics", "data": {"external_id": "run-42", "points": batch2}}, msg_id="m3"
        ).status_code
        == 202
    )
    process_deliveries()
    series = MetricSeries.objects.get(run=run, name="loss")
    points = step_values(series.pk)
    assert points == [(0, 10.0), (1, 9.0), (2, 8.0)] + [(s, 1.0 / (s + 1)) for s in range(3, 8)]
    assert (series.n_points, series.min_step, series.max_step, series.last_value) == (8, 0, 7, 0.125)

    finished = {
        "type": "run.finished",
        "data": {"external_id": "run-42", "final_loss": 2.91, "gpu_hours": 1234.5},
    }
    assert post_standard(client, finished, msg_id="m4").status_code == 202
    process_deliveries()
    run.refresh_from_db()
    assert (run.status, run.final_loss, run.gpu_hours) == ("finished", 2.91, 1234.5)
    assert run.finished_at is not None
    assert TrainingRun.objects.count() == 1
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"processed"}


def test_redelivery_of_processed_delivery_changes_nothing(client, integration):
    batch = {
        "type": "run.metrics",
        "data": {"external_id": "r", "points": [{"step": 1, "name": "loss", "value": 3.0}]},
    }
    assert post_standard(client, batch, msg_id="dup-1").status_code == 202
    process_deliveries()
    # The same delivery id again, even with a different body, has no effect.
    batch["data"]["points"][0]["value"] = 99.0
    r = post_standard(client, batch, msg_id="dup-1")
    assert (r.status_code, r.json()["status"]) == (200, "duplicate")
    process_deliveries()
    assert [v for _, v in step_values()] == [3.0]
    assert WebhookDelivery.objects.get().attempts == 1


def test_failed_delivery_is_not_counted_processed_and_can_be_retried(client, integration):
    bad = {
        "type": "run.metrics",
        "data": {"external_id": "r", "points": [{"step": 1, "name": "loss", "value": "NaN"}]},
    }
    post_standard(client, bad, msg_id="retry-1")
    process_deliveries()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    assert "line 1" in delivery.error and "non-finite" in delivery.error
    assert point_count() == 0
    assert not TrainingRun.objects.exists()  # the run the batch would have created was rolled back too
    good = {
        "type": "run.metrics",
        "data": {"external_id": "r", "points": [{"step": 1, "name": "loss", "value": 2.0}]},
    }
    assert post_standard(client, good, msg_id="retry-1").status_code == 202
    process_deliveries()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("processed", 2)
    assert [v for _, v in step_values()] == [2.0]


def test_unknown_event_is_acked_logged_and_ignored(
    client, integration, caplog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = post_standard(client, {"type": "run.exploded", "data": {}}, msg_id="u1")
    assert r.status_code == 202
    assert r.json()["status"] == "ignored"
    assert callbacks == []
    assert WebhookDelivery.objects.get().status == "ignored"
    assert "unknown event type 'run.exploded'" in caplog.text


def test_github_signature_with_event_header_and_delivery_dedup(client, integration):
    payload = {
        "title": "Training Compute-Optimal Large Language Models",
        "arxiv_id": "2203.15556",
        "authors": ["Jordan Hoffmann"],
        "published": "2022-03-29",
    }
    r = post_github(client, payload, delivery="gh-1", event="paper.added")
    assert r.status_code == 202, r.content
    process_deliveries()
    paper = Paper.objects.get(arxiv_id="2203.15556")
    assert (paper.title, paper.authors, str(paper.published)) == (
        "Training Compute-Optimal Large Language Models",
        ["Jordan Hoffmann"],
        "2022-03-29",
    )
    assert post_github(client, payload, delivery="gh-1", event="paper.added").status_code == 200
    assert Paper.objects.count() == 1


def test_rotation_any_active_secret_verifies_expired_does_not(client, integration):
    from datetime import timedelta

    from django.utils import timezone

    old = WebhookSecret.objects.create(integration=integration, secret=OLD_SECRET)
    assert post_standard(client, {"type": "x.y"}, msg_id="rot-1", secret=OLD_SECRET).status_code == 202
    old.expires_at = timezone.now() - timedelta(seconds=1)
    old.save()
    r = post_standard(client, {"type": "x.y"}, msg_id="rot-2", secret=OLD_SECRET)
    assert r.status_code == 401
    assert not WebhookDelivery.objects.filter(delivery_id="rot-2").exists()
    assert post_standard(client, {"type": "x.y"}, msg_id="rot-3", secret=SECRET).status_code == 202


@pytest.mark.parametrize("offset", [-400, 400])
def test_stale_or_future_timestamp_rejected_without_effect(client, integration, offset):
    r = post_standard(client, STARTED, msg_id="ts-1", ts=int(time.time()) + offset)
    assert r.status_code == 401
    assert "webhook-timestamp" in r.json()["error"]
    assert not WebhookDelivery.objects.exists()


def test_bad_signature_unknown_integration_and_malformed_bodies(client, integration):
    assert post_standard(client, STARTED, msg_id="b1", secret="whsec_d3Jvbmc=").status_code == 401
    assert post_standard(client, STARTED, msg_id="b2", slug="nope").status_code == 404
    assert post_standard(client, b"\xff\xfe not json", msg_id="b3").status_code == 400
    assert post_standard(client, b"[1, 2]", msg_id="b4").status_code == 400
    assert post_standard(client, {"data": {}}, msg_id="b5").status_code == 400  # no event type
    r = client.post("/hooks/cluster/", data=b"{}", content_type="application/json")
    assert r.status_code == 401
    assert not WebhookDelivery.objects.exists()


def test_webhook_needs_no_login_but_upload_api_does(client, integration):
    assert post_standard(client, {"type": "x.y"}, msg_id="n1").status_code == 202
    assert client.post("/api/ingest/").status_code == 401


def test_run_started_with_bad_manifest_fails_with_reason(client, integration):
    bad = {"type": "run.started", "data": {"external_id": "r9", "synthetic_share": 1.5}}
    post_standard(client, bad, msg_id="bad-manifest")
    process_deliveries()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    assert "synthetic_share" in delivery.error
    assert not TrainingRun.objects.exists()


def test_payload_is_stored_for_audit(client, integration):
    post_standard(client, STARTED, msg_id="audit")
    assert WebhookDelivery.objects.get().payload == json.loads(json.dumps(STARTED))


@pytest.mark.parametrize(
    "payload,reason",
    [
        ({"type": "run.started", "data": [1, 2]}, "JSON object"),
        ({"type": "run.metrics", "data": {"external_id": "r"}}, "'points' list"),
        (
            {"type": "run.metrics", "data": {"points": [{"step": 1, "name": "loss", "value": 1}]}},
            "external_id",
        ),
        ({"type": "run.metrics", "data": {"external_id": "r", "points": [{"name": "loss"}]}}, "line 1"),
        (
            {"type": "run.finished", "data": {"external_id": "r", "status": "exploded"}},
            "'finished' or 'failed'",
        ),
        (
            {"type": "run.finished", "data": {"external_id": "r", "final_loss": "NaN"}},
            "final_loss must be a number",
        ),
        ({"type": "run.finished", "data": {"external_id": "r", "finished_at": "soon"}}, "soon"),
        ({"type": "paper.added", "data": {"abstract": "no title"}}, "needs a title"),
        ({"type": "model.card", "data": {"name": "m"}}, "markdown"),
    ],
)
def test_malformed_event_payloads_fail_cleanly_with_reason(client, integration, payload, reason):
    r = post_standard(client, payload, msg_id="mal-1")
    assert r.status_code == 202
    process_deliveries()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    assert reason in delivery.error
    assert delivery.error.startswith("webhook mal-1")
    assert not TrainingRun.objects.exists() and not Paper.objects.exists()


def test_oversized_webhook_body_rejected(client, integration):
    r = post_standard(client, {"type": "x.y", "pad": "x" * (11 * 1024 * 1024)}, msg_id="big")
    assert r.status_code == 413
    assert not WebhookDelivery.objects.exists()
