"""Study authoring in a real browser (Debian chromium) with a real Celery worker: select runs on the runs page,
hand them to a new study, preview the points, save, and watch the fit land without reloading; edit the study
with the filter builder; an editor's final loss refits the study; viewers see no authoring controls; the
reports page, prefilled from the runs page, flips to done by itself."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from analytics.models import Fit, Report, Study
from analytics.studies import services as study_services
from core.leases import lease_held
from tests.e2e.conftest import login, screenshot, wait_js
from tracker.models import TrainingRun

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SIZES = (1e7, 3e7, 1e8, 3e8, 1e9, 3e9)


def _runs(team, prefix="chin-"):
    runs = [
        TrainingRun.objects.create(
            team=team,
            name=f"{prefix}{i}",
            status="finished",
            parameters=n,
            tokens=20 * n,
            final_loss=1.8 + 400 * n**-0.3,
        )
        for i, n in enumerate(SIZES)
    ]
    runs.append(TrainingRun.objects.create(team=team, name=f"{prefix}no-loss", parameters=5e9, tokens=1e11))
    return runs


def _csp_guard(page):
    violations: list[str] = []
    page.on(
        "console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    return violations


@pytest.mark.worker
def test_editor_hands_runs_to_a_new_study_previews_saves_and_sees_the_fit_land(
    page, make_user, team_a, celery_worker_process
):
    runs = _runs(team_a)
    TrainingRun.objects.create(team=team_a, name="unrelated", parameters=1e8, tokens=1e9, final_loss=9.0)
    make_user("editor", team=team_a, username="erin")
    violations = _csp_guard(page)
    login(page, "erin")

    # Runs page: tick the sweep's runs, "Add to study".
    page.goto("/runs/?q=chin-&sort=name")
    assert page.locator(".run-pick").count() == 7
    page.locator("#pick-all").check()
    page.click("#selection button[value=study]")
    page.wait_for_url(re.compile(r"/studies/\?runs="))
    assert page.locator("#handoff h2").inner_text() == "7 runs selected on the runs page"
    screenshot(page, "study-authoring-1-handoff")
    page.click("#handoff-new")
    page.wait_for_url(re.compile(r"/studies/new/\?runs="))
    wait_js(page, "document.body.dataset.studyForm === 'ready'")
    assert page.locator("input[name=selection][value=runs]").is_checked()
    assert page.locator("#run-names").inner_text() == ", ".join(r.name for r in runs)
    assert sorted(int(i) for i in page.input_value("#run-ids").split(", ")) == sorted(r.pk for r in runs)

    # Kind, options (only the chosen kind's are shown), target choices from the runs.
    page.fill("input[name=name]", "Chinchilla sweep, power law in N")
    page.select_option("#study-kind", "power_law")
    assert page.locator(".kind-options[data-kind=power_law]").is_visible()
    assert not page.locator(".kind-options[data-kind=chinchilla]").is_visible()
    assert "final loss (6 of 7 runs)" in page.locator("#target-list").inner_text()
    page.fill("#target-metric", "")
    page.click(".target-pick[data-value=final_loss]")  # the listed targets fill the field
    assert page.input_value("#target-metric") == "final_loss"
    screenshot(page, "study-authoring-2-form")

    # Preview: the points before fitting, and the run left out, with the reason.
    page.click("#preview-button")
    page.wait_for_selector("#preview")
    wait_js(page, "document.body.dataset.studyForm === 'ready'")
    assert page.locator("#preview h2").inner_text() == "Preview: 6 of 7 runs would be fitted"
    left_out = page.locator("#preview-table tr.excluded")
    assert left_out.count() == 1 and "no final loss" in left_out.inner_text()
    wait_js(page, "document.querySelectorAll('#preview .js-plotly-plot .main-svg').length > 0")
    assert not Study.objects.exists()  # a preview stores nothing
    screenshot(page, "study-authoring-3-preview")

    # Save: the study page shows the refit under way, then the fit, without a reload.
    page.click("#save-button")
    page.wait_for_url(re.compile(r"/studies/\d+/$"))
    page.evaluate("window.__sameDocument = 'yes'")
    study = Study.objects.get()
    assert page.locator("#study-selection").inner_text() == "7 runs chosen by id"
    wait_js(page, "document.body.dataset.fitLanded === '1'", timeout=90_000)
    assert page.evaluate("window.__sameDocument") == "yes"  # updated in place, not reloaded
    assert page.locator("#fit-heading").inner_text() == "Fit v1 Current"
    assert page.locator("#refit-progress").count() == 0
    wait_js(page, "document.querySelectorAll('#study-live .js-plotly-plot .main-svg').length >= 2")
    fit = Fit.objects.get(study=study)
    assert fit.params["a"] == pytest.approx(0.3, rel=1e-6) and fit.goodness["n_points"] == 6
    assert "6 points (1 run without the needed values left out)" in page.locator("#study-live").inner_text()
    screenshot(page, "study-authoring-4-landed")

    # The runs page's hand-off now offers this study (it selects runs by id) beside a new one.
    unrelated = TrainingRun.objects.get(name="unrelated")
    page.goto(f"/studies/?runs={unrelated.pk}")
    add = page.locator(f"#handoff-add button[data-study='{study.pk}']")
    assert add.inner_text() == "Add to \u201cChinchilla sweep, power law in N\u201d"
    assert page.locator(f"#study-table tr[data-study='{study.pk}']").inner_text().count("Current") == 1
    screenshot(page, "study-authoring-4b-list-handoff")
    page.goto(f"/studies/{study.pk}/")

    # Edit: switch to a filter built row by row (JavaScript adds rows), and another kind option.
    page.click("#edit-study")
    page.wait_for_url(re.compile(r"/edit/$"))
    wait_js(page, "document.body.dataset.studyForm === 'ready'")
    page.check("input[name=selection][value=filter]")
    rows = page.locator("#conditions tr.condition")
    assert rows.count() == 1
    rows.nth(0).locator("select").select_option("name:startswith")
    rows.nth(0).locator("input").fill("chin-")
    page.click("#add-condition")
    assert rows.count() == 2
    rows.nth(1).locator("select").select_option("parameters:gte")
    assert rows.nth(1).locator("input").get_attribute("placeholder") == "e.g. 1.3B"
    rows.nth(1).locator("input").fill("30M")
    page.click("#add-condition")
    rows.nth(2).locator(".remove-row").click()
    assert rows.count() == 2
    page.select_option("select[name=opt-power_law-variable]", "C")
    screenshot(page, "study-authoring-5-edit-filter")
    page.click("#save-button")
    page.wait_for_url(re.compile(r"/studies/\d+/$"))
    page.evaluate("window.__sameDocument = 'yes'")
    wait_js(page, "document.body.dataset.fitLanded === '1'", timeout=90_000)
    assert page.evaluate("window.__sameDocument") == "yes"
    assert page.locator("#fit-heading").inner_text() == "Fit v2 Current"
    selection = page.locator("#study-selection").inner_text()
    assert (
        "name starts with (case-sensitive) \u201cchin-\u201d" in selection
        and "N (parameters) \u2265 30M" in selection
    )
    study.refresh_from_db()
    assert study.options == {"variable": "C", "n_bootstrap": 100, "seed": 0} and study.runs.count() == 0
    assert Fit.objects.get(study=study, version=2).goodness["n_points"] == 5

    # An editor's final loss on a run of the study: the study refits by itself (v3).
    page.goto(f"/runs/{runs[3].pk}/")
    page.fill("#final-loss-form input[name=value]", "2.9")
    page.fill("#final-loss-form input[name=note]", "held-out eval")
    page.click("#final-loss-form button")
    page.wait_for_selector("[data-testid=final-loss-provenance]:text('entered')")
    page.goto(f"/studies/{study.pk}/")
    wait_js(
        page,
        "document.getElementById('fit-heading') && "
        "document.getElementById('fit-heading').textContent === 'Fit v3 Current'",
        timeout=90_000,
    )
    v3 = Fit.objects.get(study=study, version=3)
    assert next(p for p in v3.residuals if p["run_id"] == runs[3].pk)["observed"] == 2.9

    # Delete, after a confirmation page.
    page.click("#delete-study")
    page.wait_for_url(re.compile(r"/delete/$"))
    screenshot(page, "study-authoring-6-delete")
    page.click("#confirm-delete")
    page.wait_for_url(re.compile(r"/studies/$"))
    assert not Study.objects.exists() and TrainingRun.objects.filter(team=team_a).count() == 8
    assert violations == []


def test_a_refused_form_says_what_is_wrong_and_stores_nothing(page, make_user, team_a):
    _runs(team_a)
    make_user("editor", team=team_a, username="ed")
    login(page, "ed")
    page.goto("/studies/")
    page.click("#new-study")
    page.wait_for_url(re.compile(r"/studies/new/$"))
    wait_js(page, "document.body.dataset.studyForm === 'ready'")
    page.fill("input[name=name]", "bad")
    page.select_option("#study-kind", "data_constrained")
    row = page.locator("#conditions tr.condition").nth(0)
    row.locator("select").select_option("parameters:gte")
    row.locator("input").fill("lots")
    response_status = []
    page.on("response", lambda r: response_status.append(r.status) if r.request.method == "POST" else None)
    page.click("#save-button")
    page.wait_for_selector("#form-errors")
    wait_js(page, "document.body.dataset.studyForm === 'ready'")
    assert response_status == [400]
    errors = page.locator("#form-errors").inner_text()
    assert "Condition 1: 'lots' is not a number" in errors
    assert "Option \u201cbase law (Chinchilla parameters)\u201d: required for kind data_constrained" in errors
    assert not page.locator(".kind-options[data-kind=chinchilla]").is_visible()
    assert page.locator("#conditions tr.has-error").count() == 1
    assert page.input_value("input[name=name]") == "bad"  # what was typed is kept
    screenshot(page, "study-authoring-7-refused")
    assert not Study.objects.exists()


def test_study_page_follows_a_refit_queued_running_landed_without_reloading(page, make_user, team_a):
    # No worker here: the test plays the worker's part, so each state is seen for sure.
    runs = _runs(team_a)
    study = study_services.study_create(team=team_a, name="live", kind="power_law", runs=runs)
    Study.objects.filter(pk=study.pk).update(refit_requested_at=timezone.now())
    make_user("viewer", team=team_a, username="lou")
    login(page, "lou")
    page.goto(f"/studies/{study.pk}/")
    page.evaluate("window.__sameDocument = 'yes'")
    assert page.locator("#refit-text").inner_text() == "Refit queued, waiting for a worker\u2026"
    assert "Not fitted yet" in page.locator("#study-live").inner_text()
    with lease_held(Study, study.pk):
        wait_js(page, "document.getElementById('refit-text').textContent.startsWith('Fitting on a worker')")
        screenshot(page, "study-authoring-4a-refitting")
        fit = study_services.study_refit(study_id=study.pk)
    wait_js(page, "document.body.dataset.fitLanded === '1'")
    assert page.evaluate("window.__sameDocument") == "yes"
    assert page.locator("#fit-heading").inner_text() == f"Fit v{fit.version} Current"
    assert page.locator("#refit-progress").count() == 0
    wait_js(page, "document.querySelectorAll('#study-live .js-plotly-plot .main-svg').length >= 2")


def test_viewer_sees_no_authoring_controls(page, make_user, team_a):
    runs = _runs(team_a)
    study = study_services.study_create(team=team_a, name="read only", kind="power_law", runs=runs)
    study_services.study_refit(study_id=study.pk)
    make_user("viewer", team=team_a, username="vic")
    login(page, "vic")
    page.goto("/runs/")
    page.locator(".run-pick").nth(0).check()
    page.click("#selection button[value=study]")
    page.wait_for_url(re.compile(r"/studies/\?runs="))
    assert page.locator("#new-study, #handoff-new, #handoff-add").count() == 0
    assert "Your role lets you read studies" in page.locator("#handoff").inner_text()
    page.goto(f"/studies/{study.pk}/")
    wait_js(page, "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2")
    assert page.locator("#study-actions, #edit-study, #delete-study, #refit-now").count() == 0
    screenshot(page, "study-authoring-8-viewer")
    assert page.goto("/studies/new/").status == 403
    assert page.goto(f"/studies/{study.pk}/edit/").status == 403


@pytest.mark.worker
def test_report_requested_from_the_runs_page_flips_to_done_live(
    page, make_user, team_a, celery_worker_process
):
    runs = _runs(team_a)
    make_user("editor", team=team_a, username="rey")
    login(page, "rey")
    page.goto("/runs/?q=chin-&sort=name")
    page.locator(".run-pick").nth(0).check()
    page.locator(".run-pick").nth(1).check()
    page.click("#selection button[value=report]")
    page.wait_for_url(re.compile(r"/reports/\?scope=run_set&run_ids="))
    ids = sorted(int(i) for i in page.input_value("input[name=run_ids]").split(","))
    assert ids == sorted(r.pk for r in runs[:2])
    assert page.input_value("select[name=scope]") == "run_set"
    for fmt in ("html", "bib"):
        page.uncheck(f"input[name=formats][value={fmt}]")
    page.click(".report-request button[type=submit]")
    page.wait_for_url(re.compile(r"/reports/$"))
    report = Report.objects.get()
    row = f"tr[data-report='{report.pk}']"
    page.evaluate("window.__sameDocument = 'yes'")
    wait_js(page, f"document.querySelector(\"{row} .report-status\").textContent === 'Done'", timeout=90_000)
    assert page.evaluate("window.__sameDocument") == "yes"
    assert page.locator(f"{row} td.status-done").count() == 1
    assert sorted(page.locator(f"{row} .files a").all_inner_texts()) == ["csv", "json"]
    screenshot(page, "study-authoring-9-report-done")
