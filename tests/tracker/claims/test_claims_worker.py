"""The real path for rechecks: a card uploaded after an article lands in the worker, which publishes
`tracker.claims_recheck`, which the worker runs: the article's claims change status without anyone asking."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingestion.models import IngestJob
from tests.conftest import wait_for
from tracker.models import Article, Claim

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _done(job_id: int) -> IngestJob | None:
    job = IngestJob.objects.get(pk=job_id)
    return job if job.status in ("done", "failed", "partial") else None


def _upload(client, name: str, data: bytes) -> IngestJob:
    r = client.post("/ingest/upload/", {"team": "lab-a", "files": [SimpleUploadedFile(name, data)]})
    assert r.status_code == 302
    job = IngestJob.objects.order_by("-pk").first()
    return wait_for(lambda: _done(job.pk), timeout=90)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_card_after_article_rechecks_claims_in_the_worker(celery_worker_process, client, make_user, team_a):
    client.force_login(make_user(role="editor", team=team_a))
    article_job = _upload(
        client, "zh.md", (FIXTURES / "articles" / "status" / "zh_open_models.md").read_bytes()
    )
    assert article_job.status == "done"
    article = Article.objects.get()
    assert set(Claim.objects.filter(article=article).values_list("status", flat=True)) == {
        "uncorroborated",
        "unknown_subject",
    }
    assert (
        _upload(client, "README.md", (FIXTURES / "cards" / "llama31_README.md").read_bytes()).status == "done"
    )

    def statuses() -> list[tuple[int, str]] | None:
        got = list(Claim.objects.filter(article=article).order_by("line", "pk").values_list("line", "status"))
        return got if any(s == "conflicting" for _, s in got) else None

    assert wait_for(statuses, timeout=60) == [
        (5, "corroborated"),
        (5, "corroborated"),
        (6, "corroborated"),
        (7, "conflicting"),
        (11, "uncorroborated"),
        (11, "uncorroborated"),
        (15, "unknown_subject"),
    ]
    assert celery_worker_process.poll() is None
