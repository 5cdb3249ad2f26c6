"""Shapes of the API's JSON responses, as the SDK returns them (plain dicts)."""

from __future__ import annotations

from typing import Any, TypedDict


class Team(TypedDict):
    slug: str
    role: str


class Me(TypedDict):
    username: str
    teams: list[Team]
    scopes: list[str]


class SeriesInfo(TypedDict):
    name: str
    n_points: int
    min_step: int | None
    max_step: int | None
    last_value: float | None


class RunOut(TypedDict, total=False):
    id: int
    team: str
    name: str
    external_id: str
    status: str
    url: str
    parameters: float | None
    tokens: float | None
    final_loss: float | None
    created_at: str
    tags: list[str]
    config: dict[str, Any]
    series: list[SeriesInfo]


class MetricsAccepted(TypedDict):
    accepted: int
    duplicate: bool


class FileError(TypedDict):
    file: str
    line: int | None
    reason: str


class IngestFile(TypedDict):
    name: str
    status: str
    errors: list[FileError]


class IngestJob(TypedDict, total=False):
    id: int
    job: int
    status: str
    progress_url: str
    files_total: int
    files_done: int
    bytes_total: int
    bytes_done: int
    rows_done: int
    error_summary: str | None
    files: list[IngestFile]


class ReportFile(TypedDict):
    format: str
    size: int
    url: str


class Report(TypedDict, total=False):
    id: int
    status: str
    progress: float
    stage: str
    # The server answers {format: {url, size, sha256}}; `report_files` gives a list either way.
    files: list[ReportFile] | dict[str, Any]


def report_files(report: Report) -> list[ReportFile]:
    """A report's files as a list of {format, size, url}, whichever shape the server sent."""
    files = report.get("files") or []
    if isinstance(files, dict):
        return [
            ReportFile(format=str(fmt), size=int(f.get("size", 0)), url=str(f.get("url", "")))
            for fmt, f in files.items()
            if isinstance(f, dict)
        ]
    return list(files)


INGEST_FINAL = frozenset({"done", "failed", "partial"})
# The contract does not list report statuses; these are the ones the SDK stops waiting on.
REPORT_FINAL = frozenset({"done", "ready", "failed", "partial"})
