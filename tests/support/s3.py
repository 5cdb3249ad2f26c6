"""A real S3-compatible server for tests: moto's server mode as a separate process on 127.0.0.1.

`s3_server` (session) starts `python -m moto.server` under `timeout`, so it dies with its test run even if
pytest is killed; `s3_storage` points the default storage at a fresh bucket on it and makes MEDIA_ROOT
unusable (a path below a regular file), so any code that reads or writes local media behind the storage
API's back fails the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.workers import free_port, wait_until

KEY, SECRET, REGION = "isoflop-test-key", "isoflop-test-secret", "us-east-1"
LIFETIME_S = 3600


@dataclass
class S3:
    endpoint: str
    bucket: str
    client: Any

    def keys(self) -> list[str]:
        found = self.client.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return sorted(o["Key"] for o in found)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def storage_options(self) -> dict[str, Any]:
        return {
            "bucket_name": self.bucket,
            "endpoint_url": self.endpoint,
            "access_key": KEY,
            "secret_key": SECRET,
            "region_name": REGION,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "default_acl": None,
            "file_overwrite": True,
        }

    def env(self) -> dict[str, str]:
        """The settings' environment variables for a process (a worker) that should use this bucket."""
        return {
            "ISOFLOP_S3_BUCKET": self.bucket,
            "ISOFLOP_S3_ENDPOINT_URL": self.endpoint,
            "ISOFLOP_S3_ACCESS_KEY": KEY,
            "ISOFLOP_S3_SECRET_KEY": SECRET,
            "ISOFLOP_S3_REGION": REGION,
        }


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION
    )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                "timeout",
                str(LIFETIME_S),
                sys.executable,
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited: {log.read_text()[-2000:]}")
        try:
            _client(endpoint).list_buckets()
        except Exception:
            return False
        return True

    try:
        wait_until(answers, timeout=60, what="moto S3 server")
        yield endpoint
    finally:
        # The whole session (timeout and the server under it), not just the `timeout` process.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=10)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue


@pytest.fixture
def s3_storage(s3_server: str, settings: Any, tmp_path: Path) -> S3:
    s3 = S3(endpoint=s3_server, bucket=f"isoflop-{uuid.uuid4().hex[:12]}", client=_client(s3_server))
    s3.client.create_bucket(Bucket=s3.bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3.storage_options()},
    }
    blocker = tmp_path / "media-is-a-file"
    blocker.write_text("MEDIA_ROOT lies below this file, so nothing can be read or written there")
    settings.MEDIA_ROOT = blocker / "media"
    return s3
