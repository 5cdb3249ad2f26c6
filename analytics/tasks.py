"""Celery tasks are an interface: ids in, one service call. Task name = the service's name."""

from __future__ import annotations

import logging

from analytics.models import Report, Study
from analytics.reports import services as report_services
from analytics.studies import services as study_services
from core.tasks import db_task, periodic_task

logger = logging.getLogger(__name__)


@db_task(name=study_services.STUDY_REFIT_TASK, soft_time_limit=900, time_limit=960, max_retries=5)
def study_refit(study_id: int) -> int | None:
    """Returns the id of the study's fit for its current inputs (new or existing)."""
    try:
        return study_services.study_refit(study_id=study_id).pk
    except Study.DoesNotExist:
        # Deleted between enqueue and run: nothing to fit, and retrying cannot help.
        logger.info("study_refit: study %s no longer exists", study_id)
        return None


@db_task(name=study_services.STUDIES_REFIT_FOR_RUNS_TASK, soft_time_limit=100, time_limit=120, max_retries=5)
def studies_refit_for_runs(run_ids: list[int]) -> list[int]:
    """A value studies read changed on these runs (published by tracker.runs.services on final-loss edits)."""
    return study_services.studies_refit_for_runs(run_ids=run_ids)


# Report building is deterministic: a failure is recorded on the report (status=failed), never retried.
# Only a lost database connection is retried; the service hands the report back to "queued" first.
@db_task(name=report_services.REPORT_BUILD_TASK, soft_time_limit=600, time_limit=660, max_retries=3)
def report_build(report_id: int) -> str | None:
    try:
        return report_services.report_build(report_id=report_id).status
    except Report.DoesNotExist:
        logger.info("report_build: report %s no longer exists", report_id)
        return None


@periodic_task(name="analytics.report_digest_weekly", soft_time_limit=270, time_limit=300)
def report_digest_weekly() -> list[int]:
    """Celery beat ("weekly-digest"): one catalog report per team per ISO week."""
    return report_services.report_digest_weekly()


@periodic_task(name="analytics.reports_requeue", soft_time_limit=100, time_limit=120)
def reports_requeue() -> list[int]:
    return report_services.reports_requeue()


@periodic_task(name="analytics.studies_refit_requeue", soft_time_limit=100, time_limit=120)
def studies_refit_requeue() -> list[int]:
    return study_services.studies_refit_requeue()
