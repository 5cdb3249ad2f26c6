"""A live run's batches into a long series: as the app writes them vs rebuilding the rollups each batch.

    createdb -h 127.0.0.1 -U postgres isoflop_bench_append
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/isoflop_bench_append ISOFLOP_VAR_DIR=/tmp/var-bench \\
        .venv/bin/python benchmarks/bench_live_append.py --batches 100

Loads a 1,000,000-point loss curve (rollups built with it), then appends `--batches` batches of 1,000 points
(the SDK's default flush) each way, alternating so both see the same machine load:
  - `points_upsert` as the app runs it: chunks and summary only while the appended tail (read raw by
    readers) is under `rollups.ROLLUP_TAIL_POINTS`, then the tail folded into the rollups in place;
  - the baseline: the same upsert followed by the full rollup rebuild from the chunks (what every batch of
    a long series cost before: queued to the worker, or paid by the first reader).
Both series then answer the same windows (whole curve, the appended end, a zoom; checked). Prints p50/p95
per batch and the p50 ratio.
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
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from tracker.accounts import services as account_services  # noqa: E402
from tracker.models import MetricSeries, Team, TrainingRun  # noqa: E402
from tracker.runs.series import reads, rollups  # noqa: E402
from tracker.runs.series.copy import SeriesPoints, points_insert_new, points_upsert  # noqa: E402

N_POINTS = 1_000_000
BATCH = 1_000
TARGET_RATIO = 0.5  # at 1M points; the rebuild grows with the series, the extension does not


def _points(series_id: int, steps: np.ndarray, values: np.ndarray) -> SeriesPoints:
    return SeriesPoints(
        series_id=series_id, steps=steps, values=values, wall_times=np.full(steps.size, np.nan)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=100)
    args = parser.parse_args()
    if "bench" not in connection.settings_dict["NAME"]:
        sys.exit("use a dedicated database whose name contains 'bench' (its runs are deleted)")
    call_command("migrate", verbosity=0)
    team = Team.objects.filter(slug="bench-append").first() or account_services.team_create(
        name="bench-append"
    )
    TrainingRun.objects.filter(team=team).delete()
    rng = np.random.default_rng(5)
    steps = np.arange(N_POINTS, dtype=np.int64)
    values = np.round(2 + 8 / np.sqrt(steps + 10) + rng.normal(0, 0.02, N_POINTS), 6)
    series = {}
    for name in ("extended", "rebuilt"):
        run = TrainingRun.objects.create(team=team, name=f"bench append {name}")
        series[name] = MetricSeries.objects.create(run=run, name="loss")
        points_insert_new(batches=[_points(series[name].pk, steps, values)])
    times: dict[str, list[float]] = {"extended": [], "rebuilt": []}
    last = int(steps[-1])
    for _ in range(args.batches):
        new_steps = last + 1 + np.arange(BATCH, dtype=np.int64)
        new_values = np.round(2 + 8 / np.sqrt(new_steps + 10) + rng.normal(0, 0.02, BATCH), 6)
        last = int(new_steps[-1])
        for name in ("extended", "rebuilt"):
            sid = series[name].pk
            t0 = time.perf_counter()
            with transaction.atomic():
                points_upsert(batches=[_points(sid, new_steps, new_values)])
                if name == "rebuilt":
                    rollups.series_rollup_build(series_id=sid, force=True)
            times[name].append(time.perf_counter() - t0)
    for name in series:
        series[name].refresh_from_db()
    assert rollups.rollups_coverage(series["extended"]) is not None  # usable, tail read raw
    assert series["rebuilt"].rollup_signature == rollups.series_rollup_signature(series["rebuilt"])
    cache.clear()
    same = all(
        reads.series_window(series=series["extended"], x0=x0, x1=x1)
        == reads.series_window(series=series["rebuilt"], x0=x0, x1=x1)
        for x0, x1 in ((None, None), (N_POINTS // 2, None), (N_POINTS - 20_000, N_POINTS + 30_000))
    )

    def p(xs: list[float], q: float) -> float:
        return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000

    ext50, reb50 = statistics.median(times["extended"]) * 1000, statistics.median(times["rebuilt"]) * 1000
    ratio = ext50 / reb50
    print(f"series of {N_POINTS:,} points, {args.batches} appended batches of {BATCH:,} points each way")
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print(f"as the app writes: p50 {ext50:.1f} ms  p95 {p(times['extended'], 0.95):.1f} ms per batch")
    print(f"upsert + rebuild : p50 {reb50:.1f} ms  p95 {p(times['rebuilt'], 0.95):.1f} ms per batch")
    print(f"identical windows: {same}")
    ok = same and ratio <= TARGET_RATIO
    print(
        f"RESULT points={N_POINTS} batch={BATCH} batches={args.batches} append_p50_ms={ext50:.1f} "
        f"rebuild_p50_ms={reb50:.1f} ratio={ratio:.3f} identical={int(same)} ok={int(ok)}"
    )


if __name__ == "__main__":
    main()
