"""Reference data loaders for the fitter tests (pure: no database)."""

from __future__ import annotations

import csv
import json
from typing import Any

import numpy as np
import pytest

from tests.conftest import REFERENCE


@pytest.fixture(scope="session")
def datablations() -> dict[str, np.ndarray]:
    with open(REFERENCE / "datablations_c4_runs_parametric_fit.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {
        "N": np.array([float(r["N_params"]) for r in rows]),
        "D": np.array([float(r["D_tokens_total"]) for r in rows]),
        "U": np.array([float(r["U_unique_tokens"]) for r in rows]),
        "L": np.array([float(r["val_loss"]) for r in rows]),
    }


@pytest.fixture(scope="session")
def porian() -> tuple[list[dict[str, str]], dict[int, dict[str, Any]]]:
    with open(REFERENCE / "porian2024_isoflop_points.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    results = json.loads((REFERENCE / "porian2024_fit_results_basic.json").read_text())
    return rows, {r["config_id"]: r for r in results}
