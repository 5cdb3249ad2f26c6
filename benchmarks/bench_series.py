"""Curve requests and CSV export of a 1,000,000-point series vs raw `COPY ... TO STDOUT` of the same rows.

    createdb -h 127.0.0.1 -U postgres isoflop_bench_series
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/isoflop_bench_series ISOFLOP_VAR_DIR=/tmp/var-bench \\
        .venv/bin/python benchmarks/bench_series.py -n 30

Loads one run with a 1M-point loss curve (2 + 8/sqrt(step + 10) + N(0, 0.02) printed with 6 decimals, wall
times in ms, 10 injected +25 spikes) through `points_insert_new` (compressed chunks; rollups built in the
same transaction, timed on their own), and the same rows into a narrow table shaped like the old
`tracker_metricpoint` (primary key (series_id, step)) as the baseline. Then alternates, N times each:
  - `COPY (SELECT step, value FROM narrow WHERE series_id = ...) TO STDOUT`, read fully by psycopg;
  - `GET /runs/<id>/series/<sid>/data` through the test client (whole Django request):
    whole curve with the cache cleared before every request (rollup blocks), zoom to the middle 10%
    (rollup blocks), zoom to the middle 1% (too narrow for rollups: the chunks decoded, M4 in NumPy), and
    the whole curve cached (the normal path after the first page load);
  - the CSV export `GET /runs/<id>/series/<sid>/csv` read to the end, against the old export query
    `COPY (SELECT step, value, wall_time ... ORDER BY step) TO STDOUT (FORMAT csv, HEADER)` on the narrow
    table; the two must be byte-identical.
Prints p50/p95 of each, the p50 ratio to its COPY baseline, the load average, and how many of the 10
spikes the whole-curve answer shows.
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
from tracker.models import MetricSeries, Team, TrainingRun  # noqa: E402
from tracker.runs.series import rollups  # noqa: E402
from tracker.runs.series.copy import SeriesPoints, binary_copy_payload, points_insert_new  # noqa: E402

N_POINTS = 1_000_000
N_SPIKES = 10
TARGET_RATIO = 0.05
TARGET_CSV_RATIO = 1.0
NARROW = "bench_narrow_points"


def stored_bytes() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('tracker_metricchunk') + pg_total_relation_size('tracker_metricrollupblock')"
        )
        return int(cursor.fetchone()[0])


def load_series(seed: int) -> tuple[MetricSeries, np.ndarray, float, float]:
    team = Team.objects.filter(slug="bench-curves").first() or account_services.team_create(
        name="bench-curves"
    )
    TrainingRun.objects.filter(team=team).delete()
    with connection.cursor() as cursor:
        # A dedicated database (checked in main): the metric tables then hold this series alone.
        cursor.execute("TRUNCATE tracker_metricchunk, tracker_metricrollupblock")
    run = TrainingRun.objects.create(team=team, name="bench 1M")
    series = MetricSeries.objects.create(run=run, name="loss")
    rng = np.random.default_rng(seed)
    steps = np.arange(N_POINTS, dtype=np.int64)
    raw = 2.0 + 8.0 / np.sqrt(steps + 10.0) + rng.normal(0.0, 0.02, N_POINTS)
    spike_idx = rng.choice(N_POINTS, N_SPIKES, replace=False)
    raw[spike_idx] += 25.0
    values = np.array(np.char.mod("%.6f", raw), dtype=np.float64)  # what a trainer prints and we parse
    walls = np.round(1.7e9 + np.cumsum(0.5 + rng.exponential(0.02, N_POINTS)), 3)
    pts = SeriesPoints(series_id=series.pk, steps=steps, values=values, wall_times=walls)
    t0 = time.perf_counter()
    with transaction.atomic():
        points_insert_new(batches=[pts])  # chunks, summary and rollups, as ingestion writes them
    insert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {NARROW} (series_id bigint, step bigint, value double precision, "
            "wall_time double precision, PRIMARY KEY (series_id, step))"
        )
        cursor.execute(f"TRUNCATE {NARROW}")
        with cursor.copy(
            f"COPY {NARROW} (series_id, step, value, wall_time) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(binary_copy_payload([pts]))
        cursor.execute(f"VACUUM ANALYZE {NARROW}")
        cursor.execute("ANALYZE tracker_metricchunk")
        cursor.execute("ANALYZE tracker_metricrollupblock")
    narrow_s = time.perf_counter() - t0
    series.refresh_from_db()
    return series, steps[spike_idx], insert_s, narrow_s


def copy_seconds(sql: str, params: tuple[object, ...]) -> tuple[float, bytes]:
    start = time.perf_counter()
    parts = []
    with connection.cursor() as cursor, cursor.copy(sql, params) as copy:
        for chunk in copy:
            parts.append(bytes(chunk))
    return time.perf_counter() - start, b"".join(parts)


def request_seconds(client: Client, url: str, *, cold: bool) -> tuple[float, dict]:
    if cold:
        cache.clear()
    start = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.content[:300]
    return elapsed, response.json()


def csv_seconds(client: Client, url: str) -> tuple[float, bytes]:
    start = time.perf_counter()
    response = client.get(url)
    body = b"".join(response.streaming_content)
    return time.perf_counter() - start, body


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--csv-n", type=int, default=5, help="rounds of the (slower) CSV comparison")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("needs DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    if "bench" not in connection.settings_dict["NAME"]:
        print(
            "use a dedicated database whose name contains 'bench': its metric tables are emptied",
            file=sys.stderr,
        )
        return 2
    setup_test_environment()
    call_command("migrate", verbosity=0)
    series, spike_steps, insert_s, narrow_s = load_series(args.seed)
    levels = f"{series.rollup_min_level}..{series.rollup_max_level}"
    bytes_per_point = stored_bytes() / N_POINTS
    print(
        f"loaded {series.n_points:,} points: chunks + rollups (levels {levels}) in {insert_s:.2f} s; "
        f"narrow baseline table in {narrow_s:.2f} s; spikes at {sorted(spike_steps.tolist())}"
    )
    print(f"stored: chunks + rollups incl. TOAST and indexes = {bytes_per_point:.2f} bytes/point")
    t0 = time.perf_counter()
    rollups.series_rollup_build(series_id=series.pk, force=True)
    print(
        f"rollup rebuild from the stored chunks (what a reader or the worker does after a change): "
        f"{(time.perf_counter() - t0) * 1e3:.0f} ms"
    )

    user = get_user_model().objects.filter(username="bench-curves").first()
    if user is None:
        user = get_user_model().objects.create_user(username="bench-curves", password=None)
    account_services.membership_set(team=series.run.team, user=user, role=Role.VIEWER)
    client = Client()
    client.force_login(user)
    base = reverse("runs:series-data", args=[series.run_id, series.pk])
    csv_url = reverse("runs:series-csv", args=[series.run_id, series.pk])
    whole = base + "?points=2000"
    mid = N_POINTS // 2
    zoom10 = f"{base}?points=2000&x0={mid - N_POINTS // 20}&x1={mid + N_POINTS // 20 - 1}"
    zoom1 = f"{base}?points=2000&x0={mid - N_POINTS // 200}&x1={mid + N_POINTS // 200 - 1}"
    copy_sql = f"COPY (SELECT step, value FROM {NARROW} WHERE series_id = %s) TO STDOUT"
    csv_sql = (
        f"COPY (SELECT step, value, wall_time FROM {NARROW} WHERE series_id = %s ORDER BY step) "
        "TO STDOUT WITH (FORMAT csv, HEADER)"
    )

    copy_seconds(copy_sql, (series.pk,))  # warm shared buffers for both sides alike
    for url in (whole, zoom10, zoom1):
        request_seconds(client, url, cold=True)
    load_before = os.getloadavg()
    timings: dict[str, list[float]] = {
        k: [] for k in ("copy", "cold", "zoom10", "zoom1", "warm", "csvcopy", "csv")
    }
    body: dict = {}
    shown: dict[str, str] = {}
    for _ in range(args.n):
        t, raw = copy_seconds(copy_sql, (series.pk,))
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
    identical = True
    for _ in range(args.csv_n):
        t, old_csv = copy_seconds(csv_sql, (series.pk,))
        timings["csvcopy"].append(t)
        t, new_csv = csv_seconds(client, csv_url)
        timings["csv"].append(t)
        identical &= new_csv == old_csv
    load_after = os.getloadavg()
    visible = set(body["steps"])
    found = sum(1 for s in spike_steps.tolist() if s in visible)
    print(
        f"N={args.n} each (CSV {args.csv_n}), interleaved; load average before {load_before}, after {load_after}"
    )
    copy_p50 = statistics.median(timings["copy"])
    csvcopy_p50 = statistics.median(timings["csvcopy"])
    print(
        f"{'raw COPY TO STDOUT (' + f'{len(raw) / 1e6:.1f} MB)':<44} p50 {copy_p50 * 1e3:7.1f} ms  "
        f"p95 {p(timings['copy'], 95) * 1e3:7.1f} ms"
    )
    print(
        f"{'raw COPY TO csv, old export (' + f'{len(old_csv) / 1e6:.1f} MB)':<44} p50 {csvcopy_p50 * 1e3:7.1f} ms  "
        f"p95 {p(timings['csvcopy'], 95) * 1e3:7.1f} ms"
    )
    ratios = {}
    rows = (
        ("cold", f"whole curve, uncached ({body['shown']} of {body['total']:,})", copy_p50, TARGET_RATIO),
        ("zoom10", f"zoom middle 10% ({shown['zoom10']})", copy_p50, TARGET_RATIO),
        ("zoom1", f"zoom middle 1% ({shown['zoom1']})", copy_p50, TARGET_RATIO),
        ("warm", "whole curve, cached", copy_p50, None),
        ("csv", f"CSV export (identical bytes: {identical})", csvcopy_p50, TARGET_CSV_RATIO),
    )
    for key, label, baseline, target in rows:
        ts = timings[key]
        ratio = statistics.median(ts) / baseline
        ratios[key] = ratio
        verdict = "" if target is None else f" ({'meets' if ratio <= target else 'MISSES'} <= {target})"
        print(
            f"{label:<44} p50 {p(ts, 50) * 1e3:7.1f} ms  p95 {p(ts, 95) * 1e3:7.1f} ms  "
            f"ratio p50 {ratio:.3f}{verdict}"
        )
    print(f"spikes visible in the whole curve: {found} of {N_SPIKES}")
    ok = (
        found == N_SPIKES
        and identical
        and all(ratios[k] <= TARGET_RATIO for k in ("cold", "zoom10", "zoom1"))
        and ratios["csv"] <= TARGET_CSV_RATIO
    )
    print(
        f"RESULT points={N_POINTS} bytes_per_point={bytes_per_point:.2f} copy_p50_ms={copy_p50 * 1e3:.1f} whole_p50_ms={p(timings['cold'], 50) * 1e3:.1f} "
        f"ratio_whole={ratios['cold']:.3f} ratio_zoom10={ratios['zoom10']:.3f} ratio_zoom1={ratios['zoom1']:.3f} "
        f"ratio_cached={ratios['warm']:.4f} spikes={found}/{N_SPIKES} csv_ratio={ratios['csv']:.2f} "
        f"csv_identical={int(identical)} ok={int(ok)}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
