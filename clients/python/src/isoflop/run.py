"""`init` / `Run.log` / `Run.finish`: non-blocking metric logging with batching, retries and a spool.

How a point travels. `log()` appends `(step, wall_time, dict(metrics))` to an in-memory deque and returns; it
takes no lock and does no I/O. One background thread per run drains the deque into columnar batches (at most
`batch_points` points or about `batch_bytes` bytes, or whatever is there after `flush_interval` seconds),
gives each batch a stable Idempotency-Key (`<run key>-<sequence>`) and POSTs it, retrying connection errors,
5xx, 408 and 429 with exponential backoff and jitter (never sooner than Retry-After) under the same key, so
the server stores every batch once however often it is sent.

Memory is bounded. When `max_buffer_points` points are waiting, `log()` blocks (backpressure) until the sender
makes room. If it has waited `block_timeout` seconds, or the server has been failing for `offline_after`
seconds, or refuses our credentials, the sender stops talking to the server for the rest of the run and
writes every remaining batch, keys included, to the offline spool on local disk (see `isoflop.spool`), which
drains memory at disk speed; it never grows memory instead. `finish()` then tries once to sync the spool, and
otherwise says which `isoflop sync DIR` command sends it later. Offline mode writes the spool from the start.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import math
import os
import re
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ._config import require_online, resolve
from ._rank import process_rank
from ._retry import Backoff
from .client import MAX_POINTS_PER_REQUEST, Client
from .errors import APIError, IsoflopError, SpoolError, is_transient
from .spool import SpoolWriter, send_batch, sync_one

logger = logging.getLogger("isoflop")

_now = time.time
_monotonic = time.monotonic

_Entry = tuple[int, float, dict[str, Any]]


@dataclass(frozen=True)
class Options:
    """Tuning knobs for a run's background sender. The defaults suit a training loop."""

    batch_points: int = 50_000  # points per request (the server allows up to 100,000)
    batch_bytes: int = 4_000_000  # estimated JSON bytes per request
    flush_interval: float = 1.0  # seconds a point may wait for a fuller batch
    max_buffer_points: int = 250_000  # points held in memory before log() blocks (~100 bytes each)
    block_timeout: float | None = 10.0  # seconds log() blocks before the run spills to disk (None: forever)
    offline_after: float = 60.0  # seconds of consecutive failures before the run spills to disk
    init_timeout: float = 30.0  # seconds init() retries creating the run before starting on the spool
    finish_timeout: float = 120.0  # seconds finish() waits for the sender before spilling the rest
    request_timeout: float = 30.0  # per HTTP request
    retry_base: float = 0.5  # first backoff step, seconds (doubles each retry, with jitter)
    retry_cap: float = 30.0  # longest backoff step, seconds
    fsync_interval: float = 1.0  # spool: fsync at most this often (create/finish/close always fsync)
    sync_on_finish: bool = True  # online runs that spilled try to sync their spool in finish()


class Run:
    """A run being logged. Create it with `isoflop.init`; use it from the training loop."""

    id: int | None
    url: str | None
    spool_dir: Path | None

    def __init__(
        self,
        *,
        body: dict[str, Any],
        client: Client | None,
        own_client: bool,
        spool_root: Path,
        options: Options,
    ) -> None:
        self.team: str = body["team"]
        self.name: str = body["name"]
        self.external_id: str = body["external_id"]
        self.mode = "online" if client is not None else "offline"
        self.status = "running"
        self.id = None
        self.url = None
        self.spool_dir = None
        self.options = options
        self._body = body
        self._client = client
        self._own_client = own_client
        self._spool_root = spool_root
        self._spool: SpoolWriter | None = None
        self._backoff = Backoff(options.retry_base, options.retry_cap)
        self._key_prefix = _key_prefix(self.external_id)
        self._seq = 0
        # The hot path's state: written by log() (_buffer appends, _in, _next_step) or by the sender
        # (_buffer pops, _out); a single int read/write is atomic under the GIL.
        self._buffer: deque[_Entry] = deque()
        self._in = 0
        self._out = 0
        self._next_step = 0
        self._wake_at = options.batch_points
        self._wake = threading.Event()
        self._interrupt = threading.Event()  # cuts a backoff sleep short when the run must spill
        self._spill_reason: str | None = None
        self._closing = False
        self._closed = False
        self._forked = False
        self._bad_keys: set[str] = set()
        self._stats = {"points_sent": 0, "points_spooled": 0, "points_dropped": 0, "batches": 0, "retries": 0}
        self._thread = threading.Thread(target=self._sender, name=f"isoflop-sender-{self.name}", daemon=True)

    # -- caller's thread ----------------------------------------------------------------------------------

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Queue numeric metrics for `step` (default: the previous step + 1) and return at once.

        Values are converted with float() in the background; NaN and inf are sent as null. Blocks only when
        `max_buffer_points` points are waiting (see the module docstring)."""
        if self._closed:
            if self._forked:
                return  # a forked child (e.g. a data loader worker) has no sender: its logs are dropped
            raise IsoflopError(f"run {self.name!r} is finished; log() after finish() is not recorded")
        if step is None:
            step = self._next_step
        self._next_step = step + 1
        self._buffer.append((step, _now(), dict(metrics)))
        self._in += len(metrics)
        if self._in - self._out >= self._wake_at:
            self._buffer_full()

    def _buffer_full(self) -> None:
        if not self._wake.is_set():
            self._wake.set()
        limit = self.options.max_buffer_points
        if self._in - self._out < limit:
            return
        timeout = self.options.block_timeout
        deadline = None if timeout is None else _monotonic() + timeout
        while self._in - self._out >= limit:
            if not self._thread.is_alive():
                raise IsoflopError("the isoflop sender thread stopped; see the log for its error")
            if deadline is not None and _monotonic() >= deadline and self._spill_reason is None:
                self._spill(f"log() waited {timeout:g} s for room in the buffer")
            time.sleep(0.001)

    def finish(
        self,
        final_loss: float | None = None,
        status: str = "finished",
        summary: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Send what is buffered, then mark the run finished or failed. Waits up to `timeout` seconds
        (default `Options.finish_timeout`) for the server; what is still unsent then goes to the spool."""
        if status not in ("finished", "failed"):
            raise ValueError(f"status must be 'finished' or 'failed', not {status!r}")
        if self._closed:
            return
        self._closed = True
        _live_runs.discard(self)
        timeout = self.options.finish_timeout if timeout is None else timeout
        deadline = _monotonic() + timeout
        self._closing = True
        self._wake.set()
        self._thread.join(max(0.0, deadline - _monotonic()))
        if self._thread.is_alive():
            self._spill(f"finish() waited {timeout:g} s with {self._in - self._out} points unsent")
            self._thread.join(self.options.request_timeout + 5)
        if self._thread.is_alive():
            logger.error("isoflop: the sender did not stop; %d points may be lost", self._in - self._out)
        elif self._buffer:
            # The sender died on a bug: keep the data anyway.
            self._spill("the sender stopped early")
            while batch := self._take(force=True):
                self._deliver(*batch)
        body = {"status": status, "final_loss": _finite(final_loss), "summary": _jsonable(summary or {})}
        if self._spool is None and self._client is not None and self.id is not None:
            try:
                out = self._client.finish_run(self.id, **body, retry_for=max(1.0, deadline - _monotonic()))
                self.status = str(out.get("status", status))
            except IsoflopError as exc:
                self._spill(f"finishing the run failed ({exc})")
                self._open_spool()
        if self._spool is not None:
            self._spool.write_finish(body)
            self._spool.close()
            self._sync_spool_at_finish(deadline)
        if self._client is not None and self._own_client:
            self._client.close()

    def _sync_spool_at_finish(self, deadline: float) -> None:
        assert self.spool_dir is not None
        if self._client is None or not self.options.sync_on_finish:
            print(
                f"isoflop: run {self.name!r} saved offline in {self.spool_dir}; "
                f"send it with: isoflop sync {self.spool_dir}",
                file=sys.stderr,
            )
            return
        try:
            result = sync_one(
                self.spool_dir, self._client, retry_for=max(1.0, min(10.0, deadline - _monotonic()))
            )
        except IsoflopError as exc:
            logger.warning(
                "isoflop: run %r is kept in %s (%s); send it with: isoflop sync %s",
                self.name,
                self.spool_dir,
                exc,
                self.spool_dir,
            )
            return
        self.id, self.url, self.status = result.run_id, result.run_url, "synced"
        logger.info("isoflop: synced the spool %s to %s", self.spool_dir, self.url)

    def stats(self) -> dict[str, int]:
        """Counters: points logged, sent, spooled, dropped (refused), still buffered; batches; retries."""
        return {"points_logged": self._in, "points_buffered": self._in - self._out, **self._stats}

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish(status="failed" if exc_type is not None else "finished")

    def __repr__(self) -> str:
        return f"<isoflop.Run {self.name!r} id={self.id} mode={self.mode} url={self.url}>"

    # -- background sender --------------------------------------------------------------------------------

    def _attach(self, out: Mapping[str, Any]) -> None:
        assert self._client is not None
        self.id = int(out["id"])
        self.url = self._client.absolute(str(out.get("url") or f"/runs/{self.id}/"))
        self.status = str(out.get("status", "running"))

    def _start(self) -> None:
        self._thread.start()

    def _spill(self, reason: str) -> None:
        """From now on, write batches to the spool instead of the server (any thread)."""
        if self._spill_reason is None:
            self._spill_reason = reason
        self._interrupt.set()
        self._wake.set()

    def _open_spool(self) -> SpoolWriter:
        if self._spool is None:
            stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(self.name)}-{self._key_prefix[:8]}"
            for n in range(1000):
                directory = self._spool_root / (stem if n == 0 else f"{stem}-{n}")
                try:
                    spool = SpoolWriter(directory, fsync_interval=self.options.fsync_interval)
                    break
                except SpoolError:
                    continue
            else:
                raise SpoolError(f"no free spool directory for {stem} under {self._spool_root}")
            spool.write_create(self._body)
            self._spool, self.spool_dir = spool, directory
            if self._client is not None:
                logger.warning(
                    "isoflop: %s; run %r continues in the spool %s", self._spill_reason, self.name, directory
                )
        return self._spool

    def _sender(self) -> None:
        try:
            last = _monotonic()
            interval = self.options.flush_interval
            while True:
                self._wake.wait(interval)
                self._wake.clear()
                closing = self._closing
                while batch := self._take(force=closing or _monotonic() - last >= interval):
                    self._deliver(*batch)
                    last = _monotonic()
                if closing and not self._buffer:
                    return
        except BaseException:
            logger.exception("isoflop: the sender thread of run %r failed", self.name)

    def _take(self, force: bool) -> tuple[str, dict[str, Any], int] | None:
        """Pop up to one batch from the buffer as columnar series (or None if not worth sending yet)."""
        buffer = self._buffer
        if not buffer or (not force and self._in - self._out < self.options.batch_points):
            return None
        max_points = min(self.options.batch_points, MAX_POINTS_PER_REQUEST)
        max_bytes = self.options.batch_bytes
        columns: dict[Any, tuple[list[int], list[float | None], list[float]]] = {}
        popped = points = size = 0
        isfinite = math.isfinite
        while buffer and popped < max_points and size < max_bytes:
            step, wall, metrics = buffer.popleft()
            step = int(step)
            popped += len(metrics)
            for name, value in metrics.items():
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    self._bad_value(name, value)
                    continue
                col = columns.get(name)
                if col is None:
                    col = columns[name] = ([], [], [])
                    size += len(str(name)) + 40
                col[0].append(step)
                col[1].append(number if isfinite(number) else None)
                col[2].append(wall)
                points += 1
            size += 48 * len(metrics)
        self._out += popped
        if not columns:
            return None if not buffer else self._take(force)
        series = {str(n): {"steps": c[0], "values": c[1], "wall_times": c[2]} for n, c in columns.items()}
        key = f"{self._key_prefix}-{self._seq}"
        self._seq += 1
        return key, series, points

    def _bad_value(self, name: Any, value: Any) -> None:
        if str(name) not in self._bad_keys:
            self._bad_keys.add(str(name))
            logger.warning(
                "isoflop: metric %r has a non-numeric value %r; such values are skipped", name, value
            )
        self._stats["points_dropped"] += 1

    def _deliver(self, key: str, series: dict[str, Any], points: int) -> None:
        first_failure: float | None = None
        attempt = 0
        while True:
            if self._spill_reason is not None or self._client is None or self.id is None:
                self._open_spool().write_metrics(key, series, points)
                self._stats["points_spooled"] += points
                return
            try:
                send_batch(self._client, self.id, key, series, retry=False)
            except IsoflopError as exc:
                if not is_transient(exc):
                    if isinstance(exc, APIError) and exc.status in (400, 422):
                        # Malformed for this server: retrying or spooling cannot help; say so, keep going.
                        logger.error("isoflop: the server refused batch %s (%d points): %s", key, points, exc)
                        self._stats["points_dropped"] += points
                        return
                    self._spill(f"the server refused a batch ({exc})")
                    continue
                now = _monotonic()
                first_failure = first_failure or now
                if now - first_failure >= self.options.offline_after:
                    self._spill(f"the server has failed for {now - first_failure:.0f} s ({exc})")
                    continue
                self._stats["retries"] += 1
                self._interrupt.wait(self._backoff.delay(attempt, exc.retry_after))
                attempt += 1
                continue
            self._stats["points_sent"] += points
            self._stats["batches"] += 1
            return


class _NoOpRun(Run):
    """What non-zero ranks (and mode="disabled") get: the same interface, doing nothing."""

    def __init__(self, *, team: str, name: str, external_id: str, reason: str) -> None:
        self.team, self.name, self.external_id = team, name, external_id
        self.mode = "disabled"
        self.status = reason
        self.id = self.url = self.spool_dir = None
        self.options = Options()

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        return None

    def finish(
        self,
        final_loss: float | None = None,
        status: str = "finished",
        summary: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        return None

    def stats(self) -> dict[str, int]:
        return {}

    def __repr__(self) -> str:
        return f"<isoflop.Run {self.name!r} disabled: {self.status}>"


def init(
    team: str,
    name: str,
    config: Mapping[str, Any] | None = None,
    parameters: float | None = None,
    tokens: float | None = None,
    *,
    base_url: str | None = None,
    token: str | None = None,
    mode: str | None = None,
    external_id: str | None = None,
    tags: Sequence[str] | None = None,
    unique_tokens: float | None = None,
    hardware: str | None = None,
    gpu_count: int | None = None,
    precision: str | None = None,
    model: str | None = None,
    notes: str = "",
    spool_dir: str | os.PathLike[str] | None = None,
    rank_zero_only: bool = True,
    options: Options | None = None,
    client: Client | None = None,
) -> Run:
    """Start a run and return it. See the README for the settings' sources and the modes.

    mode: "online" (server, falling back to the spool), "offline" (spool only), "disabled" (no-op); default
    from ISOFLOP_MODE, else online if a URL and token are configured, else offline.
    spool_dir: where spools go (default ISOFLOP_SPOOL_DIR, else ./isoflop-spool); one subdirectory per run.
    rank_zero_only: under torchrun/SLURM/MPI, processes whose rank is not 0 get a run that does nothing.
    """
    external_id = external_id or uuid.uuid4().hex
    if rank_zero_only and (rank := process_rank()) != 0:
        return _NoOpRun(team=team, name=name, external_id=external_id, reason=f"rank {rank}: not logged")
    settings = resolve(base_url, token, mode)
    if settings.mode == "disabled":
        return _NoOpRun(team=team, name=name, external_id=external_id, reason="disabled")
    options = options or Options()
    body: dict[str, Any] = {
        "team": team,
        "name": name,
        "external_id": external_id,
        "config": _jsonable(dict(config or {})),
        "parameters": _finite(parameters),
        "tokens": _finite(tokens),
        "unique_tokens": _finite(unique_tokens),
        "hardware": hardware,
        "gpu_count": gpu_count,
        "precision": precision,
        "model": model,
        "tags": [str(t) for t in tags or ()],
        "notes": notes,
    }
    root = Path(spool_dir or os.environ.get("ISOFLOP_SPOOL_DIR") or "isoflop-spool")
    own_client = False
    if settings.mode == "online" and client is None:
        url, secret = require_online(settings)
        backoff = Backoff(options.retry_base, options.retry_cap)
        client = Client(url, secret, timeout=options.request_timeout, backoff=backoff)
        own_client = True
    run = Run(
        body=body,
        client=client if settings.mode == "online" else None,
        own_client=own_client,
        spool_root=root,
        options=options,
    )
    if client is not None and settings.mode == "online":
        try:
            run._attach(client.create_run(body, retry_for=options.init_timeout))
        except IsoflopError as exc:
            if not is_transient(exc):
                if own_client:
                    client.close()
                raise
            run._spill(f"could not create the run ({exc})")
            run._open_spool()
    else:
        run._open_spool()
    _install_hooks()
    _live_runs.add(run)
    run._start()
    return run


# -- helpers ------------------------------------------------------------------------------------------------

_live_runs: set[Run] = set()
_hooks_installed = False
_crashed = False


def _install_hooks() -> None:
    """Finish forgotten runs at exit: "failed" after an uncaught exception, else "finished"."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        global _crashed
        _crashed = True
        previous(kind, value, tb)

    sys.excepthook = hook
    atexit.register(_finish_all)


def _forget_runs_in_child() -> None:
    # The sender thread does not survive fork(); the parent still owns the run and its spool.
    for run in _live_runs:
        run._closed = run._forked = True
    _live_runs.clear()


os.register_at_fork(after_in_child=_forget_runs_in_child)


def _finish_all() -> None:
    for run in list(_live_runs):
        with contextlib.suppress(Exception):
            run.finish(status="failed" if _crashed else "finished")


def _key_prefix(external_id: str) -> str:
    # Keys must stay under 200 characters and be safe in a header.
    if len(external_id) <= 64 and re.fullmatch(r"[A-Za-z0-9._:-]+", external_id):
        return external_id
    return hashlib.sha256(external_id.encode()).hexdigest()[:32]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:40] or "run"


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _jsonable(value: Any) -> Any:
    """Config and summaries as strict JSON: NaN/inf become null, numpy scalars numbers, the rest strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        with contextlib.suppress(Exception):
            return _jsonable(item())
    return str(value)
