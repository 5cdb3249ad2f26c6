"""The README's app command, as a new user runs it: embedded PostgreSQL from the wheel, the embedded broker,
gunicorn and two worker groups under one supervisor (`python -m core.stack run`), with the demo loaded.

Not the test settings: this stack has its own database and broker in a temporary var dir. One stack serves
the module's tests (it takes ~15 s to start): the browser flow, a whole-worker SIGKILL mid-ingest, requests
under a heavy ingest, and a clean stop of every process.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot, wait_js
from tests.support.workers import ROOT, free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

# Env of the stack: nothing from the test run's own database, broker or queues leaks in.
_LEAKY = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "ISOFLOP_QUEUE_PREFIX",
    "ISOFLOP_VAR_DIR",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)
STACK_ENV = {
    # Short leases and sweeps so a killed worker's file is handed on within seconds, not a minute.
    "ISOFLOP_LEASE_SECONDS": "8",
    "ISOFLOP_HEARTBEAT_SECONDS": "2",
    "ISOFLOP_OUTBOX_SWEEP_SECONDS": "3",
    "ISOFLOP_OUTBOX_GRACE_SECONDS": "10",
    # Every file's store waits this long first, so a worker can be killed while it holds one.
    "ISOFLOP_TEST_INGEST_DELAY": "4",
}


@dataclass
class AppStack:
    proc: subprocess.Popen[str]
    url: str
    var: Path
    output: list[str] = field(default_factory=list)

    def children(self, pattern: str) -> list[int]:
        """Direct children of this stack's supervisor whose command line holds `pattern`."""
        try:
            kids = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []
        return [k.pid for k in kids if _cmdline_has(k, pattern)]

    def postgres_running(self) -> bool:
        pgdata = str(self.var / "pgdata")
        return any(_cmdline_has(p, pgdata) for p in psutil.process_iter())

    def any_process_left(self) -> bool:
        """Anything still running that this stack started (found by its var dir or its port)."""
        marks = (str(self.var), f"127.0.0.1:{self.url.rsplit(':', 1)[1]}")
        return any(_cmdline_has(p, m) for p in psutil.process_iter() for m in marks)

    def db_query(self, sql: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", _PSQL_SNIPPET, str(self.var / "pgdata"), sql],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return out.stdout.strip()


_PSQL_SNIPPET = """
import sys
from pathlib import Path
import psycopg
from core.stack import EmbeddedPostgres
db = EmbeddedPostgres(Path(sys.argv[1]))
with psycopg.connect(db.url().replace("postgres://", "postgresql://")) as conn:
    rows = conn.execute(sys.argv[2]).fetchall()
print("\\n".join("|".join(str(v) for v in row) for row in rows))
"""


def _cmdline_has(proc: psutil.Process, pattern: str) -> bool:
    try:
        return any(pattern in part for part in proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def _stack_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY}
    env.update(STACK_ENV)
    return env


@pytest.fixture(scope="module")
def app_stack() -> Iterator[AppStack]:
    var = Path(tempfile.mkdtemp(prefix="isf-"))  # short: PostgreSQL's socket path lives in it
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.stack", "run", "--var", str(var), "--port", str(port)],
        cwd=ROOT,
        env=_stack_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stack = AppStack(proc=proc, url=f"http://127.0.0.1:{port}", var=var)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            stack.output.append(line.rstrip())

    threading.Thread(target=pump, daemon=True).start()
    try:
        wait_until(
            lambda: any("Isoflop is running" in line for line in stack.output) or proc.poll() is not None,
            180,
            "app stack start",
        )
    except TimeoutError:
        proc.kill()
        raise AssertionError("the app command did not start:\n" + "\n".join(stack.output[-60:])) from None
    assert proc.poll() is None, "\n".join(stack.output[-60:])
    yield stack
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    shutil.rmtree(var, ignore_errors=True)


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def _login(opener: urllib.request.OpenerDirector, base: str, user: str, password: str) -> float:
    started = time.monotonic()
    page = opener.open(f"{base}/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    body = urllib.parse.urlencode({"username": user, "password": password, "csrfmiddlewaretoken": token})
    request = urllib.request.Request(
        f"{base}/login/", data=body.encode(), headers={"Referer": f"{base}/login/"}
    )
    response = opener.open(request, timeout=30)
    assert response.status == 200 and "/login/" not in response.url, "login failed"
    return time.monotonic() - started


def _api_token(stack: AppStack) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model as g;"
            "from tracker.accounts.services import api_token_create as c;"
            "print(c(user=g().objects.get(username='editor'), name='load')[1])",
        ],
        cwd=ROOT,
        env={**_stack_env(), "DATABASE_URL": _stack_db_url(stack), "ISOFLOP_VAR_DIR": str(stack.var)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip().splitlines()[-1]


def _stack_db_url(stack: AppStack) -> str:
    line = next(line for line in stack.output if line.startswith("Database: "))
    return line.removeprefix("Database: ").strip()


def _multipart(fields: dict[str, str], files: dict[str, bytes]) -> tuple[bytes, str]:
    boundary = "isoflop-test-boundary"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for filename, content in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _api_upload(base: str, token: str, files: dict[str, bytes]) -> dict[str, Any]:
    body, content_type = _multipart({"team": "demo-lab"}, files)
    request = urllib.request.Request(
        f"{base}/api/ingest/",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read()))


def _api_job(base: str, token: str, job_id: int) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base}/api/ingest/jobs/{job_id}/", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def test_health_and_banner(app_stack: AppStack) -> None:
    text = "\n".join(app_stack.output)
    for login, password in (
        ("admin", "isoflop-admin"),
        ("editor", "isoflop-editor"),
        ("viewer", "isoflop-viewer"),
    ):
        assert f"{login:<7} / {password}" in text
    health = json.loads(urllib.request.urlopen(f"{app_stack.url}/health/", timeout=30).read())
    assert health["status"] == "ok" and health["workers"]["alive"] == 2, health
    # The embedded PostgreSQL (a unix socket in the var dir), not the machine's server.
    assert urllib.parse.unquote(_stack_db_url(app_stack)).endswith(f"{app_stack.var}/pgdata/isoflop")


def test_browser_login_websearch_upload_and_live_job(app_stack: AppStack, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    csv_path = tmp_path / "stack-run.csv"
    csv_path.write_text("step,loss\n" + "".join(f"{s},{3 - s / 1000:.4f}\n" for s in range(2000)))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(base_url=app_stack.url, viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto("/login/")
        page.fill("input[name=username]", "editor")
        page.fill("input[name=password]", "isoflop-editor")
        page.click("button[type=submit]")
        page.wait_for_url(f"{app_stack.url}/")
        # The paper search box's own example: websearch syntax on the embedded PostgreSQL.
        page.goto("/catalog/papers/?" + urllib.parse.urlencode({"q": '"scaling law" -vision'}))
        titles = page.locator("table.papers td a, .papers a").all_inner_texts()
        assert any("Scaling Laws for Neural Language Models" in t for t in titles), titles
        assert not any("Contrastive Language-Image" in t or "ViT" in t for t in titles), titles
        screenshot(page, "stack-1-websearch")
        page.goto("/ingest/upload/")
        page.set_input_files("#files", str(csv_path))
        page.click("#upload-form button[type=submit]")
        page.wait_for_url(re.compile(r"/ingest/jobs/\d+/"))
        wait_js(page, "document.getElementById('job-status').textContent.trim() === 'done'", timeout=90_000)
        assert "2000 rows" in page.locator("#job-counts").inner_text().replace(",", "")
        screenshot(page, "stack-2-job-done")
        browser.close()
    assert not errors, errors


def test_whole_worker_sigkill_mid_ingest_finishes_exactly_once(app_stack: AppStack) -> None:
    token = _api_token(app_stack)
    rows = 60_000
    content = ("step,loss\n" + "".join(f"{s},{2 + 1 / (1 + s):.6f}\n" for s in range(rows))).encode()
    job = _api_upload(app_stack.url, token, {"kill-me.csv": content})
    # Wait until the ingest worker has claimed the file, then kill that whole worker: parent and pool.
    wait_until(
        lambda: _api_job(app_stack.url, token, job["job"])["files"][0]["status"] == "running",
        180,  # the stack's workers may still be warming up on a loaded machine
        "file claimed",
    )
    (worker,) = app_stack.children("isoflop2@")  # the ingest worker group's parent process
    pool = [c.pid for c in psutil.Process(worker).children()]
    os.kill(worker, signal.SIGKILL)  # its pool processes get SIGTERM with it (PR_SET_PDEATHSIG)
    wait_until(
        lambda: not any(psutil.pid_exists(p) and _cmdline_has(psutil.Process(p), "isoflop2@") for p in pool),
        30,
        "the whole worker gone",
    )
    # The supervisor restarts the worker; the sweep re-publishes the file once its lease lapses.
    wait_until(lambda: any("worker2 exited" in line for line in app_stack.output), 30, "restart noticed")
    restarted = time.monotonic()
    state = wait_until(
        lambda: (
            (j := _api_job(app_stack.url, token, job["job"]))["status"] in ("done", "failed", "partial") and j
        ),
        60,
        "job finished after the worker restart",
    )
    assert time.monotonic() - restarted < 60
    assert state["status"] == "done", state
    (file,) = state["files"]
    assert file["rows_done"] == rows and file["errors"] == []
    counts = app_stack.db_query(
        "SELECT count(*), count(DISTINCT run_id), sum(n_points) FROM tracker_metricseries s "
        "JOIN tracker_trainingrun r ON r.id = s.run_id WHERE r.name = 'kill-me.csv'"
    )
    assert counts == f"1|1|{rows}", counts  # one run, one series, every point once
    attempts = app_stack.db_query(
        "SELECT attempts FROM ingestion_ingestfile WHERE original_name = 'kill-me.csv'"
    )
    assert attempts == "2"


def test_requests_stay_fast_during_a_heavy_ingest(app_stack: AppStack) -> None:
    token = _api_token(app_stack)
    # The widest file the cap allows (10,000 metric names), and one over it that is refused with a reason.
    columns = 10_000
    header = "step," + ",".join(f"metric/{i}" for i in range(columns))
    body = "\n".join(f"{s}," + ",".join("0.5" for _ in range(columns)) for s in range(20))
    heavy = _api_upload(app_stack.url, token, {"wide.csv": (header + "\n" + body + "\n").encode()})
    too_wide = (
        "step," + ",".join(f"m{i}" for i in range(200_000)) + "\n0," + ",".join("1" for _ in range(200_000))
    )
    refused = _api_upload(app_stack.url, token, {"too-wide.csv": too_wide.encode()})
    timings: dict[str, list[float]] = {"login": [], "upload": [], "progress": []}
    deadline = time.monotonic() + 20

    def logins() -> None:
        while time.monotonic() < deadline:
            timings["login"].append(_login(_opener(), app_stack.url, "viewer", "isoflop-viewer"))

    def uploads() -> None:
        i = 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            _api_upload(app_stack.url, token, {f"small-{i}.csv": f"step,loss\n0,{i}\n1,{i + 1}\n".encode()})
            timings["upload"].append(time.monotonic() - started)
            i += 1

    def polls() -> None:
        while time.monotonic() < deadline:
            started = time.monotonic()
            _api_job(app_stack.url, token, heavy["job"])
            timings["progress"].append(time.monotonic() - started)
            time.sleep(0.2)

    threads = [threading.Thread(target=f) for f in (logins, uploads, polls, polls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    for kind, samples in timings.items():
        assert len(samples) >= 5, (kind, samples)
        p99 = sorted(samples)[max(0, int(len(samples) * 0.99) - 1)]
        assert p99 < 2.0, f"{kind}: p99 {p99:.2f}s over {len(samples)} requests"
    state = wait_until(
        lambda: (j := _api_job(app_stack.url, token, refused["job"]))["status"] == "failed" and j,
        60,
        "too-wide file refused",
    )
    assert "over the limit of 10,000" in state["files"][0]["errors"][0]["reason"]


def test_sigterm_stops_web_workers_and_database(app_stack: AppStack) -> None:
    assert app_stack.postgres_running(), "embedded PostgreSQL not running"
    workers = (
        app_stack.children("isoflop1@") + app_stack.children("isoflop2@") + app_stack.children("gunicorn")
    )
    assert len(workers) == 3
    app_stack.proc.send_signal(signal.SIGTERM)
    assert app_stack.proc.wait(timeout=60) == 0
    wait_until(
        lambda: not app_stack.postgres_running() and not any(psutil.pid_exists(p) for p in workers),
        30,
        "every process of the stack stopped",
    )
    assert "Stopping web server, workers and database" in "\n".join(app_stack.output)


def test_busy_port_is_reported_and_nothing_is_left_running(app_stack: AppStack) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "core.stack", "run", "--var", str(app_stack.var), "--port", str(port)],
            cwd=ROOT,
            env=_stack_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is busy" in result.stderr
    assert not app_stack.postgres_running()  # refused before starting anything
