"""Celery tasks of the catalog and runs: ids in, one service call. Task name = the service's name."""

from __future__ import annotations

from core.tasks import db_task
from tracker.claims import services as claims_services
from tracker.runs.series import rollups


@db_task(name="tracker.series_summary_refresh", soft_time_limit=300, time_limit=330, max_retries=5)
def series_summary_refresh(series_id: int) -> None:
    rollups.series_summary_refresh(series_id=series_id)


@db_task(name="tracker.series_rollup_build", soft_time_limit=600, time_limit=630, max_retries=5)
def series_rollup_build(series_id: int) -> None:
    rollups.series_rollup_build(series_id=series_id)


@db_task(name="tracker.claims_recheck", soft_time_limit=300, time_limit=330, max_retries=5)
def claims_recheck(model_ids: list[int]) -> None:
    claims_services.claims_recheck(model_ids=model_ids)
