"""Ingestion throughput: 1M metric points end to end vs raw psycopg binary COPY vs MLflow log_batch.

Run against PostgreSQL (the database is migrated if needed; the benchmark's rows are removed afterwards):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/isoflop_bench .venv/bin/python benchmarks/bench_ingest.py

- end to end: `ingestion.services.ingest_job_create` (hash + store the uploaded CSV) and
  `ingestion.services.ingest_file_process` (the Celery task body: parse, map onto the catalog, binary COPY,
  series summaries, job progress), i.e. everything but the broker hop.
- raw COPY: psycopg 3 `cursor.copy("COPY ... FROM STDIN (FORMAT BINARY)")` with `set_types` + `write_row`
  over the same rows, already in memory as Python tuples (the ordinary way to use COPY).
- MLflow: `MlflowClient().log_batch` with 1000 metrics per call (MLflow's per-call limit) into a local file
  store; by default timed on a subset (--mlflow-points) because it is orders of magnitude slower.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ingestion.services import jobs, processing
from tracker.accounts import services as account_services

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# MLflow 3 keeps its file store only on request; it needs no server and no SQLAlchemy (mlflow-skinny).
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def make_csv(n_steps: int, metrics: list[str]) -> bytes:
    rng = np.random.default_rng(0)
    steps = np.arange(n_steps, dtype=np.int64)
    cols = [steps.astype(str)]
    for k, _ in enumerate(metrics):
        values = 2.0 + 8.0 / np.sqrt(steps + 1.0 + k) + rng.normal(0, 0.01, n_steps)
        cols.append(np.char.mod("%.6f", values))
    body = "\n".join(",".join(row) for row in zip(*cols))
    return ("step," + ",".join(metrics) + "\n" + body + "\n").encode()


def bench_end_to_end(data: bytes, team, user) -> tuple[float, int]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from ingestion.models import IngestFile

    t0 = time.perf_counter()
    job = jobs.ingest_job_create(
        team=team, user=user, source="api", uploads=[SimpleUploadedFile("bench.csv", data)], enqueue=False
    )
    file = IngestFile.objects.get(job=job)
    processing.ingest_file_process(file_id=file.pk)
    elapsed = time.perf_counter() - t0
    file.refresh_from_db()
    if file.status != "done":
        raise SystemExit(f"end-to-end ingest failed: {file.errors}")
    return elapsed, file.rows_done


def bench_raw_copy(rows_by_series: list[tuple[int, np.ndarray, np.ndarray]]) -> tuple[float, int]:
    from django.db import connection, transaction

    rows = [
        (series_id, s, v, None)
        for series_id, steps, values in rows_by_series
        for s, v in zip(steps.tolist(), values.tolist())
    ]
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(
            "COPY tracker_metricpoint (series_id, step, value, wall_time) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int8", "float8", "float8"])
            for row in rows:
                copy.write_row(row)
    return time.perf_counter() - t0, len(rows)


def bench_mlflow(series: list[tuple[str, np.ndarray, np.ndarray]], n_points: int) -> tuple[float, int]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    store = tempfile.mkdtemp(prefix="mlflow-bench-")
    client = MlflowClient(tracking_uri=f"file://{store}")
    exp = client.create_experiment("bench")
    run = client.create_run(exp)
    metrics = []
    per_series = max(1, n_points // len(series))
    for name, steps, values in series:
        metrics += [
            Metric(name, float(v), 1_700_000_000_000 + int(s), int(s))
            for s, v in zip(steps[:per_series].tolist(), values[:per_series].tolist())
        ]
    t0 = time.perf_counter()
    for i in range(0, len(metrics), 1000):
        client.log_batch(run.info.run_id, metrics=metrics[i : i + 1000])
    return time.perf_counter() - t0, len(metrics)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=250_000)
    parser.add_argument("--metrics", type=int, default=4)
    parser.add_argument("--mlflow-points", type=int, default=50_000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of end-to-end + raw COPY; best is reported"
    )
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from ingestion.parsers.dispatch import parse_document
    from tracker.models import MetricSeries, TrainingRun

    if not settings.IS_POSTGRES:
        raise SystemExit("set DATABASE_URL=postgres://... (COPY needs PostgreSQL)")
    call_command("migrate", verbosity=0)
    names = ["loss", "lr", "grad_norm", "throughput", "val_loss", "ppl", "mfu", "tokens"][: args.metrics]
    data = make_csv(args.steps, names)
    total = args.steps * len(names)
    print(
        f"run log: {len(data) / 1e6:.1f} MB CSV, {args.steps} steps x {len(names)} metrics = {total} points"
    )

    e2e_times, raw_times = [], []
    for attempt in range(args.repeat):
        # A fresh team per round: the same file in the same team would (rightly) be skipped as a duplicate.
        suffix = f"{os.getpid()}-{attempt}-{time.time_ns()}"
        team = account_services.team_create(name=f"bench-{suffix}")
        user = get_user_model().objects.create_user(username=f"bench-{suffix}")
        try:
            e2e_s, e2e_rows = bench_end_to_end(data, team, user)
            assert e2e_rows == total, (e2e_rows, total)
            parsed = parse_document("bench.csv", data)
            run = TrainingRun.objects.create(team=team, name="raw-copy")
            by_series = []
            for rec in parsed.run_log.series:
                s = MetricSeries.objects.create(run=run, name=rec.name)
                by_series.append((s.pk, np.asarray(rec.steps), np.asarray(rec.values)))
            raw_s, raw_rows = bench_raw_copy(by_series)
            assert raw_rows == total
        finally:
            with connection.cursor() as cursor:
                cursor.execute(
                    "DELETE FROM tracker_metricpoint WHERE series_id IN "
                    "(SELECT s.id FROM tracker_metricseries s JOIN tracker_trainingrun r ON s.run_id = r.id "
                    "WHERE r.team_id = %s)",
                    [team.pk],
                )
            team.delete()
            user.delete()
        e2e_times.append(e2e_s)
        raw_times.append(raw_s)
        print(f"round {attempt + 1}: end to end {e2e_s:.2f} s, raw COPY {raw_s:.2f} s")

    parsed = parse_document("bench.csv", data)
    ml_s, ml_rows = bench_mlflow(
        [(rec.name, np.asarray(rec.steps), np.asarray(rec.values)) for rec in parsed.run_log.series],
        args.mlflow_points,
    )
    # Best of the rounds: on a shared machine the minimum is the least disturbed measurement.
    e2e, raw, ml = total / min(e2e_times), total / min(raw_times), ml_rows / ml_s
    print(
        f"end to end (store + parse + COPY + summaries): {total} points, best {min(e2e_times):.2f} s = {e2e:,.0f} points/s"
    )
    print(
        f"raw psycopg binary COPY (write_row):           {total} points, best {min(raw_times):.2f} s = {raw:,.0f} points/s"
    )
    print(
        f"MLflow log_batch (file store, 1000/call):      {ml_rows} points in {ml_s:.2f} s = {ml:,.0f} points/s"
    )
    print(f"ratio end-to-end / raw COPY = {e2e / raw:.2f}x (target >= 0.5x)")
    print(f"ratio end-to-end / MLflow   = {e2e / ml:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
