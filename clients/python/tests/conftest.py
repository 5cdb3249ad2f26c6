from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_server import TOKEN, FakeServer

import isoflop
from isoflop import run as run_module
from isoflop._retry import Backoff

# Short intervals so retries and flushes happen in milliseconds, not seconds.
FAST = isoflop.Options(
    flush_interval=0.02,
    retry_base=0.01,
    retry_cap=0.05,
    init_timeout=2.0,
    finish_timeout=10.0,
    request_timeout=5.0,
)

ENV_VARS = (
    "ISOFLOP_URL",
    "ISOFLOP_TOKEN",
    "ISOFLOP_MODE",
    "ISOFLOP_TEAM",
    "ISOFLOP_SPOOL_DIR",
    "XDG_CONFIG_HOME",
    "RANK",
    "LOCAL_RANK",
    "SLURM_PROCID",
    "OMPI_COMM_WORLD_RANK",
    "PMI_RANK",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ISOFLOP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    yield
    # A test that failed half-way must not leave a sender thread talking to the next test's server.
    for run in list(run_module._live_runs):
        run.finish(timeout=1)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    s = FakeServer().start()
    yield s
    s.stop()


@pytest.fixture
def client(server: FakeServer) -> Iterator[isoflop.Client]:
    with isoflop.Client(server.url, TOKEN, retry_for=5.0, backoff=Backoff(0.01, 0.05)) as c:
        yield c


def start_run(server: FakeServer, **kwargs: object) -> isoflop.Run:
    kwargs.setdefault("options", FAST)
    return isoflop.init(team="team-a", name="test-run", base_url=server.url, token=TOKEN, **kwargs)  # type: ignore[arg-type]


def python(code: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.Popen[str]:
    """Run code in a fresh interpreter (for atexit, crash and kill tests)."""
    return subprocess.Popen(  # type: ignore[no-any-return]
        [sys.executable, "-c", code],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )
