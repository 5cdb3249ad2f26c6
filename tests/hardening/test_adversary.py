"""The adversary's next step (issue 12), each case through HTTP where the surface is HTTP.

1 stored XSS through URLs, 2 YAML alias bombs, 3 GitHub-scheme replay and run state, 4 token scope, expiry and
the admin, 5 login throttling, 6 PDF CPU budget, 7 workload queues, 8 out-of-range numbers and deep JSON,
9 limits per file, request and team. (10, the compose health check, is in tests/config.)
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.celery import QUEUE_OF_TASK, route_task
from core.roles import Role
from ingestion.models import IngestFile, IngestJob, WebhookDelivery
from ingestion.services import jobs
from tests.ingestion.conftest import post_github, post_standard, process_deliveries, process_job
from tests.ingestion.parsers.test_sandbox import _flate_bomb_pdf
from tracker.accounts import services as account_services
from tracker.models import ApiToken, Model, Paper, TrainingRun

pytestmark = pytest.mark.django_db

EVIL = "javascript:alert(document.cookie)"


@pytest.fixture
def editor(client: Client, make_user: Any, team_a: Any) -> Client:
    client.force_login(make_user(role=Role.EDITOR, team=team_a, username="eve-editor"))
    return client


def _upload(client: Client, team: Any, files: dict[str, bytes]) -> IngestJob:
    r = client.post(
        "/ingest/upload/", {"team": team.slug, "files": [SimpleUploadedFile(n, d) for n, d in files.items()]}
    )
    assert r.status_code == 302, r.content
    job = IngestJob.objects.get(pk=int(r["Location"].rstrip("/").rsplit("/", 1)[-1]))
    process_job(job)
    return job


# --- 1. stored XSS ----------------------------------------------------------------------------------------


def test_bibtex_and_atom_urls_that_are_not_http_are_never_stored(editor, team_a):
    bib = f"@article{{evil, title={{Evil BibTeX}}, author={{Eve}}, year={{2024}}, url={{{EVIL}}}}}\n"
    atom = f"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry>
      <id>http://arxiv.org/abs/2401.00001v1</id><title>Evil Atom</title><summary>x</summary>
      <published>2024-01-01T00:00:00Z</published><author><name>Eve</name></author>
      <link href="{EVIL}" rel="alternate" type="text/html"/></entry></feed>"""
    _upload(editor, team_a, {"evil.bib": bib.encode(), "evil.xml": atom.encode()})
    assert Paper.objects.filter(title__in=["Evil BibTeX", "Evil Atom"]).count() == 2
    assert not Paper.objects.filter(url__icontains="javascript").exists()


def test_paper_added_webhook_url_is_checked(client, integration):
    r = post_standard(
        client, {"type": "paper.added", "data": {"title": "Evil hook", "url": EVIL}}, msg_id="x1"
    )
    assert r.status_code == 202
    process_deliveries()
    assert Paper.objects.get(title="Evil hook").url == ""


def test_model_validation_refuses_non_http_urls():
    with pytest.raises(ValidationError):
        Paper(title="t", normalized_title="t", url=EVIL).full_clean()
    Paper(title="t", normalized_title="t", url="https://arxiv.org/abs/2001.08361").full_clean()


def test_a_bad_url_already_in_the_database_is_not_rendered_as_a_link(editor):
    paper = Paper.objects.create(title="Old row", normalized_title="old row")
    Paper.objects.filter(pk=paper.pk).update(url=EVIL)  # written before the checks existed
    page = editor.get(reverse("catalog:paper-detail", args=[paper.pk])).text
    assert "javascript:" not in page
    assert (
        "script-src 'self'"
        in editor.get(reverse("catalog:paper-detail", args=[paper.pk])).headers["Content-Security-Policy"]
    )


# --- 2. YAML alias bombs ----------------------------------------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


def test_manifest_alias_bomb_fails_cleanly_and_stores_nothing(editor, team_a):
    data = "name: bomb\nparameters: 1e9\nconfig:\n" + "".join(
        "  " + line + "\n" for line in BOMB.splitlines()
    )
    assert len(data) < 1000
    started = time.monotonic()
    job = _upload(editor, team_a, {"run.yaml": data.encode()})
    assert time.monotonic() - started < 10
    file = IngestFile.objects.get(job=job)
    assert file.status == "failed" and "alias" in file.errors[0]["reason"].lower()
    assert file.errors[0]["file"] == "run.yaml" and file.errors[0]["line"] is not None
    assert not TrainingRun.objects.exists()


def test_model_card_webhook_alias_bomb_fails_the_delivery(client, integration):
    card = "---\nlicense: mit\n" + BOMB + "---\n# Bomb model\nSome text.\n"
    r = post_standard(client, {"type": "model.card", "data": {"markdown": card}}, msg_id="bomb-card")
    assert r.status_code == 202
    process_deliveries()
    delivery = WebhookDelivery.objects.get(delivery_id="bomb-card")
    assert delivery.status == "failed" and "alias" in delivery.error.lower()
    assert not Model.objects.exists()


# --- 3. GitHub-scheme replay and monotonic run state ------------------------------------------------------


def test_github_body_replayed_under_a_new_delivery_id_has_no_effect(client, integration):
    started = {"type": "run.started", "data": {"external_id": "gh-1", "name": "gh run"}}
    finished = {"type": "run.finished", "data": {"external_id": "gh-1", "final_loss": 2.5}}
    assert post_github(client, started, delivery="d-1").status_code == 202
    assert post_github(client, finished, delivery="d-2").status_code == 202
    process_deliveries()
    assert TrainingRun.objects.get(external_id="gh-1").status == "finished"
    # The captured run.started body, replayed under a fresh id the attacker chose: a duplicate.
    replay = post_github(client, started, delivery="attacker-chosen-id")
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    process_deliveries()
    assert WebhookDelivery.objects.count() == 2
    assert TrainingRun.objects.get(external_id="gh-1").status == "finished"


def test_late_run_started_never_reopens_a_finished_run(client, integration, caplog):
    post_standard(
        client, {"type": "run.finished", "data": {"external_id": "s-1", "final_loss": 2.0}}, msg_id="f"
    )
    process_deliveries()
    post_standard(client, {"type": "run.started", "data": {"external_id": "s-1"}}, msg_id="late-start")
    process_deliveries()
    run = TrainingRun.objects.get(external_id="s-1")
    assert (run.status, run.final_loss) == ("finished", 2.0)
    assert "transition to running is ignored" in caplog.text


# --- 4. tokens: scope, expiry, never the admin or pages ----------------------------------------------------


def test_tokens_never_authenticate_the_admin_or_pages(make_user, team_a):
    staff = make_user(role=Role.ADMIN, team=team_a, username="staff-tok")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    _token, key = account_services.api_token_create(user=staff, name="stolen")
    bearer = Client(headers={"Authorization": f"Bearer {key}"})
    r = bearer.post(
        "/admin/auth/user/add/", {"username": "mallory", "password1": "x" * 12, "password2": "x" * 12}
    )
    assert r.status_code == 403
    assert not type(staff).objects.filter(username="mallory").exists()
    assert bearer.get("/admin/tracker/webhooksecret/").status_code == 403
    assert bearer.get(reverse("runs:list")).status_code == 403
    assert bearer.get(reverse("api:me")).status_code == 200  # the API is what tokens are for


def test_token_scopes_and_expiry_are_enforced(make_user, team_a):
    user = make_user(role=Role.EDITOR, team=team_a, username="scoped")
    _t, read_only = account_services.api_token_create(user=user, name="reader", scopes=["read"])
    files = {"team": team_a.slug, "files": SimpleUploadedFile("a.csv", b"step,loss\n0,1\n")}
    r = Client(headers={"Authorization": f"Bearer {read_only}"}).post("/api/ingest/", files)
    assert r.status_code == 403 and "'ingest' scope" in r.json()["error"]
    assert not IngestJob.objects.exists()
    _t, ingest = account_services.api_token_create(user=user, name="ingester", scopes=["read", "ingest"])
    files["files"] = SimpleUploadedFile("a.csv", b"step,loss\n0,1\n")
    assert (
        Client(headers={"Authorization": f"Bearer {ingest}"}).post("/api/ingest/", files).status_code == 201
    )
    expired, key = account_services.api_token_create(user=user, name="old", scopes=["read"])
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client(headers={"Authorization": f"Bearer {key}"}).get(reverse("api:me")).status_code == 401


def test_a_token_made_in_the_admin_shows_its_secret_once_and_works(make_user, team_a):
    admin_user = make_user(role=Role.ADMIN, team=team_a, username="boss")
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    r = client.post(
        "/admin/tracker/apitoken/add/",
        {
            "user": admin_user.pk,
            "name": "from-admin",
            "scopes": ["read"],
            "expires_at_0": "",
            "expires_at_1": "",
        },
        follow=True,
    )
    assert r.status_code == 200
    text = r.content.decode()
    secret = text.split("copy it: ", 1)[1].split("<", 1)[0].strip()
    token = ApiToken.objects.get(name="from-admin")
    assert (
        secret.startswith("isf_")
        and token.prefix == secret[:12]
        and token.key_hash == ApiToken.hash_key(secret)
    )
    assert secret not in client.get("/admin/tracker/apitoken/").content.decode()  # shown once
    assert Client(headers={"Authorization": f"Bearer {secret}"}).get(reverse("api:me")).status_code == 200


# --- 5. login throttling ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_thirty_wrong_passwords_lock_the_account_out(path, make_user, team_a):
    user = make_user(role=Role.ADMIN, team=team_a, username="target")
    user.is_staff = True
    user.save()
    client = Client()
    statuses = [
        client.post(path, {"username": "target", "password": f"wrong-{i}"}).status_code for i in range(30)
    ]
    assert 429 in statuses
    right = client.post(path, {"username": "target", "password": "pw-for-tests-123"})
    assert right.status_code == 429  # locked out even with the right password
    assert "_auth_user_id" not in client.session


# --- 6. PDF CPU budget ------------------------------------------------------------------------------------


def test_a_pdf_that_spins_the_parser_fails_within_its_cpu_budget(editor, team_a, settings):
    settings.ISOFLOP_PDF_CPU_SECONDS = 2
    started = time.monotonic()
    job = _upload(editor, team_a, {"slow.pdf": _flate_bomb_pdf(2_000_000)})
    assert time.monotonic() - started < 30
    file = IngestFile.objects.get(job=job)
    assert file.status == "failed"
    assert "budget" in file.errors[0]["reason"] and file.errors[0]["file"] == "slow.pdf"
    assert not Paper.objects.exists()


# --- 7. one queue per workload ----------------------------------------------------------------------------


def test_each_workload_has_its_own_queue(settings):
    queue = {name: route_task(name, (), {}, {})["queue"] for name in QUEUE_OF_TASK}
    prefix = settings.ISOFLOP_QUEUE_PREFIX
    assert queue["ingestion.webhook_delivery_process"] == f"{prefix}webhooks"
    assert queue["ingestion.ingest_file_process"] == f"{prefix}ingest"
    assert queue["analytics.report_build"] == f"{prefix}report"
    assert queue["analytics.study_refit"] == f"{prefix}fit"
    assert len({queue[n] for n in ("ingestion.webhook_delivery_process", "ingestion.ingest_file_process",
                                   "analytics.report_build", "analytics.study_refit")}) == 4  # fmt: skip


# --- 8. numbers beyond 64 bits, deep JSON -----------------------------------------------------------------


def test_out_of_range_numbers_in_query_strings_are_400(editor, team_a):
    run = TrainingRun.objects.create(team=team_a, name="r")
    series = run.series.create(name="loss")
    data = reverse("runs:series-data", args=[run.pk, series.pk])
    assert editor.get(data, {"x0": "1e23"}).status_code == 400
    too_big = editor.get(data, {"x0": "99999999999999999999"})
    assert too_big.status_code == 400 and "x0" in too_big.json()["error"]
    assert editor.get(reverse("runs:compare"), {"ids": "99999999999999999999"}).status_code == 400


def test_validly_signed_webhook_with_deeply_nested_json_is_400(client, integration):
    deep = b'{"type": "run.metrics", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = post_standard(client, deep, msg_id="deep")
    assert r.status_code == 400 and "nested" in r.json()["error"]
    moderately = {
        "type": "run.metrics",
        "data": {"external_id": "x", "points": json.loads("[" * 200 + "]" * 200)},
    }
    assert post_standard(client, moderately, msg_id="deep2").status_code == 400
    assert not WebhookDelivery.objects.exists()


# --- 9. limits --------------------------------------------------------------------------------------------


def test_too_many_metric_names_in_one_file_are_refused_with_the_limit(editor, team_a):
    header = "step," + ",".join(f"m{i}" for i in range(200_000))
    job = _upload(
        editor, team_a, {"wide.csv": (header + "\n0," + ",".join("1" for _ in range(200_000))).encode()}
    )
    file = IngestFile.objects.get(job=job)
    assert file.status == "failed" and "over the limit of 10,000" in file.errors[0]["reason"]
    assert not TrainingRun.objects.exists()


def test_negative_steps_are_reported_not_stored(editor, team_a):
    job = _upload(editor, team_a, {"neg.csv": b"step,loss\n0,3.0\n-5,2.9\n1,2.8\n"})
    file = IngestFile.objects.get(job=job)
    assert file.status == "done"
    assert [e["line"] for e in file.errors] == [3] and "negative step" in file.errors[0]["reason"]
    series = TrainingRun.objects.get().series.get()
    assert (series.n_points, series.min_step) == (2, 0)


def test_one_request_may_not_carry_more_than_its_byte_limit(editor, team_a, settings):
    settings.ISOFLOP_MAX_REQUEST_BYTES = 300
    files = [
        SimpleUploadedFile(f"f{i}.csv", b"step,loss\n" + b"0,1.0\n" * 30) for i in range(3)
    ]  # ~190 B each
    r = editor.post("/ingest/upload/", {"team": team_a.slug, "files": files})
    assert r.status_code == 302
    job = IngestJob.objects.get()
    refused = IngestFile.objects.filter(job=job, status="failed")
    assert refused.count() >= 1
    assert "upload request is over its 300 byte limit" in refused.first().errors[0]["reason"]


def test_a_team_over_its_storage_quota_gets_a_clear_refusal(editor, team_a, settings, make_user):
    settings.ISOFLOP_TEAM_QUOTA_BYTES = 100
    first = jobs.ingest_job_create(
        team=team_a,
        user=None,
        source="api",
        uploads=[SimpleUploadedFile("a.csv", b"step,loss\n" + b"0,1\n" * 20)],
    )
    assert IngestFile.objects.get(job=first).status in ("queued", "done")
    second = jobs.ingest_job_create(
        team=team_a,
        user=None,
        source="api",
        uploads=[SimpleUploadedFile("b.csv", b"step,loss\n" + b"1,2\n" * 20)],
    )
    refused = IngestFile.objects.get(job=second)
    assert refused.status == "failed" and refused.stored_path == ""
    assert "storage quota of 100 bytes" in refused.errors[0]["reason"]
