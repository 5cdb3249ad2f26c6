"""What a file's processing reports while it runs: its stage and rows stored, and what it wrote.

Progress, honestly: parsers are pure functions from bytes to records, so a parse is one step with no
progress inside it; the page shows "parsing" with the time spent so far. After the parse the number of
rows (metric points, papers, facts) is known exactly, and storing reports rows stored between COPY batches
(`series_store` copies series in groups of about `COPY_GROUP_ROWS`; one series is one COPY, so a single
huge series moves the count once). The file's transaction holds its IngestFile row locked until commit,
so progress is written on a separate autocommit connection into IngestFileProgress, never on that row.

Outputs: the catalog mapping calls `output_record(obj)` for each run, paper and model it writes; the
processing service stores them as the file's links in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from ingestion.models import IngestFileProgress
from tracker.models import Model, Paper, TrainingRun

COPY_GROUP_ROWS = 250_000
MIN_INTERVAL_S = 0.5  # row updates closer together than this are skipped (stage changes never are)

_UPSERT = """
INSERT INTO {table} (file_id, stage, rows_done, rows_total, stage_started_at, updated_at)
VALUES (%(file)s, %(stage)s, %(done)s, %(total)s, %(now)s, %(now)s)
ON CONFLICT (file_id) DO UPDATE SET
    rows_done = EXCLUDED.rows_done,
    rows_total = COALESCE(EXCLUDED.rows_total, {table}.rows_total),
    stage_started_at = CASE WHEN {table}.stage = EXCLUDED.stage THEN {table}.stage_started_at
                            ELSE EXCLUDED.stage_started_at END,
    stage = EXCLUDED.stage,
    updated_at = EXCLUDED.updated_at
"""


@dataclass
class FileTracker:
    file_id: int
    runs: dict[int, TrainingRun] = field(default_factory=dict)
    papers: dict[int, Paper] = field(default_factory=dict)
    models: dict[int, Model] = field(default_factory=dict)
    stage_name: str = ""
    rows_total: int | None = None
    rows_done: int = 0
    _conn: Any = None
    _last_write: float = 0.0

    def _write(self) -> None:
        if self._conn is None:
            # Its own connection (autocommit): visible to the job page at once, whatever the caller's
            # transaction does; created lazily, closed by `tracking`.
            self._conn = connections.create_connection(DEFAULT_DB_ALIAS)
        table = IngestFileProgress._meta.db_table
        with self._conn.cursor() as cursor:
            cursor.execute(
                _UPSERT.format(table=table),
                {
                    "file": self.file_id,
                    "stage": self.stage_name,
                    "done": self.rows_done,
                    "total": self.rows_total,
                    "now": timezone.now(),
                },
            )
        self._last_write = time.monotonic()

    def stage(self, name: str, *, rows_total: int | None = None) -> None:
        self.stage_name = name
        if rows_total is not None:
            self.rows_total = rows_total
        self._write()

    def rows(self, done: int) -> None:
        self.rows_done = done
        if time.monotonic() - self._last_write >= MIN_INTERVAL_S:
            self._write()

    def outputs_clear(self) -> None:
        self.runs.clear()
        self.papers.clear()
        self.models.clear()
        self.rows_done = 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_current: ContextVar[FileTracker | None] = ContextVar("ingest_file_tracker", default=None)


@contextmanager
def tracking(*, file_id: int) -> Iterator[FileTracker]:
    tracker = FileTracker(file_id=file_id)
    token = _current.set(tracker)
    try:
        yield tracker
    finally:
        _current.reset(token)
        tracker.close()


def output_record(obj: Any) -> None:
    """Note a run, paper or model the current file wrote (no-op outside `tracking`, e.g. webhooks)."""
    tracker = _current.get()
    if tracker is None or obj is None or obj.pk is None:
        return
    if isinstance(obj, TrainingRun):
        tracker.runs[obj.pk] = obj
    elif isinstance(obj, Paper):
        tracker.papers[obj.pk] = obj
    elif isinstance(obj, Model):
        tracker.models[obj.pk] = obj


def rows_stored(n: int) -> None:
    """Add n rows to the current file's stored count (no-op outside `tracking`)."""
    tracker = _current.get()
    if tracker is not None:
        tracker.rows(tracker.rows_done + n)
