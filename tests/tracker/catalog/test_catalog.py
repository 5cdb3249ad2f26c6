"""Catalog services: facts keep provenance and flag conflicts, papers dedup, demo data is real and idempotent."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from tracker.catalog import services as catalog_services
from tracker.catalog.costs import price_in_force
from tracker.catalog.selectors import prices_by_hardware
from tracker.demo import load_demo
from tracker.models import Fact, HardwarePrice, Model, Paper, SourceDocument, TrainingRun

# rows of data/reference/porian2024_isoflop_points.csv with config_id 4
PORIAN_CFG4_POINTS = 133


@pytest.fixture
def doc(db):
    return catalog_services.source_document_get_or_create(
        kind=SourceDocument.Kind.UPLOAD, name="card.md", sha256="a" * 64
    )


@pytest.fixture
def other_doc(db):
    return catalog_services.source_document_get_or_create(
        kind=SourceDocument.Kind.UPLOAD, name="paper.pdf", sha256="b" * 64
    )


@pytest.mark.django_db
def test_conflicting_facts_are_kept_and_flagged(doc, other_doc):
    model, _ = catalog_services.model_get_or_create(name="M-8B")
    first = catalog_services.fact_record(source=doc, model=model, name="parameters", value=8.0e9, line=12)
    agreeing = catalog_services.fact_record(
        source=other_doc, model=model, name="parameters", value=8.03e9, line=3
    )
    assert not Fact.objects.get(pk=first.pk).conflicting and not agreeing.conflicting
    third_doc = catalog_services.source_document_get_or_create(kind="upload", name="blog.md", sha256="c" * 64)
    disagreeing = catalog_services.fact_record(
        source=third_doc, model=model, name="parameters", value=7.0e9, line=1
    )
    assert disagreeing.conflicting
    assert Fact.objects.filter(model=model, name="parameters").count() == 3
    assert set(Fact.objects.filter(conflicting=True).values_list("pk", flat=True)) == {
        first.pk,
        agreeing.pk,
        disagreeing.pk,
    }
    assert Fact.objects.get(pk=first.pk).value == 8.0e9  # never overwritten


@pytest.mark.django_db
def test_same_fact_from_same_place_twice_changes_nothing(doc):
    model, _ = catalog_services.model_get_or_create(name="M-1B")
    a = catalog_services.fact_record(source=doc, model=model, name="training_tokens", value=1e12, line=7)
    b = catalog_services.fact_record(source=doc, model=model, name="training_tokens", value=1e12, line=7)
    assert a.pk == b.pk
    assert Fact.objects.count() == 1
    assert a.location == "line 7"


@pytest.mark.django_db
def test_fact_rejects_nan_and_bad_confidence(doc):
    model, _ = catalog_services.model_get_or_create(name="M")
    with pytest.raises(ValueError, match="non-finite"):
        catalog_services.fact_record(source=doc, model=model, name="parameters", value=float("nan"))
    with pytest.raises(ValueError, match="confidence"):
        catalog_services.fact_record(source=doc, model=model, name="parameters", value=1.0, confidence=1.5)
    assert Fact.objects.count() == 0


@pytest.mark.django_db
def test_fact_bounds_are_checked_by_the_database(doc):
    model, _ = catalog_services.model_get_or_create(name="M")
    with pytest.raises(IntegrityError), transaction.atomic():
        Fact.objects.create(model=model, name="x", value=1, lower=2, upper=1, source=doc)


@pytest.mark.django_db
def test_paper_dedup_by_arxiv_doi_and_title():
    p1, created = catalog_services.paper_upsert(
        title="Training Compute-Optimal Large Language Models", arxiv_id="2203.15556"
    )
    assert created
    p2, created = catalog_services.paper_upsert(
        title="Training compute-optimal large language models!", doi="10.1/x"
    )
    assert not created and p2.pk == p1.pk
    assert Paper.objects.get(pk=p1.pk).doi == "10.1/x"  # gap filled
    p3, created = catalog_services.paper_upsert(title="Another title", arxiv_id="2203.15556")
    assert not created and p3.pk == p1.pk
    assert Paper.objects.get(pk=p1.pk).title == "Training Compute-Optimal Large Language Models"


@pytest.mark.django_db
def test_demo_data_is_the_published_numbers_and_idempotent():
    first = load_demo()
    second = load_demo()
    assert first == second
    assert TrainingRun.objects.filter(external_id__startswith="datablations:").count() == 182
    assert TrainingRun.objects.filter(external_id__startswith="porian:4:").count() == PORIAN_CFG4_POINTS
    assert first.runs == 182 + PORIAN_CFG4_POINTS + 2  # + the two Phi-4 Table 3 ablation runs
    llama = Model.objects.get(name="Llama 3.1 405B")
    assert llama.gpu_hours == pytest.approx(30.84e6)
    assert llama.hardware.name == "H100-80GB"
    co2 = Fact.objects.get(model=llama, name="co2_tonnes")
    assert co2.value == 8930 and co2.source.name.endswith("llama31_deepseekv3_training_cost.csv")
    assert co2.line == 4
    dsv3 = Model.objects.get(name="DeepSeek-V3")
    assert dsv3.gpu_hours == pytest.approx(2.788e6)
    assert dsv3.training_flops == pytest.approx(6 * 37e9 * 14.8e12)
    price = HardwarePrice.objects.get(hardware__name="H800")
    assert float(price.usd_per_gpu_hour) == 2.0 and "2412.19437" in price.note
    # 2.788M H800 hours at $2 is the report's $5.576M
    assert dsv3.gpu_hours * float(price.usd_per_gpu_hour) == pytest.approx(5.576e6)
    run = TrainingRun.objects.get(external_id="datablations:2b855b9b")
    assert (run.parameters, run.tokens, run.unique_tokens, run.final_loss) == (2.81e9, 55e9, 9e9, 2.611045)


@pytest.mark.django_db
def test_demo_fills_every_page_papers_prices_and_links():
    load_demo()
    # The reference papers, with their real arXiv metadata, and the models they describe.
    assert Paper.objects.count() == 12
    chinchilla = Paper.objects.get(arxiv_id="2203.15556")
    assert chinchilla.title == "Training Compute-Optimal Large Language Models"
    assert chinchilla.abstract.startswith("We investigate the optimal model size")
    assert Model.objects.get(name="Llama 3.1 405B").papers.get().arxiv_id == "2407.21783"
    # Every demo model has a price in force on its release date (none says "no price").
    prices = prices_by_hardware()
    for model in Model.objects.exclude(hardware=None):
        in_force = price_in_force(prices[model.hardware_id], model.release_date)
        assert in_force is not None, model.name
        assert in_force.valid_from <= model.release_date
    # Phi-4's Table 3 ablation: a web baseline and a synthetic run with the published changes.
    synthetic = TrainingRun.objects.get(external_id="phi4-table3:synthetic")
    assert (synthetic.synthetic_share, synthetic.config["benchmarks"]["TQA"]) == (1.0, -14.8)
