"""A token's last use is written at most once a minute, and never blocks or fails a request."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.roles import Role
from tracker.accounts import services as account_services
from tracker.models import ApiToken


@pytest.mark.django_db
def test_last_used_is_written_at_most_once_a_minute(make_user, team_a):
    user = make_user(role=Role.VIEWER, team=team_a)
    token, key = account_services.api_token_create(user=user, name="poller")
    client = Client(headers={"Authorization": f"Bearer {key}"})
    assert client.get(reverse("api:me")).status_code == 200
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    for _ in range(5):
        assert client.get(reverse("api:me")).status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first  # no write within the minute
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    assert client.get(reverse("api:me")).status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first


@pytest.mark.django_db(transaction=True)
def test_a_locked_token_row_never_blocks_the_request(make_user, team_a):
    user = make_user(role=Role.VIEWER, team=team_a)
    token, key = account_services.api_token_create(user=user, name="poller")
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT 1 FROM tracker_apitoken WHERE id = %s FOR UPDATE", [token.pk])
                locked.set()
                release.wait(10)
                cursor.execute("ROLLBACK")
        finally:
            other.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(5)
        started = time.monotonic()
        response = Client(headers={"Authorization": f"Bearer {key}"}).get(reverse("api:me"))
        elapsed = time.monotonic() - started
        assert response.status_code == 200 and elapsed < 1.0
        assert ApiToken.objects.get(pk=token.pk).last_used_at is None  # skipped, not waited for
    finally:
        release.set()
        holder.join()
        connection.close()
