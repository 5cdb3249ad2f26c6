"""Stored files through the storage API, on the local backend and on a real S3-compatible server (moto)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from core.files import (
    FileTooLarge,
    StorageUnavailable,
    file_chunks,
    file_delete,
    file_exists,
    file_read,
    file_save,
    file_save_by_hash,
)
from tests.support.workers import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["local", "s3"])
def backend(request, settings, tmp_path):
    if request.param == "s3":
        return request.getfixturevalue("s3_storage")
    settings.MEDIA_ROOT = tmp_path / "media"
    return None


def test_save_by_hash_stores_once_and_reads_back(backend):
    data = os.urandom(3 << 20)  # 3 MiB: several chunks, and past the in-memory spool on the way in
    sha = hashlib.sha256(data).hexdigest()
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    assert file_save_by_hash(chunks, prefix="ingest", max_bytes=10 << 20) == (f"ingest/{sha}", sha, len(data))
    assert file_save_by_hash([data], prefix="ingest", max_bytes=10 << 20)[0] == f"ingest/{sha}"
    pieces = list(file_chunks(f"ingest/{sha}", chunk_size=1 << 20))
    assert [len(p) for p in pieces] == [1 << 20] * 3 and b"".join(pieces) == data
    assert file_read(f"ingest/{sha}") == data
    if backend is not None:
        assert backend.keys() == [f"ingest/{sha}"] and backend.get(f"ingest/{sha}") == data


def test_too_large_stores_nothing(backend):
    with pytest.raises(FileTooLarge, match="larger than the 10 byte limit"):
        file_save_by_hash([b"123456", b"7890", b"X"], prefix="ingest", max_bytes=10)
    if backend is not None:
        assert backend.keys() == []
    else:
        assert not (Path(default_storage.location) / "ingest").exists() or not any(
            (Path(default_storage.location) / "ingest").iterdir()
        )


def test_save_replaces_delete_forgets_and_missing_is_file_not_found(backend):
    assert file_save("reports/1/report.csv", b"old") == "reports/1/report.csv"
    assert file_save("reports/1/report.csv", b"new") == "reports/1/report.csv"
    assert file_read("reports/1/report.csv") == b"new" and file_exists("reports/1/report.csv")
    file_delete(["reports/1/report.csv", "reports/1/report.pdf"])  # a missing name is no error
    assert not file_exists("reports/1/report.csv") and not file_exists("")
    with pytest.raises(FileNotFoundError):
        file_read("reports/1/report.csv")


def test_unreachable_object_store_is_storage_unavailable(settings, tmp_path):
    from botocore.config import Config

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "nowhere",
                "endpoint_url": f"http://127.0.0.1:{free_port()}",  # nothing listens there
                "access_key": "k",
                "secret_key": "s",
                "region_name": "us-east-1",
                "client_config": Config(connect_timeout=1, retries={"max_attempts": 1}),
            },
        },
    }
    with pytest.raises(StorageUnavailable, match="unreachable"):
        file_read("ingest/abc")
    with pytest.raises(StorageUnavailable):
        file_save_by_hash([b"x"], prefix="ingest", max_bytes=10)


def _default_storage_in_subprocess(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = (
        "import django; django.setup(); from django.core.files.storage import storages; "
        "s = storages['default']; print(type(s).__name__, getattr(s, 'bucket_name', '-'))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_settings_choose_the_backend_from_the_environment(tmp_path):
    base = {"ISOFLOP_VAR_DIR": str(tmp_path)}
    local = _default_storage_in_subprocess({**base, "ISOFLOP_S3_BUCKET": ""})
    assert local.stdout.split() == ["FileSystemStorage", "-"], local.stderr
    s3 = _default_storage_in_subprocess(
        {**base, "ISOFLOP_S3_BUCKET": "isoflop", "ISOFLOP_S3_ENDPOINT_URL": "http://minio:9000"}
    )
    assert s3.stdout.split() == ["S3Storage", "isoflop"], s3.stderr
    half = _default_storage_in_subprocess(
        {**base, "ISOFLOP_S3_BUCKET": "isoflop", "ISOFLOP_S3_ACCESS_KEY": "k"}
    )
    assert half.returncode != 0 and "ISOFLOP_S3_SECRET_KEY" in half.stderr
