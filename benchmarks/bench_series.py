"""Curve request vs raw COPY of the same 1,000,000-point series, measured side by side on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/isoflop_curves_bench .venv/bin/python benchmarks/bench_series.py

Loads one run with a 1M-point loss curve (binary COPY, 10 injected spikes), then alternates N requests of
`GET /runs/<id>/series/<sid>/data` (whole Django request through the test client) with
`COPY (SELECT step, value ...) TO STDOUT` read fully by psycopg. The data endpoint is timed twice:
"cold" clears the cache before every request, so the SQL M4 query runs each time; "warm" is the normal
path, where the whole-curve answer is kept until the series changes.
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
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from tracker import services  # noqa: E402
from tracker.models import MetricSeries, Role, Team, TrainingRun  # noqa: E402

N_POINTS = 1_000_000
N_SPIKES = 10
TARGET_RATIO = 0.15


def load_series(seed: int) -> tuple[MetricSeries, np.ndarray]:
    team = Team.objects.filter(slug="bench-curves").first() or services.team_create(name="bench-curves")
    TrainingRun.objects.filter(team=team).delete()
    run = TrainingRun.objects.create(team=team, name="bench 1M")
    series = MetricSeries.objects.create(run=run, name="loss")
    rng = np.random.default_rng(seed)
    steps = np.arange(N_POINTS, dtype=np.int64)
    values = 2.0 + 8.0 / np.sqrt(steps + 10.0) + rng.normal(0.0, 0.02, N_POINTS)
    spike_idx = rng.choice(N_POINTS, N_SPIKES, replace=False)
    values[spike_idx] += 25.0
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy("COPY tracker_metricpoint (series_id, step, value) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "int8", "float8"])
            for s, v in zip(steps.tolist(), values.tolist(), strict=True):
                copy.write_row((series.pk, s, v))
        cursor.execute("ANALYZE tracker_metricpoint")
    services.series_summary_refresh(series_id=series.pk)
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

    user = get_user_model().objects.filter(username="bench-curves").first()
    if user is None:
        user = get_user_model().objects.create_user(username="bench-curves", password=None)
    services.membership_set(team=series.run.team, user=user, role=Role.VIEWER)
    client = Client()
    client.force_login(user)
    url = reverse("series-data", args=[series.run_id, series.pk]) + "?points=2000"

    raw_copy_seconds(series.pk)  # warm shared buffers for both sides alike
    request_seconds(client, url, cold=True)
    copy_t: list[float] = []
    cold_t: list[float] = []
    warm_t: list[float] = []
    body: dict = {}
    for _ in range(args.n):
        t, n_bytes = raw_copy_seconds(series.pk)
        copy_t.append(t)
        t, body = request_seconds(client, url, cold=True)
        cold_t.append(t)
        t, warm_body = request_seconds(client, url, cold=False)
        warm_t.append(t)
        assert warm_body == body
    visible = set(body["steps"])
    found = sum(1 for s in spike_steps.tolist() if s in visible)
    print(f"N={args.n} requests each, {body['shown']} of {body['total']:,} points shown")
    print(
        f"raw COPY ({n_bytes / 1e6:.1f} MB): p50 {p(copy_t, 50) * 1e3:7.1f} ms  p95 {p(copy_t, 95) * 1e3:7.1f} ms"
    )
    for label, ts in (("data endpoint, cold (SQL M4)", cold_t), ("data endpoint, warm (cached)", warm_t)):
        ratio = statistics.median(ts) / statistics.median(copy_t)
        verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
        print(
            f"{label}: p50 {p(ts, 50) * 1e3:7.1f} ms  p95 {p(ts, 95) * 1e3:7.1f} ms  "
            f"ratio p50 {ratio:.3f} ({verdict} <= {TARGET_RATIO})"
        )
    print(f"spikes visible: {found} of {N_SPIKES}")
    return 0 if found == N_SPIKES else 1


if __name__ == "__main__":
    raise SystemExit(main())
