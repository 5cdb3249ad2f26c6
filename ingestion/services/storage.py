"""Uploaded bytes on disk: stored by content hash, never under the client's name."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings

from ingestion.models import IngestFile

CHUNK = 1 << 20


class UploadTooLarge(ValueError):
    pass


def _ingest_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "ingest"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_stream(chunks: Iterable[bytes], *, max_bytes: int) -> tuple[str, str, int]:
    """Write chunks to MEDIA_ROOT/ingest/<sha256>, hashing as they pass; refuse past max_bytes.

    Returns (relative path, sha256, size). The client's file name never becomes a path.
    """
    directory = _ingest_dir()
    tmp = directory / f".part-{uuid.uuid4().hex}"
    digest = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(f"file is larger than the {max_bytes} byte limit")
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        os.replace(tmp, directory / sha)
    finally:
        tmp.unlink(missing_ok=True)
    return f"ingest/{sha}", sha, size


def read_stored(file: IngestFile) -> bytes:
    return (Path(settings.MEDIA_ROOT) / file.stored_path).read_bytes()


def file_error(file: str, line: int | None, reason: str) -> dict[str, Any]:
    return {"file": file, "line": line, "reason": reason}
