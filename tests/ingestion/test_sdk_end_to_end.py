"""The SDK against the real app: gunicorn serving /api/ on the test database, a real Celery worker, and a
run logged from a plain Python loop. Each run must be complete and stored exactly once when the server is
restarted mid-run (retries under the same Idempotency-Keys) and when the network drops for longer than
the SDK waits (it spills to its spool; `isoflop sync DIR` sends it later, and a second sync sends nothing).

ISOFLOP_SDK_E2E_POINTS sets the points of each run (default 1,000,000: two series of 500,000 steps)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from core.roles import Role
from ingestion.models import ApiMetricBatch
from tracker.accounts import services as account_services
from tracker.models import MetricSeries, TrainingRun
from tracker.runs.series.reads import series_points

from ..support.workers import ROOT, free_port, wait_until, worker_env

isoflop = pytest.importorskip(
    "isoflop", reason="the SDK: pip install -e clients/python (scripts/bootstrap.sh)"
)
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

POINTS = int(os.environ.get("ISOFLOP_SDK_E2E_POINTS", "1000000"))
SERIES = ("train/loss", "lr")


class Server:
    """gunicorn serving the app on a fixed port; stop() and start() again is a restart."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        cmd = [gunicorn, "config.wsgi:application", "-b", f"127.0.0.1:{self.port}", "-w", "2"]
        cmd += ["--timeout", "120", "--graceful-timeout", "5"]
        env = worker_env(ISOFLOP_API_RATE="100000/m")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        wait_until(self._ready, 120, "gunicorn start")

    def _ready(self) -> bool:
        # Listening is not ready: a worker that is still importing the app would hold the first request.
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
        try:
            return httpx.get(f"{self.url}/api/openapi.json", timeout=60).status_code == 200
        except httpx.HTTPError:
            time.sleep(0.2)
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def server(transactional_db: Any, celery_worker_process: Any, tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "gunicorn.log")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def token(transactional_db: Any, make_user: Any, team_a: Any) -> str:
    user = make_user(Role.EDITOR)
    _row, key = account_services.api_token_create(user=user, name="sdk-e2e")
    return key


def value_at(step: int, series: int) -> float:
    return 1.0 / (1.0 + step) + series


def log_loop(run: Any, steps: int, at: dict[int, Callable[[], None]]) -> None:
    for step in range(steps):
        if step in at:
            at[step]()
        run.log({SERIES[0]: value_at(step, 0), SERIES[1]: value_at(step, 1)}, step=step)


def assert_complete_once(run_id: int, steps: int) -> None:
    stored = TrainingRun.objects.get(pk=run_id)
    assert stored.status == TrainingRun.Status.FINISHED
    for i, name in enumerate(SERIES):
        series = MetricSeries.objects.get(run_id=run_id, name=name)
        pts = series_points(series=series)
        assert series.n_points == steps == pts.steps.size, f"{name}: {series.n_points} stored of {steps}"
        assert np.array_equal(pts.steps, np.arange(steps))
        expected = 1.0 / (1.0 + np.arange(steps, dtype=np.float64)) + i
        assert np.array_equal(pts.values, expected), f"{name}: values differ from what was logged"
    # Every batch the server stored was stored once: the keys' point counts add up to what was logged.
    accepted = sum(ApiMetricBatch.objects.filter(run_id=run_id).values_list("n_points", flat=True))
    assert accepted == steps * len(SERIES)


def test_server_restart_mid_run_loses_and_doubles_nothing(server: Server, token: str, tmp_path: Path) -> None:
    steps = POINTS // len(SERIES)
    options = isoflop.Options(retry_base=0.1, retry_cap=1.0, offline_after=120.0, block_timeout=None)
    started = time.monotonic()
    run = isoflop.init(
        team="lab-a",
        name="restart",
        base_url=server.url,
        token=token,
        mode="online",
        spool_dir=tmp_path / "spool",
        options=options,
    )

    def restart() -> None:
        server.stop()
        time.sleep(1.0)
        server.start()

    log_loop(run, steps, {steps // 2: restart})
    run.finish(timeout=300)
    elapsed = time.monotonic() - started
    print(f"RESULT sdk_e2e_points={steps * len(SERIES)} seconds={elapsed:.1f} with one server restart")
    assert run.stats()["points_spooled"] == 0, (run.stats(), server.log.read_text()[-3000:])
    assert_complete_once(int(run.id), steps)


def test_network_drop_spools_then_sync_stores_exactly_once(
    server: Server, token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = max(POINTS // len(SERIES), 1000)
    options = isoflop.Options(
        retry_base=0.05, retry_cap=0.2, offline_after=1.0, finish_timeout=5.0, request_timeout=5.0
    )
    run = isoflop.init(
        team="lab-a",
        name="drop",
        base_url=server.url,
        token=token,
        mode="online",
        spool_dir=tmp_path / "spool",
        options=options,
    )
    log_loop(run, steps, {steps // 3: server.stop})
    run.finish(timeout=30)
    assert run.stats()["points_spooled"] > 0 and run.spool_dir is not None
    assert TrainingRun.objects.get(pk=run.id).status == TrainingRun.Status.RUNNING  # not finished yet

    server.start()
    monkeypatch.setenv("ISOFLOP_URL", server.url)
    monkeypatch.setenv("ISOFLOP_TOKEN", token)
    from isoflop.cli import main

    assert main(["sync", str(run.spool_dir)]) == 0
    assert_complete_once(int(run.id), steps)
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["sync", str(run.spool_dir)]) == 0
    assert "already synced" in out.getvalue()
    assert_complete_once(int(run.id), steps)

    # The CLI reads it back through the same API: the run, the list, the full series as CSV.
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["runs", "show", str(run.id), "--json"]) == 0
        assert main(["runs", "ls", "--status", "finished", "--json"]) == 0
    assert '"drop"' in out.getvalue() and "train/loss" in out.getvalue()
    csv_path = tmp_path / "loss.csv"
    assert main(["series", "export", str(run.id), "train/loss", "-o", str(csv_path)]) == 0
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "step,value,wall_time" and len(rows) == steps + 1
