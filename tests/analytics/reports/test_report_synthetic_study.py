"""A synthetic-ratio study report: fits feed the figures, Phi-4 categories shown apart, data exported safely."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from analytics.figures.synthetic_ratio import CATEGORY_COLOURS
from analytics.fitting.synthetic import (
    MixtureRecord,
    heatmap,
    make_polynomial,
    optimal_ratio_ci,
    ratio_by_size,
    select_model,
)
from analytics.reports.exports import export_csv, export_json
from analytics.reports.synthetic_study import synthetic_study_report

REF = Path(__file__).resolve().parents[3] / "data" / "reference"
POLY = {"poly2": make_polynomial(2)}


def _figures(doc: str) -> list[dict]:
    blobs = re.findall(
        r'<script type="application/json" data-figure="isoflop-fig-\d+">(.*?)</script>', doc, re.S
    )
    return [json.loads(b) for b in blobs]


def _phi4_table3() -> dict[str, dict[str, float]]:
    with open(REF / "phi4_table3_table4_table5.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["table"] == "3"]
    names = ["MMLU", "MMLU_pro", "GSM8k", "HumanEval", "ARC_C", "MBPP", "MATH", "TQA"]
    return {f"Phi-4 Table 3: {r['row']} vs web": {n: float(r[n]) for n in names} for r in rows}


@pytest.fixture(scope="module")
def study() -> tuple[str, list[MixtureRecord], list[tuple[float, float, float, float]]]:
    records = []
    for n, opt in ((1e8, 0.2), (1e9, 0.4)):
        for r in np.linspace(0.0, 1.0, 6):
            for epochs in (1.0, 4.0):
                loss = 2.5 + 1.5 * (r - opt) ** 2 + 0.01 * epochs
                records.append(
                    MixtureRecord(n, float(r), epochs, "val_loss", float(loss), "loss", ("=web", "synth"))
                )
    big = [rec for rec in records if rec.model_size == 1e9 and rec.synthetic_epochs == 1.0]
    r, y = [rec.synthetic_share for rec in big], [rec.value for rec in big]
    sel = select_model(r, y, candidates=POLY)
    ci = optimal_ratio_ci(r, y, n_boot=30, seed=0, candidates=POLY)
    rows = ratio_by_size([rec for rec in records if rec.synthetic_epochs == 1.0], n_boot=20, candidates=POLY)
    surf = heatmap(
        [rec.synthetic_share for rec in records if rec.model_size == 1e9],
        [rec.synthetic_epochs for rec in records if rec.model_size == 1e9],
        [rec.value for rec in records if rec.model_size == 1e9],
        (np.linspace(0, 1, 5), np.array([1.0, 4.0])),
        model="poly",
    )
    doc = synthetic_study_report(
        "Synthetic share study <1B>",
        summary="Loss is minimised near r = 0.4 at 1B.",
        records=records,
        fit=(r, y, sel.best_model, ci),
        metric="val_loss",
        by_size=rows,
        surface=surf,
        category_deltas=_phi4_table3(),
    )
    return doc, records, rows


def test_study_report_figures_carry_the_fits(study) -> None:
    doc, _, rows = study
    figs = _figures(doc)
    assert len(figs) == 5  # fit, r* vs N, heatmap, two Phi-4 rows
    fit, by_size, surf = figs[0], figs[1], figs[2]
    assert fit["data"][0]["x"] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    line = fit["layout"]["shapes"][1]
    assert line["x0"] == pytest.approx(0.4, abs=0.01)  # r* marked on the plot
    band = fit["layout"]["shapes"][0]
    assert band["x0"] <= line["x0"] <= band["x1"]
    assert by_size["data"][0]["x"] == [1e8, 1e9]
    assert by_size["data"][0]["y"] == pytest.approx([0.2, 0.4], abs=0.01)
    assert by_size["data"][0]["y"] == [row[1] for row in rows]
    assert by_size["layout"]["xaxis"]["type"] == "log"
    assert surf["data"][0]["type"] == "heatmap" and np.array(surf["data"][0]["z"]).shape == (2, 5)
    assert "&lt;1B&gt;" in doc and "<1B>" not in doc.split("<body>")[1]


def test_phi4_knowledge_and_reasoning_shown_apart(study) -> None:
    doc, _, _ = study
    synthetic = _figures(doc)[3]
    # The section heading names the figure (the plot's own identical title is dropped in reports).
    assert "title" not in synthetic["layout"]
    assert re.search(r"<h2>Phi-4 Table 3: Synthetic vs web</h2><div id=\"isoflop-fig-3\">", doc)
    knowledge, reasoning = synthetic["data"]
    assert knowledge["name"] == "knowledge" and knowledge["marker"]["color"] == CATEGORY_COLOURS["knowledge"]
    assert dict(zip(knowledge["x"], knowledge["y"])) == {"MMLU": 0.8, "MMLU_pro": 4.0, "TQA": -14.8}
    assert dict(zip(reasoning["x"], reasoning["y"])) == {
        "GSM8k": 2.2,
        "HumanEval": 12.1,
        "ARC_C": 0.0,
        "MBPP": 5.0,
        "MATH": 4.9,
    }


def test_study_data_exports(study) -> None:
    _, records, _ = study
    cols = ["model_size", "synthetic_share", "synthetic_epochs", "sources", "metric", "value"]
    rows = [{**{c: getattr(rec, c) for c in cols}, "sources": ";".join(rec.sources)} for rec in records[:2]]
    parsed = list(csv.reader(io.StringIO(export_csv(rows, cols))))
    assert parsed[0] == cols
    assert parsed[1] == ["100000000.0", "0.0", "1.0", "'=web;synth", "val_loss", "2.57"]
    data = json.loads(export_json(records[:1]))
    assert data == [
        {
            "model_size": 1e8,
            "synthetic_share": 0.0,
            "synthetic_epochs": 1.0,
            "metric": "val_loss",
            "value": 2.57,
            "category": "loss",
            "sources": ["=web", "synth"],
        }
    ]
