"""The offline spool: an append-only directory of JSONL segments, and `sync` which replays it exactly once.

Layout of one run's spool directory:

    seg-000000.jsonl, seg-000001.jsonl, ...   records, one JSON object per line, in write order
    sync-state.json                           how far `sync` got, against which server (absent until synced)
    .sync.lock                                flock held while a sync runs

Records: {"kind": "create", "body": <POST /api/runs/ body with external_id>}, then any number of
{"kind": "metrics", "key": <Idempotency-Key>, "points": n, "series": <columnar series>}, then at most one
{"kind": "finish", "body": <POST /finish/ body>}.

Durability: each record is one write(2) of a whole line, so a crash of the process loses nothing already
written. The file is fsynced at most every `fsync_interval` seconds (default 1 s), and always after the
create and finish records, on segment rotation and on close, so a machine crash loses at most the last
interval of metrics. A torn last line (no newline, or not JSON) is ignored; a bad line elsewhere is an error.

Exactly once: every metrics record carries the idempotency key it was (or would have been) sent with, so the
server stores a replayed batch once whatever happened before. sync-state.json additionally remembers the
server, the run id and the byte offset of the last record the server acknowledged, so a second sync sends
only what is new (nothing, once the finish record went through) and a sync killed mid-way resumes after the
last acknowledged record (re-sending at most the one in flight, which the server recognises).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import Client
from .errors import APIError, IsoflopError, SpoolError

SEGMENT_BYTES = 64 << 20
STATE_FILE = "sync-state.json"
LOCK_FILE = ".sync.lock"


def _segment_name(index: int) -> str:
    return f"seg-{index:06d}.jsonl"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SpoolWriter:
    """Appends records to a new spool directory. Used from one thread at a time."""

    def __init__(self, directory: Path, *, fsync_interval: float = 1.0, segment_bytes: int = SEGMENT_BYTES):
        self.directory = directory
        self.fsync_interval = fsync_interval
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.glob("seg-*.jsonl")):
            raise SpoolError(f"{directory} already holds a spool; each run writes its own directory")
        self._index = 0
        self._fd = -1
        self._size = 0
        self._last_sync = time.monotonic()
        self._open_segment()
        self.closed = False

    def _open_segment(self) -> None:
        path = self.directory / _segment_name(self._index)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = os.fstat(self._fd).st_size
        _fsync_dir(self.directory)

    def write_create(self, body: dict[str, Any]) -> None:
        self._append({"kind": "create", "body": body}, sync=True)

    def write_metrics(self, key: str, series: dict[str, Any], points: int) -> None:
        self._append({"kind": "metrics", "key": key, "points": points, "series": series}, sync=False)

    def write_finish(self, body: dict[str, Any]) -> None:
        self._append({"kind": "finish", "body": body}, sync=True)

    def _append(self, record: dict[str, Any], *, sync: bool) -> None:
        if self.closed:
            raise SpoolError(f"spool {self.directory} is closed")
        line = json.dumps(record, separators=(",", ":"), allow_nan=False).encode() + b"\n"
        if self._size and self._size + len(line) > self.segment_bytes:
            os.fsync(self._fd)
            os.close(self._fd)
            self._index += 1
            self._open_segment()
        view = memoryview(line)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            # Never leave half a line behind a live writer (disk full): later lines would follow garbage.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(line)
        now = time.monotonic()
        if sync or now - self._last_sync >= self.fsync_interval:
            os.fsync(self._fd)
            self._last_sync = now

    def close(self) -> None:
        if not self.closed:
            os.fsync(self._fd)
            os.close(self._fd)
            self.closed = True


@dataclass
class Record:
    segment: str
    end_offset: int
    data: dict[str, Any]


def read_records(directory: Path, segment: str | None = None, offset: int = 0) -> Iterator[Record]:
    """Records after (segment, offset), in order. Stops quietly at a torn last line."""
    segments = sorted(p.name for p in directory.glob("seg-*.jsonl"))
    if segment is not None:
        segments = [s for s in segments if s >= segment]
    for name in segments:
        start = offset if name == segment else 0
        with open(directory / name, "rb") as fh:
            fh.seek(start)
            pos = start
            for line in fh:
                torn = not line.endswith(b"\n")
                data: Any = None
                if not torn:
                    try:
                        data = json.loads(line)
                    except ValueError:
                        torn = True
                if torn or not isinstance(data, dict) or "kind" not in data:
                    if fh.read(1) == b"" and name == segments[-1]:
                        return  # the tail a crash (or a live writer) left: not a record yet
                    raise SpoolError(f"{directory / name}: corrupt record at byte {pos}")
                pos += len(line)
                yield Record(name, pos, data)


def find_spools(path: Path) -> list[Path]:
    """A spool directory itself, or every spool directory below a folder (e.g. ./isoflop-spool)."""
    if not path.is_dir():
        raise SpoolError(f"{path} is not a directory")
    if any(path.glob("seg-*.jsonl")):
        return [path]
    return sorted({p.parent for p in path.rglob("seg-000000.jsonl")})


@dataclass
class SyncResult:
    directory: Path
    run_id: int | None = None
    run_url: str | None = None
    records_sent: int = 0
    points_sent: int = 0
    duplicate_batches: int = 0
    finished: bool = False
    already_synced: bool = False
    errors: list[str] = field(default_factory=list)


def _load_state(directory: Path) -> dict[str, Any]:
    try:
        state = json.loads((directory / STATE_FILE).read_text())
    except (OSError, ValueError):
        # Missing or torn: start over. Safe, because every batch is keyed; it only costs re-sending.
        return {}
    return state if isinstance(state, dict) else {}


def _save_state(directory: Path, state: dict[str, Any], *, durable: bool = False) -> None:
    tmp = directory / (STATE_FILE + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(state, fh)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, directory / STATE_FILE)


def split_series(series: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two columnar batches with half the points each (for a server whose limit is below ours)."""
    items = list(series.items())
    total = sum(len(col["steps"]) for _, col in items)
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}
    taken = 0
    for name, col in items:
        n = len(col["steps"])
        cut = max(0, min(n, total // 2 - taken))
        taken += cut
        if cut:
            first[name] = {k: v[:cut] for k, v in col.items()}
        if cut < n:
            second[name] = {k: v[cut:] for k, v in col.items()}
    return first, second


def send_batch(
    client: Client, run_id: int, key: str, series: dict[str, Any], **kwargs: Any
) -> tuple[int, bool]:
    """POST a batch; on 413 split it in halves with derived keys (deterministic, so replays match)."""
    try:
        answer = client.log_metrics(run_id, series, idempotency_key=key, **kwargs)
        return int(answer.get("accepted", 0)), bool(answer.get("duplicate", False))
    except APIError as exc:
        points = sum(len(c["steps"]) for c in series.values())
        if exc.status != 413 or points <= 1:
            raise
    accepted, duplicate = 0, True
    for i, half in enumerate(split_series(series)):
        if half:
            n, dup = send_batch(client, run_id, f"{key}/{i}", half, **kwargs)
            accepted += n
            duplicate = duplicate and dup
    return accepted, duplicate


def sync(
    path: str | os.PathLike[str],
    *,
    client: Client | None = None,
    base_url: str | None = None,
    token: str | None = None,
    fail_unfinished: bool = False,
    on_record: Callable[[SyncResult], None] | None = None,
) -> list[SyncResult]:
    """Replay one spool directory, or every spool below a folder, to the server. Safe to run any number of
    times, concurrently with a writer, or after a crash: see this module's docstring."""
    own = client is None
    client = client or Client(base_url, token)
    try:
        return [
            sync_one(d, client, fail_unfinished=fail_unfinished, on_record=on_record)
            for d in find_spools(Path(path))
        ]
    finally:
        if own:
            client.close()


def sync_one(
    directory: Path,
    client: Client,
    *,
    fail_unfinished: bool = False,
    on_record: Callable[[SyncResult], None] | None = None,
    retry_for: float | None = None,
) -> SyncResult:
    result = SyncResult(directory)
    lock_fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise SpoolError(f"{directory}: another sync is running") from exc
        state = _load_state(directory)
        if state.get("url") != client.base_url:
            state = {"url": client.base_url}  # a different server has seen none of it
        result.run_id = state.get("run_id")
        result.run_url = state.get("run_url")
        if state.get("complete"):
            result.already_synced = result.finished = True
            return result
        run_id: int | None = state.get("run_id")
        kw: dict[str, Any] = {} if retry_for is None else {"retry_for": retry_for}
        for record in read_records(directory, state.get("segment"), int(state.get("offset", 0))):
            kind, data = record.data["kind"], record.data
            if kind == "create":
                if run_id is None:
                    run = client.create_run(data["body"], **kw)
                    run_id = int(run["id"])
                    state["run_id"] = result.run_id = run_id
                    state["run_url"] = result.run_url = client.absolute(run.get("url") or f"/runs/{run_id}/")
            elif run_id is None:
                raise SpoolError(f"{directory}: {kind} record before the create record")
            elif kind == "metrics":
                try:
                    accepted, duplicate = send_batch(client, run_id, data["key"], data["series"], **kw)
                except APIError as exc:
                    if exc.transient or exc.status in (401, 403, 404):
                        raise
                    # The server refuses this batch for good (malformed); skip it rather than block the rest.
                    result.errors.append(f"batch {data['key']}: {exc}")
                    accepted, duplicate = 0, False
                result.points_sent += accepted
                result.duplicate_batches += duplicate
            elif kind == "finish":
                body = data["body"]
                client.finish_run(run_id, **body, **kw)
                result.finished = True
            result.records_sent += 1
            state["segment"], state["offset"] = record.segment, record.end_offset
            _save_state(directory, state)
            if on_record is not None:
                on_record(result)
        if not result.finished and fail_unfinished and run_id is not None:
            client.finish_run(run_id, status="failed", summary={"isoflop_sync": "no finish record"}, **kw)
            result.finished = True
        state["complete"] = result.finished
        _save_state(directory, state, durable=True)
        return result
    except IsoflopError as exc:
        result.errors.append(str(exc))
        raise
    finally:
        os.close(lock_fd)
