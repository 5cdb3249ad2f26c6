"""The Celery app, and the one place that routes each task to its workload queue."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("isoflop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Workload of each task. A worker group per workload (compose) or a few groups sharing a process (the app
# command) consume these queues; ingest and report work can take minutes, webhooks must stay fast.
QUEUE_OF_TASK: dict[str, str] = {
    "ingestion.ingest_file_process": "ingest",
    "tracker.series_summary_refresh": "ingest",
    "tracker.series_rollup_build": "ingest",
    "tracker.claims_recheck": "ingest",
    "ingestion.webhook_delivery_process": "webhooks",
    "analytics.study_refit": "fit",
    "analytics.studies_refit_for_runs": "fit",
    "analytics.report_build": "report",
    "ingestion.outbox_requeue": "maintenance",
    "analytics.reports_requeue": "maintenance",
    "analytics.studies_refit_requeue": "maintenance",
    "analytics.report_digest_weekly": "maintenance",
}


def queue_name(workload: str) -> str:
    """The broker queue of a workload (prefixed, so test runs sharing a broker stay apart)."""
    if workload not in settings.ISOFLOP_QUEUES:
        raise ValueError(f"unknown workload {workload!r}; known: {settings.ISOFLOP_QUEUES}")
    return f"{settings.ISOFLOP_QUEUE_PREFIX}{workload}"


def queue_names(*workloads: str) -> str:
    """Comma-separated queues for `celery worker -Q` (all workloads when none are named)."""
    return ",".join(queue_name(w) for w in (workloads or settings.ISOFLOP_QUEUES))


def route_task(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any
) -> dict[str, str]:
    return {"queue": queue_name(QUEUE_OF_TASK.get(name, "maintenance"))}


app.conf.task_routes = (route_task,)
