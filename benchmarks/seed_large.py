"""Seed a separate PostgreSQL database with a large catalog for the page load benchmark.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/isoflop_load .venv/bin/python benchmarks/seed_large.py

10k papers (tags, abstracts, some full text), 1k models with facts, 1k runs with 2 series each and 100M metric
points (50k per series, `--points-per-series` to change), written through the real writer
(`points_insert_new`: compressed chunks, summaries and rollups, 20 series = 1M points per transaction).
Values are what a trainer logs: a power-law loss curve plus noise, printed with 4 decimals, wall times in ms.
Idempotent: each stage checks what is already there and only (re)builds an incomplete stage. Creates the
login bench / bench-password-123 (editor of "Load Lab").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/isoflop_load")

N_PAPERS = 10_000
N_MODELS = 1_000
N_RUNS = 1_000
SERIES_PER_RUN = 2
POINTS_PER_SERIES = 50_000  # 1k runs x 2 series x 50k = 100M points
SERIES_PER_TRANSACTION = 20

WORDS = [
    "scaling",
    "law",
    "compute",
    "optimal",
    "language",
    "model",
    "tokens",
    "parameters",
    "mixture",
    "experts",
    "synthetic",
    "data",
    "ratio",
    "training",
    "loss",
    "perplexity",
    "transformer",
    "attention",
    "emergent",
    "downstream",
    "benchmark",
    "curriculum",
    "precision",
    "quantization",
    "distillation",
    "pretraining",
    "finetuning",
    "repetition",
    "epochs",
    "dedup",
    "web",
    "crawl",
    "code",
    "math",
    "reasoning",
]


def _ensure_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _text(rng: np.random.Generator, n_words: int) -> str:
    return " ".join(rng.choice(WORDS, size=n_words))


def _stage(name: str, t0: float) -> None:
    print(f"{name}: {time.perf_counter() - t0:.1f}s", flush=True)


def seed_users_and_team():  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    from core.roles import Role
    from tracker.accounts import services as account_services
    from tracker.models import Team

    team = Team.objects.filter(slug="load-lab").first() or account_services.team_create(name="Load Lab")
    user = get_user_model().objects.filter(username="bench").first()
    if user is None:
        user = get_user_model().objects.create_user(username="bench", password="bench-password-123")
    account_services.membership_set(team=team, user=user, role=Role.EDITOR)
    return team


def seed_papers(rng: np.random.Generator) -> None:
    from django.db import connection, transaction

    from tracker.models import Paper, Tag

    if Paper.objects.filter(normalized_title__startswith="load paper ").count() == N_PAPERS:
        print("papers: already seeded")
        return
    t0 = time.perf_counter()
    with transaction.atomic():
        Paper.objects.filter(normalized_title__startswith="load paper ").delete()
        tags = [Tag.objects.get_or_create(name=f"topic-{i:02d}")[0] for i in range(20)]
        start = date(2015, 1, 1)
        with (
            connection.cursor() as cursor,
            cursor.connection.cursor() as raw,
            raw.copy(
                "COPY tracker_paper (title, normalized_title, abstract, authors, published, venue, url, "
                "full_text, bibtex, created_at) FROM STDIN"
            ) as copy,
        ):
            for i in range(N_PAPERS):
                title = f"Load paper {i}: {_text(rng, 6)}"
                full_text = _text(rng, 400) if i % 10 == 0 else ""
                copy.write_row(
                    (
                        title,
                        f"load paper {i} " + title.split(": ", 1)[1],
                        _text(rng, 80),
                        '["A. Author", "B. Author"]',
                        start + timedelta(days=int(rng.integers(0, 3650))),
                        "arXiv",
                        "",
                        full_text,
                        "",
                        "2025-01-01T00:00:00Z",
                    )
                )
        ids = list(
            Paper.objects.filter(normalized_title__startswith="load paper ").values_list("pk", flat=True)
        )
        through = Paper.tags.through
        links = [
            through(paper_id=pid, tag_id=tags[int(k)].pk)
            for pid in ids
            for k in set(rng.integers(0, len(tags), size=2).tolist())
        ]
        through.objects.bulk_create(links, batch_size=5000)
    _stage(f"papers: {N_PAPERS} (+{len(links)} tag links)", t0)


def seed_models(rng: np.random.Generator) -> None:
    from django.db import transaction

    from tracker.catalog import services as catalog_services
    from tracker.models import Fact, Model, SourceDocument

    if Model.objects.filter(name__startswith="Load model ").count() == N_MODELS:
        print("models: already seeded")
        return
    t0 = time.perf_counter()
    with transaction.atomic():
        Model.objects.filter(name__startswith="Load model ").delete()
        orgs = [catalog_services.organization_get_or_create(name=f"Load Org {i}") for i in range(25)]
        hardware = [
            catalog_services.hardware_get_or_create(name=name, tdp_watts=tdp)
            for name, tdp in (("Load H100", 700.0), ("Load A100", 400.0), ("Load V100", 300.0))
        ]
        for hw, base in zip(hardware, (2.5, 1.5, 0.8)):
            for year in range(2019, 2026):
                catalog_services.hardware_price_set(
                    hardware=hw, usd_per_gpu_hour=base * (1.1 ** (2025 - year)), valid_from=date(year, 1, 1)
                )
        doc = catalog_services.source_document_get_or_create(
            kind=SourceDocument.Kind.MANUAL, name="benchmarks/seed_large.py", sha256="5eed" * 16
        )
        start = date(2018, 1, 1)
        models = []
        for i in range(N_MODELS):
            n = float(10 ** rng.uniform(8, 12))
            moe = i % 7 == 0
            models.append(
                Model(
                    name=f"Load model {i}",
                    family=f"Family {i % 60}",
                    organization=orgs[i % len(orgs)],
                    release_date=start + timedelta(days=int(rng.integers(0, 2900))),
                    parameters=n,
                    active_parameters=n / 8 if moe else None,
                    training_tokens=n * float(rng.uniform(5, 200)),
                    gpu_hours=float(10 ** rng.uniform(3, 7)),
                    hardware=hardware[i % len(hardware)],
                )
            )
        Model.objects.bulk_create(models, batch_size=1000)
        facts = []
        for m in Model.objects.filter(name__startswith="Load model "):
            for name, value, unit in (
                ("parameters", m.parameters, ""),
                ("training_tokens", m.training_tokens, "tokens"),
                ("gpu_hours", m.gpu_hours, "GPU h"),
                ("co2_tonnes", (m.gpu_hours or 0) * 0.3 / 1000, "tCO2eq"),
            ):
                facts.append(
                    Fact(
                        model=m,
                        name=name,
                        value=value,
                        unit=unit,
                        source=doc,
                        location=f"model {m.pk} {name}",
                        excerpt=f"{name} = {value:.4g}",
                    )
                )
        Fact.objects.bulk_create(facts, batch_size=5000)
    _stage(f"models: {N_MODELS} (+{len(facts)} facts)", t0)


def _series_points(series_id: int, steps: np.ndarray, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    from tracker.runs.series.copy import SeriesPoints

    # A loss-like curve: power-law decay to a floor plus noise, logged with 4 decimals; wall times in ms.
    floor = rng.uniform(1.8, 3.0)
    values = np.round(floor + 8.0 * (steps + 10.0) ** -0.3 + rng.normal(0, 0.01, steps.size), 4)
    walls = np.round(1.7e9 + np.cumsum(0.5 + rng.exponential(0.02, steps.size)), 3)
    return SeriesPoints(series_id=series_id, steps=steps, values=values, wall_times=walls)


def seed_runs_and_points(team, rng: np.random.Generator, points_per_series: int) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection, transaction
    from django.db.models import Sum

    from tracker.models import MetricSeries, TrainingRun
    from tracker.runs.series.copy import points_insert_new

    series_qs = MetricSeries.objects.filter(run__team=team, run__external_id__startswith="load:")
    expected = N_RUNS * SERIES_PER_RUN * points_per_series
    if (series_qs.aggregate(total=Sum("n_points"))["total"] or 0) == expected and series_qs.filter(
        n_points=points_per_series
    ).count() == N_RUNS * SERIES_PER_RUN:
        print("runs and points: already seeded")
        return
    t0 = time.perf_counter()
    with transaction.atomic():
        # Cascade removes a half-built previous attempt's series and their chunks.
        TrainingRun.objects.filter(team=team, external_id__startswith="load:").delete()
        runs = TrainingRun.objects.bulk_create(
            [
                TrainingRun(
                    team=team,
                    name=f"load run {i}",
                    external_id=f"load:{i}",
                    status=TrainingRun.Status.FINISHED,
                    parameters=float(10 ** rng.uniform(7, 10)),
                    tokens=float(10 ** rng.uniform(9, 12)),
                    gpu_hours=float(10 ** rng.uniform(1, 4)),
                    final_loss=float(rng.uniform(2, 4)),
                )
                for i in range(N_RUNS)
            ],
            batch_size=1000,
        )
        series = MetricSeries.objects.bulk_create(
            [MetricSeries(run=r, name=name) for r in runs for name in ("train/loss", "val/loss")],
            batch_size=2000,
        )
    _stage(f"runs: {len(runs)} with {len(series)} series", t0)
    ids = [s.pk for s in series]
    steps = np.arange(points_per_series, dtype=np.int64) * 10
    for lo in range(0, len(ids), SERIES_PER_TRANSACTION):
        batch = [_series_points(sid, steps, rng) for sid in ids[lo : lo + SERIES_PER_TRANSACTION]]
        with transaction.atomic():
            points_insert_new(batches=batch)
        done = (lo + len(batch)) * points_per_series
        if (lo // SERIES_PER_TRANSACTION) % 10 == 9 or done == expected:
            print(f"points: {done:,} of {expected:,} ({time.perf_counter() - t0:.0f}s)", flush=True)
    with connection.cursor() as cursor:
        for table in (
            "paper",
            "model",
            "fact",
            "trainingrun",
            "metricseries",
            "metricchunk",
            "metricrollupblock",
        ):
            cursor.execute(f"VACUUM ANALYZE tracker_{table}")
        cursor.execute(
            "SELECT pg_total_relation_size('tracker_metricchunk') + pg_total_relation_size('tracker_metricrollupblock')"
        )
        stored = int(cursor.fetchone()[0])
    _stage(
        f"runs and points total (with VACUUM ANALYZE); metric tables {stored / 1e6:.0f} MB = "
        f"{stored / expected:.2f} bytes/point",
        t0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points-per-series", type=int, default=POINTS_PER_SERIES)
    args = parser.parse_args()
    _ensure_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    rng = np.random.default_rng(20250101)
    t0 = time.perf_counter()
    team = seed_users_and_team()
    seed_papers(rng)
    seed_models(rng)
    seed_runs_and_points(team, rng, args.points_per_series)
    total = N_RUNS * SERIES_PER_RUN * args.points_per_series
    _stage("seed total", t0)
    print(
        f"RESULT papers={N_PAPERS} models={N_MODELS} runs={N_RUNS} points={total} seconds={time.perf_counter() - t0:.0f}"
    )


if __name__ == "__main__":
    main()
