"""Study authoring pages: the form (plain HTML, no JavaScript needed), preview, save, edit, delete, the runs
page's hand-off, the status JSON; viewers see no authoring controls; bad input is a 400 that says what is
wrong and stores nothing. The reports page prefills from the runs page's link."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from analytics.models import Fit, Report, Study
from analytics.studies import services as study_services
from analytics.studies.registry import spec_from_data
from core.roles import Role
from tracker.accounts import services as account_services
from tracker.models import TrainingRun

pytestmark = pytest.mark.django_db


def _runs(team: Any, prefix: str = "pl-") -> list[TrainingRun]:
    return [
        TrainingRun.objects.create(
            team=team, name=f"{prefix}{i}", parameters=n, tokens=20 * n, final_loss=1.8 + 400 * n**-0.3
        )
        for i, n in enumerate((1e7, 3e7, 1e8, 3e8, 1e9))
    ]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Loss vs N",
        "kind": "power_law",
        "selection": "filter",
        "run_ids": "",
        "cond": ["name:startswith", ""],
        "cond_value": ["pl-", ""],
        "target_metric": "final_loss",
        "opt-power_law-variable": "N",
        "opt-isoflop-window": "2",
        "action": "save",
    }
    data.update(changes)
    return data


def test_editor_creates_a_study_through_the_plain_form(
    make_user: Any, team_a: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _runs(team_a)
    client = _client(make_user(Role.EDITOR, team_a))
    page = client.get("/studies/new/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="cond"' in html and 'value="name:startswith"' in html and 'value="team__slug' not in html
    assert 'data-kind="data_constrained"' in html and 'name="opt-data_constrained-base-alpha"' in html
    assert "<script>" not in html and " style=" not in html  # CSP: no inline script or style
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        saved = client.post("/studies/new/", _form(team=str(team_a.pk)))
    study = Study.objects.get()
    assert saved.status_code == 302 and saved["Location"] == f"/studies/{study.pk}/"
    assert len(callbacks) == 1
    assert study.run_filter == [{"field": "name", "op": "startswith", "value": "pl-"}]
    assert study.options == {"variable": "N", "n_bootstrap": 100, "seed": 0}
    detail = client.get(saved["Location"])
    assert detail.context["live"]["state"] == "queued"
    assert b'id="refit-progress"' in detail.content and b'data-status-url="/studies/' in detail.content
    assert b"name starts with (case-sensitive) \xe2\x80\x9cpl-\xe2\x80\x9d" in detail.content


def test_preview_shows_points_and_stores_nothing(make_user: Any, team_a: Any) -> None:
    runs = _runs(team_a)
    TrainingRun.objects.create(team=team_a, name="pl-no-loss", parameters=5e9, tokens=1e11)
    client = _client(make_user(Role.EDITOR, team_a))
    page = client.post("/studies/new/", _form(team=str(team_a.pk), action="preview"))
    assert page.status_code == 200
    assert not Study.objects.exists() and not Fit.objects.exists()
    preview = page.context["preview"]
    assert (preview.n_selected, preview.n_included) == (6, 5)
    html = page.content.decode()
    assert "Preview: 5 of 6 runs would be fitted" in html
    assert re.search(r"pl-no-loss</a></td>.*?no final loss", html, re.S)
    assert f'href="/runs/{runs[0].pk}/"' in html and 'data-figure="preview-fig-0"' in html
    # What was typed is shown again, ready to save.
    assert 'value="Loss vs N"' in html and 'value="pl-"' in html


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        (
            {"cond": ["team__slug:is"], "cond_value": ["lab-b"]},
            "&#x27;team__slug&#x27; is not a filter field",
        ),
        ({"cond": ["user__password:startswith"], "cond_value": ["pbkdf2"]}, "is not a filter field"),
        ({"cond": ["name:regex"], "cond_value": [".*"]}, "&#x27;regex&#x27; is not an operator for name"),
        ({"cond": ["parameters:gte"], "cond_value": ["lots"]}, "&#x27;lots&#x27; is not a number"),
        ({"cond": [""], "cond_value": [""]}, "no runs chosen"),
        ({"name": ""}, "must not be empty"),
        ({"kind": "sql"}, "&#x27;sql&#x27; is not a study kind"),
        ({"opt-power_law-variable": "Q"}, "must be one of N, D, C"),
        ({"selection": "runs", "run_ids": "1; DROP TABLE"}, "run ids are whole numbers"),
        ({"kind": "data_constrained"}, "required for kind data_constrained"),
        ({"target_metric": "benchmark:"}, "benchmark: needs a benchmark name"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem_and_nothing_is_stored(
    make_user: Any, team_a: Any, changes: dict[str, Any], says: str, django_capture_on_commit_callbacks: Any
) -> None:
    _runs(team_a)
    client = _client(make_user(Role.EDITOR, team_a))
    for action in ("save", "preview"):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            page = client.post("/studies/new/", _form(team=str(team_a.pk), action=action, **changes))
        assert page.status_code == 400
        assert says in page.content.decode()
        assert b'id="form-errors"' in page.content
        assert callbacks == []
    assert not Study.objects.exists()


def test_another_teams_run_ids_are_refused_on_the_page(make_user: Any, team_a: Any, team_b: Any) -> None:
    _runs(team_a)
    theirs = _runs(team_b, prefix="b-")
    client = _client(make_user(Role.EDITOR, team_a))
    page = client.post(
        "/studies/new/",
        _form(team=str(team_a.pk), selection="runs", run_ids=f"{theirs[0].pk}, {theirs[1].pk}"),
    )
    assert page.status_code == 400
    assert f"not runs of team Lab A: {theirs[0].pk}, {theirs[1].pk}" in page.content.decode()
    assert not Study.objects.exists()
    # A team the user is not an editor of is not a choice.
    assert client.post("/studies/new/", _form(team=str(team_b.pk))).status_code == 400
    assert not Study.objects.exists()


def test_viewers_see_no_authoring_controls_and_are_refused(make_user: Any, team_a: Any) -> None:
    runs = _runs(team_a)
    editor = make_user(Role.EDITOR, team_a)
    study = study_services.study_author(
        user=editor,
        team=team_a,
        spec=spec_from_data({"name": "s", "kind": "power_law", "selection": {"run_ids": [runs[0].pk]}}),
    )
    client = _client(make_user(Role.VIEWER, team_a))
    listing = client.get("/studies/").content.decode()
    assert 'id="new-study"' not in listing
    detail = client.get(f"/studies/{study.pk}/").content.decode()
    for control in ('id="edit-study"', 'id="delete-study"', 'id="refit-now"'):
        assert control not in detail
    handoff = client.get(f"/studies/?runs={runs[0].pk}").content.decode()
    assert 'id="handoff-new"' not in handoff and "Add to" not in handoff
    assert "Your role lets you read studies" in handoff
    assert client.get("/studies/new/").status_code == 403
    assert client.post("/studies/new/", _form(team=str(team_a.pk))).status_code == 403
    assert client.get(f"/studies/{study.pk}/edit/").status_code == 403
    assert client.post(f"/studies/{study.pk}/edit/", _form()).status_code == 403
    assert client.post(f"/studies/{study.pk}/delete/").status_code == 403
    assert client.post(f"/studies/{study.pk}/runs/", {"runs": str(runs[1].pk)}).status_code == 403
    study.refresh_from_db()
    assert (study.name, study.runs.count(), Study.objects.count()) == ("s", 1, 1)
    assert client.get(f"/studies/{study.pk}/status/").status_code == 200  # reading is fine


def test_another_teams_study_is_a_404_for_every_verb(make_user: Any, team_a: Any, team_b: Any) -> None:
    runs = _runs(team_b)
    study = study_services.study_create(team=team_b, name="theirs", kind="power_law", runs=runs)
    client = _client(make_user(Role.EDITOR, team_a))
    for url in ("", "edit/", "delete/", "status/"):
        assert client.get(f"/studies/{study.pk}/{url}").status_code == 404, url
    assert client.post(f"/studies/{study.pk}/edit/", _form()).status_code == 404
    assert client.post(f"/studies/{study.pk}/delete/").status_code == 404
    assert client.post(f"/studies/{study.pk}/runs/", {"runs": "1"}).status_code == 404
    assert Study.objects.filter(pk=study.pk).exists()


def test_edit_form_shows_the_spec_and_saving_refits(
    make_user: Any, team_a: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _runs(team_a)
    editor = make_user(Role.EDITOR, team_a)
    spec = spec_from_data(
        {
            "name": "sweep",
            "kind": "power_law",
            "selection": {"filter": [["name", "startswith", "pl-"], ["parameters", "gte", "30M"]]},
            "options": {"variable": "D"},
        }
    )
    study = study_services.study_author(user=editor, team=team_a, spec=spec)
    v1 = study_services.study_refit(study_id=study.pk)
    assert v1.status == Fit.Status.CURRENT and v1.goodness["n_points"] == 4
    client = _client(editor)
    page = client.get(f"/studies/{study.pk}/edit/").content.decode()
    assert 'value="sweep"' in page and 'value="30000000"' in page
    assert re.search(r'<option value="parameters:gte"[^>]*selected', page)
    assert re.search(r'<option value="D" selected>', page)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        saved = client.post(f"/studies/{study.pk}/edit/", _form(name="sweep"))  # every pl- run, by N
    assert saved.status_code == 302 and len(callbacks) == 1
    study.refresh_from_db()
    assert study.options == {"variable": "N", "n_bootstrap": 100, "seed": 0} and len(study.run_filter) == 1
    v1.refresh_from_db()
    assert v1.status == Fit.Status.STALE
    v2 = study_services.study_refit(study_id=study.pk)
    assert (v2.version, v2.goodness["n_points"], v2.params["variable"]) == (2, 5, "N")


def test_delete_asks_first_then_deletes(make_user: Any, team_a: Any) -> None:
    runs = _runs(team_a)
    study = study_services.study_create(team=team_a, name="doomed", kind="power_law", runs=runs)
    client = _client(make_user(Role.EDITOR, team_a))
    confirm = client.get(f"/studies/{study.pk}/delete/")
    assert confirm.status_code == 200 and b"Delete \xe2\x80\x9cdoomed\xe2\x80\x9d?" in confirm.content
    assert Study.objects.filter(pk=study.pk).exists()
    gone = client.post(f"/studies/{study.pk}/delete/")
    assert gone.status_code == 302 and gone["Location"] == "/studies/"
    assert not Study.objects.filter(pk=study.pk).exists()
    assert TrainingRun.objects.filter(team=team_a).count() == 5


def test_runs_page_handoff_prefills_the_form_and_adds_to_a_study(
    make_user: Any, team_a: Any, team_b: Any
) -> None:
    runs = _runs(team_a)
    theirs = _runs(team_b, prefix="b-")
    editor = make_user(Role.EDITOR, team_a)
    client = _client(editor)
    # The runs page redirects "Add to study" to studies:list?runs=...
    handed = client.post("/runs/selection/", {"action": "study", "id": [runs[0].pk, runs[1].pk]})
    assert handed.status_code == 302
    listing = client.get(handed["Location"])
    ids = f"{runs[0].pk},{runs[1].pk}"
    assert listing.context["handoff"]["ids"] == [runs[0].pk, runs[1].pk]
    html = listing.content.decode()
    assert "2 runs selected on the runs page" in html
    assert f'href="/studies/new/?runs={ids.replace(",", "%2C")}"' in html
    form = client.get(f"/studies/new/?runs={ids},{theirs[0].pk}")  # another team's id is not shown
    assert form.context["state"].selection == "runs"
    assert form.context["state"].run_ids == f"{runs[0].pk}, {runs[1].pk}"
    assert form.context["team"] == team_a
    assert client.get("/studies/?runs=1;2").status_code == 400

    by_id = study_services.study_create(team=team_a, name="by id", kind="power_law", runs=runs[:1])
    study_services.study_create(
        team=team_a, name="by filter", kind="power_law", run_filter=[["name", "is", "x"]]
    )
    listing = client.get(f"/studies/?runs={ids}").content.decode()
    assert "Add to “by id”" in listing and "Add to “by filter”" not in listing
    added = client.post(f"/studies/{by_id.pk}/runs/", {"runs": ids})
    assert added.status_code == 302
    assert sorted(by_id.runs.values_list("pk", flat=True)) == [runs[0].pk, runs[1].pk]
    refused = client.post(f"/studies/{by_id.pk}/runs/", {"runs": str(theirs[0].pk)})
    assert refused.status_code == 302 and "runs=" in refused["Location"]
    assert by_id.runs.count() == 2


def test_status_json(make_user: Any, team_a: Any) -> None:
    runs = _runs(team_a)
    study = study_services.study_create(team=team_a, name="s", kind="power_law", runs=runs)
    study_services.study_refit_enqueue(study=study)
    client = _client(make_user(Role.VIEWER, team_a))
    body = client.get(f"/studies/{study.pk}/status/").json()
    assert (body["id"], body["state"], body["fit"]) == (study.pk, "queued", None)
    fit = study_services.study_refit(study_id=study.pk)
    body = client.get(f"/studies/{study.pk}/status/").json()
    assert body["state"] == "idle"
    assert (body["fit"]["id"], body["fit"]["version"], body["fit"]["status"]) == (fit.pk, 1, "current")
    assert client.post(f"/studies/{study.pk}/status/").status_code == 405


def test_reports_page_prefills_from_the_runs_page(make_user: Any, team_a: Any, team_b: Any) -> None:
    runs = _runs(team_b)
    user = make_user(Role.EDITOR, team_a)
    account_services.membership_set(team=team_b, user=user, role=Role.EDITOR)
    client = _client(user)
    handed = client.post("/runs/selection/", {"action": "report", "id": [runs[0].pk, runs[2].pk]})
    page = client.get(handed["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert f'name="run_ids" value="{runs[0].pk},{runs[2].pk}"' in html
    assert '<option value="run_set" selected>' in html
    assert f'<option value="{team_b.pk}" selected>' in html  # the runs' team, not the first team
    assert not Report.objects.exists()  # prefilled, not requested
    # The status cell is what the page's poller rewrites when the report lands.
    report = Report.objects.create(
        team=team_b, scope="run_set", params={"run_ids": [runs[0].pk]}, formats=["json"]
    )
    html = client.get("/reports/").content.decode()
    assert re.search(rf'data-report="{report.pk}".*?<span class="report-status">Queued</span>', html, re.S)
    assert client.get(f"/reports/{report.pk}/progress/").json()["status_label"] == "Queued"
