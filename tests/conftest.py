"""Shared fixtures: users with roles, API tokens and a real Celery worker process on the real broker."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.workers import process_stop, worker_start

# `s3_server` / `s3_storage`: a real S3-compatible server process (moto) for the object-storage tests.
pytest_plugins = ["tests.support.s3"]

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "data" / "reference"
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    from django.contrib.auth import get_user_model

    from core.roles import Role
    from tracker.accounts import services as account_services
    from tracker.models import Team

    counter = {"n": 0}

    def make(role: str | None = Role.VIEWER, team: Team | None = None, username: str | None = None) -> Any:
        counter["n"] += 1
        user = get_user_model().objects.create_user(
            username=username or f"user{counter['n']}", password="pw-for-tests-123"
        )
        if role is not None:
            team = (
                team
                or Team.objects.filter(slug="lab-a").first()
                or account_services.team_create(name="Lab A")
            )
            account_services.membership_set(team=team, user=user, role=Role(role))
        return user

    return make


@pytest.fixture
def team_a(db: Any) -> Any:
    from tracker.accounts import services as account_services
    from tracker.models import Team

    return Team.objects.filter(slug="lab-a").first() or account_services.team_create(name="Lab A")


@pytest.fixture
def team_b(db: Any) -> Any:
    from tracker.accounts import services as account_services

    return account_services.team_create(name="Lab B")


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup: Any, django_db_blocker: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` process consuming this run's queue on the real broker, using the test database."""
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("needs a real broker: CELERY_BROKER_URL=redis://... (run scripts/test.sh)")
    from config.celery import app, queue_names

    # scripts/test.sh gives every run its own queue prefix, so parallel runs never steal each other's tasks.
    queues = queue_names().split(",")
    # Tests that ran before the worker existed may have queued tasks for rows that are long gone.

    with app.connection_for_write() as conn:
        for queue in queues:
            conn.default_channel.queue_purge(queue)
    proc = worker_start(log=Path(settings.VAR_DIR) / "test-worker.log", name="test")
    yield proc
    process_stop(proc)


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll until predicate() is truthy; returns its value or fails the test with a clear message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")
