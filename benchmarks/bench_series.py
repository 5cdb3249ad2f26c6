"""Curve request vs raw COPY of the same 1,000,000-point series, measured side by side on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/isoflop_rollup_bench ISOFLOP_VAR_DIR=/tmp/var-rollup \
        .venv/bin/python benchmarks/bench_series.py -n 30

Loads one run with a 1M-point loss curve (binary COPY, 10 injected spikes) and builds its rollups in setup
(timed and reported on their own), then alternates, N times each, `COPY (SELECT step, value ...) TO STDOUT`
read fully by psycopg with these `GET /runs/<id>/series/<sid>/data` requests (whole Django request through
the test client):
  - whole curve, cache cleared before every request: answered from the rollup cells;
  - zoom to the middle 10% (rollup cells) and to the middle 1% (too narrow: raw points, SQL M4);
  - whole curve, cached: the normal path after the first page load, kept until the series changes.
Prints p50/p95 of each, its p50 ratio to the raw COPY p50, the load average before and after,
and how many of the 10 spikes the whole-curve answer shows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from core.roles import Role  # noqa: E402
from tracker.accounts import services as account_services  # noqa: E402
from tracker.models import MetricSeries, MetricSeriesRollup, Team, TrainingRun  # noqa: E402
from tracker.runs.series import rollups  # noqa: E402
from tracker.runs.series.copy import SeriesPoints, points_insert_new  # noqa: E402

N_POINTS = 1_000_000
N_SPIKES = 10
TARGET_RATIO = 0.15


def load_series(seed: int) -> tuple[MetricSeries, np.ndarray]:
    team = Team.objects.filter(slug="bench-curves").first() or account_services.team_create(
        name="bench-curves"
    )
    TrainingRun.objects.filter(team=team).delete()
    run = TrainingRun.objects.create(team=team, name="bench 1M")
    series = MetricSeries.objects.create(run=run, name="loss")
    rng = np.random.default_rng(seed)
    steps = np.arange(N_POINTS, dtype=np.int64)
    values = 2.0 + 8.0 / np.sqrt(steps + 10.0) + rng.normal(0.0, 0.02, N_POINTS)
    spike_idx = rng.choice(N_POINTS, N_SPIKES, replace=False)
    values[spike_idx] += 25.0
    pts = SeriesPoints(series_id=series.pk, steps=steps, values=values, wall_times=np.full(N_POINTS, np.nan))
    with transaction.atomic():
        points_insert_new(batches=[pts])  # the ingestion fast path: COPY and summary, no rollups yet
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tracker_metricpoint")
    series.refresh_from_db()
    return series, steps[spike_idx]


def raw_copy_seconds(series_id: int) -> tuple[float, int]:
    start = time.perf_counter()
    n_bytes = 0
    with connection.cursor() as cursor:
        sql = "COPY (SELECT step, value FROM tracker_metricpoint WHERE series_id = %s) TO STDOUT"
        with cursor.cursor.copy(sql, (series_id,)) as copy:
            for chunk in copy:
                n_bytes += len(chunk)
    return time.perf_counter() - start, n_bytes


def request_seconds(client: Client, url: str, *, cold: bool) -> tuple[float, dict]:
    if cold:
        cache.clear()
    start = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.content[:300]
    return elapsed, response.json()


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("needs DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    setup_test_environment()
    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    series, spike_steps = load_series(args.seed)
    print(
        f"loaded {series.n_points:,} points in {time.perf_counter() - t0:.1f}s; spikes at {sorted(spike_steps)}"
    )
    t0 = time.perf_counter()
    series = rollups.series_rollup_build(series_id=series.pk, force=True)
    build_s = time.perf_counter() - t0
    n_cells = MetricSeriesRollup.objects.filter(series=series).count()
    print(
        f"rollup build: {build_s * 1e3:.0f} ms, levels {series.rollup_min_level}..{series.rollup_max_level}, "
        f"{n_cells:,} cells"
    )

    user = get_user_model().objects.filter(username="bench-curves").first()
    if user is None:
        user = get_user_model().objects.create_user(username="bench-curves", password=None)
    account_services.membership_set(team=series.run.team, user=user, role=Role.VIEWER)
    client = Client()
    client.force_login(user)
    base = reverse("runs:series-data", args=[series.run_id, series.pk])
    whole = base + "?points=2000"
    mid = N_POINTS // 2
    zoom10 = f"{base}?points=2000&x0={mid - N_POINTS // 20}&x1={mid + N_POINTS // 20 - 1}"
    zoom1 = f"{base}?points=2000&x0={mid - N_POINTS // 200}&x1={mid + N_POINTS // 200 - 1}"

    raw_copy_seconds(series.pk)  # warm shared buffers for both sides alike
    for url in (whole, zoom10, zoom1):
        request_seconds(client, url, cold=True)
    load_before = os.getloadavg()
    timings: dict[str, list[float]] = {k: [] for k in ("copy", "cold", "zoom10", "zoom1", "warm")}
    body: dict = {}
    shown: dict[str, str] = {}
    for _ in range(args.n):
        t, n_bytes = raw_copy_seconds(series.pk)
        timings["copy"].append(t)
        t, body = request_seconds(client, whole, cold=True)
        timings["cold"].append(t)
        for key, url in (("zoom10", zoom10), ("zoom1", zoom1)):
            t, zoom_body = request_seconds(client, url, cold=False)
            timings[key].append(t)
            shown[key] = f"{zoom_body['shown']} of {zoom_body['total']:,}"
        t, warm_body = request_seconds(client, whole, cold=False)
        timings["warm"].append(t)
        assert warm_body == body
    load_after = os.getloadavg()
    visible = set(body["steps"])
    found = sum(1 for s in spike_steps.tolist() if s in visible)
    print(f"N={args.n} each, interleaved; load average (1/5/15 min) before {load_before}, after {load_after}")
    copy_p50 = statistics.median(timings["copy"])
    print(
        f"{'raw COPY TO STDOUT (' + f'{n_bytes / 1e6:.1f} MB)':<40} p50 {copy_p50 * 1e3:7.1f} ms  "
        f"p95 {p(timings['copy'], 95) * 1e3:7.1f} ms"
    )
    rows = (
        ("cold", f"whole curve, uncached ({body['shown']} of {body['total']:,})", TARGET_RATIO),
        ("zoom10", f"zoom middle 10% ({shown['zoom10']})", None),
        ("zoom1", f"zoom middle 1% ({shown['zoom1']})", None),
        ("warm", "whole curve, cached", None),
    )
    for key, label, target in rows:
        ts = timings[key]
        ratio = statistics.median(ts) / copy_p50
        verdict = "" if target is None else f" ({'meets' if ratio <= target else 'MISSES'} <= {target})"
        print(
            f"{label:<40} p50 {p(ts, 50) * 1e3:7.1f} ms  p95 {p(ts, 95) * 1e3:7.1f} ms  "
            f"ratio p50 {ratio:.3f}{verdict}"
        )
    print(f"spikes visible in the whole curve: {found} of {N_SPIKES}")
    return 0 if found == N_SPIKES else 1


if __name__ == "__main__":
    raise SystemExit(main())
