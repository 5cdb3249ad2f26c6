"""The researcher's daily loop in a real browser (Debian chromium): find runs, read their curves, compare them,
annotate them, and follow an ingest job to what it created."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tests.e2e.conftest import login, screenshot, wait_js
from tests.tracker.runs.series.test_curves import make_series

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PER_STEP = 512 * 2048


def _lab(team, n=60):
    from tracker.models import Hardware, RunTag, TrainingRun

    h100 = Hardware.objects.create(name="H100-SXM5-80GB")
    statuses = ["finished", "running", "failed", "imported"]
    runs = []
    for i in range(n):
        run = TrainingRun.objects.create(
            team=team,
            name=f"sweep-{i:02d}" if i % 2 else f"ablation-{i:02d}",
            status=statuses[i % 4],
            parameters=1.25e8 * (1 + i) + 0.008407,
            tokens=2e10 * (1 + i % 7),
            final_loss=3.5 - i / 50,
            hardware=h100 if i % 3 else None,
            gpu_count=8,
            gpu_hours=100.0 * i,
            started_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i),
        )
        if i % 5 == 0:
            RunTag.objects.create(run=run, name="baseline")
        runs.append(run)
    return runs


def _numbers(page, selector: str) -> list[str]:
    return page.locator(selector).all_inner_texts()


def test_runs_list_filter_sort_columns_pages_and_selection(page, make_user, team_a):
    runs = _lab(team_a)
    make_user("viewer", team=team_a, username="rosa")
    login(page, "rosa")
    page.goto("/runs/")
    assert page.locator("#run-count").inner_text() == "1\u201350 of 60 runs"
    screenshot(page, "runs-1-list")

    # Filter through the form: search, a status, an N range with a suffix. The URL is the view.
    page.fill("input[name=q]", "sweep")
    page.check("input[name=status][value=running]")
    page.fill("input[name=n_min]", "1B")
    page.click("#run-filter button[type=submit]")
    page.wait_for_url(re.compile(r"\?q=sweep&status=running&n_min=1B$"))
    expected = sorted(
        (r for r in runs if r.name.startswith("sweep") and r.status == "running" and r.parameters >= 1e9),
        key=lambda r: r.started_at,
        reverse=True,
    )
    assert _numbers(page, "#runs-table td.name") == [r.name for r in expected]
    assert page.locator("#active-filters .chip").all_inner_texts()[0].startswith("search \u201csweep\u201d")

    # Sort by N, largest first, then smallest first; exact values on hover.
    page.click("#runs-table th[data-col=n] a")
    page.wait_for_url(re.compile(r"sort=-n"))
    cells = page.locator("#runs-table td.col-n")
    assert len(expected) == 13 and cells.count() == 13
    assert cells.first.inner_text() == "7.25B"
    assert cells.first.get_attribute("title") == "7250000000.008407"
    page.click("#runs-table th[data-col=n] a")
    page.wait_for_url(re.compile(r"sort=n(&|$)"))
    assert cells.first.inner_text() == "1.25B"

    # Column chooser: drop hardware, add GPU hours.
    page.goto("/runs/")
    page.click(".columns-chooser summary")
    page.uncheck("input[name=col][value=hardware]")
    page.check("input[name=col][value=gpu_hours]")
    page.click("#run-filter button[type=submit]")
    page.wait_for_url(re.compile(r"cols=name%2Cstatus"))
    headers = page.locator("#runs-table thead th").all_inner_texts()
    assert "GPU h" in headers and "Hardware" not in headers

    # Pages keep the columns.
    page.click("#next-page")
    page.wait_for_url(re.compile(r"page=2"))
    assert page.locator("#run-count").inner_text() == "51\u201360 of 60 runs"
    assert "GPU h" in page.locator("#runs-table thead th").all_inner_texts()

    # A bad value is a 400 page that says what is wrong.
    response = page.goto("/runs/?n_min=lots&sort=password")
    assert response.status == 400
    errors = page.locator("#filter-errors").inner_text()
    assert "'lots' is not a number" in errors and "'password' is not a sortable column" in errors
    screenshot(page, "runs-2-bad-filter")

    # Select -> compare.
    page.goto("/runs/?tag=baseline&sort=name")
    page.locator(".run-pick").nth(0).check()
    page.locator(".run-pick").nth(1).check()
    assert page.locator("#selected-count").inner_text() == "2 selected:"
    page.click("#selection button[value=compare]")
    page.wait_for_url(re.compile(r"/runs/compare/\?ids=\d+%2C\d+"))
    wait_js(page, "document.body.dataset.curvesReady === '1' || !document.getElementById('curves-data')")
    assert page.locator("#compare-runs li").count() == 2


def _megatron(team, name="megatron-1b3", n=20_000, scale=1.0, lr=3e-4):
    from tracker.models import TrainingRun

    run = TrainingRun.objects.create(
        team=team,
        name=name,
        parameters=1.3e9,
        tokens=n * PER_STEP,
        config={"seq_length": 2048, "global_batch_size": 512, "lr": lr},
    )
    steps = np.arange(10, 10 * n + 10, 10)
    rng = np.random.default_rng(int(scale * 100))
    loss = 2.0 * scale + 9.0 / (1 + steps / 3000) + rng.normal(0, 0.02, steps.size)
    loss[0] = 14.0  # the step-0 transient
    make_series(run, "lm loss", steps, loss)
    make_series(run, "consumed samples", steps, steps * 512.0)
    make_series(run, "grad norm", steps, 0.3 + 1 / (1 + steps / 1000))
    make_series(run, "learning rate", steps, np.minimum(1.0, steps / 2000) * lr)
    return run


def test_run_page_panels_smoothing_axes_zoom_and_notes(page, make_user, team_a):
    run = _megatron(team_a)
    make_user("editor", team=team_a, username="ed")
    login(page, "ed")
    page.goto(f"/runs/{run.pk}/")
    wait_js(page, "document.body.dataset.curvesReady === '1'")
    titles = page.locator(".panel h3").all_inner_texts()
    assert titles[0].startswith("lm loss") and not any(t.startswith("consumed samples") for t in titles)
    # The step-0 loss of 14 does not set the y-range (1st-99th percentile after the first 2%)...
    assert page.evaluate("document.getElementById('panel-0').layout.yaxis.range[1]") < 8
    page.uncheck("#ctl-ytrim")
    wait_js(page, "document.getElementById('panel-0')._fullLayout.yaxis.range[1] >= 14")
    assert "ytrim=0" in page.url
    page.check("#ctl-ytrim")
    screenshot(page, "run-1-panels")

    # EMA smoothing with the raw curve faint behind it.
    page.fill("#ctl-smooth", "0.9")
    page.dispatch_event("#ctl-smooth", "input")
    wait_js(page, "document.getElementById('panel-0').data.length === 2")
    raw, smooth = page.evaluate(
        "document.getElementById('panel-0').data.map(t => t.opacity === undefined ? 1 : t.opacity)"
    )
    assert raw < 0.5 and smooth == 1
    assert "smooth=0.9" in page.url

    # Log y; x in tokens (512 x 2048 per step from the config).
    page.check("#ctl-logy")
    wait_js(page, "document.getElementById('panel-0').layout.yaxis.type === 'log'")
    page.select_option("#ctl-x", "tokens")
    wait_js(page, "document.getElementById('panel-0').layout.xaxis.title.text === 'tokens'")
    first_x = page.evaluate("document.getElementById('panel-0').data[0].x[0]")
    assert first_x == 10 * PER_STEP
    assert "global_batch_size 512" in page.locator("#x-how").inner_text()

    # Zoom: every panel follows and every curve is re-bucketed for the window; the URL keeps it.
    before = page.locator("#count-0").inner_text()
    x0, x1 = 50_000 * PER_STEP, 52_000 * PER_STEP
    page.evaluate(f"Plotly.relayout('panel-0', {{'xaxis.range': [{x0}, {x1}]}})")
    wait_js(page, "document.getElementById('count-0').textContent.includes(' of 201 ')")
    assert before != page.locator("#count-0").inner_text()
    xs = page.evaluate("document.getElementById('panel-0').data[0].x")
    assert min(xs) >= x0 and max(xs) <= x1 and len(xs) == 201
    assert page.evaluate("document.getElementById('panel-1').layout.xaxis.range") == [x0, x1]
    assert "x=tokens" in page.url and "x0=" in page.url and "logy=1" in page.url
    shared = page.url
    screenshot(page, "run-2-zoomed-tokens")

    # The URL is the view: reopen it and the zoom, axes and smoothing are back.
    page.goto(shared)
    wait_js(page, "document.body.dataset.curvesReady === '1'")
    assert page.locator("#count-0").inner_text().endswith("201 of 201 points shown")
    assert page.evaluate("document.getElementById('panel-0').layout.yaxis.type") == "log"
    assert page.input_value("#ctl-smooth") == "0.9"

    # Double-click reset: the whole run again.
    page.evaluate("Plotly.relayout('panel-0', {'xaxis.autorange': true})")
    wait_js(page, "document.getElementById('count-0').textContent.includes('of 20,000 ')")
    assert "x0=" not in page.url

    # Tags, notes, final loss (editor).
    page.fill("#tag-add input[name=tag]", "Baseline")
    page.click("#tag-add button")
    page.wait_for_selector("#run-tags a.tag")
    assert page.locator("#run-tags a.tag").inner_text() == "baseline"
    page.fill("#notes-form textarea", "restarted at 40k with lower lr")
    page.click("#notes-form button")
    page.wait_for_selector("text=Notes saved.")
    page.fill("#final-loss-form input[name=value]", "2.3456")
    page.fill("#final-loss-form input[name=note]", "re-evaluated on held-out C4")
    page.click("#final-loss-form button")
    page.wait_for_selector("[data-testid=final-loss-provenance]:text('entered')")
    assert page.locator("[data-testid=final-loss-value]").inner_text() == "2.346"
    wait_js(page, "document.body.dataset.curvesReady === '1'")
    screenshot(page, "run-3-annotated")


def test_viewer_reads_notes_and_tags_but_cannot_edit(page, make_user, team_a):
    from tracker.models import RunTag, TrainingRun

    run = TrainingRun.objects.create(
        team=team_a, name="read-only", notes="lr warmup too short", final_loss=2.5
    )
    RunTag.objects.create(run=run, name="baseline")
    make_user("viewer", team=team_a, username="val")
    login(page, "val")
    page.goto(f"/runs/{run.pk}/")
    assert page.locator("#notes-text").inner_text() == "lr warmup too short"
    assert page.locator("#run-tags a.tag").inner_text() == "baseline"
    assert page.locator("#notes-form, #tag-add, #final-loss-form").count() == 0
    assert page.locator("[data-testid=final-loss-provenance]").inner_text() == "reported"


def test_compare_rebuckets_every_run_on_zoom_and_diffs_config(page, make_user, team_a):
    runs = [
        _megatron(team_a, f"lr-{lr:g}", n=10_000, scale=1 + i / 10, lr=lr)
        for i, lr in enumerate([3e-4, 6e-4, 1e-3])
    ]
    make_user("viewer", team=team_a, username="cam")
    login(page, "cam")
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "/data?" in r.url else None)
    page.goto("/runs/compare/?ids=" + ",".join(str(r.pk) for r in runs))
    wait_js(page, "document.body.dataset.curvesReady === '1'")
    assert page.locator(".panel h3").first.inner_text().startswith("lm loss")
    traces = page.evaluate("document.getElementById('panel-0').data.map(t => t.name)")
    assert traces == [r.name for r in runs]
    # Six curves are not flattened by the step-0 loss of 14.
    assert page.evaluate("document.getElementById('panel-0').layout.yaxis.range[1]") < 8
    diff = page.locator("#diff-table").inner_text()
    assert "lr" in diff and "0.0003" in diff and "0.001" in diff
    screenshot(page, "compare-1")

    page.evaluate("Plotly.relayout('panel-0', {'xaxis.range': [50000, 60000]})")
    wait_js(page, "document.getElementById('count-0').textContent.startsWith('1,001 of 1,001')")
    for trace in page.evaluate(
        "document.getElementById('panel-0').data.map(t => [Math.min(...t.x), Math.max(...t.x)])"
    ):
        assert trace == [50000, 60000]
    # one window per run and panel, each for the zoomed range
    zoomed = [u for u in fetched if "x0=50000" in u and "x1=60000" in u]
    assert len(zoomed) == 3 * page.locator(".panel").count()
    assert "ids=" in page.url and "x0=50000" in page.url
    screenshot(page, "compare-2-zoomed")


def test_job_page_shows_progress_inside_a_file_and_links_to_what_it_wrote(page, make_user, team_a):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from ingestion.models import IngestFile, IngestFileProgress, IngestJob
    from ingestion.services import jobs, processing

    user = make_user("editor", team=team_a, username="joy")
    data = b"step,loss\n" + b"".join(b"%d,%f\n" % (s, 5.0 / (s + 1)) for s in range(500))
    job = jobs.ingest_job_create(
        team=team_a,
        user=user,
        source=IngestJob.Source.UPLOAD,
        uploads=[SimpleUploadedFile("big.csv", data)],
        enqueue=False,
    )
    file = IngestFile.objects.get(job=job)
    # As the worker leaves it mid-file: running, 400k of 1M rows stored.
    IngestFile.objects.filter(pk=file.pk).update(status="running")
    IngestJob.objects.filter(pk=job.pk).update(status="running")
    now = timezone.now()
    IngestFileProgress.objects.create(
        file=file,
        stage="storing",
        rows_done=400_000,
        rows_total=1_000_000,
        stage_started_at=now,
        updated_at=now,
    )
    login(page, "joy")
    page.goto(f"/ingest/jobs/{job.pk}/")
    assert "400000 / 1000000 rows" in page.locator(f"tr[data-file='{file.pk}']").inner_text().replace(",", "")
    IngestFileProgress.objects.filter(pk=file.pk).update(rows_done=800_000)
    wait_js(
        page,
        f"document.querySelector(\"tr[data-file='{file.pk}']\").textContent.includes('800,000 / 1,000,000 rows')",
    )
    screenshot(page, "job-1-progress")

    # The worker finishes: the page links to the run it created.
    IngestFile.objects.filter(pk=file.pk).update(status="queued")
    processing.ingest_file_process(file_id=file.pk)
    page.wait_for_selector("#job-status:text('done')", timeout=20_000)
    link = page.locator(f"tr[data-file='{file.pk}'] a.out-run")
    assert link.inner_text() == "run big.csv"
    link.click()
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    assert page.locator("h1").inner_text() == "big.csv"
    assert page.locator("[data-testid=final-loss-provenance]").inner_text() == "computed"
    wait_js(page, "document.body.dataset.curvesReady === '1'")
    screenshot(page, "job-2-run")
