"""Webhook load on loopback while heavy work is in flight: a long PDF report and a large fit run on their
own queues while 500 signed run.finished deliveries arrive in 60 s from 50 concurrent senders (5 % exact
duplicates). Reports acknowledgement latency and checks exactly-once processing after the drain.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/isoflop_harden_load \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/14 .venv/bin/python benchmarks/load_webhooks.py

Creates the database if missing and migrates it, loads the demo, starts gunicorn (2 gthread workers x 8
threads), a webhooks worker and a worker for the heavy queues (report, fit), queues a PDF report over every
demo run and a Chinchilla fit with 1,000 bootstrap replicates, waits until both are running, then sends.
Only 127.0.0.1 is contacted; every wait is bounded. Exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

P99_TARGET_S = 2.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    # Nearest-rank percentile: the smallest sample with at least q % of the samples at or below it.
    index = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def _ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')  # name comes from the operator's DATABASE_URL
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gunicorn exited during start")
        try:
            urllib.request.urlopen(url, timeout=2).read()  # noqa: S310 - loopback URL built here
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def _celery(env: dict[str, str], queues: str, name: str, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues, "--concurrency=2"]
    cmd += ["--loglevel=WARNING", "--without-gossip", "--without-mingle", "-n", f"{name}-{os.getpid()}@%h"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _start(env: dict[str, str], port: int, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    web = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--backlog",
            "256",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=(log_dir / "load-web.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    prefix = env["ISOFLOP_QUEUE_PREFIX"]
    hooks = _celery(env, f"{prefix}webhooks,{prefix}maintenance", "load-hooks", log_dir / "load-hooks.log")
    heavy = _celery(
        env, f"{prefix}report,{prefix}fit,{prefix}ingest", "load-heavy", log_dir / "load-heavy.log"
    )
    _wait_http(f"http://127.0.0.1:{port}/health/web/", web, 30)
    return [web, hooks, heavy]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="deliveries sent, duplicates included")
    parser.add_argument("--senders", type=int, default=50, help="concurrent sender threads")
    parser.add_argument("--seconds", type=float, default=60.0, help="sending is spread evenly over this")
    parser.add_argument("--duplicates", type=float, default=0.05, help="share of exact duplicate deliveries")
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    args = parser.parse_args()

    database = os.environ.get("DATABASE_URL", "")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not database.startswith("postgres") or not broker.startswith("redis://"):
        raise SystemExit("set DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://...")
    os.environ["ISOFLOP_QUEUE_PREFIX"] = f"load-{os.getpid()}-"
    queue = f"load-{os.getpid()}-webhooks"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    _ensure_database(database)

    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from analytics.demo import load_demo_studies
    from analytics.models import Report, Study
    from analytics.reports import services as report_services
    from analytics.studies import services as study_services
    from ingestion.models import WebhookDelivery
    from tests.hardening.stack import free_port, send_signed
    from tracker.accounts import services as account_services
    from tracker.demo import load_demo
    from tracker.models import Integration, Team, TrainingRun, WebhookSecret

    stamp = f"{int(time.time())}-{os.getpid()}"
    user = get_user_model().objects.create_user(username=f"load-{stamp}", password=secrets.token_urlsafe(16))
    team = account_services.team_create(name=f"Load {stamp}")
    integration = Integration.objects.create(team=team, name="load", slug=f"load-{stamp}", created_by=user)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    WebhookSecret.objects.create(integration=integration, secret=secret)

    n_dup = round(args.count * args.duplicates)
    unique = [f"load-{stamp}-{i}" for i in range(args.count - n_dup)]
    rng = random.Random(7)
    # A duplicate is the same delivery again (same id and body); it goes out a little after its original,
    # close enough that some overlap with the original's processing.
    order: list[tuple[str, int]] = [(msg_id, i) for i, msg_id in enumerate(unique)]
    for _ in range(n_dup):
        i = rng.randrange(len(unique))
        order.insert(min(len(order), order.index((unique[i], i)) + rng.randint(1, 20)), (unique[i], i))

    env = dict(os.environ)
    env["DATABASE_CONN_MAX_AGE"] = "60"
    env["DJANGO_DEBUG"] = "0"
    port = free_port()
    log_dir = Path(settings.VAR_DIR)
    processes = _start(env, port, log_dir)
    base = f"http://127.0.0.1:{port}"

    # The heavy work, queued first and running when the webhooks arrive.
    load_demo()
    demo = Team.objects.get(slug="demo-lab")
    load_demo_studies(team=demo)
    fit_study = study_services.study_create(
        team=demo,
        name=f"load fit {stamp}",
        kind="chinchilla",
        run_filter={"external_id__startswith": "datablations:"},
        options={"n_bootstrap": 1000},
    )
    study_services.study_refit_enqueue(study=fit_study)
    demo_admin = get_user_model().objects.get(username="admin")
    run_ids = list(TrainingRun.objects.filter(team=demo).values_list("pk", flat=True))
    report = report_services.report_request(
        user=demo_admin, team=demo, scope="run_set", params={"run_ids": run_ids}, formats=["pdf", "html"]
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        report.refresh_from_db()
        fit_running = Study.objects.filter(pk=fit_study.pk, fits__isnull=True).exists()
        if report.status == Report.Status.RUNNING and fit_running:
            break
        time.sleep(0.2)
    report_running_at_start = report.status == Report.Status.RUNNING
    fit_running_at_start = not fit_study.fits.exists()
    results: list = []
    errors: list[str] = []
    lock = threading.Lock()
    cursor = iter(enumerate(order))
    interval = args.seconds / len(order)
    try:
        started = time.monotonic()

        def sender() -> None:
            while True:
                with lock:
                    item = next(cursor, None)
                if item is None:
                    return
                slot, (msg_id, i) = item
                delay = started + slot * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                payload = {
                    "type": "run.finished",
                    "data": {"external_id": f"run-{msg_id}", "final_loss": 2.0 + i / 1000, "gpu_hours": 8.0},
                }
                try:
                    sent = send_signed(
                        base, slug=integration.slug, secret=secret, msg_id=msg_id, payload=payload
                    )
                except OSError as exc:
                    with lock:
                        errors.append(f"{msg_id}: {exc}")
                    continue
                with lock:
                    results.append(sent)

        threads = [threading.Thread(target=sender) for _ in range(args.senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds + 120)
        send_seconds = time.monotonic() - started

        queue_client = redis.Redis.from_url(broker, socket_timeout=5)
        deliveries = WebhookDelivery.objects.filter(integration=integration)
        drain_started = time.monotonic()
        while time.monotonic() - drain_started < args.drain_timeout:
            done = deliveries.filter(status="processed").count()
            if done >= len(unique) and queue_client.llen(queue) == 0:
                break
            time.sleep(0.5)
        drain_seconds = time.monotonic() - drain_started
        heavy_deadline = time.monotonic() + 600
        while time.monotonic() < heavy_deadline:
            report.refresh_from_db()
            if report.status in (Report.Status.DONE, Report.Status.FAILED) and fit_study.fits.exists():
                break
            time.sleep(1)
        report.refresh_from_db()
        fit = fit_study.fits.order_by("-version").first()
    finally:
        for proc in processes:
            _stop(proc)

    latencies = [r.seconds for r in results]
    statuses: dict[str, int] = {}
    for r in results:
        try:
            outcome = json.loads(r.body).get("status") or json.loads(r.body).get("error", "?")
        except ValueError:
            outcome = "non-JSON"
        key = f"{r.status} {outcome}"
        statuses[key] = statuses.get(key, 0) + 1
    rows = list(deliveries.values_list("delivery_id", "status", "attempts", "enqueued_at"))
    runs = list(TrainingRun.objects.filter(team=team).values_list("external_id", flat=True))
    checks = {
        "every request answered 2xx": not errors and all(200 <= r.status < 300 for r in results),
        "one delivery row per unique id": sorted(r[0] for r in rows) == sorted(unique),
        "every delivery processed": all(r[1] == "processed" for r in rows),
        "each processed exactly once (attempts == 1)": all(r[2] == 1 for r in rows),
        "one run per unique external id": sorted(runs) == sorted(f"run-{u}" for u in unique),
        "queue drained": queue_client.llen(queue) == 0,
        "the PDF report was running when sending began": report_running_at_start,
        "the 1,000-replicate fit was running when sending began": fit_running_at_start,
        "the report finished (done)": report.status == Report.Status.DONE,
        "the fit landed": fit is not None and fit.status == "current",
        f"p99 acknowledgement < {P99_TARGET_S} s": bool(latencies)
        and _percentile(latencies, 99) < P99_TARGET_S,
    }
    print(
        f"sent {len(results)} webhooks ({len(unique)} unique, {n_dup} duplicates) from {args.senders} senders"
    )
    print(
        f"sending took {send_seconds:.1f} s ({len(results) / send_seconds:.1f}/s); transport errors: {len(errors)}"
    )
    print("responses: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    if latencies:
        print(
            "ack latency ms: p50 {:.1f}  p95 {:.1f}  p99 {:.1f}  max {:.1f}  mean {:.1f}".format(
                *(1000 * _percentile(latencies, q) for q in (50, 95, 99, 100)),
                1000 * statistics.mean(latencies),
            )
        )
    print(
        f"drained in {drain_seconds:.1f} s after the last send; unpublished rows: {sum(r[3] is None for r in rows)}"
    )
    print(f"processed {sum(r[1] == 'processed' for r in rows)} / {len(unique)}; runs {len(runs)}")
    print(
        f"in flight meanwhile: PDF report {report.pk} ({report.status}), fit of study {fit_study.pk} "
        f"({fit.status if fit else 'none'}, {fit.goodness.get('n_points') if fit else 0} runs)"
    )
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    p50, p99, top = (1000 * _percentile(latencies, q) for q in (50, 99, 100)) if latencies else (0, 0, 0)
    print(
        f"RESULT ack_p50_ms={p50:.1f} ack_p99_ms={p99:.1f} ack_max_ms={top:.1f} "
        f"processed={sum(r[1] == 'processed' for r in rows)} unique={len(unique)} "
        f"exactly_once={str(all(r[2] == 1 for r in rows)).lower()} "
        f"report_in_flight={str(report_running_at_start).lower()} fit_in_flight={str(fit_running_at_start).lower()} "
        f"all_checks={str(all(checks.values())).lower()}"
    )
    for line in errors[:10]:
        print("  error:", line)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
