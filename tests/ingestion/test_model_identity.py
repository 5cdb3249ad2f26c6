"""Uploads resolve to one model per model: cards through aliases (never a file name or a "Total" row),
team run manifests as team-private references that no other team sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestion.models import IngestFile
from ingestion.parsers.records import FactRecord, ModelCardRecord
from ingestion.services.catalog import model_card_store
from tests.conftest import FIXTURES
from tests.ingestion.test_uploads import upload
from tracker.catalog import services as catalog_services
from tracker.models import Fact, Model, ModelAlias, TrainingRun

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "cards"
LLAMA = (FIXTURES / "cards" / "llama31_README.md").read_bytes()
MANIFEST = (FIXTURES / "runlogs" / "manifest.yaml").read_bytes()


@pytest.fixture
def editor_client(client, make_user, team_a):
    client.force_login(make_user(role="editor", team=team_a))
    return client


def test_llama31_card_is_named_from_the_card_not_the_file_and_total_is_no_model(editor_client, team_a):
    job = upload(editor_client, team_a, {"llama31_README.md": LLAMA})
    assert job.status == "done"
    names = set(Model.objects.values_list("name", flat=True))
    assert names == {"Llama 3.1", "Llama 3.1 8B", "Llama 3.1 70B", "Llama 3.1 405B"}
    assert not Model.objects.filter(name__icontains="readme").exists()
    assert not Model.objects.filter(name__iexact="total").exists()
    big = Model.objects.get(name="Llama 3.1 405B")
    assert Fact.objects.get(model=big, name="gpu_hours").value == 30.84e6
    # Each fact leads back to its source document: the upload that stored it.
    page = editor_client.get(f"/catalog/models/{big.pk}/").content.decode()
    assert f'href="/ingest/jobs/{job.pk}/" class="fact-job"' in page


def test_second_card_spelling_resolves_to_the_existing_model(editor_client, team_a):
    upload(editor_client, team_a, {"llama31_README.md": LLAMA})
    before = Model.objects.count()
    big = Model.objects.get(name="Llama 3.1 405B")
    card = b"---\nmodel_name: meta-llama/Meta-Llama-3.1-405B\nlicense: llama3.1\n---\n# Meta-Llama-3.1-405B\n"
    job = upload(editor_client, team_a, {"405b.md": card})
    assert job.status == "done"
    assert Model.objects.count() == before
    aliases = dict(ModelAlias.objects.filter(model=big).values_list("alias", "source"))
    assert aliases["Meta-Llama-3.1-405B"] == "card_name"
    assert IngestFile.objects.get(job=job).catalog_models.get() == big


def test_corpus_card_folder_gives_the_repo_id_as_alias_and_the_model_its_last_part(team_a):
    # A card whose parser falls back to its folder (the Hub's owner__name spelling): no title, no front matter.
    doc = catalog_services.source_document_get_or_create(kind="upload", name="README.md", sha256="a" * 64)
    record = ModelCardRecord(name="tiiuae__falcon-7b", body="text")
    model_card_store(record=record, source=doc)
    model = Model.objects.get()
    assert model.name == "falcon-7b"
    assert ModelAlias.objects.get(model=model, source="hf_repo").alias == "tiiuae/falcon-7b"
    # The real falcon-7b card (title "falcon-7b") lands on the same model.
    corpus = (CORPUS / "tiiuae__falcon-7b" / "index.md").read_bytes()
    doc2 = catalog_services.source_document_get_or_create(kind="upload", name="index.md", sha256="b" * 64)
    from ingestion.parsers.modelcard import parse_model_card

    model_card_store(record=parse_model_card(corpus, filename="index.md"), source=doc2)
    assert list(Model.objects.filter(name__icontains="falcon").values_list("name", flat=True)) == [
        "falcon-7b"
    ]


def test_card_named_only_by_its_file_is_refused_with_the_reason_and_nothing_stored(editor_client, team_a):
    card = b"---\nlicense: mit\n---\n\nTrained on 300B tokens of web text.\n"
    job = upload(editor_client, team_a, {"mycard_README.md": card})
    file = IngestFile.objects.get(job=job)
    assert file.status == "failed"
    assert "mycard_README.md" in str(file.errors) and "file name is not a model name" in str(file.errors)
    assert not Model.objects.exists() and not Fact.objects.exists()


def test_total_row_subject_is_never_a_model(team_a):
    doc = catalog_services.source_document_get_or_create(kind="upload", name="c.md", sha256="c" * 64)
    record = ModelCardRecord(
        name="Llama 3.1",
        facts=[
            FactRecord(name="gpu_hours", value=1.46e6, subject="Llama 3.1 8B", line=3),
            FactRecord(name="gpu_hours", value=39.3e6, subject="Total", line=4),
        ],
    )
    model_card_store(record=record, source=doc)
    assert set(Model.objects.values_list("name", flat=True)) == {"Llama 3.1", "Llama 3.1 8B"}
    assert not Fact.objects.filter(value=39.3e6).exists()


def test_webhook_repo_id_becomes_an_alias(team_a):
    doc = catalog_services.source_document_get_or_create(kind="webhook", name="msg-1")
    model_card_store(record=ModelCardRecord(name="Qwen2-7B"), source=doc, repo_id="Qwen/Qwen2-7B")
    model = Model.objects.get()
    assert ModelAlias.objects.get(model=model, alias="Qwen/Qwen2-7B").source == "hf_repo"


def test_manifest_model_is_private_to_the_team(editor_client, team_a, team_b, client, make_user):
    job = upload(editor_client, team_a, {"manifest.yaml": MANIFEST})
    assert job.status == "done"
    run = TrainingRun.objects.select_related("model").get()
    assert (run.model.name, run.model.team) == ("decoder-1b", team_a)
    # The shared catalog never lists it; team A sees it; a user of team B gets a 404 and no row.
    assert not Model.objects.filter(team__isnull=True).exists()
    assert b"decoder-1b" in editor_client.get("/catalog/models/").content
    assert editor_client.get(f"/catalog/models/{run.model.pk}/").status_code == 200
    other = client.__class__()
    other.force_login(make_user(role="editor", team=team_b))
    assert b"decoder-1b" not in other.get("/catalog/models/").content
    assert other.get(f"/catalog/models/{run.model.pk}/").status_code == 404
    assert b"decoder-1b" not in other.get("/").content


def test_manifest_naming_a_shared_model_links_to_it_through_an_alias(editor_client, team_a):
    shared, _ = catalog_services.model_get_or_create(name="Llama 3.1 8B")
    job = upload(
        editor_client, team_a, {"manifest.yaml": MANIFEST.replace(b"decoder-1b", b"meta-llama/Llama-3.1-8B")}
    )
    assert job.status == "done"
    assert TrainingRun.objects.get().model_id == shared.pk
    assert Model.objects.count() == 1
    # The team's spelling is not written into the shared catalog's names.
    assert not ModelAlias.objects.filter(alias="meta-llama/Llama-3.1-8B").exists()


def test_two_teams_keep_separate_private_models_of_the_same_name(client, make_user, team_a, team_b):
    for team in (team_a, team_b):
        c = client.__class__()
        c.force_login(make_user(role="editor", team=team))
        assert upload(c, team, {"manifest.yaml": MANIFEST}).status == "done"
    models = list(Model.objects.order_by("team_id").values_list("name", "team_id"))
    assert models == [("decoder-1b", team_a.pk), ("decoder-1b", team_b.pk)]
