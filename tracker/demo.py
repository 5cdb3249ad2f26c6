"""Demo data built from the public reference tables in data/reference (see its README for provenance)."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any, TypedDict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from core.roles import Role
from tracker.accounts import services as account_services
from tracker.catalog import services
from tracker.models import SourceDocument, Team, TrainingRun

REFERENCE_DIR = settings.BASE_DIR / "data" / "reference"

DEMO_USERS = [
    ("admin", "isoflop-admin", Role.ADMIN),
    ("editor", "isoflop-editor", Role.EDITOR),
    ("viewer", "isoflop-viewer", Role.VIEWER),
]


# Release dates and sizes from the Llama 3.1 model card and the DeepSeek-V3 report (arXiv:2412.19437).
class DemoModel(TypedDict, total=False):
    family: str
    org: str
    release: date
    n: float
    active: float
    d: float


DEMO_MODELS: dict[str, DemoModel] = {
    "Llama 3.1 8B": {
        "family": "Llama 3.1",
        "org": "Meta",
        "release": date(2024, 7, 23),
        "n": 8.03e9,
        "d": 15e12,
    },
    "Llama 3.1 70B": {
        "family": "Llama 3.1",
        "org": "Meta",
        "release": date(2024, 7, 23),
        "n": 70.6e9,
        "d": 15e12,
    },
    "Llama 3.1 405B": {
        "family": "Llama 3.1",
        "org": "Meta",
        "release": date(2024, 7, 23),
        "n": 405e9,
        "d": 15e12,
    },
    "DeepSeek-V3": {
        "family": "DeepSeek-V3",
        "org": "DeepSeek",
        "release": date(2024, 12, 26),
        "n": 671e9,
        "active": 37e9,
        "d": 14.8e12,
    },
}

HARDWARE = {
    "H100-80GB": {"vendor": "NVIDIA", "tdp_watts": 700.0, "memory_gb": 80.0, "peak_bf16_tflops": 989.0},
    "H800": {"vendor": "NVIDIA", "tdp_watts": 700.0, "memory_gb": 80.0, "peak_bf16_tflops": 989.0},
    "A100-40GB": {"vendor": "NVIDIA", "tdp_watts": 400.0, "memory_gb": 40.0, "peak_bf16_tflops": 312.0},
}
# Which reference paper describes which demo model (arXiv ids in data/reference/papers.json).
MODEL_PAPERS = {
    "Llama 3.1 8B": "2407.21783",
    "Llama 3.1 70B": "2407.21783",
    "Llama 3.1 405B": "2407.21783",
    "DeepSeek-V3": "2412.19437",
}


@dataclass(frozen=True)
class DemoSummary:
    users: int
    models: int
    runs: int
    facts: int


def _reference_document(filename: str) -> SourceDocument:
    path = REFERENCE_DIR / filename
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return services.source_document_get_or_create(
        kind=SourceDocument.Kind.REFERENCE,
        name=f"data/reference/{filename}",
        sha256=digest,
        media_type="application/json" if filename.endswith(".json") else "text/csv",
        size_bytes=path.stat().st_size,
    )


def _rows(filename: str) -> list[tuple[int, dict[str, str]]]:
    with (REFERENCE_DIR / filename).open(newline="") as handle:
        return [(i + 2, row) for i, row in enumerate(csv.DictReader(handle))]  # line 1 is the header


def _opt_float(raw: str) -> float | None:
    return float(raw) if raw.strip() else None


@transaction.atomic
def load_demo() -> DemoSummary:
    """Idempotent: running it twice leaves the same catalog."""
    user_model = get_user_model()
    team = Team.objects.filter(slug="demo-lab").first() or account_services.team_create(name="Demo Lab")
    for username, password, role in DEMO_USERS:
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model.objects.create_user(username=username, password=password)
            if role == Role.ADMIN:
                user.is_staff = user.is_superuser = True
                user.save(update_fields=["is_staff", "is_superuser"])
        account_services.membership_set(team=team, user=user, role=role)

    hardware = {name: services.hardware_get_or_create(name=name, **spec) for name, spec in HARDWARE.items()}

    cost_doc = _reference_document("llama31_deepseekv3_training_cost.csv")
    models = {}
    for name, spec in DEMO_MODELS.items():
        model, _ = services.model_get_or_create(
            name=name,
            family=spec["family"],
            organization=services.organization_get_or_create(name=spec["org"]),
            release_date=spec["release"],
            parameters=spec["n"],
            active_parameters=spec.get("active"),
            training_tokens=spec["d"],
        )
        models[name] = model

    for line, row in _rows("llama31_deepseekv3_training_cost.csv"):
        costed = models.get(row["model"])
        if costed is None:
            continue
        hw = hardware[row["gpu_type"]]
        stage = row["stage"]
        location = f"line {line} ({stage})"
        services.fact_record(
            source=cost_doc,
            model=costed,
            name=f"gpu_hours_{stage}".replace(" ", "_").replace("-", "_")
            if stage != "total"
            else "gpu_hours",
            value=float(row["gpu_hours"]),
            unit="GPU h",
            line=line,
            location=location,
            excerpt=f"{row['gpu_hours']} {row['gpu_type']} hours ({row['source']})",
        )
        if stage == "total":
            costed.gpu_hours = float(row["gpu_hours"])
            costed.hardware = hw
            costed.save(update_fields=["gpu_hours", "hardware"])
        if stage == "total" and row["stated_rate_usd_per_gpu_hour"]:
            services.fact_record(
                source=cost_doc,
                model=costed,
                name="stated_usd_per_gpu_hour",
                value=float(row["stated_rate_usd_per_gpu_hour"]),
                unit="USD/GPU h",
                line=line,
                location=location,
                excerpt=f"rental price assumed in the report ({row['source']})",
            )
        if row["location_based_tCO2eq"]:
            services.fact_record(
                source=cost_doc,
                model=costed,
                name="co2_tonnes",
                value=float(row["location_based_tCO2eq"]),
                unit="tCO2eq",
                line=line,
                location=location,
                excerpt="location-based emissions",
            )
    _load_prices(hardware)
    _load_papers(models)

    runs_doc = _reference_document("datablations_c4_runs_parametric_fit.csv")
    existing = set(TrainingRun.objects.filter(team=team).values_list("external_id", flat=True))
    new_runs = [
        TrainingRun(
            team=team,
            name=f"datablations {row['run_name']}",
            external_id=f"datablations:{row['run_name']}",
            status=TrainingRun.Status.IMPORTED,
            parameters=float(row["N_params"]),
            tokens=float(row["D_tokens_total"]),
            unique_tokens=_opt_float(row["U_unique_tokens"]),
            final_loss=float(row["val_loss"]),
            config={"source_line": line, "dataset": "C4", "paper": "arXiv:2305.16264"},
            source=runs_doc,
        )
        for line, row in _rows("datablations_c4_runs_parametric_fit.csv")
        if f"datablations:{row['run_name']}" not in existing
    ]
    TrainingRun.objects.bulk_create(new_runs)
    _load_porian_runs(team)
    _load_phi4_ablation_runs(team)
    return DemoSummary(
        users=len(DEMO_USERS),
        models=len(models),
        runs=TrainingRun.objects.filter(team=team).count(),
        facts=cost_doc.facts.count(),
    )


def _load_prices(hardware: dict[str, Any]) -> None:
    """Dated public rental prices (data/reference/gpu_prices.csv, each row with its source URL)."""
    for _line, row in _rows("gpu_prices.csv"):
        hw = hardware.get(row["hardware"]) or services.hardware_get_or_create(name=row["hardware"])
        services.hardware_price_set(
            hardware=hw,
            usd_per_gpu_hour=float(row["usd_per_gpu_hour"]),
            valid_from=date.fromisoformat(row["valid_from"]),
            provider=row["provider"][:100],
            note=f"{row['source_url']} {row['note']}"[:300],
        )


def _load_papers(models: dict[str, Any]) -> None:
    """The papers behind the reference data and demo models (arXiv metadata, CC0: papers.json)."""
    doc = _reference_document("papers.json")
    papers = json.loads((REFERENCE_DIR / "papers.json").read_text(encoding="utf-8"))
    by_id = {}
    for entry in papers:
        paper, _ = services.paper_upsert(
            title=entry["title"],
            arxiv_id=entry["arxiv_id"],
            source=doc,
            abstract=entry.get("abstract", ""),
            authors=list(entry.get("authors", [])),
            published=date.fromisoformat(entry["published"]),
            venue=entry.get("venue", ""),
            url=entry.get("url", ""),
        )
        for tag in entry.get("tags", []):
            paper.tags.add(services.tag_get_or_create(name=tag))
        by_id[entry["arxiv_id"]] = paper
    for name, arxiv_id in MODEL_PAPERS.items():
        if name in models and arxiv_id in by_id:
            models[name].papers.add(by_id[arxiv_id])


# Porian et al. 2024 configuration 4 (all corrections applied): the IsoFLOP grid behind a = 0.497.
PORIAN_CONFIG = "4"


def _load_porian_runs(team: Team) -> None:
    doc = _reference_document("porian2024_isoflop_points.csv")
    existing = set(
        TrainingRun.objects.filter(team=team, external_id__startswith="porian:").values_list(
            "external_id", flat=True
        )
    )
    TrainingRun.objects.bulk_create(
        TrainingRun(
            team=team,
            name=f"porian C={float(row['flops_budget']):.2g} N={float(row['N_params']):.3g}",
            external_id=f"porian:{PORIAN_CONFIG}:{line}",
            status=TrainingRun.Status.IMPORTED,
            parameters=float(row["N_params"]),
            tokens=float(row["D_tokens"]),
            final_loss=float(row["loss"]),
            config={
                "source_line": line,
                "flops_budget": float(row["flops_budget"]),
                "dataset": row["dataset"],
                "paper": "arXiv:2406.19146",
            },
            source=doc,
        )
        for line, row in _rows("porian2024_isoflop_points.csv")
        if row["config_id"] == PORIAN_CONFIG and f"porian:{PORIAN_CONFIG}:{line}" not in existing
    )


# Phi-4 technical report (arXiv:2412.08905) Table 3: benchmark changes of training on synthetic data instead
# of web data. The web run is the baseline (all changes 0); N is phi-4's size (the table gives none).
PHI4_BENCHMARKS = ("MMLU", "MMLU_pro", "GSM8k", "HumanEval", "ARC_C", "MBPP", "MATH", "TQA")
PHI4_N = 14e9


def _load_phi4_ablation_runs(team: Team) -> None:
    doc = _reference_document("phi4_table3_table4_table5.csv")
    rows = [(line, row) for line, row in _rows("phi4_table3_table4_table5.csv") if row["table"] == "3"]
    synthetic = next((line, row) for line, row in rows if row["row"] == "Synthetic")
    specs = [
        ("web", 0.0, {b: 0.0 for b in PHI4_BENCHMARKS}, None),
        ("synthetic", 1.0, {b: float(synthetic[1][b]) for b in PHI4_BENCHMARKS}, synthetic[0]),
    ]
    for label, share, scores, line in specs:
        TrainingRun.objects.get_or_create(
            team=team,
            external_id=f"phi4-table3:{label}",
            defaults={
                "name": f"Phi-4 ablation: {label} data",
                "status": TrainingRun.Status.IMPORTED,
                "parameters": PHI4_N,
                "synthetic_share": share,
                "data_sources": {"synthetic": share, "web": 1.0 - share},
                "config": {
                    "benchmarks": scores,
                    "source_line": line,
                    "paper": "arXiv:2412.08905",
                    "note": "Table 3 changes vs the web-data run; N is phi-4's (the table gives none)",
                },
                "source": doc,
            },
        )
