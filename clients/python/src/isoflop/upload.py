"""`isoflop.upload`: send files, folders (recursively) and archives to the ingestion endpoint."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, cast

from .client import Client
from .types import IngestJob


def collect_files(paths: Iterable[str | os.PathLike[str]]) -> list[tuple[str, Path]]:
    """(name sent to the server, local path) for each file; folders recursively, hidden entries skipped.

    A folder's files keep their path from the folder on, folder name included ("cards/llama/README.md"),
    since the server may use it (a model card's name can come from its folder)."""
    out: list[tuple[str, Path]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if child.is_file() and not any(part.startswith(".") for part in rel.parts):
                    out.append(((Path(path.resolve().name) / rel).as_posix(), child))
        elif path.is_file():
            out.append((path.name, path))
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    if not out:
        raise FileNotFoundError("nothing to upload: the folders are empty")
    return out


class _LazyFile:
    """A file httpx can size (seek/tell) without opening, opened only while it is being sent: a folder of
    thousands of files needs one descriptor at a time. Reports bytes read to a shared counter."""

    def __init__(self, path: Path, counter: Callable[[int], None]) -> None:
        self.path = path
        self.size = path.stat().st_size
        self._counter = counter
        self._fh: IO[bytes] | None = None
        self._pos = 0

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:
            self._pos = self.size + offset
        elif whence == os.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = offset
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        return self._pos

    def read(self, n: int = -1) -> bytes:
        if self._fh is None:
            self._fh = open(self.path, "rb")  # noqa: SIM115 - closed at EOF or on seek
            self._fh.seek(self._pos)
        chunk = self._fh.read(n)
        self._pos += len(chunk)
        self._counter(len(chunk))
        if not chunk:
            self._fh.close()
            self._fh = None
        return chunk


def upload(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    team: str,
    wait: bool = False,
    timeout: float | None = None,
    client: Client | None = None,
    base_url: str | None = None,
    token: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_update: Callable[[IngestJob], None] | None = None,
) -> IngestJob:
    """Upload files, folders and archives (.zip/.tar.gz, unpacked by the server) as one ingest job.

    Returns the job as created (`{"job", "status", "progress_url"}`), or with `wait=True` its final state
    (`status` done / partial / failed, per-file `errors`). on_progress(bytes_sent, bytes_total) follows the
    upload; on_update(job) each poll while waiting. The server deduplicates by content, so uploading the
    same file twice (or a retried upload) changes nothing."""
    items = collect_files([paths] if isinstance(paths, str | os.PathLike) else paths)
    own = client is None
    client = client or Client(base_url, token, timeout=300.0)
    try:
        sent = 0

        def count(n: int) -> None:
            nonlocal sent
            sent += n
            if on_progress is not None:
                on_progress(sent, total)

        def restart() -> None:
            nonlocal sent
            sent = 0

        files = [(name, _LazyFile(path, count)) for name, path in items]
        total = sum(f.size for _, f in files)
        job = client.upload_files(
            [(name, cast(IO[bytes], f)) for name, f in files], team=team, before_retry=restart
        )
        if not wait:
            return job
        job_id = _job_id(job)
        final = client.wait_ingest_job(job_id, timeout=timeout, on_update=on_update)
        return final
    finally:
        if own:
            client.close()


def _job_id(job: Any) -> int:
    return int(job.get("job") or job.get("id"))
