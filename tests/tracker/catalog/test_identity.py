"""Merging duplicate models (service, page, admin action) and costs that count one training once."""

from __future__ import annotations

import importlib
from datetime import date

import pytest
from django.apps import apps

from tracker.catalog import costs, selectors
from tracker.catalog import services as catalog_services
from tracker.catalog.names import model_key
from tracker.models import Fact, Model, ModelAlias, ModelMerge, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def h100():
    hw = catalog_services.hardware_get_or_create(name="H100-80GB", tdp_watts=700.0)
    catalog_services.hardware_price_set(hardware=hw, usd_per_gpu_hour=2.0, valid_from=date(2024, 1, 1))
    return hw


def _doc(name: str, sha: str):
    return catalog_services.source_document_get_or_create(kind="upload", name=name, sha256=sha * 64)


@pytest.fixture
def pair(team_a, h100):
    """The same model twice, as old data has it (created before aliases, so neither resolves to the other)."""
    survivor = Model.objects.create(name="Llama 3.1 405B", gpu_hours=30.84e6, hardware=h100)
    duplicate = Model.objects.create(
        name="Meta-Llama-3.1-405B", parameters=405e9, release_date=date(2024, 7, 23), license="llama3.1"
    )
    repo = "meta-llama/Meta-Llama-3.1-405B"
    ModelAlias.objects.create(model=duplicate, alias=repo, key=model_key(repo), source="hf_repo")
    card, table = _doc("card.md", "a"), _doc("table.csv", "b")
    catalog_services.fact_record(source=table, model=survivor, name="gpu_hours", value=30.84e6, line=4)
    catalog_services.fact_record(source=card, model=duplicate, name="gpu_hours", value=30.84e6, line=113)
    catalog_services.fact_record(source=card, model=duplicate, name="parameters", value=420e9, line=82)
    catalog_services.fact_record(source=table, model=survivor, name="parameters", value=405e9, line=4)
    paper, _ = catalog_services.paper_upsert(title="The Llama 3 Herd of Models", arxiv_id="2407.21783")
    duplicate.papers.add(paper)
    run = TrainingRun.objects.create(team=team_a, name="repro-405b", model=duplicate)
    return survivor, duplicate, paper, run


def test_merge_moves_facts_papers_runs_and_keeps_names_as_aliases(pair, make_user):
    survivor, duplicate, paper, run = pair
    editor = make_user(role="editor")
    merge = catalog_services.model_merge(survivor=survivor, duplicate=duplicate, user=editor)
    assert not Model.objects.filter(pk=duplicate.pk).exists()
    survivor.refresh_from_db()
    # Empty fields filled from the duplicate; the survivor's own values stand.
    assert (survivor.parameters, survivor.release_date, survivor.license, survivor.gpu_hours) == (
        405e9,
        date(2024, 7, 23),
        "llama3.1",
        30.84e6,
    )
    facts = Fact.objects.filter(model=survivor)
    assert sorted(f.source.name for f in facts.filter(name="gpu_hours")) == ["card.md", "table.csv"]
    # 420e9 vs 405e9 disagree once on one model: both flagged, both kept with their sources.
    assert [f.conflicting for f in facts.filter(name="parameters")] == [True, True]
    assert list(survivor.papers.all()) == [paper]
    run.refresh_from_db()
    assert run.model_id == survivor.pk
    names = dict(ModelAlias.objects.filter(model=survivor).values_list("alias", "note"))
    assert "Meta-Llama-3.1-405B" in names and f"#{duplicate.pk}" in names["Meta-Llama-3.1-405B"]
    assert "meta-llama/Meta-Llama-3.1-405B" in names
    assert merge.moved["training runs"] == 1
    assert (merge.merged_name, merge.merged_by, merge.moved["facts"], merge.moved["papers"]) == (
        "Meta-Llama-3.1-405B",
        editor,
        2,
        1,
    )
    # The duplicate's spelling now resolves to the survivor.
    assert catalog_services.model_resolve(name="Meta Llama 3.1 405B") == survivor


def test_merge_refuses_itself_and_another_teams_private_model(pair, team_b):
    survivor, duplicate, _, _ = pair
    with pytest.raises(ValueError, match="itself"):
        catalog_services.model_merge(survivor=survivor, duplicate=survivor)
    private = Model.objects.create(name="Llama 3.1 405B", team=team_b)
    with pytest.raises(ValueError, match="same catalog"):
        catalog_services.model_merge(survivor=survivor, duplicate=private)
    assert Model.objects.filter(pk__in=[duplicate.pk, private.pk]).count() == 2
    assert not ModelMerge.objects.exists()


def test_merge_page_previews_then_merges_and_viewers_cannot(pair, client, make_user):
    survivor, duplicate, _, _ = pair
    client.force_login(make_user(role="viewer"))
    assert client.get(f"/catalog/models/{survivor.pk}/merge/").status_code == 403
    assert (
        client.post(f"/catalog/models/{survivor.pk}/merge/", {"duplicate": duplicate.pk}).status_code == 403
    )
    client.force_login(make_user(role="editor"))
    page = client.get(f"/catalog/models/{survivor.pk}/merge/").content.decode()
    assert f'<option value="{duplicate.pk}">Meta-Llama-3.1-405B' in page
    preview = client.get(
        f"/catalog/models/{survivor.pk}/merge/", {"duplicate": "meta-llama/Meta-Llama-3.1-405B"}
    )
    assert preview.status_code == 200 and "2 facts, 1 paper, 1 run" in preview.content.decode()
    assert Model.objects.filter(pk=duplicate.pk).exists()  # a preview changes nothing
    done = client.post(f"/catalog/models/{survivor.pk}/merge/", {"duplicate": duplicate.pk})
    assert done.status_code == 302 and done["Location"] == f"/catalog/models/{survivor.pk}/"
    assert not Model.objects.filter(pk=duplicate.pk).exists()
    detail = client.get(done["Location"]).content.decode()
    assert "Meta-Llama-3.1-405B" in detail and "Merged Meta-Llama-3.1-405B into Llama 3.1 405B" in detail


def test_merge_page_bad_duplicate_is_a_400_naming_it_and_nothing_merged(pair, client, make_user):
    survivor, _, _, _ = pair
    client.force_login(make_user(role="editor"))
    r = client.post(f"/catalog/models/{survivor.pk}/merge/", {"duplicate": "no such model"})
    assert r.status_code == 400 and "no model in this catalog is called or numbered" in r.content.decode()
    r = client.post(f"/catalog/models/{survivor.pk}/merge/", {"duplicate": survivor.pk})
    assert r.status_code == 400 and "is this model" in r.content.decode()
    assert Model.objects.count() == 2 and not ModelMerge.objects.exists()


def test_admin_action_merges_into_the_oldest(pair, admin_client):
    survivor, duplicate, _, _ = pair
    r = admin_client.post(
        "/admin/tracker/model/",
        {"action": "merge_into_oldest", "_selected_action": [survivor.pk, duplicate.pk]},
    )
    assert r.status_code == 302
    assert list(Model.objects.values_list("pk", flat=True)) == [survivor.pk]
    assert ModelMerge.objects.get().merged_name == "Meta-Llama-3.1-405B"


# ---- costs: one row per training ------------------------------------------------------------------------


def _cost_rows():
    _, rows, _assumptions = selectors.cost_table(overrides={}, pue=1.1, grid=0.4)
    return {r.model.name: r for r in rows}


def test_one_training_under_two_spellings_is_one_cost_row(h100):
    a = Model.objects.create(name="Llama 3.1 405B", gpu_hours=30.84e6, hardware=h100)
    Model.objects.create(name="Meta-Llama-3.1-405B", gpu_hours=30.0e6, hardware=h100)  # same key
    rows = _cost_rows()
    assert list(rows) == [a.name]
    assert rows[a.name].same_training == ["Meta-Llama-3.1-405B"]
    assert rows[a.name].cost.usd == pytest.approx(30.84e6 * 2.0)


def test_the_same_gpu_hours_fact_on_two_entries_is_one_training(h100):
    Model.objects.create(name="Llama 3.1 405B", gpu_hours=30.84e6, parameters=405e9, hardware=h100)
    Model.objects.create(name="Meta flagship (July 2024)", gpu_hours=30.84e6, parameters=405e9)
    rows = _cost_rows()
    assert len(rows) == 1 and sum(r.cost.usd or 0 for r in rows.values()) == pytest.approx(61.68e6)


def test_family_total_is_not_a_training_of_its_own(h100):
    for name, hours in [("Llama 3.1", 39.3e6), ("Llama 3.1 8B", 1.46e6), ("Llama 3.1 70B", 7.0e6)]:
        Model.objects.create(name=name, gpu_hours=hours, hardware=h100)
    Model.objects.create(name="Llama 3.1 405B", gpu_hours=30.84e6, hardware=h100)
    rows = _cost_rows()
    assert set(rows) == {"Llama 3.1 405B", "Llama 3.1 70B", "Llama 3.1 8B"}
    assert rows["Llama 3.1 405B"].same_training == ["Llama 3.1"]


def test_different_trainings_stay_separate(h100):
    Model.objects.create(name="Llama 3.1 8B", gpu_hours=1.46e6, parameters=8e9, hardware=h100)
    Model.objects.create(name="Llama 3 8B", gpu_hours=1.3e6, parameters=8e9, hardware=h100)
    Model.objects.create(name="Twin A", gpu_hours=1.0e6, parameters=1e9, hardware=h100)
    Model.objects.create(name="Twin B", gpu_hours=1.0e6, parameters=7e9, hardware=h100)  # other N
    assert len(_cost_rows()) == 4


def test_private_models_are_not_in_costs(h100, team_a):
    Model.objects.create(name="ours-7b", gpu_hours=5e5, hardware=h100, team=team_a)
    assert _cost_rows() == {}


def test_one_per_training_is_pure_and_keeps_order():
    items = [
        costs.TrainingIdentity(1, "a 1 b", 10.0),
        costs.TrainingIdentity(2, "c", 5.0),
        costs.TrainingIdentity(3, "a 1 b", 9.0),
    ]
    assert costs.one_per_training(items) == {1: [3], 2: []}


def test_migration_backfill_gives_each_key_to_one_model():
    migration = importlib.import_module("tracker.migrations.0013_model_identity")
    first = Model.objects.create(name="Llama 3.1 405B")
    second = Model.objects.create(name="Meta-Llama-3.1-405B")  # same key, older data
    other = Model.objects.create(name="Qwen2-7B")
    migration.aliases_backfill(apps, None)
    assert list(ModelAlias.objects.order_by("model_id").values_list("model_id", "alias")) == [
        (first.pk, "Llama 3.1 405B"),
        (other.pk, "Qwen2-7B"),
    ]
    assert second.pk not in set(ModelAlias.objects.values_list("model_id", flat=True))
