"""The weekly digest over a week of activity: what it says per team, where it is read, one per ISO week."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import bibtexparser
import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from analytics.models import Fit, Report, Study
from analytics.reports import services as report_services
from core.files import file_read
from core.roles import Role
from tracker.models import Article, Claim, Model, Paper, SourceDocument, TrainingRun

pytestmark = pytest.mark.django_db
MONDAY = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # ISO week 2026-W49
IN_WEEK = MONDAY - timedelta(days=3)
BEFORE = MONDAY - timedelta(days=10)


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def _at(obj: Any, moment: datetime) -> None:
    type(obj).objects.filter(pk=obj.pk).update(created_at=moment)


def _fit(study: Study, version: int, a: float, ci_a: list[float], when: datetime) -> Fit:
    fit = Fit.objects.create(
        study=study,
        version=version,
        inputs_hash=f"{version}" * 64,
        method="power_law",
        params={"a": a, "b": 1.7},
        ci={"level": 0.95, "params": {"a": ci_a, "b": [1.6, 1.8]}},
        goodness={"r2": 0.99, "n_points": 8},
        status=Fit.Status.STALE if version == 1 else Fit.Status.CURRENT,
    )
    _at(fit, when)
    return fit


@pytest.fixture
def week(team_a: Any, team_b: Any) -> dict[str, Any]:
    """Team A's week: two new runs (one old one), a refit whose a left v1's interval, a study whose refit
    stayed inside; a new paper and model (an old one of each); team B has a run of its own."""
    new_runs = [
        TrainingRun.objects.create(team=team_a, name="pythia-1b-dedup", parameters=1e9, final_loss=2.31),
        TrainingRun.objects.create(team=team_a, name="pythia-2.8b", parameters=2.8e9, final_loss=2.12),
    ]
    old_run = TrainingRun.objects.create(team=team_a, name="pythia-70m-old", parameters=7e7, final_loss=3.4)
    other = TrainingRun.objects.create(team=team_b, name="team-b-run", parameters=1e8, final_loss=3.0)
    for r in new_runs:
        _at(r, IN_WEEK)
    _at(old_run, BEFORE)
    _at(other, IN_WEEK)
    moved = Study.objects.create(team=team_a, name="Pythia power law", kind="power_law")
    _fit(moved, 1, 0.076, [0.071, 0.081], BEFORE)
    _fit(moved, 2, 0.090, [0.085, 0.095], IN_WEEK)
    steady = Study.objects.create(team=team_a, name="Steady law", kind="power_law")
    _fit(steady, 1, 0.076, [0.071, 0.081], BEFORE)
    _fit(steady, 2, 0.078, [0.073, 0.083], IN_WEEK)
    paper = Paper.objects.create(
        title="Scaling Data-Constrained Language Models",
        normalized_title="scaling data-constrained language models",
        arxiv_id="2305.16264",
        authors=["Niklas Muennighoff"],
        published=date(2023, 5, 25),
    )
    old_paper = Paper.objects.create(title="Old", normalized_title="old", arxiv_id="1001.00001")
    model = Model.objects.create(name="OLMo-2-7B", family="olmo", parameters=7e9)
    old_model = Model.objects.create(name="GPT-2", family="gpt2", parameters=1.5e9)
    _at(paper, IN_WEEK)
    _at(model, IN_WEEK)
    _at(old_paper, BEFORE)
    _at(old_model, BEFORE)
    # Claims: one of team A's changed status this week (a card landed), one last week, one never; team B's
    # change is its own.
    for team, changes in ((team_a, [IN_WEEK, BEFORE, None]), (team_b, [IN_WEEK])):
        doc = SourceDocument.objects.create(kind="upload", name=f"{team.slug}.md", team=team)
        article = Article.objects.create(
            document=doc, team=team, title=f"Review by {team.slug}", fmt="markdown"
        )
        for i, when in enumerate(changes):
            Claim.objects.create(
                article=article,
                subject="OLMo-2-7B",
                model=model,
                quantity="parameters",
                value=7e9 + i,
                line=i + 1,
                status="corroborated",
                previous_status="uncorroborated" if when else "",
                status_changed_at=when,
            )
    return {"runs": new_runs, "paper": paper, "model": model}


def test_digest_says_what_changed_for_each_team(
    week: dict[str, Any], team_a: Any, team_b: Any, make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        created = report_services.report_digest_weekly(now=MONDAY)
    assert len(created) == 2
    digest_a = Report.objects.get(team=team_a, digest_key="2026-W49")
    digest_a.formats = ["html", "json", "bib"]  # the PDF is covered by the report tests; keep this one quick
    digest_a.save(update_fields=["formats"])
    built = report_services.report_build(report_id=digest_a.pk)
    assert built.status == "done", built.error
    doc = json.loads(file_read(built.files.get(format="json").path))
    tables = {t["title"]: t["rows"] for t in doc["tables"]}
    runs = tables["New runs and their final losses"]
    assert [(r[0].split(" (#")[0], r[4]) for r in runs] == [("pythia-1b-dedup", 2.31), ("pythia-2.8b", 2.12)]
    moves = tables["Fits whose parameters moved beyond the previous interval"]
    assert moves == [["Pythia power law", "a", 0.076, "[0.071, 0.081]", 0.09, "v1 \u2192 v2"]]
    assert [p[0] for p in tables["New papers"]] == ["Scaling Data-Constrained Language Models"]
    assert [m[0] for m in tables["New models"]] == ["OLMo-2-7B"]
    assert doc["summary"].startswith(
        "For team Lab A, 2026-11-23 06:00 to 2026-11-30 06:00 UTC: 2 new runs; 2 fits"
    )
    assert (
        "(1 parameter moved beyond the previous interval); 1 new paper; 1 new model; 1 claim changed status."
        in (doc["summary"])
    )
    assert tables["Claims that changed status"] == [
        ["Review by lab-a", "OLMo-2-7B", "parameters", "7B", "uncorroborated \u2192 corroborated"]
    ]
    bib = bibtexparser.parse_string(file_read(built.files.get(format="bib").path).decode())
    assert [e.key for e in bib.entries] == ["2305.16264"]
    # Team B's digest has its own run only, and nothing of team A's.
    digest_b = Report.objects.get(team=team_b, digest_key="2026-W49")
    digest_b.formats = ["json"]
    digest_b.save(update_fields=["formats"])
    report_services.report_build(report_id=digest_b.pk)
    doc_b = json.loads(file_read(digest_b.files.get(format="json").path))
    assert [r["name"] for r in doc_b["runs"]] == ["team-b-run"]
    assert "0 fits" in doc_b["summary"]
    # In the app: the digest list and the digest page (another team's digest is 404).
    client = Client()
    client.force_login(make_user(Role.VIEWER, team_a, username="val"))
    listing = client.get("/reports/digests/").content.decode()
    assert f'href="/reports/digests/{digest_a.pk}/"' in listing and "2026-W49" in listing
    assert f"/reports/digests/{digest_b.pk}/" not in listing
    page = client.get(f"/reports/digests/{digest_a.pk}/").content.decode()
    assert "pythia-2.8b" in page and "Pythia power law" in page and "[0.071, 0.081]" in page
    assert "OLMo-2-7B" in page and f"/reports/{digest_a.pk}/download/html/" in page
    assert client.get(f"/reports/digests/{digest_b.pk}/").status_code == 404


def test_one_digest_per_team_per_iso_week(team_a: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        assert len(report_services.report_digest_weekly(now=MONDAY)) == 1
        # Later the same ISO week (Sunday night): nothing new.
        assert report_services.report_digest_weekly(now=MONDAY + timedelta(days=6, hours=17)) == []
    assert Report.objects.filter(team=team_a).count() == 1
    # The database refuses a second digest row for the week, whoever writes it.
    with pytest.raises(IntegrityError), transaction.atomic():
        Report.objects.create(
            team=team_a, scope="catalog", params={}, formats=["json"], digest_key="2026-W49"
        )
    assert Report.objects.filter(team=team_a).count() == 1
    # A plain (non-digest) report is not limited.
    Report.objects.create(team=team_a, scope="catalog", params={}, formats=["json"])
    Report.objects.create(team=team_a, scope="catalog", params={}, formats=["json"])
    assert Report.objects.filter(team=team_a, digest_key="").count() == 2
