"""Webhook signature verification: pure, no database."""

from __future__ import annotations

import base64

import pytest

from ingestion.signatures import SignatureError, github_signature, standard_signature, verify

NOW = 1_700_000_000
BODY = b'{"type":"run.started","data":{"external_id":"r1"}}'
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def _std_headers(sig: str, *, msg_id: str = "msg_1", ts: int = NOW) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig}


def _verify(headers: dict[str, str], body: bytes = BODY, secrets: list[str] | None = None, now: float = NOW):
    return verify(headers=headers, body=body, secrets=secrets or [SECRET], now=now, tolerance_seconds=300)


def test_github_published_test_vector():
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    assert (
        github_signature(secret="It's a Secret to Everybody", body=b"Hello, World!")
        == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    ok = verify(
        headers={
            "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        },
        body=b"Hello, World!",
        secrets=["It's a Secret to Everybody"],
        now=NOW,
        tolerance_seconds=300,
    )
    assert (ok.scheme, ok.delivery_id, ok.timestamp) == (
        "github",
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        None,
    )


def test_github_wrong_secret_and_tampered_body_rejected():
    sig = github_signature(secret="right", body=b"payload")
    headers = {"X-Hub-Signature-256": sig, "X-GitHub-Delivery": "d1"}
    with pytest.raises(SignatureError) as exc:
        verify(headers=headers, body=b"payload", secrets=["wrong"], now=NOW, tolerance_seconds=300)
    assert exc.value.status == 401
    with pytest.raises(SignatureError):
        verify(headers=headers, body=b"payload!", secrets=["right"], now=NOW, tolerance_seconds=300)


def test_github_missing_delivery_id_is_400():
    sig = github_signature(secret="s", body=b"x")
    with pytest.raises(SignatureError) as exc:
        verify(headers={"X-Hub-Signature-256": sig}, body=b"x", secrets=["s"], now=NOW, tolerance_seconds=300)
    assert exc.value.status == 400


def test_standard_webhooks_signature_matches_reference_construction():
    # Signed content is "{id}.{timestamp}.{body}", key is the base64-decoded part after whsec_.
    import hashlib
    import hmac

    key = b"0123456789abcdef0123456789abcdef"
    expected = base64.b64encode(hmac.new(key, b"msg_1.%d." % NOW + BODY, hashlib.sha256).digest()).decode()
    assert standard_signature(secret=SECRET, msg_id="msg_1", timestamp=NOW, body=BODY) == "v1," + expected
    ok = _verify(_std_headers("v1," + expected))
    assert (ok.scheme, ok.delivery_id, ok.timestamp) == ("standard", "msg_1", NOW)


def test_standard_several_signatures_and_secrets_for_rotation():
    old, new = "old-secret", SECRET
    sig_old = standard_signature(secret=old, msg_id="m", timestamp=NOW, body=BODY)
    bogus = "v1," + base64.b64encode(b"x" * 32).decode()
    # The sender signs with the old key only; the receiver already holds old and new.
    assert _verify(_std_headers(f"{bogus} {sig_old}", msg_id="m"), secrets=[new, old]).delivery_id == "m"
    # The sender signs with both during rotation; the receiver has only the new key.
    sig_new = standard_signature(secret=new, msg_id="m", timestamp=NOW, body=BODY)
    assert _verify(_std_headers(f"{sig_old} {sig_new}", msg_id="m"), secrets=[new]).delivery_id == "m"


@pytest.mark.parametrize("offset", [301, -301, 10_000, -10_000])
def test_standard_timestamp_outside_tolerance_rejected_both_ways(offset):
    ts = NOW + offset
    sig = standard_signature(secret=SECRET, msg_id="m", timestamp=ts, body=BODY)
    with pytest.raises(SignatureError) as exc:
        _verify(_std_headers(sig, msg_id="m", ts=ts))
    assert exc.value.status == 401
    assert ("past" if offset < 0 else "future") in exc.value.reason


@pytest.mark.parametrize("offset", [300, -300, 0])
def test_standard_timestamp_inside_tolerance_accepted(offset):
    ts = NOW + offset
    sig = standard_signature(secret=SECRET, msg_id="m", timestamp=ts, body=BODY)
    assert _verify(_std_headers(sig, msg_id="m", ts=ts)).timestamp == ts


def test_standard_signature_bound_to_id_timestamp_and_body():
    sig = standard_signature(secret=SECRET, msg_id="m", timestamp=NOW, body=BODY)
    for headers, body in [
        (_std_headers(sig, msg_id="other"), BODY),
        (_std_headers(sig, msg_id="m", ts=NOW + 1), BODY),
        (_std_headers(sig, msg_id="m"), BODY + b" "),
    ]:
        with pytest.raises(SignatureError) as exc:
            _verify(headers, body)
        assert exc.value.status == 401


@pytest.mark.parametrize(
    "headers,status",
    [
        ({}, 401),
        ({"webhook-signature": "v1,abc"}, 400),
        ({"webhook-id": "m", "webhook-timestamp": "yesterday", "webhook-signature": "v1,abc"}, 400),
        ({"webhook-id": "m", "webhook-timestamp": str(NOW), "webhook-signature": "v2,abc"}, 400),
        ({"webhook-id": "m", "webhook-timestamp": str(NOW), "webhook-signature": "v1,%%%notbase64"}, 401),
        ({"X-Hub-Signature-256": "md5=abc", "X-GitHub-Delivery": "d"}, 400),
    ],
)
def test_malformed_headers_give_clear_client_errors(headers, status):
    with pytest.raises(SignatureError) as exc:
        _verify(headers)
    assert exc.value.status == status
    assert exc.value.reason


def test_no_active_secret_rejects():
    sig = standard_signature(secret=SECRET, msg_id="m", timestamp=NOW, body=BODY)
    with pytest.raises(SignatureError) as exc:
        verify(headers=_std_headers(sig, msg_id="m"), body=BODY, secrets=[], now=NOW, tolerance_seconds=300)
    assert exc.value.status == 401
