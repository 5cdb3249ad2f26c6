"""Hot catalog pages read in a pinned number of queries that does not grow with the data (no N+1)."""

from __future__ import annotations

from datetime import date

import pytest

from tracker.catalog import services as catalog_services
from tracker.demo import load_demo
from tracker.models import Model, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Demo users are created with real passwords; the default hasher costs seconds on a small CI box.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# Every request also loads the session and the user: 2 queries before the view runs.
PINNED = {
    "/": 9,  # counts (papers, models, runs), recent papers, models, runs, role
    "/catalog/papers/": 6,  # tags, count, page, prefetch tags
    "/catalog/papers/?q=scaling": 6,
    "/catalog/models/": 6,  # count, page, prices, power/emission facts
    "/catalog/timeline/": 4,  # organizations for the filter, dated models
    "/catalog/costs/": 10,  # hardware + prices, role, price-form choices, count, page, prices, facts (incl. stated prices)
}


@pytest.fixture
def catalog(db):
    load_demo()
    org = catalog_services.organization_get_or_create(name="Other Lab")
    hw = catalog_services.hardware_get_or_create(name="A100", tdp_watts=400.0)
    catalog_services.hardware_price_set(hardware=hw, usd_per_gpu_hour=1.5, valid_from=date(2020, 1, 1))
    doc = catalog_services.source_document_get_or_create(kind="upload", name="cards.md", sha256="f" * 64)
    tags = [Tag.objects.create(name=f"tag{i}") for i in range(3)]
    for i in range(12):
        paper, _ = catalog_services.paper_upsert(
            title=f"Scaling study {i}", abstract="scaling laws", published=date(2023, 1, 1)
        )
        paper.tags.add(*tags[: i % 3 + 1])
        model, _ = catalog_services.model_get_or_create(
            name=f"Other {i}B",
            family="Other",
            organization=org,
            release_date=date(2023, 1 + i % 12, 1),
            parameters=i * 1e9 + 1e9,
            training_tokens=1e12,
            gpu_hours=1e5 * (i + 1),
            hardware=hw,
        )
        model.papers.add(paper)
        catalog_services.fact_record(source=doc, model=model, name="power_watts", value=350.0, line=i + 1)
        catalog_services.fact_record(
            source=doc, model=model, name="co2_eq_emissions", value=1e6, unit="g", line=i + 100
        )


@pytest.mark.parametrize("url", list(PINNED))
def test_hot_page_query_count_is_pinned(client, make_user, catalog, django_assert_num_queries, url):
    client.force_login(make_user("editor"))
    with django_assert_num_queries(PINNED[url]):
        response = client.get(url)
    assert response.status_code == 200


def test_model_detail_query_count_is_pinned(client, make_user, catalog, django_assert_num_queries):
    client.force_login(make_user("viewer"))
    model = Model.objects.get(name="Other 3B")
    # model, facts, papers, prices, power/emission facts, aliases, merges, paper links, runs,
    # fact sources' papers and upload jobs, role, article claims
    with django_assert_num_queries(15):
        response = client.get(f"/catalog/models/{model.pk}/")
    assert response.status_code == 200
    assert "350 W stated per GPU" in response.text


def test_per_model_power_fact_overrides_hardware_tdp(client, make_user, catalog):
    client.force_login(make_user("viewer"))
    response = client.get("/catalog/costs/")
    row = next(r for r in response.context["rows"] if r.model.name == "Other 3B")
    assert row.cost.power_watts == 350.0  # the card's fact, not the A100's 400 W TDP
    # Epoch's method on the stated 350 W: A100 server multiplier (DGX A100 6.5 kW / 8 / 400 W), 0.75, PUE 1.1.
    assert row.cost.energy_kwh == pytest.approx(4e5 * 0.350 * (6.5 / 8 / 0.4) * 0.75 * 1.1, rel=1e-12)
    assert row.cost.power.chip_watts_basis.startswith("stated per GPU")
    assert row.cost.usd == pytest.approx(4e5 * 1.5, rel=1e-12)
    assert [e.tonnes for e in row.reported_emissions] == [pytest.approx(1.0)]  # 1e6 g


def test_search_is_served_by_the_gin_index(catalog):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'paper_search_gin'")
        (indexdef,) = cursor.fetchone()
    assert "USING gin (search)" in indexdef
