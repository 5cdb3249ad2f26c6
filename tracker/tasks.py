"""Celery tasks are an interface: ids in, one service call, explicit retry policy."""

from __future__ import annotations

from tracker import services
from tracker.task_policy import idempotent_db_task


@idempotent_db_task(soft_time_limit=300, time_limit=330)
def series_summary_refresh(series_id: int) -> None:
    services.series_summary_refresh(series_id=series_id)


@idempotent_db_task(soft_time_limit=600, time_limit=630)
def series_rollup_build(series_id: int) -> None:
    services.series_rollup_build(series_id=series_id)
