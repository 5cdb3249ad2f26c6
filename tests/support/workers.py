"""One way tests start real Celery worker processes (session worker, fault tests, kill tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config.celery import queue_names

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout}s")


def database_url() -> str:
    """The test database as a URL a worker process can use."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    password = db.get("PASSWORD") or ""
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{db['USER']}:{password}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


def worker_env(*, database: str | None = None, broker_url: str | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = database or database_url()
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
    env.update(extra)
    return env


def worker_start(
    *,
    log: Path,
    env: dict[str, str] | None = None,
    queue: str | None = None,
    concurrency: int = 2,
    beat: bool = False,
    name: str = "test",
    timeout: float = 60.0,
) -> subprocess.Popen[bytes]:
    """A real `celery worker` process; returns once it logged `ready.` (raises with its log otherwise)."""
    env = env or worker_env()
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        queue or queue_names(),
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        f"{name}-{os.getpid()}-{free_port()}@%h",
    ]
    if beat:
        cmd += ["-B", "--schedule", str(log.with_suffix(".beat-schedule"))]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: b"ready." in log.read_bytes() or proc.poll() is not None, timeout, "worker start")
    except TimeoutError:
        proc.kill()
        raise RuntimeError(
            "celery worker did not start: " + log.read_text(errors="replace")[-3000:]
        ) from None
    if proc.poll() is not None:
        raise RuntimeError("celery worker exited: " + log.read_text(errors="replace")[-3000:])
    return proc


def process_stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
