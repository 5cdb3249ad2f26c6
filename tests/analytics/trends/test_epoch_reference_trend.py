"""The compute trend reproduces Epoch AI's published growth on Epoch's own data (data/reference/README.md).

Epoch AI (Sevilla and Roldán, 2024, "Training compute of frontier AI models grows by 4-5x per year"): notable
models since 2010 grew about 4-5x per year; Sevilla et al. 2022 put the deep-learning era's doubling time at
about 6 months. Our fit over the same snapshot (notable models, 2010-01-01 to 2024-04-30, the cut-off of that
analysis) measures 4.23x/year (95% CI 3.69-4.85), doubling 5.8 months (5.3-6.4); over Epoch's top-10 frontier
models 4.88x/year (4.49-5.29).
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from analytics.trends.compute import compute_trend
from tracker.catalog.figures import ModelPoint

REFERENCE = Path(__file__).resolve().parents[3] / "data" / "reference" / "epoch_notable_models_compute.csv"


@pytest.fixture(scope="module")
def notable_2010_2024() -> list[ModelPoint]:
    with REFERENCE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    points = [
        ModelPoint(
            r["model"], date.fromisoformat(r["publication_date"]), r["organization"], r["domain"],
            None, None, None, float(r["training_compute_flop"]),
        )
        for r in rows
    ]  # fmt: skip
    return [p for p in points if date(2010, 1, 1) <= p.release_date <= date(2024, 4, 30)]


def test_notable_models_grow_4_to_5x_per_year_as_epoch_published(notable_2010_2024):
    trend = compute_trend(notable_2010_2024)
    assert trend.n_models == 379
    growth, doubling = trend.growth_per_year, trend.doubling_months
    assert 4.0 <= growth.estimate <= 5.0  # Epoch: 4-5x per year
    assert growth.estimate == pytest.approx(4.23, abs=0.01)
    assert (round(growth.low, 2), round(growth.high, 2)) == (3.69, 4.85)
    assert doubling.contains(6.0) and doubling.estimate == pytest.approx(5.77, abs=0.01)  # Sevilla: ~6 months


def test_frontier_models_grow_4_to_5x_per_year(notable_2010_2024):
    trend = compute_trend(notable_2010_2024, selection="frontier")
    assert trend.n_models == 105
    growth = trend.growth_per_year
    assert 4.0 <= growth.estimate <= 5.0 and growth.estimate == pytest.approx(4.88, abs=0.01)
    assert growth.low > 4.0 and growth.high < 5.5
