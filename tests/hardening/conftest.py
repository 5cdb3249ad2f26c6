"""Hardening fixtures: an integration with a signing secret and a private Redis broker per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core import outbox
from tests.hardening.stack import RedisServer, app_broker, redis_start

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
GITHUB_SECRET = "It's a Secret to Everybody"  # GitHub's published test-vector secret


@pytest.fixture
def integration(team_a: Any, make_user: Any) -> Any:
    from tracker.models import Integration, WebhookSecret

    owner = make_user(role="editor", team=team_a, username="hook-owner")
    integ = Integration.objects.create(team=team_a, name="Cluster", slug="cluster", created_by=owner)
    WebhookSecret.objects.create(integration=integ, secret=SECRET)
    WebhookSecret.objects.create(integration=integ, secret=GITHUB_SECRET)
    return integ


@pytest.fixture
def private_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    """A fresh redis-server of our own; this process publishes to it for the duration of the test."""

    # The publish circuit breaker is per process: start every test with the broker presumed up.
    outbox.breaker.reset()
    server = redis_start()
    try:
        with app_broker(server.url(0)):
            yield server
    finally:
        server.stop()
