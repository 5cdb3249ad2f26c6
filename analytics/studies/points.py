"""The points a study fits: one per selected run, from whitelisted run filters or an explicit selection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from analytics.models import Study
from tracker.models import MetricSeries, TrainingRun

# Run filters come from users (study forms, API): only these lookups are honoured, so a filter can never
# reach across relations into other teams' data or run arbitrary lookups.
ALLOWED_RUN_FILTERS = frozenset(
    {
        "name",
        "name__startswith",
        "name__icontains",
        "external_id__startswith",
        "status",
        "precision",
        "model__family",
        "parameters__gte",
        "parameters__lte",
        "tokens__gte",
        "tokens__lte",
    }
)


@dataclass(frozen=True)
class StudyPoint:
    run_id: int
    run_name: str
    n: float | None
    d: float | None
    u: float | None
    budget: float | None  # nominal IsoFLOP budget (config "flops_budget"), else 6ND
    loss: float | None


class StudySelectionError(ValueError):
    """The study's run selection is invalid (e.g. a filter key outside ALLOWED_RUN_FILTERS)."""


def study_runs(study: Study) -> QuerySet[TrainingRun]:
    explicit = study.runs.all()
    if explicit.exists():
        return explicit.filter(team_id=study.team_id)
    bad = sorted(set(study.run_filter) - ALLOWED_RUN_FILTERS)
    if bad:
        raise StudySelectionError(
            f"run_filter keys not allowed: {bad}; allowed: {sorted(ALLOWED_RUN_FILTERS)}"
        )
    return TrainingRun.objects.filter(team_id=study.team_id, **study.run_filter)


BENCHMARKS_KEY = (
    "benchmarks"  # run.config["benchmarks"] = {"MMLU": 71.2, "GSM8k": 80.1, ...}: scores, higher=better
)
BENCHMARK_TARGET = "benchmark:"


def _target_values(study: Study, runs: Sequence[Mapping[str, Any]]) -> dict[int, float | None]:
    """Each run's target: its final loss, the last value of a metric series, or (``benchmark:<name>``) a
    benchmark score from its config (``config["benchmarks"]``, as Phi-4-style ablations report them)."""
    target = study.target_metric
    if target == "final_loss":
        return {r["pk"]: r["final_loss"] for r in runs}
    if target.startswith(BENCHMARK_TARGET):
        name = target.removeprefix(BENCHMARK_TARGET)
        out: dict[int, float | None] = {}
        for r in runs:
            config = r["config"] if isinstance(r["config"], dict) else {}
            bench = config.get(BENCHMARKS_KEY)
            value = bench.get(name) if isinstance(bench, dict) else None
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            out[r["pk"]] = float(value) if is_number else None  # type: ignore[arg-type]
        return out
    return dict(
        MetricSeries.objects.filter(run_id__in=[r["pk"] for r in runs], name=target).values_list(
            "run_id", "last_value"
        )
    )


def study_points(study: Study) -> list[StudyPoint]:
    """One point per selected run, ordered by run id so the inputs hash is stable."""
    runs = list(
        study_runs(study)
        .order_by("pk")
        .values("pk", "name", "parameters", "tokens", "unique_tokens", "final_loss", "config")
    )
    metric_values = _target_values(study, runs)
    points = []
    for r in runs:
        loss = metric_values.get(r["pk"])
        n, d = r["parameters"], r["tokens"]
        config = r["config"] if isinstance(r["config"], dict) else {}
        budget = config.get("flops_budget")
        if budget is None and n and d:
            budget = 6.0 * n * d
        points.append(
            StudyPoint(
                run_id=r["pk"],
                run_name=r["name"],
                n=n,
                d=d,
                u=r["unique_tokens"],
                budget=float(budget) if budget is not None else None,
                loss=loss,
            )
        )
    return points


@dataclass(frozen=True)
class SyntheticPoint:
    run_id: int
    run_name: str
    n: float | None
    r: float | None  # synthetic share 0..1
    epochs: float  # epochs on synthetic data; a run that does not say counts as 1 epoch
    sources: tuple[str, ...]
    loss: float | None
    benchmarks: tuple[tuple[str, Any], ...]  # sorted (name, score) pairs from config["benchmarks"]


def synthetic_points(study: Study) -> list[SyntheticPoint]:
    """One point per selected run (ordered by id): N, r, epochs, sources, target and benchmark scores."""
    runs = list(
        study_runs(study)
        .order_by("pk")
        .values(
            "pk",
            "name",
            "parameters",
            "synthetic_share",
            "synthetic_epochs",
            "data_sources",
            "final_loss",
            "config",
        )
    )
    metric_values = _target_values(study, runs)
    points = []
    for r in runs:
        config = r["config"] if isinstance(r["config"], dict) else {}
        bench = config.get(BENCHMARKS_KEY)
        if bench is not None and not isinstance(bench, dict):
            raise StudySelectionError(
                f"run '{r['name']}' (id {r['pk']}): config.{BENCHMARKS_KEY} must be an object "
                f"{{benchmark: score}}, got {type(bench).__name__}"
            )
        sources = r["data_sources"] if isinstance(r["data_sources"], dict) else {}
        points.append(
            SyntheticPoint(
                run_id=r["pk"],
                run_name=r["name"],
                n=r["parameters"],
                r=r["synthetic_share"],
                epochs=r["synthetic_epochs"] if r["synthetic_epochs"] is not None else 1.0,
                sources=tuple(sorted(str(k) for k in sources)),
                loss=metric_values.get(r["pk"]),
                benchmarks=tuple(sorted(bench.items())) if isinstance(bench, dict) else (),
            )
        )
    return points
