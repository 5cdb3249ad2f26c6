"""The article page in a real browser: claims marked in the text, badges that lead to the primary fact."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.e2e.conftest import login, screenshot
from tests.ingestion.conftest import process_job

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHOTS = Path(os.environ.get("ISOFLOP_ARTICLE_SHOTS", "/tmp/shots-articles"))


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_article_page_marks_claims_and_links_badges_to_facts(page, make_user, team_a):
    from ingestion.models import IngestJob
    from ingestion.services import jobs
    from tracker.models import Article, Claim

    editor = make_user("editor", team=team_a, username="ed")
    for name, data in (
        ("README.md", (FIXTURES / "cards" / "llama31_README.md").read_bytes()),
        ("ko.md", (FIXTURES / "articles" / "status" / "ko_open_models.md").read_bytes()),
    ):
        job = jobs.ingest_job_create(
            team=team_a, user=editor, source=IngestJob.Source.UPLOAD, uploads=[SimpleUploadedFile(name, data)]
        )
        process_job(job)
    article = Article.objects.get()
    wrong = Claim.objects.get(article=article, status="conflicting")
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    login(page, "ed")
    page.click("nav >> text=Articles")
    page.click(f"text={article.title}")
    marks = page.locator("mark.claim")
    assert marks.count() == Claim.objects.filter(article=article).count() == 7
    assert page.locator("mark.claim-conflicting").inner_text() == "800억"
    assert page.locator(".claim-counts").inner_text().split() == [
        "3", "corroborated", "1", "conflicting", "2", "uncorroborated", "1", "unknown", "subject",
    ]  # fmt: skip
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "article.png"), full_page=True)
    screenshot(page, "article")

    # The conflicting badge leads to the card fact it was checked against, on the model page.
    page.click(f"#claim-{wrong.pk} + a.badge")
    page.wait_for_url(f"**/catalog/models/{wrong.model_id}/#fact-{wrong.checked_against_id}")
    cell = page.locator(f"#fact-{wrong.checked_against_id}")
    assert cell.inner_text() == "parameters"
    assert cell.locator("xpath=following-sibling::td[1]").inner_text() == "70000000000.0"
    assert page.locator("#claims mark, #claims .badge.claim-conflicting").count() == 1
    page.screenshot(path=str(SHOTS / "model.png"), full_page=True)

    page.goto("/articles/claims/unsourced/")
    assert page.locator("table.claims-table tbody tr").count() == 3
    page.screenshot(path=str(SHOTS / "unsourced.png"), full_page=True)
    page.goto("/articles/")
    page.screenshot(path=str(SHOTS / "articles.png"), full_page=True)
    page.goto("/ingest/paste/")
    page.screenshot(path=str(SHOTS / "paste.png"), full_page=True)

    # An HTML article that misstates Llama 3.1 405B: its wrong size is marked conflicting in the text.
    job = jobs.ingest_job_create(
        team=team_a,
        user=editor,
        source=IngestJob.Source.UPLOAD,
        uploads=[
            SimpleUploadedFile(
                "explained.html", (FIXTURES / "articles" / "en_llama_misstated.html").read_bytes()
            )
        ],
    )
    process_job(job)
    html_article = Article.objects.get(document__name="explained.html")
    page.goto(f"/articles/{html_article.pk}/")
    assert "450 billion" in page.locator("mark.claim-conflicting").all_inner_texts()
    page.screenshot(path=str(SHOTS / "article-html.png"), full_page=True)
    assert not violations, violations
