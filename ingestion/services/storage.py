"""Uploaded bytes in the default storage (local MEDIA_ROOT or S3-compatible): by content hash, never under
the client's name, written and read only through Django's storage API (`core.files`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.files import CHUNK, FileTooLarge, file_read, file_save_by_hash
from ingestion.models import IngestFile

__all__ = ["CHUNK", "UploadTooLarge", "file_error", "read_stored", "store_stream"]

UploadTooLarge = FileTooLarge


def store_stream(chunks: Iterable[bytes], *, max_bytes: int) -> tuple[str, str, int]:
    """Store chunks as `ingest/<sha256>`, hashing as they pass; refuse past max_bytes.

    Returns (storage name, sha256, size). The client's file name never becomes a name in the storage.
    """
    return file_save_by_hash(chunks, prefix="ingest", max_bytes=max_bytes)


def read_stored(file: IngestFile) -> bytes:
    return file_read(file.stored_path)


def file_error(file: str, line: int | None, reason: str) -> dict[str, Any]:
    return {"file": file, "line": line, "reason": reason}
