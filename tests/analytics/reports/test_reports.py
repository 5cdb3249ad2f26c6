"""Reports on PostgreSQL: request rules, build (idempotent claim, progress, files, failure), pages, API, digest."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from analytics.models import Report, ReportFile
from analytics.reports import services as report_services
from core.files import file_read
from core.roles import Role
from tests.conftest import wait_for
from tracker.models import ApiToken, Model, Paper, TrainingRun

pytestmark = pytest.mark.django_db
NO_PDF = ["html", "csv", "json", "bib"]


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path, request: Any) -> Path:
    if request.node.get_closest_marker("worker") is None:  # the worker process writes to its own MEDIA_ROOT
        settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def _runs(team: Any) -> list[TrainingRun]:
    model = Model.objects.create(name="Tiny-1", family="tiny", parameters=1e8)
    paper = Paper.objects.create(
        title="Tiny {models} scale", normalized_title="tiny models scale", arxiv_id="2401.00001"
    )
    model.papers.add(paper)
    return [
        TrainingRun.objects.create(
            team=team,
            name='=HYPERLINK("http://evil.example","x")',
            parameters=1e8,
            final_loss=3.1,
            model=model,
        ),
        TrainingRun.objects.create(team=team, name="plain", parameters=1e9, final_loss=2.7, model=model),
    ]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_request_is_queued_after_commit_and_built_with_exact_files(
    make_user: Any, team_a: Any, media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    runs = _runs(team_a)
    editor = make_user(Role.EDITOR, team_a)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = report_services.report_request(
            user=editor,
            team=team_a,
            scope="run_set",
            params={"run_ids": [r.pk for r in runs]},
            formats=NO_PDF,
        )
    assert len(callbacks) == 1 and report.status == Report.Status.QUEUED and report.progress == 0
    built = report_services.report_build(report_id=report.pk)
    assert (built.status, built.progress, built.stage, built.error) == ("done", 100, "done", "")
    files = {f.format: f for f in built.files.all()}
    assert sorted(files) == ["bib", "csv", "html", "json"]
    csv_bytes = (media / files["csv"].path).read_bytes()
    assert files["csv"].size == len(csv_bytes) and files["csv"].path == f"reports/{report.pk}/report.csv"
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode())))
    assert rows[0]["name"] == '\'=HYPERLINK("http://evil.example","x")'  # neutralised, not a formula
    assert (rows[1]["name"], rows[1]["parameters"], rows[1]["final_loss"]) == ("plain", "1000000000.0", "2.7")
    doc = json.loads((media / files["json"].path).read_text())
    assert [r["name"] for r in doc["runs"]][1] == "plain" and doc["report"]["scope"] == "run_set"
    bib = (media / files["bib"].path).read_text()
    assert "@article{2401.00001," in bib and "Tiny \\{models\\} scale" in bib
    page = (media / files["html"].path).read_text()
    assert "Content-Security-Policy" in page and "Final loss vs parameters" in page
    # A second build (e.g. a redelivered task) changes nothing.
    again = report_services.report_build(report_id=report.pk)
    assert again.status == "done" and ReportFile.objects.filter(report=report).count() == 4


def test_viewer_may_download_but_not_request(make_user: Any, team_a: Any) -> None:
    runs = _runs(team_a)
    viewer = _client(make_user(Role.VIEWER, team_a))
    response = viewer.post(
        "/reports/", {"team": team_a.pk, "scope": "run_set", "run_ids": str(runs[0].pk), "formats": ["csv"]}
    )
    assert response.status_code == 403 and not Report.objects.exists()
    report = report_services.report_request(
        user=make_user(Role.EDITOR, team_a),
        team=team_a,
        scope="run_set",
        params={"run_ids": [runs[1].pk]},
        formats=["csv", "json"],
    )
    report_services.report_build(report_id=report.pk)
    download = viewer.get(f"/reports/{report.pk}/download/csv/")
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    assert download["Content-Disposition"] == f'attachment; filename="isoflop-report-{report.pk}.csv"'
    assert b"plain" in b"".join(download.streaming_content)
    assert viewer.get(f"/reports/{report.pk}/download/pdf/").status_code == 404  # not requested
    listing = viewer.get("/reports/")
    assert f'href="/reports/{report.pk}/download/json/"'.encode() in listing.content
    assert b'name="scope"' not in listing.content  # no request form for viewers


def test_other_teams_report_is_404_for_every_verb(make_user: Any, team_a: Any, team_b: Any) -> None:
    runs = _runs(team_b)
    report = report_services.report_request(
        user=make_user(Role.EDITOR, team_b, username="b-editor"),
        team=team_b,
        scope="run_set",
        params={"run_ids": [runs[0].pk]},
        formats=["csv"],
    )
    report_services.report_build(report_id=report.pk)
    outsider = _client(make_user(Role.ADMIN, team_a))
    for url in (
        f"/reports/{report.pk}/progress/",
        f"/reports/{report.pk}/download/csv/",
        f"/api/reports/{report.pk}/",
    ):
        for verb in ("get", "post", "put", "delete"):
            assert getattr(outsider, verb)(url).status_code == 404, (verb, url)
    assert f"/reports/{report.pk}/".encode() not in outsider.get("/reports/").content
    # Nor can another team's runs be put in a report.
    response = outsider.post(
        "/reports/", {"team": team_a.pk, "scope": "run_set", "run_ids": str(runs[0].pk), "formats": ["csv"]}
    )
    assert response.status_code == 400 and b"not found in team lab-a" in response.content
    assert Report.objects.filter(team=team_a).count() == 0


def test_bad_requests_name_the_problem(make_user: Any, team_a: Any) -> None:
    editor = make_user(Role.EDITOR, team_a)
    cases = [
        ("galaxy", {}, ["csv"], "unknown scope 'galaxy'"),
        ("catalog", {}, ["docx"], "formats must be a non-empty subset"),
        ("study", {"study_id": "x"}, ["csv"], "needs params.study_id"),
        ("study", {"study_id": 999999}, ["csv"], "study 999999 not found in team lab-a"),
        ("model_family", {"family": "nope"}, ["csv"], "no models in family 'nope'"),
        ("catalog", {"since": "2025-01-01T00:00:00"}, ["csv"], "need a timezone offset"),
    ]
    for scope, params, formats, message in cases:
        with pytest.raises(report_services.ReportRequestError, match=re.escape(message)):
            report_services.report_request(
                user=editor, team=team_a, scope=scope, params=params, formats=formats
            )
    assert not Report.objects.exists()


def test_failed_build_lists_no_files_and_says_why(make_user: Any, team_a: Any, media: Path) -> None:
    runs = _runs(team_a)
    report = report_services.report_request(
        user=make_user(Role.EDITOR, team_a),
        team=team_a,
        scope="run_set",
        params={"run_ids": [runs[1].pk]},
        formats=["csv", "json"],
    )
    runs[1].delete()  # evidence vanished between request and build
    built = report_services.report_build(report_id=report.pk)
    assert built.status == "failed" and built.finished_at is not None
    assert built.error.startswith("ReportScopeError: runs [") and "not found in team lab-a" in built.error
    assert not ReportFile.objects.filter(report=report).exists()
    assert not (media / "reports" / str(report.pk)).exists()


def test_api_with_bearer_token(make_user: Any, team_a: Any) -> None:
    runs = _runs(team_a)
    editor = make_user(Role.EDITOR, team_a)
    key = ApiToken.generate_key()
    ApiToken.objects.create(
        user=editor, name="ci", prefix=key[:12], key_hash=ApiToken.hash_key(key), scopes=["read", "reports"]
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = {"team": "lab-a", "scope": "run_set", "params": {"run_ids": [runs[1].pk]}, "formats": ["json"]}
    created = client.post("/api/reports/", json.dumps(body), content_type="application/json")
    assert created.status_code == 202, created.content
    report_id = created.json()["id"]
    assert created.json()["status"] == "queued" and created.json()["files"] == {}
    report_services.report_build(report_id=report_id)
    state = client.get(f"/api/reports/{report_id}/").json()
    assert (state["status"], state["progress"]) == ("done", 100)
    assert list(state["files"]) == ["json"]
    assert state["files"]["json"]["url"] == f"/api/reports/{report_id}/download/json/"
    assert client.get(state["files"]["json"]["url"]).status_code == 200
    assert client.get(f"/reports/{report_id}/download/json/").status_code == 403  # tokens act on /api/ only
    bad = client.post("/api/reports/", "{", content_type="application/json")
    assert bad.status_code == 400 and "line 1" in bad.json()["error"]


def test_weekly_digest_is_idempotent_per_team_per_iso_week(
    team_a: Any, team_b: Any, media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    from analytics.tasks import report_digest_weekly

    TrainingRun.objects.create(team=team_a, name="this-week", parameters=1e8, final_loss=3.0)
    monday = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = report_services.report_digest_weekly(now=monday)
    assert len(first) == 2 and len(callbacks) == 2
    assert set(Report.objects.values_list("digest_key", flat=True)) == {"2025-W02"}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert report_services.report_digest_weekly(now=monday + timedelta(days=3)) == []
    assert callbacks == [] and Report.objects.count() == 2
    assert len(report_services.report_digest_weekly(now=monday + timedelta(days=7))) == 2  # next ISO week
    digest = Report.objects.get(team=team_a, digest_key="2025-W02")
    assert digest.scope == "catalog" and digest.created_by is None
    assert digest.params == {"since": "2024-12-30T06:00:00+00:00", "until": "2025-01-06T06:00:00+00:00"}
    # The beat task itself (real clock): one more per team for the current week, then none.
    with django_capture_on_commit_callbacks(execute=False):
        assert len(report_digest_weekly()) == 2 and report_digest_weekly() == []


def test_catalog_report_counts_the_window(make_user: Any, team_a: Any, team_b: Any) -> None:
    TrainingRun.objects.create(team=team_a, name="mine", parameters=1e8, final_loss=3.0)
    TrainingRun.objects.create(team=team_b, name="theirs", parameters=1e8, final_loss=3.0)
    report = report_services.report_request(
        user=make_user(Role.EDITOR, team_a), team=team_a, scope="catalog", params={}, formats=["json"]
    )
    report_services.report_build(report_id=report.pk)
    doc = json.loads(file_read(report.files.get().path))
    assert [r["name"] for r in doc["runs"]] == ["mine"]
    assert "1 new run;" in doc["summary"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_builds_pdf_with_visible_plot(
    celery_worker_process: Any, make_user: Any, team_a: Any, tmp_path: Path
) -> None:
    from tests.analytics.reports.test_report_pdf import TRACE_RGB, count_near, pages_png

    runs = _runs(team_a)
    editor = make_user(Role.EDITOR, team_a)
    with transaction.atomic():
        report = report_services.report_request(
            user=editor,
            team=team_a,
            scope="run_set",
            params={"run_ids": [r.pk for r in runs]},
            formats=["pdf", "csv"],
        )
    done = wait_for(
        lambda: Report.objects.filter(pk=report.pk, status__in=["done", "failed"]).first(), timeout=120
    )
    assert (done.status, done.progress, done.error) == ("done", 100, "")
    client = _client(editor)
    pdf = b"".join(client.get(f"/reports/{report.pk}/download/pdf/").streaming_content)
    assert pdf.startswith(b"%PDF")
    pages = pages_png(pdf, tmp_path)
    # Page 1 is the title page; the loss-vs-N markers are drawn in the style's first colour after it.
    assert count_near(pages[0], TRACE_RGB) == 0
    assert sum(count_near(rows, TRACE_RGB) for rows in pages[1:]) > 100
    csv_text = b"".join(client.get(f"/reports/{report.pk}/download/csv/").streaming_content).decode()
    assert "'=HYPERLINK" in csv_text and "\n=HYPERLINK" not in csv_text
