"""The research loop in a real browser: upload a run log, watch the job, open the run, zoom, open a study.

A real Celery worker process (real broker, the live server's PostgreSQL database) does the ingestion.
"""

from __future__ import annotations

import re

import pytest

from analytics.studies import services as study_services
from tests.e2e.conftest import login, screenshot, wait_js
from tracker.accounts import services as account_services

N_STEPS = 20_000
SPIKE_STEP = 12_345


def _run_log(tmp_path):
    lines = ["step,loss,lr"]
    for step in range(N_STEPS):
        loss = 50.0 if step == SPIKE_STEP else 2.0 + 8.0 / (1 + step / 500)
        lines.append(f"{step},{loss:.6f},{3e-4:.1e}")
    path = tmp_path / "e2e-run.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _plots_rendered(page) -> int:
    return page.evaluate("document.querySelectorAll('.js-plotly-plot .main-svg').length")


@pytest.mark.e2e
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_upload_watch_open_zoom_and_study(page, make_user, team_a, celery_worker_process, tmp_path):

    from tracker.demo import load_demo
    from tracker.models import MetricSeries, TrainingRun

    make_user("editor", team=team_a, username="rita")
    login(page, "rita")

    # Upload through the page.
    page.goto("/ingest/upload/")
    page.set_input_files("#files", str(_run_log(tmp_path)))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/ingest/jobs/\d+/"))
    screenshot(page, "flow-1-job-started")

    # The job page updates itself while the worker runs.
    wait_js(page, "document.getElementById('job-status').textContent.trim() === 'done'", timeout=90_000)
    counts = page.locator("#job-counts").inner_text()
    assert "1 / 1 files" in counts
    assert f"{N_STEPS * 2} rows" in counts.replace(",", "")
    screenshot(page, "flow-2-job-done")

    run = TrainingRun.objects.get(team=team_a)
    loss = MetricSeries.objects.get(run=run, name="loss")
    assert loss.n_points == N_STEPS and loss.max_value == 50.0
    # The job links to the run it created.
    page.click(f"a.out-run[href='/runs/{run.pk}/']")
    page.wait_for_url(f"**/runs/{run.pk}/")

    # The run page draws the curve downsampled, spike included.
    page.goto(f"/runs/{run.pk}/?series={loss.pk}")
    page.wait_for_selector("#panel-0 .main-svg")
    count = page.locator("#count-0").inner_text()
    shown, total = (int(x.replace(",", "")) for x in re.findall(r"[\d,]+", count)[:2])
    assert total == N_STEPS and 0 < shown <= 2_100
    peak = page.evaluate("Math.max(...document.getElementById('panel-0').data[0].y)")
    assert peak == 50.0
    screenshot(page, "flow-3-run")

    # Zoom: the server re-buckets the window, and the count says so.
    page.evaluate("Plotly.relayout('panel-0', {'xaxis.range': [12000, 12700]})")
    wait_js(
        page,
        "document.getElementById('count-0').textContent.includes(' of 701 ')"
        " || document.getElementById('count-0').textContent.includes(' of 700 ')",
        timeout=20_000,
    )
    xs = page.evaluate("document.getElementById('panel-0').data[0].x")
    assert min(xs) >= 12000 and max(xs) <= 12700 and SPIKE_STEP in xs
    screenshot(page, "flow-4-zoomed")

    # A scaling-law study on the demo runs, fitted, rendered with its plots.
    load_demo()
    from tracker.models import Team

    demo = Team.objects.get(slug="demo-lab")
    from django.contrib.auth import get_user_model

    from core.roles import Role

    account_services.membership_set(
        team=demo, user=get_user_model().objects.get(username="rita"), role=Role.VIEWER
    )
    study = study_services.study_create(
        team=demo,
        name="Loss vs N (datablations)",
        kind="power_law",
        run_filter={"external_id__startswith": "datablations:"},
        options={"variable": "N"},
    )
    fit = study_services.study_refit(study_id=study.pk)
    assert fit.status == "current", fit.error_message
    page.goto(f"/studies/{study.pk}/")
    wait_js(page, "document.querySelectorAll('.js-plotly-plot .main-svg').length > 0", timeout=20_000)
    assert _plots_rendered(page) >= 2
    assert "Loss vs N (datablations)" in page.locator("h1").inner_text()
    screenshot(page, "flow-5-study")
