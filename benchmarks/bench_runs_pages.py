"""The runs pages at size: the list with 10,000 runs, and a run page with 6 panels over 1M-point series.

    createdb -h 127.0.0.1 -U postgres isoflop_bench_runs   # or let the script create it
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/isoflop_bench_runs ISOFLOP_VAR_DIR=/tmp/var-bench-runs \
        /work/main/.venv/bin/python benchmarks/bench_runs_pages.py -n 200 --loads 5

Seeds (idempotently) a team with `--runs` runs (N, D, final loss, status, hardware, model, tags, dates) and one
run with 6 series of `--points` points each (binary COPY, then rollups built as the worker would).

1. Runs page, filter + sort + page: `-n` requests through the whole Django stack (test client, template
   rendered), rotating over searches, status/tag/N/D filters, every sortable column and pages 1..20.
   Target: p95 < 200 ms. Also prints the SQL queries per request.
2. Run page first paint: gunicorn (DEBUG off, whitenoise, collected static) on 127.0.0.1 and Debian
   chromium through Playwright; time from navigation start to all 6 panels drawn (the page's
   "curves-drawn" performance mark), split into server, plotly.js and drawing. Server cache cold = a fresh
   server process (every window read from the rollups); fresh profile = also no browser cache (plotly.js,
   3.5 MB, compiled again: reported, and on this machine most of that load's time). Target: < 1.5 s with
   the server cache cold (max over the loads). Also checks that no curve ships more than 4,000 points.
Ends with `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/isoflop_bench_runs")


def _ensure_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


_ensure_database()

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from core.roles import Role  # noqa: E402
from tracker.accounts import services as account_services  # noqa: E402
from tracker.models import Hardware, MetricSeries, Model, RunTag, Team, TrainingRun  # noqa: E402
from tracker.runs.curves import MAX_POINTS  # noqa: E402
from tracker.runs.series import rollups  # noqa: E402
from tracker.runs.series.copy import SeriesPoints, points_insert_new  # noqa: E402

TEAM = "bench-runs"
USER, PASSWORD = "bench-runs", "bench-password-123"
BIG_RUN = "bench 6 x 1M"
PANELS = ["lm loss", "grad norm", "learning rate", "eval/loss", "throughput (tokens/s)", "loss scale"]
LIST_TARGET_MS = 200.0
PAINT_TARGET_MS = 1500.0


def seed(n_runs: int, n_points: int) -> tuple[Team, TrainingRun]:
    team = Team.objects.filter(slug=TEAM).first() or account_services.team_create(name=TEAM)
    user = get_user_model().objects.filter(username=USER).first()
    if user is None:
        user = get_user_model().objects.create_user(username=USER, password=PASSWORD)
    account_services.membership_set(team=team, user=user, role=Role.VIEWER)
    have = TrainingRun.objects.filter(team=team).exclude(name=BIG_RUN).count()
    if have != n_runs:
        t0 = time.perf_counter()
        TrainingRun.objects.filter(team=team).exclude(name=BIG_RUN).delete()
        rng = np.random.default_rng(7)
        hardware = [Hardware.objects.get_or_create(name=f"bench-gpu-{i}")[0] for i in range(5)]
        models = [Model.objects.get_or_create(name=f"bench-model-{i}")[0] for i in range(20)]
        statuses = [s for s, _ in TrainingRun.Status.choices]
        start = datetime(2023, 1, 1, tzinfo=UTC)
        runs = []
        for i in range(n_runs):
            n = float(10 ** rng.uniform(7, 11))
            d = float(n * 10 ** rng.uniform(0.5, 2.5))
            runs.append(
                TrainingRun(
                    team=team,
                    name=f"{['sweep', 'ablation', 'baseline', 'scale'][i % 4]}-{i:05d}",
                    status=statuses[i % len(statuses)],
                    parameters=n,
                    tokens=d,
                    final_loss=float(1.7 + 400 / n**0.34 + 410 / d**0.28) if i % 9 else None,
                    hardware=hardware[i % 5] if i % 7 else None,
                    gpu_count=int(2 ** rng.integers(0, 10)),
                    model=models[i % 20] if i % 3 else None,
                    started_at=start + timedelta(hours=int(rng.integers(0, 24 * 700))),
                    notes="diverged, restarted" if i % 50 == 0 else "",
                )
            )
        created = TrainingRun.objects.bulk_create(runs, batch_size=2000)
        tags = ["baseline", "lr-sweep", "ablation", "long-context", "synthetic"]
        RunTag.objects.bulk_create(
            [RunTag(run=r, name=tags[j % 5]) for k, r in enumerate(created) for j in range(k % 3)],
            batch_size=5000,
        )
        print(f"seeded {n_runs:,} runs in {time.perf_counter() - t0:.1f}s")
    big = TrainingRun.objects.filter(team=team, name=BIG_RUN).first()
    if (
        big is None
        or any(s.n_points != n_points for s in big.series.all())
        or big.series.count() != len(PANELS)
    ):
        t0 = time.perf_counter()
        TrainingRun.objects.filter(team=team, name=BIG_RUN).delete()
        big = TrainingRun.objects.create(
            team=team, name=BIG_RUN, parameters=1.3e9, config={"global_batch_size": 512, "seq_length": 2048}
        )
        rng = np.random.default_rng(1)
        steps = np.arange(n_points, dtype=np.int64)
        for i, name in enumerate(PANELS):
            series = MetricSeries.objects.create(run=big, name=name)
            values = 2.0 + 8.0 / np.sqrt(steps + 10.0) * (1 + i / 10) + rng.normal(0.0, 0.02, n_points)
            values[0] = 14.0
            with transaction.atomic():
                points_insert_new(
                    batches=[
                        SeriesPoints(
                            series_id=series.pk,
                            steps=steps,
                            values=values,
                            wall_times=np.full(n_points, np.nan),
                        )
                    ]
                )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE tracker_metricpoint")
        print(f"loaded {len(PANELS)} x {n_points:,} points in {time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        for series in big.series.all():
            rollups.series_rollup_build(series_id=series.pk, force=True)
        print(f"rollups built in {time.perf_counter() - t0:.1f}s")
    return team, big


def list_queries(rng: np.random.Generator, n: int) -> list[str]:
    sorts = [
        "name",
        "-date",
        "n",
        "-n",
        "d",
        "-flops",
        "loss",
        "-loss",
        "status",
        "hardware",
        "-model",
        "gpu_hours",
    ]
    filters = [
        "",
        "q=sweep",
        "q=restarted",
        "status=finished&status=running",
        "tag=lr-sweep",
        "n_min=1B",
        "n_min=100M&n_max=3B",
        "d_min=10B&loss_max=3",
        "model=bench-model-3&model=bench-model-4",
        "hardware=bench-gpu-1",
        "after=2023-06-01&before=2024-03-31",
        "c_min=1e20",
        "q=scale&tag=baseline",
    ]
    out = []
    for _ in range(n):
        parts = [p for p in (filters[int(rng.integers(len(filters)))],) if p]
        parts.append(f"sort={sorts[int(rng.integers(len(sorts)))]}")
        parts.append(f"page={int(rng.integers(1, 21))}")
        out.append("&".join(parts))
    return out


def bench_list(n: int) -> dict[str, float]:
    user = get_user_model().objects.get(username=USER)
    client = Client()
    client.force_login(user)
    url = reverse("runs:list")
    rng = np.random.default_rng(3)
    for q in list_queries(rng, 10):  # warm up connections and template caches
        client.get(f"{url}?{q}")
    times, queries = [], []
    for q in list_queries(rng, n):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get(f"{url}?{q}")
            times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (q, response.status_code)
        queries.append(len(ctx))
    print(
        f"runs page ({TrainingRun.objects.count():,} runs in the database): "
        f"p50 {statistics.median(times):.0f} ms, p95 {np.percentile(times, 95):.0f} ms, max {max(times):.0f} ms; "
        f"{max(queries)} queries per request"
    )
    return {"p50": statistics.median(times), "p95": float(np.percentile(times, 95)), "queries": max(queries)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(port: int, static_root: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, DJANGO_DEBUG="0", DJANGO_STATIC_ROOT=static_root, DATABASE_CONN_MAX_AGE="60")
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    cmd = [gunicorn, "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"]
    proc = subprocess.Popen([*cmd, "--worker-class", "gthread", "--log-level", "warning"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2).read()
            return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("gunicorn did not start within 30 s")


_TIMING = """(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const mark = (name) => performance.getEntriesByName(name)[0].startTime;
  const plotly = performance.getEntriesByType('resource').find(r => r.name.includes('plotly.min.js'));
  const data = JSON.parse(document.getElementById('curves-data').textContent);
  return {
    ttfb: nav.responseStart, html: nav.responseEnd, plotly: plotly ? plotly.responseEnd : null,
    init: mark('curves-init'), drawn: mark('curves-drawn'), panels: data.panels.length,
    most: Math.max(...data.panels.flatMap(p => p.traces.map(t => t.steps.length))),
  };
})()"""


def bench_paint(run: TrainingRun, loads: int) -> dict[str, float]:
    """First paint of the run page: navigation start to every panel drawn ("curves-drawn" mark).

    Each load starts a fresh server process (no cached windows: every panel is read from its rollups) and
    warms it with the runs list first, as a researcher would arrive. Load 1 is a fresh browser profile
    (plotly.js, 3.5 MB, downloaded and compiled); later loads keep the browser's cache, as any visit after
    the first chart page does. Each load is followed by two reloads (server and browser warm)."""
    from playwright.sync_api import sync_playwright

    static_root = tempfile.mkdtemp(prefix="bench-runs-static-")
    env = dict(os.environ, DJANGO_STATIC_ROOT=static_root)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}{reverse('runs:detail', args=[run.pk])}"
    fresh, cache_cold, warm = [], [], []
    proc = None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--headless=new", "--no-sandbox", "--disable-gpu"]
            )
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort())
            page = context.new_page()
            for i in range(loads):
                if proc is not None:
                    proc.terminate()
                    proc.wait(10)
                proc = _server(port, static_root)
                if i == 0:
                    page.goto(f"{base}/login/")
                    page.fill("input[name=username]", USER)
                    page.fill("input[name=password]", PASSWORD)
                    page.click("button[type=submit]")
                    page.wait_for_url(f"{base}/")
                page.goto(f"{base}/runs/")
                page.goto(url)
                page.wait_for_function("document.body.dataset.curvesReady === '1'", timeout=30_000)
                (fresh if i == 0 else cache_cold).append(page.evaluate(_TIMING))
                for _ in range(2):
                    page.reload()
                    page.wait_for_function("document.body.dataset.curvesReady === '1'", timeout=30_000)
                    warm.append(page.evaluate(_TIMING))
                if i == 0:
                    page.screenshot(path=str(ROOT / "test-artifacts" / "bench-run-6x1M.png"), full_page=True)
            context.close()
            browser.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)

    def show(label: str, loads: list[dict[str, float]]) -> None:
        t = (
            loads[0]
            if len(loads) == 1
            else {k: statistics.median(x[k] or 0 for x in loads) for k in loads[0]}
        )
        print(
            f"  {label:<44} {t['drawn']:6.0f} ms  (server {t['html']:.0f} ms, plotly.js in by "
            f"{t['plotly'] or 0:.0f} and run {t['init'] - max(t['plotly'] or 0, t['html']):.0f} ms, "
            f"6 panels drawn in {t['drawn'] - t['init']:.0f} ms)"
        )

    everything = fresh + cache_cold + warm
    print(
        f"run page, {everything[0]['panels']} panels over {run.series.first().n_points:,}-point series, first paint:"
    )
    show("fresh browser profile, server cache cold", fresh)
    if cache_cold:
        show(f"server cache cold, browser warm (p50 of {len(cache_cold)})", cache_cold)
    show(f"warm (p50 of {len(warm)})", warm)
    return {
        "fresh": fresh[0]["drawn"],
        "cold_p50": statistics.median(x["drawn"] for x in cache_cold or fresh),
        "cold_max": max(x["drawn"] for x in cache_cold or fresh),
        "warm_p50": statistics.median(x["drawn"] for x in warm),
        "panels": everything[0]["panels"],
        "max_points": max(x["most"] for x in everything),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200, help="runs page requests")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--loads", type=int, default=5, help="cold run-page loads (each then reloads twice)")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("needs DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    call_command("migrate", verbosity=0)
    load = os.getloadavg()[0]
    _team, big = seed(args.runs, args.points)
    listing = bench_list(args.n)
    paint = bench_paint(big, args.loads)
    ok = (
        listing["p95"] < LIST_TARGET_MS
        and paint["cold_max"] < PAINT_TARGET_MS
        and paint["max_points"] <= MAX_POINTS
        and paint["panels"] == len(PANELS)
    )
    print(f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after (2 shared cores)")
    print(
        f"RESULT runs={args.runs} list_p50_ms={listing['p50']:.0f} list_p95_ms={listing['p95']:.0f} "
        f"list_target_ms={LIST_TARGET_MS:.0f} list_queries={listing['queries']} "
        f"panels={paint['panels']} points_per_series={args.points} "
        f"paint_cache_cold_p50_ms={paint['cold_p50']:.0f} paint_cache_cold_max_ms={paint['cold_max']:.0f} "
        f"paint_warm_p50_ms={paint['warm_p50']:.0f} paint_fresh_profile_ms={paint['fresh']:.0f} "
        f"paint_target_ms={PAINT_TARGET_MS:.0f} "
        f"max_points_shipped={paint['max_points']} pass={'yes' if ok else 'no'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
