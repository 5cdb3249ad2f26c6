"""Study authoring at size: the form, the points preview over thousands of runs, and the status poll.

    createdb -h 127.0.0.1 -U postgres isoflop_bench_studies
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/isoflop_bench_studies ISOFLOP_VAR_DIR=/tmp/var-bench-studies \\
        .venv/bin/python benchmarks/bench_study_authoring.py -n 20

Seeds (idempotently) a team with `--runs` runs (N, D, final loss; every 10th without a loss, every 7th tagged;
3 metric series each (summary rows only, as the study reads their last value) and benchmark scores on every
5th run). Then, `-n` times each, through the whole Django stack (test client, templates rendered):
  1. the New study form handed 200 run ids from the runs page (names, target choices counted over them);
  2. preview of a power law over every run (`name starts with`): all points loaded and checked, the table's
     first 500 rows and the plot rendered;
  3. preview of a Chinchilla study by filter on a FLOPs range and a tag (annotated C = 6ND, EXISTS on tags);
  4. the study page's status poll (what the page asks every second while a refit is queued).
Targets: preview of every run p95 < 2 s, filtered preview p95 < 1 s, form p95 < 500 ms, status poll p95 < 50 ms.
Ends with `RESULT key=value ...`.
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
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/isoflop_bench_studies")

import django  # noqa: E402
import django.utils.timezone  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from analytics.models import Study  # noqa: E402
from analytics.studies import services as study_services  # noqa: E402
from core.roles import Role  # noqa: E402
from tracker.accounts import services as account_services  # noqa: E402
from tracker.models import MetricSeries, RunTag, Team, TrainingRun  # noqa: E402

TEAM = "bench-studies"
TARGETS_MS = {"preview_all": 2000.0, "preview_filtered": 1000.0, "form": 500.0, "status": 50.0}


def seed(n_runs: int) -> tuple[Team, list[int]]:
    team = Team.objects.filter(slug=TEAM).first() or account_services.team_create(name=TEAM)
    have = TrainingRun.objects.filter(team=team).count()
    if have < n_runs:
        with transaction.atomic():
            runs = TrainingRun.objects.bulk_create(
                TrainingRun(
                    team=team,
                    name=f"sweep-{i:05d}",
                    parameters=1e7 * (1 + i % 400),
                    tokens=2e8 * (1 + i % 400) * (1 + i % 3),
                    final_loss=None if i % 10 == 9 else 1.8 + 400 * (1e7 * (1 + i % 400)) ** -0.3,
                    config={"benchmarks": {"MMLU": 40 + i % 30, "GSM8k": 20 + i % 50}} if i % 5 == 0 else {},
                )
                for i in range(have, n_runs)
            )
            RunTag.objects.bulk_create(RunTag(run=r, name="baseline") for r in runs[::7])
            MetricSeries.objects.bulk_create(
                MetricSeries(run=r, name=name, n_points=1000, last_value=2.0 + (r.pk % 97) / 100)
                for r in runs
                for name in ("train/loss", "val/loss", "lr")
            )
    ids = list(TrainingRun.objects.filter(team=team).order_by("pk").values_list("pk", flat=True)[:n_runs])
    return team, ids


def timed(fn, n: int) -> tuple[float, float, object]:
    seconds, last = [], None
    for _ in range(n):
        start = time.perf_counter()
        last = fn()
        seconds.append(time.perf_counter() - start)
    seconds.sort()
    p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
    return statistics.median(seconds) * 1000, p95 * 1000, last


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20, help="requests per measurement")
    parser.add_argument("--runs", type=int, default=5000)
    args = parser.parse_args()
    setup_test_environment()
    call_command("migrate", verbosity=0)
    team, ids = seed(args.runs)
    user = get_user_model().objects.filter(
        username="bench-editor"
    ).first() or get_user_model().objects.create_user(username="bench-editor", password="bench-editor-pw")
    account_services.membership_set(team=team, user=user, role=Role.EDITOR)
    client = Client()
    client.force_login(user)

    base = {
        "team": str(team.pk),
        "name": "bench",
        "target_metric": "final_loss",
        "action": "preview",
        "selection": "filter",
    }
    every_run = {**base, "kind": "power_law", "cond": ["name:startswith"], "cond_value": ["sweep-"],
                 "opt-power_law-variable": "N"}  # fmt: skip
    filtered = {**base, "kind": "chinchilla", "cond": ["flops:gte", "flops:lte", "tag:has"],
                "cond_value": ["1e18", "1e20", "baseline"], "opt-chinchilla-n_bootstrap": "100"}  # fmt: skip
    handed = ",".join(map(str, ids[:200]))

    def ok(response):
        assert response.status_code == 200, (response.status_code, response.content[:500])
        return response

    results = {}
    results["form"] = timed(lambda: ok(client.get(f"/studies/new/?runs={handed}")), args.n)
    results["preview_all"] = timed(lambda: ok(client.post("/studies/new/", every_run)), args.n)
    results["preview_filtered"] = timed(lambda: ok(client.post("/studies/new/", filtered)), args.n)
    preview_all = results["preview_all"][2].context["preview"]
    preview_filtered = results["preview_filtered"][2].context["preview"]
    study = Study.objects.filter(team=team, name="bench-status").first() or study_services.study_create(
        team=team, name="bench-status", kind="power_law", run_filter=[["name", "startswith", "sweep-"]]
    )
    Study.objects.filter(pk=study.pk).update(refit_requested_at=django.utils.timezone.now())
    results["status"] = timed(lambda: ok(client.get(f"/studies/{study.pk}/status/")), args.n)

    print(f"team {TEAM}: {len(ids)} runs; load average {os.getloadavg()[0]:.2f}")
    print(
        f"preview of every run: {preview_all.n_included} of {preview_all.n_selected} runs fitted, "
        f"{len(preview_all.rows)} rows shown; filtered: {preview_filtered.n_selected} runs"
    )
    met = True
    for key, (p50, p95, _) in results.items():
        target = TARGETS_MS[key]
        met &= p95 < target
        print(f"{key:18s} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  target p95 < {target:.0f} ms")
    print(
        "RESULT "
        + " ".join(f"{k}_p50_ms={v[0]:.1f} {k}_p95_ms={v[1]:.1f}" for k, v in results.items())
        + f" runs={len(ids)} preview_points={preview_all.n_selected} targets_met={str(met).lower()}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
