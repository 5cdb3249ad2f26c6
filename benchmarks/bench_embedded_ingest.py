"""Ingest on the embedded default (PostgreSQL from the wheel, unix socket) vs the machine's PostgreSQL server.

The same code path both times: a 1M-point CSV stored by the upload service and processed by the ingest
service (parse, runs, COPY of the points, summaries), in a child process per database so that each has its
own Django settings. Best of N rounds each, alternating. Target: embedded >= 0.8x the server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/bench_embedded_ingest.py

DATABASE_URL names the server (its database is only used to create the benchmark database).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.stack import EmbeddedPostgres  # noqa: E402

BENCH_DB = "isoflop_bench_embedded"


def _csv(points: int) -> bytes:
    rows = ["step,loss,lr"]
    rows += [f"{s},{2.0 + 8.0 / (1 + s / 500):.6f},{3e-4:.1e}" for s in range(points // 2)]
    return ("\n".join(rows) + "\n").encode()


def child(points: int) -> None:
    """Runs inside a process whose DATABASE_URL is the database under test (already migrated)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from ingestion.models import IngestFile
    from ingestion.services import jobs, processing
    from tracker.accounts.services import team_create

    user = get_user_model().objects.create_user(username=f"bench{time.time_ns()}", password="x")
    team = team_create(name=f"bench-{time.time_ns()}", owner=user)
    data = _csv(points)
    started = time.perf_counter()
    job = jobs.ingest_job_create(
        team=team, user=user, source="api", uploads=[SimpleUploadedFile("bench.csv", data)], enqueue=False
    )
    file = IngestFile.objects.get(job=job)
    processing.ingest_file_process(file_id=file.pk)
    elapsed = time.perf_counter() - started
    file.refresh_from_db()
    assert file.status == "done", file.errors
    print(json.dumps({"seconds": elapsed, "rows": file.rows_done}))


def _prepare(url: str, var: Path) -> None:
    env = {**os.environ, "DATABASE_URL": url, "ISOFLOP_VAR_DIR": str(var)}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )


def _measure(url: str, var: Path, points: int) -> dict[str, float]:
    env = {**os.environ, "DATABASE_URL": url, "ISOFLOP_VAR_DIR": str(var), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--points", str(points)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _server_url(base: str) -> str:
    import psycopg

    admin = base.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return base.rsplit("/", 1)[0] + f"/{BENCH_DB}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.points)
        return 0
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    var = Path(tempfile.mkdtemp(prefix="isf-bench-"))
    embedded = EmbeddedPostgres(var / "pgdata")
    embedded.start()
    try:
        embedded.ensure_database()
        urls = {"embedded": embedded.url(), "server": _server_url(base)}
        for url in urls.values():
            _prepare(url, var)
        best: dict[str, float] = {}
        for round_ in range(args.rounds):
            for name in ("embedded", "server") if round_ % 2 == 0 else ("server", "embedded"):
                result = _measure(urls[name], var, args.points)
                rate = result["rows"] / result["seconds"]
                print(
                    f"round {round_ + 1} {name:8}: {result['rows']:,} points in {result['seconds']:.2f} s"
                    f" = {rate:,.0f} points/s"
                )
                best[name] = max(best.get(name, 0.0), rate)
    finally:
        embedded.stop()
    ratio = best["embedded"] / best["server"]
    print(
        f"best: embedded {best['embedded']:,.0f} points/s, server {best['server']:,.0f} points/s, "
        f"ratio {ratio:.2f} (target >= 0.8)"
    )
    print(
        f"RESULT embedded_points_per_s={best['embedded']:.0f} server_points_per_s={best['server']:.0f} "
        f"ratio_embedded_server={ratio:.3f} target_met={str(ratio >= 0.8).lower()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
