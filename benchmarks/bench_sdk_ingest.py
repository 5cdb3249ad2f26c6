"""Sustained points/s end to end: the SDK's `run.log()` in a Python loop -> HTTP (gunicorn, the real app)
-> `POST /api/runs/<id>/metrics/` -> binary COPY into PostgreSQL's compressed chunks. Target >= 200k points/s.

Clock: from the first log() to the end of finish() (every point acknowledged as stored). Points are then
counted in PostgreSQL (MetricSeries.n_points) and must equal what was logged. `--runs K` logs K runs from K
threads at once (one sender per run, as K training jobs would).

Measured 2026-12-01 on the 2-core development machine shared with other jobs (load average 9-12), 1M points:
9,531 points/s (1 run, 10k-point batches, 3 workers), 16,729 (1 run, 50k-point batches), 17,698 (4 runs,
50k-point batches, 4 workers): the target is NOT met there. In-process profile of one 10k-point append to a
long series: ~0.47 s, of which ~0.34 s is `tracker.runs.series.copy.points_upsert` (re-reading the last
partial chunk, rewriting it, recomputing the series summary over all its chunks); request parsing is now
negligible. Rerun on an idle machine before drawing conclusions.

    createdb -h 127.0.0.1 -U postgres isoflop_bench_sdk
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/isoflop_bench_sdk \\
        .venv/bin/python benchmarks/bench_sdk_ingest.py [--points 1000000] [--metrics 4] [--runs 1] [--workers 4]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "clients/python/src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
import isoflop  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db.models import Sum  # noqa: E402

from core.roles import Role  # noqa: E402
from tracker.accounts import services as account_services  # noqa: E402
from tracker.models import MetricSeries  # noqa: E402

TARGET = 200_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    env = {**os.environ, "ISOFLOP_API_RATE": "1000000/m"}
    proc = subprocess.Popen(
        [
            gunicorn,
            "config.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--timeout",
            "300",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/openapi.json", timeout=60).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000, help="points per run")
    parser.add_argument("--metrics", type=int, default=4, help="metrics per log() call")
    parser.add_argument("--runs", type=int, default=1, help="runs logged at once, one thread each")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument(
        "--batch-points", type=int, default=10_000, help="SDK points per request (<= 100,000)"
    )
    args = parser.parse_args()
    name = django.conf.settings.DATABASES["default"]["NAME"]
    if "bench" not in name:
        raise SystemExit(f"refusing database {name!r}: its name must contain 'bench'")
    call_command("migrate", verbosity=0)
    team = account_services.team_create(name=f"bench-sdk-{uuid.uuid4().hex[:8]}")
    user = get_user_model().objects.create_user(
        username=f"bench-{uuid.uuid4().hex[:8]}", password=uuid.uuid4().hex
    )
    account_services.membership_set(team=team, user=user, role=Role.EDITOR)
    _token, key = account_services.api_token_create(user=user, name="bench")
    proc, url = start_gunicorn(args.workers)
    calls = args.points // args.metrics
    names = [f"metric_{k}" for k in range(args.metrics)]
    run_ids: list[int] = []
    spool = tempfile.mkdtemp(prefix="bench-sdk-spool-")  # used only if the server fails (then the run fails)
    try:
        options = isoflop.Options(
            offline_after=600.0,
            init_timeout=300.0,  # gunicorn workers still importing the app hold the first requests
            block_timeout=None,
            batch_points=args.batch_points,
            batch_bytes=64 * args.batch_points + 1_000_000,
            max_buffer_points=max(250_000, 4 * args.batch_points),
        )

        def one(i: int) -> None:
            run = isoflop.init(
                team=team.slug,
                name=f"bench-{i}",
                base_url=url,
                token=key,
                mode="online",
                options=options,
                spool_dir=spool,
            )
            for step in range(calls):
                run.log({n: step * 0.001 + k for k, n in enumerate(names)}, step=step)
            run.finish(timeout=600)
            assert run.stats()["points_spooled"] == 0, run.stats()
            run_ids.append(int(run.id))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(args.runs)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(30)
    stored = MetricSeries.objects.filter(run_id__in=run_ids).aggregate(n=Sum("n_points"))["n"] or 0
    logged = calls * args.metrics * args.runs
    assert stored == logged, f"stored {stored} of {logged} points"
    rate = stored / seconds
    print(
        f"RESULT sdk_ingest_points={stored} runs={args.runs} metrics={args.metrics} workers={args.workers} "
        f"batch_points={args.batch_points} "
        f"seconds={seconds:.2f} points_per_s={rate:,.0f} target={TARGET:,} met={rate >= TARGET}"
    )


if __name__ == "__main__":
    main()
