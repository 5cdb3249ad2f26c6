"""Real moving parts for fault and load tests: a private redis-server, private Celery workers, signed requests.

A private Redis per test isolates its queue from the shared broker and from the session worker, and it can
be paused (SIGSTOP) without disturbing anyone else on the machine.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingestion.signatures import standard_signature
from tests.support import workers
from tests.support.workers import database_url, free_port, process_stop, worker_env
from tests.support.workers import wait_until as _wait


@dataclass
class RedisServer:
    proc: subprocess.Popen[bytes]
    port: int

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def command(self, *args: str) -> str:
        """Run one redis-cli command (used to count queued messages without consuming them)."""
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, timeout=10, check=True
        )
        return out.stdout.decode().strip()

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        self.resume()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def redis_start() -> RedisServer:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(proc=proc, port=port)

    def up() -> bool:
        try:
            return server.command("PING") == "PONG"
        except subprocess.CalledProcessError:
            return False

    _wait(up, 10, "redis-server start")
    return server


@contextmanager
def app_broker(url: str) -> Iterator[None]:
    """Point this process's Celery app (the publishing side) at another broker, and back afterwards."""
    from config.celery import app

    def reset() -> None:
        # kombu keeps pools in global registries keyed by connection: closing only ours would leave a closed
        # pool registered for the original URL ("Acquire on closed pool" in every later test). Clear them all.
        from kombu import pools

        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    old = (app.conf.broker_url, app.conf.broker_write_url)
    reset()
    app.conf.broker_url = app.conf.broker_write_url = url
    try:
        yield
    finally:
        reset()
        app.conf.broker_url, app.conf.broker_write_url = old


@dataclass(frozen=True)
class Sent:
    msg_id: str
    status: int
    seconds: float
    body: bytes
    headers: dict[str, str]


def send_signed(
    base_url: str,
    *,
    slug: str,
    secret: str,
    msg_id: str,
    payload: dict[str, Any],
    timeout: float = 30.0,
    ts: int | None = None,
) -> Sent:
    """POST one Standard-Webhooks-signed delivery over a fresh loopback connection; time the acknowledgement."""
    body = json.dumps(payload).encode()
    ts = int(time.time()) if ts is None else ts
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": standard_signature(secret=secret, msg_id=msg_id, timestamp=ts, body=body),
    }
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    started = time.monotonic()
    try:
        conn.request("POST", f"/hooks/{slug}/", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        elapsed = time.monotonic() - started
        return Sent(msg_id, response.status, elapsed, data, dict(response.getheaders()))
    finally:
        conn.close()


def run_finished(external_id: str, loss: float) -> dict[str, Any]:
    return {"type": "run.finished", "data": {"external_id": external_id, "final_loss": loss}}


def worker_start(
    *,
    broker_url: str,
    log: Path,
    database: str,
    extra_env: dict[str, str] | None = None,
    concurrency: int = 2,
    beat: bool = False,
    name: str = "harden",
) -> subprocess.Popen[bytes]:
    """A real `celery worker` on a private broker (tests.support.workers does the starting)."""
    env = worker_env(database=database, broker_url=broker_url, **(extra_env or {}))
    return workers.worker_start(log=log, env=env, concurrency=concurrency, beat=beat, name=name)


__all__ = ["database_url", "free_port", "process_stop", "worker_start"]
