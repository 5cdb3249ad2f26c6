"""Demo studies over the demo runs (tracker.demo): each is refit by the Celery worker after commit."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from analytics.models import Study
from analytics.studies import services
from tracker.models import Team

# Muennighoff et al. 2023's base law on the 182 datablations runs (data/reference/README.md).
DATABLATIONS_BASE = {"a": 6.255414, "b": 7.3049974, "e": 0.6254804, "alpha": 0.3526596, "beta": 0.3526596}

DEMO_STUDIES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("Datablations: loss vs N (power law)", "power_law", "datablations:", {"variable": "N"}),
    ("Datablations: Chinchilla Approach 3", "chinchilla", "datablations:", {"n_bootstrap": 20}),
    (
        "Datablations: data-constrained law (Muennighoff 2023)",
        "data_constrained",
        "datablations:",
        {"base": DATABLATIONS_BASE},
    ),
    ("Porian 2024: IsoFLOP, all corrections", "isoflop", "porian:", {"window": 2}),
]
# A synthetic-data study over Phi-4's Table 3: MATH as the target, knowledge vs reasoning benchmarks.
SYNTHETIC_STUDY = ("Phi-4 Table 3: synthetic vs web data", "synthetic_ratio", "phi4-table3:")


@transaction.atomic
def load_demo_studies(*, team: Team) -> list[Study]:
    """Idempotent; studies without a current fit get a refit queued for after the commit."""
    studies = []
    specs = [(*spec, "final_loss") for spec in DEMO_STUDIES]
    name, kind, prefix = SYNTHETIC_STUDY
    specs.append((name, kind, prefix, {"minimize": False, "n_bootstrap": 50}, "benchmark:MATH"))
    for name, kind, prefix, options, target in specs:
        study = Study.objects.filter(team=team, name=name).first() or services.study_create(
            team=team,
            name=name,
            kind=kind,
            run_filter=[{"field": "external_id", "op": "startswith", "value": prefix}],
            target_metric=target,
            options=options,
        )
        if not study.fits.filter(status="current").exists():
            services.study_refit_enqueue(study=study)
        studies.append(study)
    return studies
