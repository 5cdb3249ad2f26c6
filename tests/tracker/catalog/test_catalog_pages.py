"""Catalog pages on real PostgreSQL: search ranking, tags, model numbers, provenance, costs, what-if, errors."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from tracker.catalog import services as catalog_services
from tracker.demo import load_demo
from tracker.models import Fact, Hardware, HardwarePrice, Model, Paper, SourceDocument, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Demo users are created with real passwords; the default hasher costs seconds on a small CI box.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def demo(db):
    return load_demo()


@pytest.fixture
def viewer_client(client, make_user):
    client.force_login(make_user("viewer"))
    return client


@pytest.fixture
def editor_client(client, make_user):
    client.force_login(make_user("editor"))
    return client


def _figure(response, fig_id: str) -> dict:
    match = re.search(rf'<script id="{fig_id}" type="application/json">(.*?)</script>', response.text, re.S)
    assert match, f"{fig_id} not embedded"
    return json.loads(match.group(1))


def _row(response, name: str):
    return next(r for r in response.context["rows"] if r.model.name == name)


def _papers() -> dict[str, Paper]:
    moe = Tag.objects.create(name="moe")
    scaling = Tag.objects.create(name="scaling")
    title_hit, _ = catalog_services.paper_upsert(
        title="Scaling Laws for Routed Language Models",
        abstract="We study mixture-of-experts routing.",
        published=date(2022, 2, 1),
    )
    abstract_hit, _ = catalog_services.paper_upsert(
        title="Training Compute-Optimal Large Language Models",
        abstract="We revisit scaling laws and find that model size and tokens should grow equally.",
        published=date(2022, 3, 29),
    )
    unrelated, _ = catalog_services.paper_upsert(
        title="Attention Is All You Need",
        abstract="The Transformer architecture.",
        published=date(2017, 6, 12),
    )
    title_hit.tags.add(moe, scaling)
    abstract_hit.tags.add(scaling)
    return {"title": title_hit, "abstract": abstract_hit, "unrelated": unrelated}


# ---- papers -----------------------------------------------------------------------------------------------


def test_search_ranks_a_title_match_above_an_abstract_only_match(viewer_client):
    papers = _papers()
    response = viewer_client.get("/catalog/papers/", {"q": "scaling laws"})
    assert response.status_code == 200
    found = [p.pk for p in response.context["page"].object_list]
    assert found == [papers["title"].pk, papers["abstract"].pk]
    assert response.text.index("Scaling Laws for Routed") < response.text.index("Training Compute-Optimal")
    assert "Attention Is All You Need" not in response.text


def test_search_uses_websearch_syntax_and_stemming(viewer_client):
    papers = _papers()
    excluded = viewer_client.get("/catalog/papers/", {"q": '"scaling laws" -routed'})
    assert [p.pk for p in excluded.context["page"].object_list] == [papers["abstract"].pk]
    stemmed = viewer_client.get("/catalog/papers/", {"q": "route"})  # matches "Routed" and "routing"
    assert [p.pk for p in stemmed.context["page"].object_list] == [papers["title"].pk]


def test_search_covers_full_text_and_is_kept_current_on_update(viewer_client):
    paper, _ = catalog_services.paper_upsert(
        title="A PDF", full_text="appendix mentions chinchilla optimal ratios"
    )
    assert [
        p.pk for p in viewer_client.get("/catalog/papers/", {"q": "chinchilla"}).context["page"].object_list
    ] == [paper.pk]
    Paper.objects.filter(pk=paper.pk).update(full_text="nothing relevant")
    assert list(viewer_client.get("/catalog/papers/", {"q": "chinchilla"}).context["page"].object_list) == []


def test_tag_filter_lists_only_tagged_papers(viewer_client):
    papers = _papers()
    response = viewer_client.get("/catalog/papers/", {"tag": "moe"})
    assert [p.pk for p in response.context["page"].object_list] == [papers["title"].pk]
    scaling = viewer_client.get("/catalog/papers/", {"tag": "scaling"})
    assert [p.pk for p in scaling.context["page"].object_list] == [papers["abstract"].pk, papers["title"].pk]
    missing = viewer_client.get("/catalog/papers/", {"tag": "no-such-tag"})
    assert missing.status_code == 200
    assert "No papers match with tag “no-such-tag”" in missing.text


def test_papers_paginate_25_per_page(viewer_client):
    for i in range(30):
        catalog_services.paper_upsert(title=f"Paper number {i:02d}", published=date(2020, 1, 1 + i % 28))
    first = viewer_client.get("/catalog/papers/")
    second = viewer_client.get("/catalog/papers/", {"page": "2"})
    assert len(first.context["page"].object_list) == 25
    assert len(second.context["page"].object_list) == 5
    assert "page 2 of 2" in second.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": "abc"}, "page: &#x27;abc&#x27; is not a page number"),
        ({"page": "0"}, "page: &#x27;0&#x27; is not a page number"),
        ({"page": "7"}, "page: 7 is past the last page (1)"),
        ({"q": "x" * 201}, "q: the search is 201 characters long; at most 200 are allowed"),
    ],
)
def test_bad_paper_params_answer_400_with_an_explanation(viewer_client, params, message):
    _papers()
    response = viewer_client.get("/catalog/papers/", params)
    assert response.status_code == 400
    assert message in response.text
    assert "Traceback" not in response.text


def test_paper_detail_lists_models_and_facts(viewer_client, demo):
    paper, _ = catalog_services.paper_upsert(title="The Llama 3 Herd of Models", arxiv_id="2407.21783")
    llama = Model.objects.get(name="Llama 3.1 405B")
    llama.papers.add(paper)
    doc = catalog_services.source_document_get_or_create(kind="upload", name="llama3.pdf", sha256="d" * 64)
    catalog_services.fact_record(source=doc, paper=paper, name="training_tokens", value=15.6e12, line=40)
    response = viewer_client.get(f"/catalog/papers/{paper.pk}/")
    assert response.status_code == 200
    assert f'href="/catalog/models/{llama.pk}/"' in response.text
    assert "training_tokens" in response.text and "llama3.pdf" in response.text and "line 40" in response.text
    assert viewer_client.get("/catalog/papers/999999/").status_code == 404


# ---- models -----------------------------------------------------------------------------------------------


def test_model_table_numbers_are_exact(viewer_client, demo):
    response = viewer_client.get("/catalog/models/")
    assert response.status_code == 200
    llama = _row(response, "Llama 3.1 405B")
    assert llama.tokens_per_parameter == pytest.approx(15e12 / 405e9, rel=1e-12)
    assert llama.training_flops == pytest.approx(6 * 405e9 * 15e12, rel=1e-12)
    assert (llama.tokens_per_parameter_display, llama.flops_display) == ("37.0", "3.65e+25")
    dsv3 = _row(response, "DeepSeek-V3")
    assert dsv3.training_flops == pytest.approx(6 * 37e9 * 14.8e12, rel=1e-12)  # active parameters for MoE
    assert dsv3.cost.usd == pytest.approx(5.576e6, rel=1e-12)
    assert dsv3.parameters_display == "671B (37B active)"
    # Market rule: the cheapest H100 vendor price in force on Llama 3.1's release day (2024-07-23).
    assert llama.cost.usd == pytest.approx(30.84e6 * 1.99, rel=1e-12)
    assert "3.65e+25" in response.text and "$5,576,000" in response.text
    # With only prices dated after the release: the earliest later one, and the row says so.
    HardwarePrice.objects.filter(hardware__name="H100-80GB", valid_from__lte=date(2024, 7, 23)).delete()
    response = viewer_client.get("/catalog/models/")
    llama = _row(response, "Llama 3.1 405B")
    assert llama.cost.usd == pytest.approx(30.84e6 * 2.25, rel=1e-12)
    assert llama.cost.price_basis == (
        "$2.25/GPU h from 2024-12-15, Voltage Park: no price is dated on or before 2024-07-23, so the earliest "
        "later price is used (after release; likely below the price then)"
    )
    # With no price at all: no cost, never $0.
    HardwarePrice.objects.filter(hardware__name="H100-80GB").delete()
    response = viewer_client.get("/catalog/models/")
    llama = _row(response, "Llama 3.1 405B")
    assert llama.cost.usd is None and llama.usd_display == "no price"
    assert "no price" in response.text


def test_model_table_sorts_and_rejects_unknown_sort(viewer_client, demo):
    by_compute = viewer_client.get("/catalog/models/", {"sort": "compute"})
    assert [r.model.name for r in by_compute.context["rows"]] == [
        "Llama 3.1 405B",
        "Llama 3.1 70B",
        "DeepSeek-V3",
        "Llama 3.1 8B",
    ]
    bad = viewer_client.get("/catalog/models/", {"sort": "drop table"})
    assert bad.status_code == 400
    assert "sort: &#x27;drop table&#x27; is not one of release, name, params" in bad.text


def test_model_detail_shows_every_fact_with_source_and_conflict(viewer_client, demo):
    model = Model.objects.get(name="Llama 3.1 405B")
    blog = catalog_services.source_document_get_or_create(kind="upload", name="blog-post.md", sha256="e" * 64)
    catalog_services.fact_record(
        source=blog, model=model, name="gpu_hours", value=39.3e6, line=7, excerpt="39.3M hours"
    )
    response = viewer_client.get(f"/catalog/models/{model.pk}/")
    assert response.status_code == 200
    facts = list(Fact.objects.filter(model=model))
    assert len(facts) == 3 and len(response.context["facts"]) == 3
    for fact in facts:
        assert fact.source.name in response.text and fact.location in response.text
    assert response.text.count('<tr class="conflict">') == 2  # both gpu_hours facts disagree
    assert response.text.count("<strong>conflicts</strong>") == 2
    assert "data/reference/llama31_deepseekv3_training_cost.csv" in response.text
    assert viewer_client.get("/catalog/models/999999/").status_code == 404


# ---- timeline ---------------------------------------------------------------------------------------------


def test_timeline_colours_by_organization_or_family_and_compute_is_log(viewer_client, demo):
    by_org = viewer_client.get("/catalog/timeline/")
    fig = _figure(by_org, "fig-timeline")
    assert [t["name"] for t in fig["data"]] == ["DeepSeek", "Meta"]
    assert fig["data"][1]["x"] == ["2024-07-23"] * 3
    assert "params 405B<br>tokens 15T" in fig["data"][1]["text"][0]  # names sort "405B" < "70B" < "8B"
    compute = _figure(by_org, "fig-compute")
    assert compute["layout"]["yaxis"]["type"] == "log"
    assert compute["data"][0]["y"] == [pytest.approx(6 * 37e9 * 14.8e12)]
    by_family = viewer_client.get("/catalog/timeline/", {"color": "family"})
    assert [t["name"] for t in _figure(by_family, "fig-timeline")["data"]] == ["DeepSeek-V3", "Llama 3.1"]
    assert 'src="/static/plotly/plotly.min.js"' in by_org.text
    # Hover HTML is escaped inside the <script> element, exactly as json_script would.
    assert "\\u003Cb\\u003ELlama 3.1 405B\\u003C/b\\u003E" in by_org.text and "<b>Llama" not in by_org.text
    bad = viewer_client.get("/catalog/timeline/", {"color": "rainbow"})
    assert (
        bad.status_code == 400 and "color: &#x27;rainbow&#x27; is not one of organization, family" in bad.text
    )


# ---- costs ------------------------------------------------------------------------------------------------


EPOCH_H100_KW_PER_GPU_HOUR = 10.2 / 8 * 0.75 * 1.1  # DGX H100 per GPU x Epoch's average power x PUE 1.1


def test_costs_match_the_reference(viewer_client, demo):
    response = viewer_client.get("/catalog/costs/")
    assert response.status_code == 200
    dsv3 = _row(response, "DeepSeek-V3")
    assert dsv3.cost.usd == pytest.approx(5.576e6, rel=1e-12)
    assert dsv3.cost.price_basis.startswith("$2/GPU h from 2024-12-26")
    llama = _row(response, "Llama 3.1 405B")
    kwh = 30.84e6 * EPOCH_H100_KW_PER_GPU_HOUR  # 32.4 GWh by Epoch's method
    assert llama.cost.energy_kwh == pytest.approx(kwh, rel=1e-12)
    assert llama.cost.co2_tonnes == pytest.approx(kwh * 0.4 / 1000, rel=1e-12)
    assert [e.tonnes for e in llama.reported_emissions] == [8930.0]
    assert "$5,576,000" in response.text and "32.44 GWh" in response.text
    assert "12,976 t" in response.text and "8930 t" in response.text  # estimated beside reported
    # Market rule: the cheapest H100 vendor price in force on Llama 3.1's release (Lambda's, with its date).
    assert llama.cost.price_rule == "market"
    assert llama.cost.price_basis.startswith(
        "$1.99/GPU h from 2023-06-15, Lambda; cheapest of 3 vendor prices"
    )
    assert llama.cost.usd == pytest.approx(30.84e6 * 1.99, rel=1e-12)
    assert set(_figure(response, "fig-costs")["data"][0]["x"]) >= {"DeepSeek-V3", "Llama 3.1 405B"}
    # The assumptions are on the page and in the context for reports.
    assumptions = response.context["assumptions"]
    assert (assumptions.price_rule, assumptions.pue, assumptions.average_power_fraction_gpu) == (
        "market",
        1.1,
        0.75,
    )
    assert "server multiplier" in response.text and "arXiv:2405.21015" in response.text
    as_dict = assumptions.as_dict()
    assert as_dict["server_multipliers"]["H100"] == pytest.approx(10.2 / 8 / 0.7)
    assert (as_dict["pue"], as_dict["average_power_fraction"]["gpu"]) == (1.1, 0.75)


def test_price_rule_switches_to_the_stated_price_and_each_row_says_which_applied(viewer_client, demo):
    response = viewer_client.get("/catalog/costs/", {"price_rule": "stated"})
    assert response.status_code == 200
    dsv3 = _row(response, "DeepSeek-V3")
    assert (dsv3.cost.price_rule, dsv3.cost.usd_per_gpu_hour) == ("stated", 2.0)
    assert dsv3.cost.price_basis.startswith(
        "$2/GPU h stated in data/reference/llama31_deepseekv3_training_cost.csv"
    )
    llama = _row(response, "Llama 3.1 405B")
    assert llama.cost.price_rule == "market"  # Meta states no price: the fallback is named
    assert llama.cost.price_basis.startswith("no stated price, market rule instead: $1.99/GPU h")
    assert '<option value="stated" selected>' in response.text
    assert '<td class="rule">stated</td>' in response.text and '<td class="rule">market</td>' in response.text
    bad = viewer_client.get("/catalog/costs/", {"price_rule": "cheapest"})
    assert (
        bad.status_code == 400 and "price_rule: &#x27;cheapest&#x27; is not one of market, stated" in bad.text
    )


def test_what_if_price_and_pue_recompute_without_saving(viewer_client, demo):
    h100 = Hardware.objects.get(name="H100-80GB")
    h800 = Hardware.objects.get(name="H800")
    before = list(HardwarePrice.objects.values_list("pk", "usd_per_gpu_hour"))
    response = viewer_client.get(
        "/catalog/costs/", {f"price_{h100.pk}": "2", f"price_{h800.pk}": "3", "pue": "1.0", "grid": "0.5"}
    )
    assert response.status_code == 200
    llama = _row(response, "Llama 3.1 405B")
    assert llama.cost.usd == pytest.approx(61.68e6, rel=1e-12)
    assert llama.cost.price_basis == "what-if $2/GPU h"
    kwh = 30.84e6 * 10.2 / 8 * 0.75  # PUE 1.0
    assert llama.cost.energy_kwh == pytest.approx(kwh, rel=1e-12)
    assert llama.cost.co2_tonnes == pytest.approx(kwh * 0.5 / 1000, rel=1e-12)
    assert _row(response, "DeepSeek-V3").cost.usd == pytest.approx(8.364e6, rel=1e-12)
    assert "$61,680,000" in response.text
    assert list(HardwarePrice.objects.values_list("pk", "usd_per_gpu_hour")) == before


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"price_1": "abc"}, "price_1: &#x27;abc&#x27; is not a number"),
        ({"price_x": "2"}, "price_x: expected price_&lt;hardware id&gt;"),
        ({"pue": "0.5"}, "pue: &#x27;0.5&#x27; is outside 1..3"),
        ({"grid": "-1"}, "grid: &#x27;-1&#x27; is outside 0..2"),
        ({"page": "9"}, "page: 9 is past the last page (1)"),
    ],
)
def test_bad_what_if_input_answers_400_with_an_explanation(viewer_client, demo, params, message):
    response = viewer_client.get("/catalog/costs/", params)
    assert response.status_code == 400
    assert message in response.text
    assert "Traceback" not in response.text


def test_viewer_cannot_save_a_price(viewer_client, demo):
    h100 = Hardware.objects.get(name="H100-80GB")
    count = HardwarePrice.objects.count()
    response = viewer_client.post(
        "/catalog/costs/prices/", {"hardware": h100.pk, "usd_per_gpu_hour": "2.5", "valid_from": "2024-07-01"}
    )
    assert response.status_code == 403
    assert HardwarePrice.objects.count() == count
    assert not HardwarePrice.objects.filter(valid_from=date(2024, 7, 1)).exists()
    assert "Save a dated price" not in viewer_client.get("/catalog/costs/").text


def test_editor_saves_a_dated_price_that_then_applies(editor_client, demo):
    h100 = Hardware.objects.get(name="H100-80GB")
    response = editor_client.post(
        "/catalog/costs/prices/",
        {
            "hardware": h100.pk,
            "usd_per_gpu_hour": "1.5",
            "valid_from": "2024-07-01",
            "provider": "cloud list",
        },
    )
    assert response.status_code == 302
    price = HardwarePrice.objects.get(hardware=h100, valid_from=date(2024, 7, 1))
    assert float(price.usd_per_gpu_hour) == 1.5 and price.provider == "cloud list"
    page = editor_client.get("/catalog/costs/")
    assert _row(page, "Llama 3.1 405B").cost.usd == pytest.approx(46.26e6, rel=1e-12)  # now the cheapest
    assert "Save a dated price" in page.text


def test_editor_bad_price_is_explained_and_not_saved(editor_client, demo):
    h100 = Hardware.objects.get(name="H100-80GB")
    count = HardwarePrice.objects.count()
    response = editor_client.post(
        "/catalog/costs/prices/",
        {"hardware": h100.pk, "usd_per_gpu_hour": "-1", "valid_from": "not a date"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Price not saved." in response.text and "usd_per_gpu_hour" in response.text
    assert HardwarePrice.objects.count() == count


# ---- empty states and auth --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("/", "No papers yet. Upload an arXiv feed"),
        ("/catalog/papers/", "No papers yet. Upload an arXiv feed, a BibTeX file or a PDF"),
        ("/catalog/models/", "No models yet. Upload a Hugging Face model card"),
        ("/catalog/timeline/", "No models with a release date yet."),
        ("/catalog/costs/", "No model has known GPU hours yet, so there is nothing to cost."),
    ],
)
def test_empty_pages_explain_themselves(viewer_client, url, text):
    response = viewer_client.get(url)
    assert response.status_code == 200
    assert text in response.text


def test_pages_need_login(client, demo):
    for url in ("/catalog/papers/", "/catalog/models/", "/catalog/timeline/", "/catalog/costs/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.post("/catalog/costs/prices/", {}).status_code == 302
    assert SourceDocument.objects.filter(kind="manual").count() == 0


def test_nav_links_every_area(viewer_client):
    text = viewer_client.get("/").text
    for href in (
        "/catalog/papers/",
        "/catalog/models/",
        "/catalog/timeline/",
        "/catalog/costs/",
        "/runs/",
        "/studies/",
        "/ingest/jobs/",
        "/ingest/upload/",
        "/reports/",
    ):
        assert f'href="{href}"' in text


@pytest.mark.parametrize("q", ['"unbalanced & | !(', "the", "::*<>'"])
def test_search_syntax_never_errors(viewer_client, q):
    _papers()
    response = viewer_client.get("/catalog/papers/", {"q": q})
    assert response.status_code == 200
    assert "No papers match" in response.text
