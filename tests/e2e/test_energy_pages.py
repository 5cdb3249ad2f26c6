"""Costs (price rule, Epoch energy, assumptions), timeline (compute trend line and band) and plan-a-run in a
real browser under the strict CSP; screenshots under ISOFLOP_SHOTS_DIR (default test-artifacts/)."""

from __future__ import annotations

import math
import os
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import login, screenshot, wait_js

SHOTS = os.environ.get("ISOFLOP_SHOTS_DIR", "")


def _shot(page, name: str) -> Path:
    if not SHOTS:
        return screenshot(page, name)
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    path = Path(SHOTS) / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_costs_timeline_and_plan_pages(page, make_user):
    from analytics.fitting.chinchilla import ChinchillaParams
    from analytics.studies import services as study_services
    from tracker.catalog import services as catalog_services
    from tracker.demo import load_demo
    from tracker.models import Hardware, Model, Team, TrainingRun

    load_demo()
    team = Team.objects.get(slug="demo-lab")
    make_user("editor", team=team, username="erin")
    # Synthetic dated models (4.2x/year, labelled as such) so that the trend has something to fit.
    rng = np.random.default_rng(0)
    org = catalog_services.organization_get_or_create(name="Synthetic 4.2x/yr")
    for i in range(25):
        released = date(2014, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 10)))
        flops = 10 ** (21 + math.log10(4.2) * (released.year - 2018) + rng.normal(0, 0.4))
        n = math.sqrt(flops / 120)
        Model.objects.create(
            name=f"synthetic {i}",
            organization=org,
            release_date=released,
            parameters=n,
            training_tokens=20 * n,
        )
    truth = ChinchillaParams(a=6.0, b=6.5, e=0.5, alpha=0.34, beta=0.28)
    for i, (n, d) in enumerate((n, d) for n in np.logspace(7, 9, 4) for d in np.logspace(9, 11, 4)):
        TrainingRun.objects.create(
            team=team, name=f"ch-{i}", parameters=n, tokens=d, final_loss=float(truth.predict(n, d))
        )
    study = study_services.study_create(
        team=team,
        name="plan demo",
        kind="chinchilla",
        run_filter={"name__startswith": "ch-"},
        options={"n_bootstrap": 10},
    )
    study_services.study_refit(study_id=study.pk)

    login(page, "erin")
    page.goto("/catalog/costs/?price_rule=stated")
    wait_js(page, "document.querySelector('[data-figure=fig-costs] .main-svg') !== null")
    assert page.locator("select[name=price_rule]").input_value() == "stated"
    assert page.locator("td.rule", has_text="stated").count() == 1  # DeepSeek-V3's stated $2
    assert "server multiplier" in page.locator("details.assumptions").inner_text()
    assert _shot(page, "costs").stat().st_size > 5_000

    page.goto("/catalog/timeline/")
    wait_js(page, "document.querySelector('[data-figure=fig-compute] .main-svg') !== null")
    summary = page.locator(".trend-summary").inner_text()
    assert "x per year (95% CI" in summary and "doubling every" in summary
    assert page.locator("[data-figure=fig-compute] .legendtext", has_text="95% confidence band").count() == 1
    _shot(page, "timeline")
    page.select_option("select[name=organization]", "Synthetic 4.2x/yr")
    page.click("form.timeline-filters button[type=submit]")
    wait_js(page, "document.querySelector('[data-figure=fig-compute] .main-svg') !== null")
    assert "25 models" in page.locator(".trend-summary").inner_text()
    _shot(page, "timeline-synthetic")

    h100 = Hardware.objects.get(name="H100-80GB")
    page.goto(f"/studies/{study.pk}/?compute=1e23&hardware={h100.pk}&mfu=0.4")
    energy = page.locator("table.plan tr", has_text="Energy").inner_text()
    assert "PUE 1.1" in energy and "server" in energy and "Epoch" in energy
    _shot(page, "planning")
