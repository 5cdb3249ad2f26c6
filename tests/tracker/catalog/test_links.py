"""Links with provenance and confidence: card -> paper, paper -> model suggestions an editor decides, run ->
model/paper/study, shown both ways on the pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.models import Study
from ingestion.parsers.modelcard import parse_model_card
from ingestion.parsers.records import PaperRecord
from ingestion.services.catalog import model_card_store, paper_store
from tracker.catalog import services as catalog_services
from tracker.catalog.linking import is_specific_key, paper_refs, text_ngrams
from tracker.models import Model, ModelPaperLink, Paper, TrainingRun

CARDS = Path(__file__).resolve().parents[2] / "corpus" / "cards"


# ---- pure ------------------------------------------------------------------------------------------------


def test_paper_refs_find_arxiv_ids_dois_and_hub_paper_pages_with_lines():
    text = "\n".join(
        [
            "# Model",
            "See our [technical report](https://arxiv.org/abs/2407.21783v2).",
            "Energy method: https://arxiv.org/pdf/2204.05149",
            "Also https://huggingface.co/papers/2412.19437 and doi: 10.18653/v1/2020.acl-main.463.",
            "## Citation",
            "@misc{x, eprint={2401.02954}, url={https://arxiv.org/abs/2401.02954}}",
        ]
    )
    refs = {(r.kind, r.id): r for r in paper_refs(text)}
    assert set(refs) == {
        ("arxiv", "2407.21783"),
        ("arxiv", "2204.05149"),
        ("arxiv", "2412.19437"),
        ("doi", "10.18653/v1/2020.acl-main.463"),
        ("arxiv", "2401.02954"),
    }
    assert refs[("arxiv", "2407.21783")].line == 2 and refs[("arxiv", "2407.21783")].confidence == 0.8
    assert refs[("arxiv", "2204.05149")].confidence == 0.5  # a passing link
    assert refs[("arxiv", "2401.02954")].confidence == 0.95  # in the citation block


def test_text_ngrams_find_aliases_and_specific_keys_only():
    grams = text_ngrams("We compare with Meta-Llama-3.1-405B and Qwen2.5 72B. Llama is a family.")
    assert {"llama 3 1 405 b", "qwen 2 5 72 b"} <= grams
    assert is_specific_key("llama 3 1 405 b") and not is_specific_key("llama") and not is_specific_key("3 1")


# ---- card -> paper ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_real_deepseek_v3_card_links_its_report_from_the_citation_block():
    doc = catalog_services.source_document_get_or_create(kind="upload", name="index.md", sha256="d" * 64)
    data = (CARDS / "deepseek-ai__DeepSeek-V3" / "index.md").read_bytes()
    model_card_store(record=parse_model_card(data, filename="index.md"), source=doc)
    model = Model.objects.get(name="DeepSeek-V3")
    link = ModelPaperLink.objects.select_related("paper").get(model=model, paper__arxiv_id="2412.19437")
    assert (link.status, link.found_in, link.confidence, link.source) == ("confirmed", "card", 0.95, doc)
    assert "2412.19437" in link.evidence
    assert list(model.papers.all()) == [link.paper]
    assert link.paper.title == "arXiv:2412.19437"
    # The paper itself arrives later: the same row gets its real title.
    paper_store(record=PaperRecord(title="DeepSeek-V3 Technical Report", arxiv_id="2412.19437"), source=doc)
    assert Paper.objects.get(arxiv_id="2412.19437").title == "DeepSeek-V3 Technical Report"
    assert Paper.objects.filter(arxiv_id="2412.19437").count() == 1


@pytest.mark.django_db
def test_passing_link_in_a_card_is_only_a_suggestion():
    doc = catalog_services.source_document_get_or_create(kind="upload", name="llama.md", sha256="e" * 64)
    data = (Path(__file__).resolve().parents[2] / "fixtures" / "cards" / "llama31_README.md").read_bytes()
    model_card_store(record=parse_model_card(data, filename="llama31_README.md"), source=doc)
    link = ModelPaperLink.objects.get(paper__arxiv_id="2204.05149")  # the energy-methodology paper
    assert (link.model.name, link.status, link.confidence) == ("Llama 3.1", "suggested", 0.5)
    assert not link.model.papers.exists()


# ---- paper -> model --------------------------------------------------------------------------------------


@pytest.fixture
def llama(db):
    model, _ = catalog_services.model_get_or_create(name="Llama 3.1 405B")
    family, _ = catalog_services.model_get_or_create(name="Llama")
    return model, family


def _herd(doc=None):
    record = PaperRecord(
        title="The Llama 3 Herd of Models",
        arxiv_id="2407.21783",
        abstract="We present Llama 3. Our largest model, Meta-Llama-3.1-405B, is a dense Transformer.",
    )
    return paper_store(record=record, source=doc)


@pytest.mark.django_db
def test_paper_naming_a_model_alias_suggests_a_link_and_not_the_bare_family(llama):
    model, family = llama
    paper = _herd()
    links = list(ModelPaperLink.objects.filter(paper=paper))
    assert [(lk.model, lk.status, lk.found_in, lk.confidence) for lk in links] == [
        (model, "suggested", "paper", 0.5)
    ]
    # The evidence is the abstract's sentence, spelled as the paper spells the model.
    assert links[0].evidence == "abstract: Our largest model, Meta-Llama-3.1-405B, is a dense Transformer."
    assert not model.papers.exists()  # a suggestion is not a link yet
    assert not ModelPaperLink.objects.filter(model=family).exists()


@pytest.mark.django_db
def test_editor_confirms_and_rejects_on_the_paper_page(llama, client, make_user):
    model, _ = llama
    paper = _herd()
    link = ModelPaperLink.objects.get(paper=paper)
    client.force_login(make_user(role="viewer"))
    assert client.post(f"/catalog/links/{link.pk}/decide/", {"decision": "confirm"}).status_code == 403
    assert ModelPaperLink.objects.get(pk=link.pk).status == "suggested"
    editor = make_user(role="editor")
    client.force_login(editor)
    page = client.get(f"/catalog/papers/{paper.pk}/").content.decode()
    assert "Llama 3.1 405B" in page and "model named in the paper" in page and 'value="confirm"' in page
    r = client.post(f"/catalog/links/{link.pk}/decide/", {"decision": "confirm", "next": "paper"})
    assert r.status_code == 302 and r["Location"] == f"/catalog/papers/{paper.pk}/"
    link.refresh_from_db()
    assert (link.status, link.decided_by) == ("confirmed", editor)
    assert list(model.papers.all()) == [paper]
    model_page = client.get(f"/catalog/models/{model.pk}/").content.decode()
    assert "The Llama 3 Herd of Models" in model_page and "confirmed" in model_page
    client.post(f"/catalog/links/{link.pk}/decide/", {"decision": "reject"})
    assert not model.papers.exists()
    _herd()  # the same paper again: a rejected link is never suggested again
    assert ModelPaperLink.objects.get(pk=link.pk).status == "rejected"
    after = client.get(f"/catalog/papers/{paper.pk}/").content.decode()
    assert "model-links" not in after and "No models are linked to this paper." in after
    r = client.post(f"/catalog/links/{link.pk}/decide/", {"decision": "maybe"})
    assert r.status_code == 400 and ModelPaperLink.objects.get(pk=link.pk).status == "rejected"


# ---- run -> model, paper, studies ----------------------------------------------------------------------


@pytest.mark.django_db
def test_run_page_links_model_papers_and_studies_and_the_model_page_lists_the_run(
    llama, client, make_user, team_a, team_b
):
    model, _ = llama
    paper = _herd()
    catalog_services.paper_link_decide(link=ModelPaperLink.objects.get(paper=paper), confirm=True, user=None)
    run = TrainingRun.objects.create(team=team_a, name="repro-405b", model=model)
    study = Study.objects.create(team=team_a, name="405B sweep", kind="power_law")
    study.runs.add(run)
    client.force_login(make_user(role="viewer", team=team_a))
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert f'href="/catalog/models/{model.pk}/" id="run-model-link"' in page
    assert f'href="/catalog/papers/{paper.pk}/" class="run-paper-link"' in page
    assert f'href="/studies/{study.pk}/" class="run-study-link"' in page
    assert f'href="/runs/{run.pk}/"' in client.get(f"/catalog/models/{model.pk}/").content.decode()
    # Another team's member sees the model page but not this team's run on it.
    client.force_login(make_user(role="viewer", team=team_b))
    assert "repro-405b" not in client.get(f"/catalog/models/{model.pk}/").content.decode()


@pytest.mark.django_db
def test_a_model_named_after_its_paper_was_stored_is_suggested_for_that_paper():
    """The catalog learns the name second (a card arriving after its paper): the paper is suggested all the
    same, with the same evidence; the bare family name and a team's private spelling suggest nothing."""
    paper = _herd()
    other = paper_store(
        record=PaperRecord(title="Llamas of the Andes", abstract="Llama herds at 4,000 m.", arxiv_id=""),
        source=None,
    )
    assert not ModelPaperLink.objects.exists()
    catalog_services.model_get_or_create(name="Llama")
    assert not ModelPaperLink.objects.exists()  # "Llama" alone is not specific enough
    model, _ = catalog_services.model_get_or_create(name="Llama 3.1 405B")
    links = list(ModelPaperLink.objects.all())
    assert [(lk.model, lk.paper, lk.status, lk.confidence) for lk in links] == [
        (model, paper, "suggested", 0.5)
    ]
    assert links[0].evidence == "abstract: Our largest model, Meta-Llama-3.1-405B, is a dense Transformer."
    assert not ModelPaperLink.objects.filter(paper=other).exists()
    # A rejected suggestion stays rejected when the model learns another spelling.
    catalog_services.paper_link_decide(link=links[0], confirm=False, user=None)
    catalog_services.model_alias_add(model=model, alias="Meta-Llama-3.1-405B", source="card")
    assert ModelPaperLink.objects.get().status == "rejected"


@pytest.mark.django_db
def test_a_teams_private_model_name_suggests_no_shared_paper(team_a):
    _herd()
    catalog_services.model_get_or_create(name="Llama 3.1 405B", team=team_a)
    assert not ModelPaperLink.objects.exists()
