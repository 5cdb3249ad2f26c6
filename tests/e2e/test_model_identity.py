"""Merging two catalog entries of one model in a real browser (Debian chromium), as an editor would."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from analytics.models import Study
from tests.e2e.conftest import ARTIFACTS, login, screenshot
from tracker.catalog import services as catalog_services
from tracker.models import Model, ModelMerge, TrainingRun

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots-identity")


def _shot(page, name: str) -> None:
    path = screenshot(page, name)
    SHOTS.mkdir(exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def test_editor_merges_a_duplicate_from_the_model_page(page, make_user, team_a):
    hw = catalog_services.hardware_get_or_create(name="H100-80GB", tdp_watts=700.0)
    catalog_services.hardware_price_set(hardware=hw, usd_per_gpu_hour=2.0, valid_from=date(2024, 1, 1))
    survivor = Model.objects.create(name="Llama 3.1 405B", gpu_hours=30.84e6, hardware=hw)
    duplicate = Model.objects.create(
        name="Meta-Llama-3.1-405B", parameters=405e9, release_date=date(2024, 7, 23), gpu_hours=30.84e6
    )
    doc = catalog_services.source_document_get_or_create(kind="upload", name="card.md", sha256="c" * 64)
    catalog_services.fact_record(source=doc, model=duplicate, name="parameters", value=405e9, line=82)
    run = TrainingRun.objects.create(team=team_a, name="repro-405b", model=duplicate)
    make_user("editor", team=team_a, username="erin")
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    login(page, "erin")

    # Before the merge: two entries, one training, one cost row naming the other spelling.
    page.goto("/catalog/costs/")
    assert page.locator("table.costs tbody tr").count() == 1
    assert "also listed as Meta-Llama-3.1-405B; counted once" in page.locator("table.costs").inner_text()
    _shot(page, "identity-costs-before-merge")
    page.goto(f"/catalog/models/{survivor.pk}/")
    page.click("#merge-link")
    page.wait_for_url(re.compile(rf"/catalog/models/{survivor.pk}/merge/$"))
    page.select_option("#merge-duplicate", str(duplicate.pk))
    page.click("form:has(#merge-duplicate) button[type=submit]")
    page.wait_for_url(re.compile(r"/merge/\?duplicate="))
    preview = page.locator("table.merge-preview").inner_text()
    assert "Meta-Llama-3.1-405B" in preview and "1 fact, 0 papers, 1 run" in preview
    _shot(page, "identity-merge-preview")
    page.click("#merge-confirm")
    page.wait_for_url(re.compile(rf"/catalog/models/{survivor.pk}/$"))
    assert "Merged Meta-Llama-3.1-405B into Llama 3.1 405B" in page.locator(".messages").inner_text()
    names = page.locator("table.aliases").inner_text()
    assert "Meta-Llama-3.1-405B" in names and f"merged from #{duplicate.pk}" in names
    _shot(page, "identity-model-after-merge")
    assert not Model.objects.filter(pk=duplicate.pk).exists()
    assert TrainingRun.objects.get(pk=run.pk).model_id == survivor.pk
    assert ModelMerge.objects.get().merged_by.username == "erin"
    page.goto("/catalog/costs/")
    assert page.locator("table.costs tbody tr").count() == 1
    assert "also listed as" not in page.locator("table.costs").inner_text()
    _shot(page, "identity-costs")
    assert not violations, violations
    assert ARTIFACTS.exists()


def test_links_lead_both_ways_between_paper_model_run_and_study(page, make_user, team_a):
    model, _ = catalog_services.model_get_or_create(name="Llama 3.1 405B")
    paper, _ = catalog_services.paper_upsert(
        title="The Llama 3 Herd of Models",
        arxiv_id="2407.21783",
        abstract="Our largest model, Meta-Llama-3.1-405B, is a dense Transformer.",
    )
    suggestion = catalog_services.paper_models_suggest(paper=paper)[0]
    run = TrainingRun.objects.create(team=team_a, name="repro-405b", model=model)
    study = Study.objects.create(team=team_a, name="405B sweep", kind="power_law")
    study.runs.add(run)
    make_user("editor", team=team_a, username="erin")
    login(page, "erin")

    page.goto(f"/catalog/papers/{paper.pk}/")
    assert "suggested" in page.locator("table.model-links").inner_text()
    page.click(f"form[action='/catalog/links/{suggestion.pk}/decide/'] button[value=confirm]")
    page.wait_for_url(re.compile(rf"/catalog/papers/{paper.pk}/$"))
    assert "confirmed" in page.locator("table.model-links").inner_text()
    _shot(page, "identity-paper-links")
    page.click("table.model-links a:has-text('Llama 3.1 405B')")
    page.wait_for_url(re.compile(rf"/catalog/models/{model.pk}/$"))
    assert "The Llama 3 Herd of Models" in page.locator("table.paper-links").inner_text()
    _shot(page, "identity-model-links")
    page.click("ul.model-runs a:has-text('repro-405b')")
    page.wait_for_url(re.compile(rf"/runs/{run.pk}/"))
    assert page.locator("#run-model-link").inner_text() == "Llama 3.1 405B"
    _shot(page, "identity-run-links")
    page.click(".run-paper-link")
    page.wait_for_url(re.compile(rf"/catalog/papers/{paper.pk}/$"))
    page.go_back()
    page.click(".run-study-link")
    page.wait_for_url(re.compile(rf"/studies/{study.pk}/"))
    page.go_back()
    page.click("#run-model-link")
    page.wait_for_url(re.compile(rf"/catalog/models/{model.pk}/$"))
