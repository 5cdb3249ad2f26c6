"""Webhook signature verification (pure: no Django).

Two schemes:
- Standard Webhooks (standardwebhooks.com): headers `webhook-id`, `webhook-timestamp` (unix seconds) and
  `webhook-signature: v1,<base64> v1,<base64>` (several signatures during key rotation); the signed content
  is `{id}.{timestamp}.{body}` under HMAC-SHA256; secrets may be given as `whsec_<base64>`.
- GitHub: `X-Hub-Signature-256: sha256=<hex>` over the raw body, delivery id in `X-GitHub-Delivery`.
  GitHub sends no timestamp, so replay protection for it rests on the unique delivery id alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class SignatureError(ValueError):
    """Verification failed; `status` is the HTTP status to answer (400 malformed, 401 not authentic)."""

    def __init__(self, reason: str, *, status: int = 401) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Verified:
    scheme: str  # "standard" | "github"
    delivery_id: str
    timestamp: int | None


def secret_bytes(secret: str) -> bytes:
    """`whsec_<base64>` secrets are base64 key material (Standard Webhooks); others are used as UTF-8."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error as exc:
            raise ValueError("webhook secret starts with whsec_ but is not valid base64") from exc
    return secret.encode()


def standard_signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature a Standard Webhooks sender would send."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def github_signature(*, secret: str, body: bytes) -> str:
    """The `sha256=<hex>` value of GitHub's X-Hub-Signature-256 header."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return ""


def verify(
    *, headers: Mapping[str, str], body: bytes, secrets: Iterable[str], now: float, tolerance_seconds: int
) -> Verified:
    """Check a delivery against every given secret (key rotation). Raises SignatureError on failure."""
    secrets = list(secrets)
    if not secrets:
        raise SignatureError("the integration has no active signing secret", status=401)
    if _header(headers, "webhook-signature"):
        return _verify_standard(headers, body, secrets, now, tolerance_seconds)
    if _header(headers, "x-hub-signature-256"):
        return _verify_github(headers, body, secrets)
    raise SignatureError("missing signature header (webhook-signature or X-Hub-Signature-256)", status=401)


def _verify_standard(
    headers: Mapping[str, str], body: bytes, secrets: list[str], now: float, tolerance: int
) -> Verified:
    msg_id = _header(headers, "webhook-id").strip()
    raw_ts = _header(headers, "webhook-timestamp").strip()
    if not msg_id or not raw_ts:
        raise SignatureError("webhook-id and webhook-timestamp headers are required", status=400)
    if not raw_ts.isdigit() or len(raw_ts) > 12:
        raise SignatureError(f"webhook-timestamp {raw_ts[:40]!r} is not unix seconds", status=400)
    timestamp = int(raw_ts)
    # Both directions: an old timestamp is a replay, a future one a clock error or a pre-signed replay.
    if timestamp < now - tolerance:
        raise SignatureError(f"webhook-timestamp is more than {tolerance}s in the past", status=401)
    if timestamp > now + tolerance:
        raise SignatureError(f"webhook-timestamp is more than {tolerance}s in the future", status=401)
    offered = []
    for part in _header(headers, "webhook-signature").split():
        version, _, sig = part.partition(",")
        if version == "v1" and sig:
            offered.append(sig.encode())
    if not offered:
        raise SignatureError("webhook-signature holds no v1 signature", status=400)
    for secret in secrets:
        try:
            expected = standard_signature(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)
        except ValueError:
            continue  # a malformed stored secret must not block the others during rotation
        expected_b = expected.removeprefix("v1,").encode()
        # Every pair is compared in constant time; no early exit on a near match.
        if any(hmac.compare_digest(expected_b, sig) for sig in offered):
            return Verified(scheme="standard", delivery_id=msg_id, timestamp=timestamp)
    raise SignatureError("no webhook-signature matches any active secret", status=401)


def _verify_github(headers: Mapping[str, str], body: bytes, secrets: list[str]) -> Verified:
    delivery_id = _header(headers, "x-github-delivery").strip()
    if not delivery_id:
        raise SignatureError("X-GitHub-Delivery header is required", status=400)
    offered = _header(headers, "x-hub-signature-256").strip().encode()
    if not offered.startswith(b"sha256="):
        raise SignatureError("X-Hub-Signature-256 must look like sha256=<hex>", status=400)
    for secret in secrets:
        if hmac.compare_digest(github_signature(secret=secret, body=body).encode(), offered):
            return Verified(scheme="github", delivery_id=delivery_id, timestamp=None)
    raise SignatureError("X-Hub-Signature-256 matches no active secret", status=401)
