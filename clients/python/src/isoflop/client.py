"""A thin, typed client for the Isoflop HTTP API (`/api/...`), with retries for transient failures."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, BinaryIO, cast
from urllib.parse import quote, urljoin

import httpx

from . import __version__
from ._config import require_online, resolve
from ._retry import Backoff, parse_retry_after
from .errors import APIError, IsoflopError, TransportError, is_transient
from .types import (
    INGEST_FINAL,
    REPORT_FINAL,
    IngestJob,
    Me,
    MetricsAccepted,
    Report,
    RunOut,
)

# The contract's ceiling for one metrics request; above it the server answers 413.
MAX_POINTS_PER_REQUEST = 100_000


class Client:
    """One connection pool to one server. Thread-safe; reuse it.

    Every method retries connection errors, 5xx, 408 and 429 (honouring Retry-After) with backoff for up to
    `retry_for` seconds, except where a call says otherwise. All endpoints used here are idempotent: runs by
    (team, external_id), metrics by Idempotency-Key, uploads by content hash on the server.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retry_for: float = 60.0,
        backoff: Backoff | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url, token = require_online(resolve(base_url, token, "online"))
        self.retry_for = retry_for
        self.backoff = backoff or Backoff()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": f"isoflop-sdk/{__version__}"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def absolute(self, url: str) -> str:
        return urljoin(self.base_url + "/", url)

    # -- transport ----------------------------------------------------------------------------------------

    def _send(self, method: str, path: str, stream: bool = False, **kwargs: Any) -> httpx.Response:
        """One attempt. Returns a 2xx response or raises APIError / TransportError."""
        try:
            request = self._http.build_request(method, path, **kwargs)
            response = self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise TransportError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return response
        if stream:
            response.read()
            response.close()
        raise _api_error(response)

    def request(
        self,
        method: str,
        path: str,
        *,
        retry: bool = True,
        retry_for: float | None = None,
        stream: bool = False,
        before_retry: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        deadline = time.monotonic() + (self.retry_for if retry_for is None else retry_for)
        attempt = 0
        while True:
            try:
                return self._send(method, path, stream=stream, **kwargs)
            except (APIError, TransportError) as exc:
                if not retry or not is_transient(exc):
                    raise
                wait = self.backoff.delay(attempt, exc.retry_after)
                if time.monotonic() + wait > deadline:
                    raise
                time.sleep(wait)
                attempt += 1
                if before_retry is not None:
                    before_retry()

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise IsoflopError(f"{method} {path}: the server did not answer JSON") from exc

    # -- endpoints ----------------------------------------------------------------------------------------

    def me(self) -> Me:
        return cast(Me, self._json("GET", "/api/me/"))

    def create_run(self, body: Mapping[str, Any], *, retry_for: float | None = None) -> RunOut:
        """Idempotent on (team, external_id): creating twice returns the existing run."""
        return cast(RunOut, self._json("POST", "/api/runs/", json=dict(body), retry_for=retry_for))

    def log_metrics(
        self,
        run_id: int,
        series: Mapping[str, Any],
        *,
        idempotency_key: str,
        retry: bool = True,
        retry_for: float | None = None,
    ) -> MetricsAccepted:
        """POST one columnar batch. The same key twice stores the points once (the answer says duplicate)."""
        content = encode_series(series)
        return cast(
            MetricsAccepted,
            self._json(
                "POST",
                f"/api/runs/{run_id}/metrics/",
                content=content,
                headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
                retry=retry,
                retry_for=retry_for,
            ),
        )

    def finish_run(
        self,
        run_id: int,
        *,
        status: str = "finished",
        final_loss: float | None = None,
        summary: Mapping[str, Any] | None = None,
        retry_for: float | None = None,
    ) -> RunOut:
        body = {"status": status, "final_loss": final_loss, "summary": dict(summary or {})}
        return cast(RunOut, self._json("POST", f"/api/runs/{run_id}/finish/", json=body, retry_for=retry_for))

    def get_run(self, run_id: int) -> RunOut:
        return cast(RunOut, self._json("GET", f"/api/runs/{run_id}/"))

    def list_runs(
        self,
        *,
        team: str | None = None,
        q: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
        page_size: int = 100,
    ) -> Iterator[RunOut]:
        """All matching runs (up to `limit`), following the server's cursors."""
        params: dict[str, str] = {
            k: v for k, v in {"team": team, "q": q, "status": status, "tag": tag}.items() if v
        }
        yielded = 0
        cursor: str | None = None
        while True:
            want = page_size if limit is None else min(page_size, limit - yielded)
            if want <= 0:
                return
            page = self._json("GET", "/api/runs/", params={**params, "limit": str(want)} | _cursor(cursor))
            for item in page.get("items", []):
                yield cast(RunOut, item)
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def export_series(self, run_id: int, name: str, dest: str | os.PathLike[str] | BinaryIO) -> int:
        """Stream a series as CSV (`step,value,wall_time`) to a path ("-" for stdout) or a binary file."""
        return self._download(f"/api/runs/{run_id}/series/{quote(name, safe='')}/csv", dest)

    def upload_files(
        self,
        files: Sequence[tuple[str, IO[bytes]]],
        *,
        team: str,
        before_retry: Callable[[], None] | None = None,
    ) -> IngestJob:
        """One multipart request with every file; returns the ingest job (201)."""
        parts = [("files", (name, fh, "application/octet-stream")) for name, fh in files]
        job = self._json("POST", "/api/ingest/", data={"team": team}, files=parts, before_retry=before_retry)
        return cast(IngestJob, job)

    def ingest_job(self, job_id: int) -> IngestJob:
        return cast(IngestJob, self._json("GET", f"/api/ingest/jobs/{job_id}/"))

    def wait_ingest_job(
        self,
        job_id: int,
        *,
        timeout: float | None = None,
        poll: float = 1.0,
        on_update: Callable[[IngestJob], None] | None = None,
    ) -> IngestJob:
        """Poll until the job is done, failed or partial. Raises IsoflopError on timeout."""
        return cast(
            IngestJob,
            self._wait(lambda: self.ingest_job(job_id), INGEST_FINAL, timeout, poll, on_update),  # type: ignore[arg-type]
        )

    def request_report(
        self,
        *,
        team: str,
        scope: str,
        params: Mapping[str, Any] | None = None,
        formats: Sequence[str] = ("pdf",),
    ) -> Report:
        body = {"team": team, "scope": scope, "params": dict(params or {}), "formats": list(formats)}
        return cast(Report, self._json("POST", "/api/reports/", json=body))

    def get_report(self, report_id: int) -> Report:
        return cast(Report, self._json("GET", f"/api/reports/{report_id}/"))

    def wait_report(
        self,
        report_id: int,
        *,
        timeout: float | None = None,
        poll: float = 1.0,
        on_update: Callable[[Report], None] | None = None,
    ) -> Report:
        return cast(
            Report,
            self._wait(lambda: self.get_report(report_id), REPORT_FINAL, timeout, poll, on_update),  # type: ignore[arg-type]
        )

    def download_report(self, report_id: int, fmt: str, dest: str | os.PathLike[str] | BinaryIO) -> int:
        return self._download(f"/api/reports/{report_id}/files/{quote(fmt, safe='')}", dest)

    # -- helpers ------------------------------------------------------------------------------------------

    def _wait(
        self,
        fetch: Callable[[], Mapping[str, Any]],
        final: frozenset[str],
        timeout: float | None,
        poll: float,
        on_update: Callable[[Mapping[str, Any]], None] | None,
    ) -> Mapping[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = min(poll, 0.25)
        while True:
            state = fetch()
            if on_update is not None:
                on_update(state)
            if state.get("status") in final:
                return state
            if deadline is not None and time.monotonic() + delay > deadline:
                raise IsoflopError(f"still {state.get('status')!r} after {timeout:g} s")
            time.sleep(delay)
            delay = min(poll * 5, delay * 1.5 if delay >= poll else poll)

    def _download(self, path: str, dest: str | os.PathLike[str] | BinaryIO) -> int:
        """Stream a body to dest. A path is written via a temp file so a failed download leaves nothing."""
        response = self.request("GET", path, stream=True)
        try:
            if isinstance(dest, str | os.PathLike):
                if os.fspath(dest) == "-":
                    return _copy(response, sys.stdout.buffer)
                target = Path(dest)
                fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
                try:
                    with os.fdopen(fd, "wb") as fh:
                        n = _copy(response, fh)
                    os.replace(tmp, target)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
                return n
            return _copy(response, dest)
        finally:
            response.close()


def _copy(response: httpx.Response, fh: BinaryIO) -> int:
    n = 0
    try:
        for chunk in response.iter_bytes(1 << 16):
            fh.write(chunk)
            n += len(chunk)
    except httpx.TransportError as exc:
        raise TransportError(f"download interrupted after {n} bytes: {exc}") from exc
    return n


def encode_series(series: Mapping[str, Any]) -> bytes:
    """The metrics body as compact JSON, one column at a time.

    Same bytes as one json.dumps, but the encoder (C code holding the GIL) runs per list, so the training
    thread waits at most for one list's encoding (~ms), not for a whole 10,000-point batch."""
    dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
    parts = []
    for name, col in series.items():
        fields = ",".join(f"{dumps(field)}:{dumps(values)}" for field, values in col.items())
        parts.append(f"{dumps(name)}:{{{fields}}}")
    return ('{"series":{' + ",".join(parts) + "}}").encode()


def _cursor(cursor: str | None) -> dict[str, str]:
    return {"cursor": cursor} if cursor else {}


def _api_error(response: httpx.Response) -> APIError:
    message, code, detail = response.reason_phrase or "error", "", None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = str(body.get("error") or message)
        code = str(body.get("code") or "")
        detail = body.get("detail")
    elif response.text:
        message = response.text[:200]
    return APIError(
        response.status_code,
        message,
        code=code,
        detail=detail,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )
