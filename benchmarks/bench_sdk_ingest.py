"""Sustained points/s end to end: the SDK's `run.log()` in a Python loop -> HTTP (gunicorn, the real app)
-> `POST /api/runs/<id>/metrics/` -> binary COPY into PostgreSQL's compressed chunks. Target >= 200k points/s.

Clock: from the first log() to the end of finish() (every point acknowledged as stored). Points are then
counted in PostgreSQL (MetricSeries.n_points) and must equal what was logged. `--runs K` logs K runs from K
threads at once (one sender per run, as K training jobs would).

With `--mlflow-python PY` (a Python with `mlflow` installed, e.g. `python3 -m venv /tmp/mlf && /tmp/mlf/bin/pip
install mlflow psycopg2-binary`) it then starts MLflow's tracking server on this machine (PostgreSQL backend,
database isoflop_bench_mlflow) and times MLflow's client on the same loop (`mlflow_client_log.py`: the async
`log_metrics` a training loop would call, and the bulk `log_batch`); the ratio is against MLflow's faster one.
Target >= 20x.

Measured 2026-12-01 on the idle 2-core machine, 1M points, 1 run, 4 metrics, SDK defaults (50,000-point
batches): 281,077 points/s (3.56 s). MLflow 3.17.2 (PostgreSQL backend): log_batch 4,742 points/s, async
log_metrics 547 points/s: 59.3x the faster. Where the time went before (77,603 points/s): per-series queries
and a summary aggregated over every chunk on each batch (now a constant number of statements per batch and the
summary from the old one), rollups rewritten on each batch (now a live run's tail is read raw until it reaches
65,536 points), and each gunicorn worker importing the URLconf in its first request (now at boot).

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
MLFLOW_TARGET_RATIO = 20


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
        "--batch-points", type=int, default=None, help="SDK points per request (default: the SDK's)"
    )
    parser.add_argument(
        "--mlflow-python",
        help="a Python with mlflow installed: also time MLflow's client against an MLflow tracking server",
    )
    parser.add_argument("--mlflow-points", type=int, default=40_000, help="points MLflow logs per API")
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
        tuning = {} if args.batch_points is None else {"batch_points": args.batch_points}
        options = isoflop.Options(offline_after=600.0, init_timeout=300.0, block_timeout=None, **tuning)

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
    batch = options.batch_points
    print(f"isoflop: {stored:,} points in {seconds:.2f} s = {rate:,.0f} points/s ({batch:,}-point batches)")
    mlflow = ""
    if args.mlflow_python:
        rates = mlflow_rates(args.mlflow_python, args.mlflow_points, args.metrics)
        best = max(rates.values())
        mlflow = (
            f" mlflow_async_points_per_s={rates['async']:,.0f} mlflow_batch_points_per_s={rates['batch']:,.0f}"
            f" vs_mlflow_best={rate / best:.1f}x mlflow_met={rate / best >= MLFLOW_TARGET_RATIO}"
        )
    print(
        f"RESULT sdk_ingest_points={stored} runs={args.runs} metrics={args.metrics} workers={args.workers} "
        f"batch_points={batch} "
        f"seconds={seconds:.2f} points_per_s={rate:,.0f} target={TARGET:,} met={rate >= TARGET}{mlflow}"
    )


def mlflow_rates(python: str, points: int, metrics: int) -> dict[str, float]:
    """MLflow's tracking server (PostgreSQL backend, database isoflop_bench_mlflow on the same server) and its
    client (`mlflow_client_log.py`) logging the same loop; points/s for the async and the batch API."""
    import psycopg

    db = django.conf.settings.DATABASES["default"]
    dsn = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS isoflop_bench_mlflow")
        conn.execute("CREATE DATABASE isoflop_bench_mlflow")
    port = free_port()
    backend = f"postgresql+psycopg2://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/isoflop_bench_mlflow"
    work = tempfile.mkdtemp(prefix="bench-mlflow-")
    mlflow_bin = str(Path(python).with_name("mlflow"))
    host = ["--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        [mlflow_bin, "server", "--backend-store-uri", backend, "--default-artifact-root", work, *host],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{uri}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the MLflow server did not start")
            time.sleep(1)
        rates = {}
        # The async API stores ~500 points/s: it logs a quarter of the points so the run stays short.
        for api, n in (("batch", points), ("async", max(points // 4, metrics))):
            workload = ["--points", str(n), "--metrics", str(metrics)]
            out = subprocess.run(
                [
                    python,
                    str(ROOT / "benchmarks/mlflow_client_log.py"),
                    "--uri",
                    uri,
                    *workload,
                    "--api",
                    api,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            line = next(x for x in out.splitlines() if x.startswith("MLFLOW "))
            fields = dict(kv.split("=") for kv in line.split()[1:])
            assert int(fields["stored"]) == int(fields["points"]), line
            rates[api] = int(fields["points"]) / float(fields["seconds"])
            print(f"mlflow ({api}): {line}")
        return rates
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
