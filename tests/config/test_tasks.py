"""Every registered task and every beat entry can be published: explicit names, soft limit below hard."""

from __future__ import annotations

import inspect

import pytest
from django.conf import settings
from kombu import Connection

from config.celery import app

APPS = ("tracker", "ingestion", "analytics")


@pytest.fixture(scope="module")
def tasks():
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_is_named_app_dot_service(tasks):
    assert tasks, "no tasks registered"
    for name, task in tasks.items():
        label, _, service = name.partition(".")
        assert label in APPS and service.isidentifier(), name
        # The task function carries the service's name: `analytics.study_refit` calls `study_refit`.
        assert task.run.__name__ == service or task.__name__ == service, name


def test_every_task_has_a_soft_limit_below_its_hard_limit(tasks):
    for name, task in tasks.items():
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert soft and hard and soft < hard, f"{name}: soft {soft} vs hard {hard}"


def test_every_task_and_beat_entry_publishes(tasks):
    with Connection("memory://") as conn:
        for task in tasks.values():
            arity = len(inspect.signature(task.__header__).parameters)
            task.apply_async(args=[1] * arity, connection=conn)  # raises when Celery refuses the limits
        for entry, spec in settings.CELERY_BEAT_SCHEDULE.items():
            assert spec["task"] in tasks, f"beat entry {entry} names unknown task {spec['task']}"
            tasks[spec["task"]].apply_async(connection=conn)


def test_reports_requeue_and_weekly_digest_are_publishable(tasks):
    # The two tasks that used to inherit a 29-minute soft limit over a 2- and 5-minute hard limit.
    for name in ("analytics.reports_requeue", "analytics.report_digest_weekly"):
        task = tasks[name]
        assert task.soft_time_limit < task.time_limit <= 300
