"""Parsed documents mapped onto the catalog: model cards -> Model + facts with provenance, papers, pages."""

from __future__ import annotations

import pytest

from ingestion.models import IngestFile, IngestJob
from tests.conftest import FIXTURES
from tests.ingestion.conftest import post_standard, process_deliveries
from tests.ingestion.test_uploads import upload
from tracker.models import Fact, Model, Paper

pytestmark = pytest.mark.django_db

CARD = (FIXTURES / "cards" / "tinystories_card.md").read_bytes()


@pytest.fixture
def editor_client(client, make_user, team_a):
    client.force_login(make_user(role="editor", team=team_a))
    return client


def test_model_card_upload_creates_model_facts_and_fills_fields(editor_client, team_a):
    job = upload(editor_client, team_a, {"README.md": CARD})
    assert job.status == "done"
    model = Model.objects.select_related("hardware").get(name="tiny-lm-350m")
    assert (model.license, model.parameters, model.training_tokens, model.gpu_hours) == (
        "apache-2.0",
        3.5e8,
        6e10,
        1200.0,
    )
    assert (model.hardware.name, str(model.release_date)) == ("A100-40GB", "2024-03-05")
    assert model.metadata["datasets"] == ["roneneldan/TinyStories", "HuggingFaceFW/fineweb-edu"]
    facts = {(f.name, f.line): f for f in Fact.objects.filter(model=model).select_related("source")}
    assert len(facts) == 8
    params = facts[("parameters", 31)]
    assert (params.value, params.confidence, params.source.name, params.source.kind) == (
        3.5e8,
        0.6,
        "README.md",
        "upload",
    )
    assert IngestFile.objects.get(job=job).rows_done == 1 + 8


def test_disagreeing_card_keeps_both_facts_flagged_and_model_unchanged(editor_client, team_a):
    upload(editor_client, team_a, {"README.md": CARD})
    other = CARD.replace(b"350M", b"410M").replace(b"license: apache-2.0", b"license: mit")
    job = upload(editor_client, team_a, {"card-v2.md": other})
    assert job.status == "done"
    model = Model.objects.get(name="tiny-lm-350m")
    # Fields are filled only when empty: the first source stands; the disagreement is visible as facts.
    assert (model.parameters, model.license) == (3.5e8, "apache-2.0")
    params = Fact.objects.filter(model=model, name="parameters").order_by("value")
    assert [(f.value, f.conflicting) for f in params] == [(3.5e8, True), (4.1e8, True)]


def test_model_card_webhook_uses_the_same_path(client, integration):
    r = post_standard(
        client,
        {"type": "model.card", "data": {"name": "tiny-hooked", "markdown": CARD.decode()}},
        msg_id="card-1",
    )
    assert r.status_code == 202
    process_deliveries()
    model = Model.objects.get(name="tiny-hooked")
    assert (model.parameters, model.license) == (3.5e8, "apache-2.0")
    assert Fact.objects.filter(model=model, source__kind="webhook").count() == 8


def test_bibtex_upload_creates_papers_deduplicated_by_arxiv_id(editor_client, team_a):
    bib = (
        b"@article{hoffmann2022,\n  title={Training Compute-Optimal Large Language Models},\n"
        b"  author={Hoffmann, Jordan and Borgeaud, Sebastian},\n  journal={arXiv preprint arXiv:2203.15556},\n"
        b"  eprint={2203.15556},\n  archivePrefix={arXiv},\n  year={2022}\n}\n"
    )
    job = upload(editor_client, team_a, {"refs.bib": bib})
    assert job.status == "done", IngestFile.objects.get(job=job).errors
    paper = Paper.objects.get()
    assert (paper.title, paper.arxiv_id) == ("Training Compute-Optimal Large Language Models", "2203.15556")
    upload(editor_client, team_a, {"more.bib": bib.replace(b"hoffmann2022", b"chinchilla")})
    assert Paper.objects.count() == 1


def test_pages_render_for_editor(editor_client, team_a):
    page = editor_client.get("/ingest/upload/").content.decode()
    assert 'enctype="multipart/form-data"' in page and 'name="files"' in page and "multiple" in page
    assert '<option value="lab-a">' in page
    job = upload(editor_client, team_a, {"README.md": CARD})
    listing = editor_client.get("/ingest/jobs/").content.decode()
    assert f'href="/ingest/jobs/{job.pk}/"' in listing
    detail = editor_client.get(f"/ingest/jobs/{job.pk}/").content.decode()
    assert "README.md" in detail and "hf_card" in detail and f"/api/ingest/jobs/{job.pk}/" in detail
    assert IngestJob.objects.count() == 1
