"""What a report shows: run-set curves, summary and config diff; study fit with intervals and warnings;
title page with the scope in words; page numbers; BibTeX that parses back or no BibTeX at all."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import bibtexparser
import numpy as np
import pytest
from pypdf import PdfReader

from analytics.models import Fit, Report, Study
from analytics.reports import services as report_services
from analytics.reports.pdf import CHROMIUM
from analytics.reports.scopes import ReportRequestError
from analytics.studies import services as study_services
from core import plotstyle
from core.files import file_read
from core.plotstyle import human
from core.roles import Role
from tests.analytics.reports.test_report_pdf import count_near, read_png
from tests.tracker.runs.series.test_curves import make_series
from tracker.catalog import costs
from tracker.models import Hardware, HardwarePrice, Model, Paper, TrainingRun

pytestmark = pytest.mark.django_db
SHOTS = os.environ.get("ISOFLOP_REPORT_SHOTS", "")  # a folder: the rendered pages are copied there


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def _coloured(rows: list[bytes], spread: int = 80) -> int:
    """Pixels whose channels differ by more than `spread`: plot colours, not text, grid or table lines."""
    return sum(
        1 for row in rows for x in range(0, len(row), 3) if max(row[x : x + 3]) - min(row[x : x + 3]) > spread
    )


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return (int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16))


@pytest.fixture
def run_set(team_a: Any) -> list[TrainingRun]:
    """Two uploaded runs with logged curves (no stored final loss), a model with two papers and a GPU price."""
    h100 = Hardware.objects.create(name="H100-SXM5-80GB", tdp_watts=700)
    HardwarePrice.objects.create(hardware=h100, usd_per_gpu_hour=2.5, valid_from=date(2024, 1, 1))
    model = Model.objects.create(name="Pythia-160M", family="pythia", parameters=1.6e8)
    for n, (arxiv, title) in enumerate(
        [
            ("2304.01373", "Pythia: A Suite for {Analyzing} Large Language Models"),
            ("2203.15556", "Chinchilla"),
        ]
    ):
        paper = Paper.objects.create(
            title=title,
            normalized_title=title.lower(),
            arxiv_id=arxiv,
            authors=["Stella Biderman", "Hailey Schoelkopf"] if n == 0 else ["Jordan Hoffmann"],
            published=date(2023 - n, 4, 3),
        )
        model.papers.add(paper)
    runs = []
    steps = np.arange(0, 20_000, 10)
    for i, (name, n_params) in enumerate([("pythia-160m-seed1", 1.6e8), ("pythia-410m-seed1", 4.1e8)]):
        run = TrainingRun.objects.create(
            team=team_a,
            name=name,
            model=model,
            parameters=n_params,
            tokens=3e11,
            hardware=h100,
            gpu_count=64,
            gpu_hours=1200.0 * (i + 1),
            config={"lr": 6e-4 / (i + 1), "seq_length": 2048, "global_batch_size": 1024},
        )
        loss = 2.4 - 0.15 * i + 8.0 * np.exp(-steps / 800.0) + 0.02 * np.sin(steps / 37.0)
        make_series(run, "train/loss", steps, loss)
        make_series(run, "val/loss", steps[::50], loss[::50] + 0.05)
        make_series(run, "lr", steps, np.full(steps.shape, 6e-4 / (i + 1)))
        runs.append(run)
    return runs


def _pdf_pages(pdf: bytes, tmp_path: Path, name: str) -> list[list[bytes]]:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    out = tmp_path / name
    out.mkdir()
    (out / "r.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", str(out / "r.pdf"), str(out / "p")], check=True, timeout=120
    )
    pngs = sorted(out.glob("p-*.png"))
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", str(out / "r.pdf"), str(Path(SHOTS) / name)],
            check=True,
            timeout=120,
        )
    return [read_png(p.read_bytes())[2] for p in pngs]


needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"Chromium not installed at {CHROMIUM}"
)


@pytest.mark.e2e
@needs_chromium
def test_run_set_pdf_has_curves_summary_title_page_and_page_numbers(
    make_user: Any, team_a: Any, run_set: list[TrainingRun], tmp_path: Path
) -> None:
    editor = make_user(Role.EDITOR, team_a, username="erin")
    report = report_services.report_request(
        user=editor,
        team=team_a,
        scope="run_set",
        params={"run_ids": [r.pk for r in run_set]},
        formats=["pdf", "bib", "json"],
    )
    built = report_services.report_build(report_id=report.pk)
    assert (built.status, built.error) == ("done", "")
    files = {f.format: f for f in built.files.all()}
    pdf = file_read(files["pdf"].path)
    reader = PdfReader(io.BytesIO(pdf))
    # NFKC: Chromium's PDF text uses ligatures ("ﬁ"), which extraction returns as one character.
    texts = [unicodedata.normalize("NFKC", p.extract_text()) for p in reader.pages]
    if SHOTS:
        Path(SHOTS, "run-set.txt").write_text("\n\f".join(texts))
    n = len(texts)
    assert n >= 3
    for i, text in enumerate(texts, start=1):
        assert f"page {i} of {n}" in text  # the footer on every page
    title = texts[0]
    # The scope in words on the title page, never the raw parameters.
    assert "2 runs of team Lab A: pythia-160m-seed1" in title and f"(#{run_set[1].pk})" in title
    assert "run_ids" not in "".join(texts) and "Isoflop version" in title and "Generated" in title
    body = "".join(texts[1:])
    # Summary: final loss of uploaded runs (last logged loss), FLOPs, GPU hours, cost and energy.
    # Compared without whitespace: table cells wrap ("pythia-160m-\nseed1").
    summary = "".join(body.split("2,000 of 2,000 points shown per run")[0].split())
    summary = summary.replace(f"#{run_set[0].pk})", "#1)")
    # run 1: 1,200 GPU hours x $2.50 = $3k; energy by Epoch's method, as on the costs page (700 W TDP x the
    # H100 server multiplier x average power fraction x PUE); C = 6 x 1.6e8 x 3e11; its final loss is the
    # last validation point (2.4 + 0.05 + the exponential's tail and the sine wobble).
    power = costs.power_assumptions(chip_watts=700, hardware_name="H100-SXM5-80GB")
    kwh_1, kwh_2 = (human(costs.energy_kwh(gpu_hours=h, power=power)) for h in (1200, 2400))
    assert kwh_1 == "1.26k"  # 1,200 h x 700 W x 1.82 x 0.75 x 1.1 / 1000
    assert f"pythia-160m-seed1(#1)Pythia-160M160M300B2.88e+201,200$3k{kwh_1}2.4" in summary
    assert "(lastval/loss)" in summary and f"$6k{kwh_2}" in summary
    assert "Manifest and config: what differs" in body and "config lr 0.0006 0.0003" in body
    # The curves are drawn: both runs' trace colours are on the curve pages, and absent from the title page.
    pages = _pdf_pages(pdf, tmp_path, "run-set")
    first, second = _rgb(plotstyle.PALETTE[0]), _rgb(plotstyle.PALETTE[1])
    assert count_near(pages[0], first, tol=30) == 0
    drawn_first = sum(count_near(p, first, tol=30) for p in pages[1:])
    drawn_second = sum(count_near(p, second, tol=30) for p in pages[1:])
    assert drawn_first > 300 and drawn_second > 300, (drawn_first, drawn_second)
    # BibTeX: the model's two papers, parsed back.
    library = bibtexparser.parse_string(file_read(files["bib"].path).decode())
    assert library.failed_blocks == []
    entries = {e.key: e for e in library.entries}
    assert sorted(entries) == ["2203.15556", "2304.01373"]
    assert entries["2304.01373"]["title"] == "Pythia: A Suite for \\{Analyzing\\} Large Language Models"
    assert entries["2304.01373"]["author"] == "Stella Biderman and Hailey Schoelkopf"
    assert files["bib"].size > 0


def test_no_papers_means_no_bibtex(make_user: Any, team_a: Any) -> None:
    run = TrainingRun.objects.create(team=team_a, name="lonely", parameters=1e8, final_loss=3.0)
    editor = make_user(Role.EDITOR, team_a, username="ed")
    report = report_services.report_request(
        user=editor, team=team_a, scope="run_set", params={"run_ids": [run.pk]}, formats=["html", "bib"]
    )
    assert report.formats == ["html"]
    built = report_services.report_build(report_id=report.pk)
    assert [f.format for f in built.files.all()] == ["html"]
    with pytest.raises(ReportRequestError, match="BibTeX is not offered"):
        report_services.report_request(
            user=editor, team=team_a, scope="run_set", params={"run_ids": [run.pk]}, formats=["bib"]
        )
    assert Report.objects.count() == 1


@pytest.fixture
def fitted_study(team_a: Any) -> Study:
    """A Chinchilla Approach 3 study fitted for real over a 4 x 3 grid of runs drawn from L = E + A/N^a + B/D^b,
    with a warning recorded the way the fit-intervals work will record them."""
    rng = np.random.default_rng(0)
    study = Study.objects.create(
        team=team_a, name="Pythia Chinchilla", kind="chinchilla", options={"n_bootstrap": 20}
    )
    for n in (7e7, 1.6e8, 4.1e8, 1e9):
        for d in (2e9, 8e9, 3e10):
            loss = 1.69 + 406.4 / n**0.34 + 410.7 / d**0.28 + rng.normal(0, 0.005)
            run = TrainingRun.objects.create(
                team=team_a, name=f"grid-{n:.0e}-{d:.0e}", parameters=n, tokens=d, final_loss=loss
            )
            study.runs.add(run)
    fit = study_services.study_refit(study_id=study.pk)
    assert fit.status == Fit.Status.CURRENT and fit.ci["params"], fit.error_message
    Fit.objects.filter(pk=fit.pk).update(
        goodness={**fit.goodness, "warnings": ["12 runs on a 4 x 3 grid: the intervals of a and b are wide"]}
    )
    return study


@pytest.mark.e2e
@needs_chromium
def test_study_report_shows_fit_intervals_goodness_warnings_and_plots(
    make_user: Any, team_a: Any, fitted_study: Study, tmp_path: Path
) -> None:
    fit = fitted_study.fits.get()
    report = report_services.report_request(
        user=make_user(Role.EDITOR, team_a, username="sue"),
        team=team_a,
        scope="study",
        params={"study_id": fitted_study.pk},
        formats=["html", "pdf"],
    )
    built = report_services.report_build(report_id=report.pk)
    assert built.status == "done", built.error
    html = file_read(built.files.get(format="html").path).decode()
    assert "Study \u201cPythia Chinchilla\u201d" in html  # the scope in words on the title page
    lo, hi = fit.ci["params"]["e"]
    assert "95% CI low" in html and f'<td class="num">{lo:.6g}</td><td class="num">{hi:.6g}</td>' in html
    assert "12 runs on a 4 x 3 grid: the intervals of a and b are wide" in html
    assert "study_id" not in html
    pdf = file_read(built.files.get(format="pdf").path)
    texts = [unicodedata.normalize("NFKC", p.extract_text()) for p in PdfReader(io.BytesIO(pdf)).pages]
    assert all(f"page {i} of {len(texts)}" in t for i, t in enumerate(texts, start=1))
    assert "Warnings" in "".join(texts) and "Goodness of fit" in "".join(texts)
    # The fit's plots are drawn: saturated (non-grey) pixels on the pages after the title page only.
    pages = _pdf_pages(pdf, tmp_path, "study")
    drawn = sum(_coloured(p) for p in pages[1:])
    assert _coloured(pages[0]) == 0 and drawn > 500, drawn  # measured 1,424 at 50 dpi


def test_report_list_shows_scope_in_words(make_user: Any, team_a: Any, client: Any) -> None:
    runs = [TrainingRun.objects.create(team=team_a, name=f"r{i}", final_loss=3.0) for i in range(2)]
    editor = make_user(Role.EDITOR, team_a, username="lou")
    report_services.report_request(
        user=editor, team=team_a, scope="run_set", params={"run_ids": [r.pk for r in runs]}, formats=["csv"]
    )
    client.force_login(editor)
    posted = client.post(
        "/reports/",
        {"team": team_a.pk, "scope": "run_set", "run_ids": f"{runs[0].pk}", "formats": ["csv", "bib"]},
        follow=True,
    ).content.decode()
    assert "queued. No papers are linked to this scope, so there is no BibTeX file." in posted
    page = client.get("/reports/").content.decode()
    assert f"2 runs: r0 (#{runs[0].pk}), r1 (#{runs[1].pk})" in page and f"1 run: r0 (#{runs[0].pk})" in page
    assert "{&#x27;run_ids&#x27;" not in page  # the raw dict the list used to show


def test_model_family_report_lists_facts_with_their_sources(make_user: Any, team_a: Any) -> None:
    from tracker.models import Fact, SourceDocument

    card = SourceDocument.objects.create(
        kind="upload", name="pythia-160m/README.md", url="https://huggingface.co/EleutherAI/pythia-160m"
    )
    model = Model.objects.create(name="Pythia-160M", family="pythia", parameters=1.62e8)
    Model.objects.create(name="Pythia-410M", family="pythia", parameters=4.05e8)
    Fact.objects.create(
        model=model, name="training_tokens", value=3e11, unit="tokens", source=card, line=42, confidence=0.9
    )
    report = report_services.report_request(
        user=make_user(Role.EDITOR, team_a, username="fay"),
        team=team_a,
        scope="model_family",
        params={"family": "pythia"},
        formats=["html"],
    )
    built = report_services.report_build(report_id=report.pk)
    html = file_read(built.files.get(format="html").path).decode()
    assert "Model family \u201cpythia\u201d: 2 models (Pythia-160M, Pythia-410M)" in html
    row = (
        '<tr><td>Pythia-160M</td><td>training_tokens</td><td class="num">3e+11</td><td>tokens</td>'
        '<td>https://huggingface.co/EleutherAI/pythia-160m</td><td>line 42</td><td class="num">0.9</td>'
    )
    assert row in html
