"""The points a study fits: one per selected run, from explicit run ids or a filter of whitelisted conditions.

The stored filter (`Study.run_filter`) is a list of `authoring.Condition`s; each field maps to a fixed column
here (`_condition_q`), so no lookup ever comes from a user, and every read is limited to the study's team.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from analytics.models import Study
from analytics.studies.authoring import Condition, SpecError, conditions_from_data
from tracker.models import MetricSeries, RunTag, TrainingRun


@dataclass(frozen=True)
class StudyPoint:
    run_id: int
    run_name: str
    n: float | None
    d: float | None
    u: float | None
    budget: float | None  # nominal IsoFLOP budget (config "flops_budget"), else 6ND
    loss: float | None
    budget_label: float | None = None  # config "flops_budget" only: an explicit IsoFLOP group label


class StudySelectionError(ValueError):
    """The study's stored run selection cannot be used (a stored condition outside the whitelist)."""


@dataclass(frozen=True)
class StudyDraft:
    """An unsaved study (a spec being previewed), with the attributes point functions read from a Study."""

    team_id: int
    kind: str
    target_metric: str
    options: Mapping[str, Any] = field(default_factory=dict)
    run_filter: list[dict[str, Any]] = field(default_factory=list)
    run_ids: tuple[int, ...] = ()


StudyLike = Study | StudyDraft

# Filter field -> the column (or annotation) it reads; ops map to fixed lookups in `_condition_q`.
_COLUMNS = {
    "name": "name",
    "external_id": "external_id",
    "status": "status",
    "precision": "precision",
    "model": "model__name",
    "model_family": "model__family",
    "hardware": "hardware__name",
    "parameters": "parameters",
    "tokens": "tokens",
    "flops": "flops",
    "final_loss": "final_loss",
}


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _condition_q(c: Condition) -> Q:
    value = c.value
    if c.field == "tag":
        return Q(Exists(RunTag.objects.filter(run=OuterRef("pk"), name=value)))
    if c.field == "created":
        assert isinstance(value, date)
        if c.op == "after":
            return Q(created_at__gte=_day_start(value))
        return Q(created_at__lt=_day_start(value + timedelta(days=1)))
    column = _COLUMNS[c.field]
    if c.op == "contains":
        return Q(**{f"{column}__icontains": value})
    if c.op == "startswith":
        return Q(**{f"{column}__startswith": value})
    if c.op in ("gte", "lte"):
        return Q(**{f"{column}__{c.op}": value})
    assert c.op == "is"
    if isinstance(value, str):
        return Q(**{column: value})
    assert isinstance(value, tuple)
    if c.field in ("status", "precision"):
        return Q(**{f"{column}__in": value})
    q = Q()
    for name in value:  # model and hardware names, families: case-insensitive
        q |= Q(**{f"{column}__iexact": name})
    return q


def stored_conditions(run_filter: Any) -> tuple[Condition, ...]:
    """The conditions stored on a study, checked again (the admin can edit the JSON)."""
    try:
        return conditions_from_data(run_filter, "run_filter")
    except SpecError as exc:
        raise StudySelectionError(f"the study's stored run filter is not usable: {exc}") from None


def filter_runs(*, team_id: int, conditions: Sequence[Condition]) -> QuerySet[TrainingRun]:
    """The team's runs meeting every condition."""
    runs: QuerySet[TrainingRun] = TrainingRun.objects.filter(team_id=team_id)
    if any(c.field == "flops" for c in conditions):
        runs = runs.alias(flops=6.0 * F("parameters") * F("tokens"))
    for c in conditions:
        runs = runs.filter(_condition_q(c))
    return runs


def study_runs(study: StudyLike) -> QuerySet[TrainingRun]:
    """The runs a study selects: its explicit runs, else its filter's; an empty selection selects none."""
    if isinstance(study, StudyDraft):
        if study.run_ids:
            return TrainingRun.objects.filter(team_id=study.team_id, pk__in=study.run_ids)
    elif study.pk is not None and study.runs.exists():
        return study.runs.filter(team_id=study.team_id)
    conditions = stored_conditions(study.run_filter)
    if not conditions:
        return TrainingRun.objects.none()
    return filter_runs(team_id=study.team_id, conditions=conditions)


BENCHMARKS_KEY = (
    "benchmarks"  # run.config["benchmarks"] = {"MMLU": 71.2, "GSM8k": 80.1, ...}: scores, higher=better
)
BENCHMARK_TARGET = "benchmark:"


def _target_values(study: StudyLike, runs: Sequence[Mapping[str, Any]]) -> dict[int, float | None]:
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


def study_points(study: StudyLike) -> list[StudyPoint]:
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
        label = float(budget) if isinstance(budget, int | float) and not isinstance(budget, bool) else None
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
                budget_label=label,
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


def synthetic_points(study: StudyLike) -> list[SyntheticPoint]:
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


# Run config keys the newer kinds read (a run manifest or webhook payload puts them in `config`).
PRECISION_BITS = {"fp32": 32.0, "tf32": 19.0, "bf16": 16.0, "fp16": 16.0, "fp8": 8.0, "int8": 8.0}
PRECISION_BITS |= {"fp6": 6.0, "int6": 6.0, "fp4": 4.0, "int4": 4.0, "int3": 3.0, "int2": 2.0}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class RunPoint:
    """A run with the config values the Kaplan, precision, downstream, test-time and diffusion-vs-AR kinds
    fit: `strategy` and `inference_flops` (config, or 2 N x `inference_tokens`), `objective` ("ar" or
    "diffusion"), bits of weights / activations / KV cache (`bits_weights`, `bits_activations`, `bits_kv`,
    else the run's precision for all three), `accuracy` (config). None where a run does not say."""

    run_id: int
    run_name: str
    n: float | None
    d: float | None
    u: float | None
    loss: float | None
    budget: float | None = None
    strategy: str | None = None
    objective: str | None = None
    inference_flops: float | None = None
    bits_w: float | None = None
    bits_a: float | None = None
    bits_kv: float | None = None
    accuracy: float | None = None


def run_point_row(p: RunPoint) -> list[Any]:
    return [
        p.run_id, p.n, p.d, p.u, p.loss, p.strategy, p.objective, p.inference_flops,
        p.bits_w, p.bits_a, p.bits_kv, p.accuracy,
    ]  # fmt: skip


def run_points(study: StudyLike) -> list[RunPoint]:
    """One point per selected run (ordered by id) with its config values (see RunPoint)."""
    runs = list(
        study_runs(study)
        .order_by("pk")
        .values("pk", "name", "parameters", "tokens", "unique_tokens", "final_loss", "precision", "config")
    )
    metric_values = _target_values(study, runs)
    points = []
    for r in runs:
        config = r["config"] if isinstance(r["config"], dict) else {}
        n, d = r["parameters"], r["tokens"]
        flops = _number(config.get("inference_flops"))
        tokens = _number(config.get("inference_tokens"))
        if flops is None and tokens is not None and n:
            flops = 2.0 * n * tokens  # Snell et al.: 2N FLOPs per generated token
        run_bits = PRECISION_BITS.get(str(r["precision"] or "").lower())
        strategy, objective = config.get("strategy"), config.get("objective")
        points.append(
            RunPoint(
                run_id=r["pk"],
                run_name=r["name"],
                n=n,
                d=d,
                u=r["unique_tokens"],
                loss=metric_values.get(r["pk"]),
                budget=6.0 * n * d if n and d else None,
                strategy=str(strategy) if isinstance(strategy, str) and strategy else None,
                objective=str(objective).lower() if isinstance(objective, str) and objective else None,
                inference_flops=flops,
                bits_w=_number(config.get("bits_weights")) or run_bits,
                bits_a=_number(config.get("bits_activations")) or run_bits,
                bits_kv=_number(config.get("bits_kv")) or run_bits,
                accuracy=_number(config.get("accuracy")),
            )
        )
    return points
