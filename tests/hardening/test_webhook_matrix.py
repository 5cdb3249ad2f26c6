"""Webhook attack matrix over HTTP: every bad signature or header is a 4xx (never 500) with nothing stored;
GitHub's published test vector verifies; a replay inside the tolerance window has exactly one effect."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from ingestion.models import WebhookDelivery
from ingestion.signatures import github_signature, standard_signature
from tests.hardening.conftest import GITHUB_SECRET, SECRET
from tracker.models import SourceDocument, TrainingRun

pytestmark = pytest.mark.django_db

FINISHED = {"type": "run.finished", "data": {"external_id": "r-1", "final_loss": 2.5}}
BODY = json.dumps(FINISHED).encode()
# https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
GITHUB_VECTOR_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def _post(client, body: bytes, headers: dict[str, str]):
    return client.post("/hooks/cluster/", data=body, content_type="application/json", headers=headers)


def _std(
    msg_id: str = "m-1", ts: int | None = None, body: bytes = BODY, secret: str = SECRET
) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": standard_signature(secret=secret, msg_id=msg_id, timestamp=ts, body=body),
    }


def _nothing_stored() -> bool:
    return not WebhookDelivery.objects.exists() and not TrainingRun.objects.exists()


def test_github_published_test_vector_passes_verification_over_http(client, integration):
    # The vector's body is not JSON, so verification passing shows as the JSON error, not a 401.
    r = _post(
        client,
        b"Hello, World!",
        {
            "X-Hub-Signature-256": GITHUB_VECTOR_SIG,
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        },
    )
    assert r.status_code == 400
    assert r.json()["error"].startswith("body is not JSON")
    # The same signature over a body that differs in its last byte is not authentic.
    r = _post(
        client,
        b"Hello, World?",
        {
            "X-Hub-Signature-256": GITHUB_VECTOR_SIG,
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        },
    )
    assert (r.status_code, r.json()["error"]) == (401, "X-Hub-Signature-256 matches no active secret")
    assert _nothing_stored()


def test_github_signature_over_json_body_is_accepted(client, integration):
    headers = {
        "X-Hub-Signature-256": github_signature(secret=GITHUB_SECRET, body=BODY),
        "X-GitHub-Delivery": "gh-ok",
    }
    r = _post(client, BODY, headers)
    assert (r.status_code, r.json()["status"]) == (202, "accepted")
    assert list(WebhookDelivery.objects.values_list("delivery_id", "event_type")) == [
        ("gh-ok", "run.finished")
    ]


def test_sha1_only_signature_is_rejected(client, integration):
    # GitHub's legacy X-Hub-Signature (HMAC-SHA1) is valid here but not accepted on its own.
    sha1 = "sha1=" + hmac.new(GITHUB_SECRET.encode(), BODY, hashlib.sha1).hexdigest()
    r = _post(client, BODY, {"X-Hub-Signature": sha1, "X-GitHub-Delivery": "gh-sha1"})
    assert r.status_code == 401
    assert "missing signature header" in r.json()["error"]
    assert _nothing_stored()


@pytest.mark.parametrize("position", [0, len(BODY) // 2, len(BODY) - 1])
def test_body_changed_by_one_byte_is_rejected(client, integration, position):
    tampered = bytearray(BODY)
    tampered[position] ^= 0x01
    r = _post(client, bytes(tampered), _std(msg_id="tamper"))
    assert r.status_code == 401
    gh = {
        "X-Hub-Signature-256": github_signature(secret=GITHUB_SECRET, body=BODY),
        "X-GitHub-Delivery": "gh-t",
    }
    assert _post(client, bytes(tampered), gh).status_code == 401
    assert _nothing_stored()


def test_wrong_secret_is_rejected(client, integration):
    r = _post(client, BODY, _std(secret="whsec_" + "QUJDREVGR0hJSktMTU5PUA=="))
    assert (r.status_code, r.json()["error"]) == (401, "no webhook-signature matches any active secret")
    assert _nothing_stored()


def _valid_sig(msg_id: str = "m-1") -> str:
    return _std(msg_id=msg_id)["webhook-signature"]


# Timestamps are written relative to the moment of the request ("{now}", "{now-3600}"): a slow suite must
# not turn a "fresh" header stale between collection and the test.
NOW = "{now}"

MALFORMED: list[tuple[str, dict[str, str], int]] = [
    ("no headers at all", {}, 401),
    ("signature without id", {"webhook-timestamp": NOW, "webhook-signature": "v1,AAAA"}, 400),
    ("signature without timestamp", {"webhook-id": "m-1", "webhook-signature": "v1,AAAA"}, 400),
    ("empty id", {"webhook-id": "  ", "webhook-timestamp": NOW, "webhook-signature": "v1,AAAA"}, 400),
    (
        "timestamp not a number",
        {"webhook-id": "m-1", "webhook-timestamp": "yesterday", "webhook-signature": "v1,A"},
        400,
    ),
    (
        "negative timestamp",
        {"webhook-id": "m-1", "webhook-timestamp": "-5", "webhook-signature": "v1,A"},
        400,
    ),
    (
        "float timestamp",
        {"webhook-id": "m-1", "webhook-timestamp": "1.7e9", "webhook-signature": "v1,A"},
        400,
    ),
    (
        "huge timestamp",
        {"webhook-id": "m-1", "webhook-timestamp": "9" * 40, "webhook-signature": "v1,A"},
        400,
    ),
    (
        "stale timestamp",
        {"webhook-id": "m-1", "webhook-timestamp": "{now-3600}", "webhook-signature": "v1,A"},
        401,
    ),
    (
        "future timestamp",
        {"webhook-id": "m-1", "webhook-timestamp": "{now+3600}", "webhook-signature": "v1,A"},
        401,
    ),
    (
        "signature without version",
        {"webhook-id": "m-1", "webhook-timestamp": NOW, "webhook-signature": "AAAA"},
        400,
    ),
    (
        "unknown signature version",
        {"webhook-id": "m-1", "webhook-timestamp": NOW, "webhook-signature": "v2,AAAA"},
        400,
    ),
    (
        "empty v1 signature",
        {"webhook-id": "m-1", "webhook-timestamp": NOW, "webhook-signature": "v1,"},
        400,
    ),
    (
        "v1 not base64",
        {"webhook-id": "m-1", "webhook-timestamp": NOW, "webhook-signature": "v1,!!!%%%"},
        401,
    ),
    (
        "8 KB of signatures",
        {"webhook-id": "m-1", "webhook-timestamp": NOW, "webhook-signature": "v1,AAAA " * 1000},
        401,
    ),
    ("github sig without delivery", {"X-Hub-Signature-256": "sha256=00"}, 400),
    ("github sig wrong algorithm", {"X-Hub-Signature-256": "md5=00", "X-GitHub-Delivery": "d"}, 400),
    ("github sig empty hex", {"X-Hub-Signature-256": "sha256=", "X-GitHub-Delivery": "d"}, 401),
    ("github sig not hex", {"X-Hub-Signature-256": "sha256=zz\u00e9", "X-GitHub-Delivery": "d"}, 401),
]


def _at_now(headers: dict[str, str]) -> dict[str, str]:
    now = int(time.time())
    stamps = {"{now}": str(now), "{now-3600}": str(now - 3600), "{now+3600}": str(now + 3600)}
    return {k: stamps.get(v, v) for k, v in headers.items()}


@pytest.mark.parametrize("headers,status", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_headers_are_4xx_never_500(client, integration, headers, status):
    r = _post(client, BODY, _at_now(headers))
    assert r.status_code == status, r.content
    assert r.json()["error"]  # a reason, not an HTML error page
    assert _nothing_stored()


def test_overlong_delivery_id_is_rejected_not_truncated(client, integration):
    # Truncating would make two different deliveries sharing a 200-character prefix look like one.
    long_id = "x" * 201
    r = _post(client, BODY, _std(msg_id=long_id))
    assert r.status_code == 400
    assert "200" in r.json()["error"]
    assert _nothing_stored()


def test_timestamps_just_inside_the_window_are_accepted(client, integration):
    now = int(time.time())
    assert _post(client, BODY, _std(msg_id="early", ts=now - 290)).status_code == 202
    assert _post(client, BODY, _std(msg_id="late", ts=now + 290)).status_code == 202
    assert WebhookDelivery.objects.count() == 2


def test_replay_inside_window_has_exactly_one_effect(client, integration, django_capture_on_commit_callbacks):
    from tests.ingestion.conftest import process_deliveries

    headers = _std(msg_id="replay-1")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = _post(client, BODY, headers)
        replay_before = _post(client, BODY, headers)  # same bytes, same signature, before processing
    assert (first.status_code, first.json()["status"]) == (202, "accepted")
    assert (replay_before.status_code, replay_before.json()["status"]) == (202, "in progress")
    assert len(callbacks) == 1  # one task published for the two requests
    process_deliveries()
    replay_after = _post(client, BODY, headers)
    assert (replay_after.status_code, replay_after.json()["status"]) == (200, "duplicate")
    process_deliveries()
    run = TrainingRun.objects.get()
    assert (run.external_id, run.final_loss, run.status) == ("r-1", 2.5, "finished")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("processed", 1)
    assert SourceDocument.objects.filter(kind="webhook").count() == 1
