"""Celery tasks are an interface: ids in, one service call, explicit retry policy."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from analytics import services
from analytics.models import Report, Study
from tracker.task_policy import idempotent_db_task

logger = logging.getLogger(__name__)


@idempotent_db_task(soft_time_limit=900, time_limit=960)
def refit_study(study_id: int) -> int | None:
    """Returns the id of the study's fit for its current inputs (new or existing)."""
    try:
        return services.study_refit(study_id=study_id).pk
    except Study.DoesNotExist:
        # Deleted between enqueue and run: nothing to fit, and retrying cannot help.
        logger.info("refit_study: study %s no longer exists", study_id)
        return None


# Report building is deterministic: a failure is recorded on the report (status=failed), never retried.
# Only a lost database connection is retried; the service hands the report back to "queued" first.
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=600,
    time_limit=660,
)
def build_report(report_id: int) -> str | None:
    try:
        return services.report_build(report_id=report_id).status
    except Report.DoesNotExist:
        logger.info("build_report: report %s no longer exists", report_id)
        return None


@shared_task(
    acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3, time_limit=300
)
def weekly_digest() -> list[int]:
    """Celery beat (CELERY_BEAT_SCHEDULE "weekly-digest"): one catalog report per team per ISO week."""
    return services.report_digest_weekly()


@shared_task(acks_late=True, time_limit=120)
def reports_requeue() -> list[int]:
    return services.reports_requeue()
