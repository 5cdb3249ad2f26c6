"""Stored files (uploads, archive members, reports) only through Django's storage API, streamed both ways.

The default storage is the local MEDIA_ROOT in the embedded setup and S3-compatible object storage in
compose (`settings.STORAGES`), so a worker on another host reads what the web server stored. Nothing here
builds a filesystem path: a name is a storage key such as `ingest/<sha256>`.

Object-store errors are mapped onto two kinds: a missing object is FileNotFoundError (an OSError, like a
missing local file: the caller records it), an unreachable or overloaded store is StorageUnavailable,
which the task policy (`core.tasks.TRANSIENT`) retries with backoff.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage

CHUNK = 1 << 20
# An upload is hashed while it is spooled here (memory, then the local temp dir past this size) before it
# goes to the storage under its content hash.
SPOOL_MAX_MEMORY = 8 << 20


class FileTooLarge(ValueError):
    pass


class StorageUnavailable(RuntimeError):
    """The object store did not answer (connection, timeout, 5xx): worth another try later."""


def _mapped_error(exc: Exception, name: str) -> Exception | None:
    try:
        from botocore import exceptions as boto
    except ImportError:  # pragma: no cover - boto3 is a dependency; the local backend never gets here
        return None
    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if error.get("Code") in ("NoSuchKey", "404", "NotFound") or status == 404:
            return FileNotFoundError(f"no stored file {name!r}")
        if status >= 500 or error.get("Code") in ("SlowDown", "RequestTimeout", "ServiceUnavailable"):
            return StorageUnavailable(f"object store failed on {name!r}: {exc}")
        return None
    if isinstance(exc, boto.ConnectionError | boto.ReadTimeoutError | boto.ConnectTimeoutError):
        return StorageUnavailable(f"object store unreachable for {name!r}: {exc}")
    return None


@contextmanager
def _storage_errors(name: str) -> Iterator[None]:
    try:
        yield
    except (OSError, FileTooLarge, StorageUnavailable):
        raise
    except Exception as exc:
        mapped = _mapped_error(exc, name)
        if mapped is None:
            raise
        raise mapped from exc


def _storage(storage: Storage | None) -> Storage:
    return default_storage if storage is None else storage


def file_save_by_hash(
    chunks: Iterable[bytes], *, prefix: str, max_bytes: int, storage: Storage | None = None
) -> tuple[str, str, int]:
    """Store a stream under `<prefix>/<sha256>`, hashing as it passes; refuse past max_bytes.

    Returns (storage name, sha256, size). The same content is stored once: a name that exists is reused.
    """
    target = _storage(storage)
    digest = hashlib.sha256()
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_MEMORY) as spool:
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise FileTooLarge(f"file is larger than the {max_bytes} byte limit")
            digest.update(chunk)
            spool.write(chunk)
        sha = digest.hexdigest()
        name = f"{prefix}/{sha}"
        with _storage_errors(name):
            if not target.exists(name):
                spool.seek(0)
                # A concurrent upload of the same bytes may win the race; the local backend then picks
                # another free name for ours, and the name it returns is the one we keep.
                name = target.save(name, File(spool, name=name))
    return name, sha, size


def file_save(name: str, content: bytes, *, storage: Storage | None = None) -> str:
    """Store bytes under exactly this name, replacing what was there; returns the name."""
    target = _storage(storage)
    with _storage_errors(name):
        target.delete(name)  # the local backend would otherwise pick a new name next to the old file
        return target.save(name, ContentFile(content, name=name))


def file_delete(names: Iterable[str], *, storage: Storage | None = None) -> None:
    """Remove stored files; a name that is not there is no error."""
    target = _storage(storage)
    for name in names:
        with _storage_errors(name):
            target.delete(name)


def _s3_object(target: Storage, name: str) -> Any | None:
    """The boto3 Object behind a name when the storage is django-storages' S3 backend, else None."""
    bucket = getattr(target, "bucket", None)
    normalize = getattr(target, "_normalize_name", None)
    if bucket is None or normalize is None:
        return None
    from storages.utils import clean_name

    return bucket.Object(normalize(clean_name(name)))


def file_chunks(name: str, *, chunk_size: int = CHUNK, storage: Storage | None = None) -> Iterator[bytes]:
    """The stored bytes in pieces of at most chunk_size, read as they are sent.

    On S3 the object's body is streamed from the GET response (django-storages' File would first copy the
    whole object into a temporary file); elsewhere the storage's own File is read chunk by chunk.
    """
    target = _storage(storage)
    with _storage_errors(name):
        obj = _s3_object(target, name)
        if obj is not None:
            body = obj.get()["Body"]
            try:
                yield from body.iter_chunks(chunk_size)
            finally:
                body.close()
            return
        with target.open(name, "rb") as handle:
            yield from handle.chunks(chunk_size)


def file_read(name: str, *, storage: Storage | None = None) -> bytes:
    return b"".join(file_chunks(name, storage=storage))


def file_exists(name: str, *, storage: Storage | None = None) -> bool:
    with _storage_errors(name):
        return bool(name) and _storage(storage).exists(name)
