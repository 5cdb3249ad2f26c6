"""Articles in, claims stored and checked against primary facts: upload, paste, webhook, recheck, pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingestion.models import IngestFile, IngestJob, WebhookDelivery
from tests.ingestion.conftest import integration, post_standard, process_deliveries, process_job
from tracker.claims import selectors as claims_selectors
from tracker.claims import services as claims_services
from tracker.models import Article, Claim, Fact, Model

pytestmark = pytest.mark.django_db
__all__ = ["integration"]  # the signed-webhook fixture

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
LLAMA_CARD = (FIXTURES / "cards" / "llama31_README.md").read_bytes()
STATUS = FIXTURES / "articles" / "status"

C, X, U, K = "corroborated", "conflicting", "uncorroborated", "unknown_subject"

# (line, quantity, subject, value, status) for the three articles written for this test; the Llama 3.1
# model card (tests/fixtures/cards) is the primary source: 405B / 70B / 8B parameters, 15T+ tokens,
# 128K context, 30.84M / 7.0M / 1.46M GPU hours.
EXPECTED = {
    "en_open_models.md": [
        (5, "parameters", "Llama 3.1 405B", 405e9, C),  # "405 billion"
        (5, "training_tokens", "Llama 3.1 405B", 15.6e12, C),  # "15.6 trillion" vs 15T: within 10%
        (6, "gpu_hours", "Llama 3.1 70B", 7.0e6, C),  # "7.0M"
        (7, "context_length", "Llama 3.1 8B", 262144, X),  # "256K" vs 128K
        (8, "training_compute", "Llama 3.1 405B", 3.8e25, U),  # the card gives no FLOPs
        (12, "parameters", "Nimbus-12B", 12e9, U),  # "12B", a model no primary source covers
        (12, "training_tokens", "Nimbus-12B", 3e12, U),  # "3T"
        (16, "gpu_hours", "", 2e6, K),  # "2 million", no model named
    ],
    "ko_open_models.md": [
        (5, "parameters", "Llama 3.1 405B", 405e9, C),  # 4050억
        (5, "training_tokens", "Llama 3.1 405B", 15e12, C),  # 15조
        (6, "gpu_hours", "Llama 3.1 405B", 30.84e6, C),  # 3084만
        (7, "parameters", "Llama 3.1 70B", 80e9, X),  # 800억 vs 70B
        (11, "parameters", "Hanbit-9B", 9e9, U),  # 90억
        (11, "training_tokens", "Hanbit-9B", 9e12, U),  # 9조
        (15, "training_tokens", "", 4e12, K),  # 4조
    ],
    "zh_open_models.md": [
        (5, "parameters", "Llama 3.1 405B", 405e9, C),  # 4050亿
        (5, "training_tokens", "Llama 3.1 405B", 15e12, C),  # 超过15万亿 (a lower bound)
        (6, "gpu_hours", "Llama 3.1 8B", 1.46e6, C),  # 146万
        (7, "parameters", "Llama 3.1 70B", 90e9, X),  # 900亿 vs 70B
        (11, "parameters", "Xinghe-3", 300e9, U),  # 3000亿
        (11, "training_tokens", "Xinghe-3", 10e12, U),  # 10万亿
        (15, "training_tokens", "", 2e12, K),  # 2万亿
    ],
}


@pytest.fixture
def editor(make_user, team_a):
    return make_user(role="editor", team=team_a, username="claims-editor")


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


def ingest(team, user, files: dict[str, bytes]) -> IngestJob:
    from ingestion.services import jobs

    job = jobs.ingest_job_create(
        team=team,
        user=user,
        source=IngestJob.Source.UPLOAD,
        uploads=[SimpleUploadedFile(n, d) for n, d in files.items()],
    )
    process_job(job)
    return job


def rows(article: Article) -> list[tuple]:
    return [
        (c.line, c.quantity, c.subject, c.value, c.status)
        for c in claims_selectors.claims_for_article(article=article)
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_language_and_numeral_system_gives_each_status(team_a, editor, name):
    ingest(team_a, editor, {"README.md": LLAMA_CARD})
    job = ingest(team_a, editor, {name: (STATUS / name).read_bytes()})
    f = IngestFile.objects.get(job=job)
    assert (f.status, f.kind, f.detected_format) == ("done", "article", "article")
    article = Article.objects.get(document=f.document)
    assert rows(article) == EXPECTED[name]
    assert article.language == name[:2]
    counts = claims_selectors.claim_status_counts(article=article)
    assert set(counts) == {C, X, U, K} and all(counts[s] >= 1 for s in (C, X, U, K))
    # Each corroborated / conflicting claim names the card fact it was checked against.
    for claim in claims_selectors.claims_for_article(article=article):
        if claim.status in (C, X):
            fact = claim.checked_against
            assert (fact.model_id, fact.name, fact.source.name) == (
                claim.model_id,
                claim.quantity,
                "README.md",
            )
        else:
            assert claim.checked_against_id is None


def test_fictional_series_is_uncorroborated_throughout(team_a, editor):
    ingest(team_a, editor, {"README.md": LLAMA_CARD})
    ingest(team_a, editor, {"aurora.md": (FIXTURES / "articles" / "en_aurora_fictional.md").read_bytes()})
    claims = Claim.objects.filter(article__title__startswith="Aurora-X")
    assert claims.count() == 28
    assert set(claims.values_list("status", flat=True)) == {U}
    # The only real model it names (Llama 3.1 405B, for its FLOPs) is linked, but the card gives no FLOPs.
    assert set(claims.exclude(model=None).values_list("subject", "quantity")) == {
        ("Llama 3.1 405B", "training_compute")
    }


def test_misstated_real_model_is_conflicting_against_its_card(team_a, editor):
    ingest(team_a, editor, {"README.md": LLAMA_CARD})
    html = (FIXTURES / "articles" / "en_llama_misstated.html").read_bytes()
    ingest(team_a, editor, {"llama-explained.html": html})
    article = Article.objects.get(title="Meta's Llama 3.1 405B, explained")
    by_line = {(c.line, c.quantity): c for c in claims_selectors.claims_for_article(article=article)}
    wrong_size = by_line[(16, "parameters")]
    assert (wrong_size.value, wrong_size.status, wrong_size.checked_against.value) == (450e9, X, 405e9)
    assert by_line[(18, "context_length")].status == X  # 256K vs 128K
    assert by_line[(16, "training_tokens")].status == X  # more than 20T vs 15T
    assert by_line[(15, "release_date")].status == X  # July 24 vs 2024-07-23
    # The card dates the family ("Llama 3.1"); a size's date is checked against it.
    assert by_line[(31, "release_date")].status == C  # Llama 3.1 70B ... July 23
    assert by_line[(30, "release_date")].status == X  # Llama 3.1 405B ... July 24
    assert by_line[(22, "parameters")].status == C  # 70B
    assert by_line[(21, "parameters")].status == U  # GPT-4: not in the catalog
    assert by_line[(27, "benchmark_score")].status == U  # the card's table gives no MMLU fact
    model = Model.objects.get(name="Llama 3.1 405B")
    # 450B (twice), more than 20T, 256K, 39.3M GPU hours (the family total, the card says 30.84M), July 24.
    assert claims_selectors.claim_status_counts(model=model)[X] == 6


def test_new_card_rechecks_earlier_claims_by_task(team_a, editor, django_capture_on_commit_callbacks):
    from tracker import tasks

    ingest(team_a, editor, {"ko.md": (STATUS / "ko_open_models.md").read_bytes()})
    article = Article.objects.get()
    # No primary source yet: every named claim is uncorroborated and unlinked.
    assert {c[4] for c in rows(article)} == {U, K}
    assert not Claim.objects.exclude(model=None).exists()
    published = []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ingest(team_a, editor, {"README.md": LLAMA_CARD})
    for cb in callbacks:
        func = getattr(cb, "func", None)
        if getattr(func, "__name__", "") == "publish":
            published.append(cb.args)
    recheck = [args for args in published if args[0] == "tracker.claims_recheck"]
    assert len(recheck) == 1
    model_ids = recheck[0][1]
    assert set(model_ids) == set(
        Model.objects.filter(name__startswith="Llama 3.1").values_list("pk", flat=True)
    )
    assert {c[4] for c in rows(article)} == {U, K}  # nothing changes until the task runs
    tasks.claims_recheck.apply(args=[model_ids]).get()
    assert rows(article) == EXPECTED["ko_open_models.md"]
    # Each change is recorded for the weekly digest: from what, and when; unchanged claims keep no history.
    for claim in claims_selectors.claims_for_article(article=article):
        if claim.status in (C, X):
            assert claim.previous_status == U and claim.status_changed_at is not None
        else:
            assert claim.previous_status == "" and claim.status_changed_at is None
    # Running it again changes nothing.
    assert claims_services.claims_recheck(model_ids=model_ids) == 0


def test_articles_never_corroborate_each_other(team_a, editor):
    # Two articles agree on a fictional model: with no primary source, both stay uncorroborated.
    ingest(team_a, editor, {"a.md": (STATUS / "en_open_models.md").read_bytes()})
    ingest(team_a, editor, {"b.txt": b"Nimbus-12B has 12B parameters and saw 3T tokens, the lab says.\n"})
    nimbus = Claim.objects.filter(subject="Nimbus-12B")
    assert nimbus.count() == 4
    assert set(nimbus.values_list("status", flat=True)) == {U}
    assert not Fact.objects.exists()


def test_unreadable_article_upload_fails_cleanly_and_stores_nothing(team_a, editor):
    page = b"<!doctype html><html><head><script>var x = 405e9;</script></head><body></body></html>"
    job = ingest(team_a, editor, {"empty.html": page})
    f = IngestFile.objects.get(job=job)
    assert f.status == "failed"
    assert f.errors == [{"file": "empty.html", "line": None, "reason": "no readable text in the HTML page"}]
    assert not Article.objects.exists() and not Claim.objects.exists()


def test_article_added_webhook(client, integration):
    text = (STATUS / "zh_open_models.md").read_text(encoding="utf-8")
    payload = {
        "type": "article.added",
        "data": {"title": "开源模型", "text": text, "url": "https://example.org/zh", "format": "markdown"},
    }
    assert post_standard(client, payload, msg_id="art-1").status_code == 202
    assert post_standard(client, payload, msg_id="art-1").status_code in (200, 202)  # a replay
    process_deliveries()
    article = Article.objects.get()
    assert (article.title, article.team, article.document.kind, article.document.url) == (
        "开源模型",
        integration.team,
        "webhook",
        "https://example.org/zh",
    )
    assert [(c[0], c[1], c[3]) for c in rows(article)] == [
        (r[0], r[1], r[3]) for r in EXPECTED["zh_open_models.md"]
    ]
    assert WebhookDelivery.objects.get().status == "processed"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"title": "x"}, "article.added needs the article's text"),
        ({"text": "Foo-7B has 7B parameters.", "format": "pdf"}, "format must be one of"),
    ],
)
def test_bad_article_webhook_fails_and_stores_nothing(client, integration, data, reason):
    assert post_standard(client, {"type": "article.added", "data": data}, msg_id="bad-1").status_code == 202
    process_deliveries()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    assert reason in delivery.error
    assert not Article.objects.exists() and not Claim.objects.exists()


def test_paste_form_ingests_an_article(editor_client, team_a):
    text = (STATUS / "en_open_models.md").read_text().split("\n", 2)[2]  # without its own title line
    r = editor_client.post("/ingest/paste/", {"team": team_a.slug, "title": "Open models", "text": text})
    assert r.status_code == 302
    job = IngestJob.objects.get()
    process_job(job)
    f = IngestFile.objects.get(job=job)
    assert (f.original_name, f.status, f.kind) == ("open-models.md", "done", "article")
    article = Article.objects.get()
    assert article.title == "Open models"
    assert [c.value for c in claims_selectors.claims_for_article(article=article)] == [
        r[3] for r in EXPECTED["en_open_models.md"]
    ]


@pytest.mark.parametrize(
    ("post", "status", "message"),
    [
        ({"title": "", "text": "Foo has 7B parameters."}, 400, "An article needs a title and its text."),
        ({"title": "Empty", "text": "   "}, 400, "An article needs a title and its text."),
        ({"title": "T", "text": "x", "team": "no-such-team"}, 403, "Choose a team where you are an editor."),
    ],
)
def test_paste_form_refuses_bad_input_and_stores_nothing(editor_client, team_a, post, status, message):
    r = editor_client.post("/ingest/paste/", {"team": team_a.slug, **post})
    assert r.status_code == status
    assert message in r.content.decode()
    assert not IngestJob.objects.exists() and not Article.objects.exists()


def test_viewer_cannot_paste(client, make_user, team_a):
    client.force_login(make_user(role="viewer", team=team_a))
    r = client.post("/ingest/paste/", {"team": team_a.slug, "title": "T", "text": "Foo has 7B parameters."})
    assert r.status_code == 403
    assert not IngestJob.objects.exists()


def test_pages(editor_client, team_a, editor, make_user, team_b, client):
    ingest(team_a, editor, {"README.md": LLAMA_CARD})
    ingest(team_a, editor, {"en.md": (STATUS / "en_open_models.md").read_bytes()})
    article = Article.objects.get()
    page = editor_client.get(f"/articles/{article.pk}/").content.decode()
    wrong = Claim.objects.get(article=article, quantity="context_length")
    assert f'<mark class="claim claim-conflicting" id="claim-{wrong.pk}"' in page
    assert f"#fact-{wrong.checked_against_id}" in page  # the badge links to the card fact
    assert page.count('class="badge claim-') >= len(EXPECTED["en_open_models.md"])
    model = Model.objects.get(name="Llama 3.1 8B")
    model_page = editor_client.get(f"/catalog/models/{model.pk}/").content.decode()
    assert "What articles claim" in model_page and f'id="fact-{wrong.checked_against_id}"' in model_page
    unsourced = editor_client.get("/articles/claims/unsourced/").content.decode()
    assert "Nimbus-12B" in unsourced and "405 billion" not in unsourced
    assert editor_client.get("/articles/claims/unsourced/?status=corroborated").status_code == 400
    assert "Open models, by the numbers" in editor_client.get("/articles/").content.decode()
    # Another team's reader sees neither the article nor its claims.
    client.force_login(make_user(role="viewer", team=team_b, username="other"))
    assert client.get(f"/articles/{article.pk}/").status_code == 404
    assert "Nimbus" not in client.get("/articles/claims/unsourced/").content.decode()
    assert "What articles claim" in client.get(f"/catalog/models/{model.pk}/").content.decode()
    assert (
        claims_selectors.claims_for_model(user=make_user(role=None, username="nobody"), model=model).count()
        == 0
    )
    assert claims_selectors.claims_for_model(user=editor, model=model).count() == 1


def test_a_teams_run_manifest_corroborates_its_models_size_for_that_team_only(
    team_a, team_b, editor, make_user, django_capture_on_commit_callbacks
):
    from tracker import tasks

    other = make_user(role="editor", team=team_b, username="other-editor")
    ingest(team_a, editor, {"en.md": (STATUS / "en_open_models.md").read_bytes()})
    ingest(team_b, other, {"b.txt": b"Nimbus-12B has 12B parameters and saw 3T tokens, the lab says.\n"})
    manifest = b"external_id: nimbus-12b-main\nmodel: Nimbus-12B\nparameters: 12B\ntokens: 3.5T\n"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ingest(team_a, editor, {"nimbus.yaml": manifest})
    published = [
        cb.args for cb in callbacks if getattr(getattr(cb, "func", None), "__name__", "") == "publish"
    ]
    nimbus = Model.objects.get(name="Nimbus-12B")
    assert ("tracker.claims_recheck", [nimbus.pk]) in published
    tasks.claims_recheck.apply(args=[[nimbus.pk]]).get()
    ours = {c.quantity: c for c in Claim.objects.filter(article__team=team_a, subject="Nimbus-12B")}
    assert (ours["parameters"].status, ours["parameters"].checked_against_run.external_id) == (
        C,
        "nimbus-12b-main",
    )
    # A run's tokens are that run's (a fine-tune's, say), not evidence of the model's training tokens.
    assert (ours["training_tokens"].status, ours["training_tokens"].checked_against_run) == (U, None)
    theirs = Claim.objects.filter(article__team=team_b, subject="Nimbus-12B")
    assert set(theirs.values_list("status", "checked_against_run")) == {(U, None)}
    assert set(theirs.values_list("model__name", flat=True)) == {"Nimbus-12B"}  # linked, not corroborated


def test_relink_all_follows_a_renamed_model(team_a, editor):
    ingest(team_a, editor, {"README.md": LLAMA_CARD})
    ingest(team_a, editor, {"en.md": (STATUS / "en_open_models.md").read_bytes()})
    Model.objects.filter(name="Llama 3.1 8B").update(name="Llama 3.1 8B (base)")
    assert claims_services.claims_relink_all() == 1  # the 256K context claim no longer names a model
    claim = Claim.objects.get(quantity="context_length")
    assert (claim.model, claim.status, claim.checked_against) == (None, U, None)
    Model.objects.filter(name="Llama 3.1 8B (base)").update(name="Llama-3.1-8B")
    assert claims_services.claims_relink_all() == 1
    claim.refresh_from_db()
    assert (claim.model.name, claim.status) == ("Llama-3.1-8B", X)


def test_claims_and_their_status_through_the_api(team_a, team_b, editor, make_user):
    from django.test import Client

    from tracker.accounts import services as account_services

    ingest(team_a, editor, {"README.md": LLAMA_CARD})
    ingest(team_a, editor, {"x.html": (FIXTURES / "articles" / "en_llama_misstated.html").read_bytes()})
    article = Article.objects.get(title="Meta's Llama 3.1 405B, explained")
    model = Model.objects.get(name="Llama 3.1 405B")
    _t, key = account_services.api_token_create(user=editor, name="t", scopes=("read",))
    api = Client(headers={"Authorization": f"Bearer {key}"})
    listed = api.get(f"/api/claims/?model={model.pk}&status=conflicting&limit=200").json()["items"]
    assert len(listed) == 6
    wrong = next(c for c in listed if c["quantity"] == "parameters")
    assert (wrong["value"], wrong["status"], wrong["article"]) == (450e9, X, article.pk)
    assert Fact.objects.get(pk=wrong["checked_against_fact"]).value == 405e9
    detail = api.get(f"/api/articles/{article.pk}/").json()
    assert detail["status_counts"] == claims_selectors.claim_status_counts(article=article)
    assert [c["id"] for c in detail["claims"]] == [
        c.pk for c in claims_selectors.claims_for_article(article=article)
    ]
    assert api.get("/api/claims/?status=nope").status_code == 422
    # Another team's reader sees neither the article nor its claims.
    outsider = make_user(role="viewer", team=team_b, username="claims-outsider")
    _t, other_key = account_services.api_token_create(user=outsider, name="t", scopes=("read",))
    other = Client(headers={"Authorization": f"Bearer {other_key}"})
    assert other.get(f"/api/articles/{article.pk}/").status_code == 404
    assert other.get("/api/claims/?limit=200").json()["items"] == []
