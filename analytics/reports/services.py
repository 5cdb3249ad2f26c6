"""Writes for reports: request (validated, queued after commit), build (claimed, all files or none),
the weekly digest and the outbox sweep for lost publishes."""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from analytics.figures.run_curves import curve_figure
from analytics.fitting.errors import FitError
from analytics.models import Fit, Report, ReportFile
from analytics.reports.exports import ExportError, export_bibtex, export_csv, export_json
from analytics.reports.html import ReportFigure, ReportTable, Section, TitlePage, build_html_report
from analytics.reports.pdf import PdfRenderError, render_pdf
from analytics.reports.scopes import (
    RUN_COLUMNS,
    SCOPES,
    ReportData,
    ReportRequestError,
    ReportScopeError,
    report_data,
)
from analytics.studies.selectors import fit_figures
from core import plotstyle
from core.auth import has_role
from core.files import StorageUnavailable, file_delete, file_save
from core.leases import fresh_lease_ids, lease_held
from core.outbox import publish, publish_on_commit
from core.roles import Role
from tracker.models import Team

logger = logging.getLogger(__name__)

REPORT_BUILD_TASK = "analytics.report_build"
__all__ = ["ReportRequestError", "report_build", "report_digest_weekly", "report_request", "reports_requeue"]

REPORT_FORMATS = tuple(Report.Format.values)
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "bib": "application/x-bibtex; charset=utf-8",
}
RUN_SCATTER_MIN = 1


def report_request(
    *, user: Any, team: Team, scope: str, params: dict[str, Any], formats: list[str]
) -> Report:
    """Validate and queue a report; it is built by the worker after this transaction commits.

    Editors and admins may request reports; viewers may list and download them (PermissionDenied otherwise).
    """
    if not has_role(user, team, Role.EDITOR):
        raise PermissionDenied("requesting reports needs the editor role in this team")
    spec = SCOPES.get(scope)
    if spec is None:
        raise ReportRequestError(f"unknown scope {scope!r}; choose one of {list(SCOPES)}")
    bad = sorted(set(formats) - set(REPORT_FORMATS))
    if bad or not formats:
        raise ReportRequestError(
            f"formats must be a non-empty subset of {list(REPORT_FORMATS)}, got {formats}"
        )
    report = Report(team=team, created_by=user, scope=scope, params=spec.clean_params(params))
    wanted = [f for f in REPORT_FORMATS if f in formats]
    try:
        data = report_data(report, full=False)  # refuse now what the worker could only fail on later
    except ReportScopeError as exc:
        raise ReportRequestError(str(exc)) from exc
    report.formats = report_formats(wanted, data)
    if not report.formats:
        raise ReportRequestError(
            "no papers are linked to this scope, so BibTeX is not offered; pick another format"
        )
    report.save()
    _enqueue_build(report.pk)
    return report


def _enqueue_build(report_id: int) -> None:
    publish_on_commit(REPORT_BUILD_TASK, report_id)


def _progress(report_id: int, progress: int, stage: str) -> None:
    Report.objects.filter(pk=report_id, status=Report.Status.RUNNING).update(progress=progress, stage=stage)


def app_version() -> str:
    try:
        return importlib.metadata.version("isoflop")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _run_figure(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    usable = sorted(
        (r for r in runs if r["parameters"] and r["final_loss"] is not None), key=lambda r: r["parameters"]
    )
    if len(usable) < RUN_SCATTER_MIN:
        return None
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": [r["parameters"] for r in usable],
                "y": [r["final_loss"] for r in usable],
                "text": [r["name"] for r in usable],
                "name": "runs",
                "marker": {"size": 10, "color": plotstyle.color(0)},
                "line": {"color": plotstyle.color(0), "width": 2},
                "hovertemplate": "%{text}<br>N %{x:.3s}<br>loss %{y:.4f}<extra></extra>",
            }
        ],
        "layout": plotstyle.base_layout(
            "Final loss vs parameters",
            xaxis=plotstyle.axis("parameters N", log=True),
            yaxis=plotstyle.axis("final loss", "nats/token", ticks="plain"),
            showlegend=False,
        ),
    }


def _report_figures(data: ReportData) -> list[ReportFigure]:
    figures: list[ReportFigure] = []
    for panel in data.curve_panels:
        figures.append(
            ReportFigure(
                panel["metric"],
                curve_figure(panel["metric"], panel["traces"], x_title=panel["x_title"]),
                caption=(
                    f"{panel['count']} (M4-downsampled on the server, as on the run pages)"
                    + (f"; not logged by {', '.join(panel['missing'])}" if panel.get("missing") else "")
                ),
            )
        )
    fit = data.fit
    if data.study is not None and fit is not None and fit.status != Fit.Status.FAILED:
        for i, fig in enumerate(fit_figures(data.study, fit)):
            title = ((fig.get("layout") or {}).get("title") or {}).get("text") or f"Figure {i + 1}"
            figures.append(ReportFigure(title, fig))
    run_fig = _run_figure(data.runs) if data.digest is None and len(data.runs) >= 2 else None
    if run_fig is not None:
        figures.append(ReportFigure("Final loss vs parameters", run_fig))
    return figures


# The runs table of a page: readable columns (the CSV has RUN_COLUMNS with every digit).
RUN_TABLE_COLUMNS = (
    ("name", "run"),
    ("model", "model"),
    ("parameters", "N"),
    ("tokens", "D (tokens)"),
    ("gpu_hours", "GPU hours"),
    ("final_loss", "final loss"),
    ("final_loss_source", "final loss from"),
)


def _run_cell(row: dict[str, Any], key: str) -> Any:
    value = row.get(key)
    if key in ("parameters", "tokens"):
        return plotstyle.human(value)
    if key == "name":
        return f"{value} (#{row['id']})"
    return value


def report_formats(formats: list[str], data: ReportData) -> list[str]:
    """The formats a report is built in: BibTeX only when the scope has papers (never an empty .bib)."""
    return [f for f in formats if f != "bib" or data.papers]


def report_html(report: Report, data: ReportData) -> str:
    tables = [ReportTable(t, cols, rows) for t, cols, rows in data.tables]
    if data.runs and data.digest is None and not any(t == "Run summary" for t, _, _ in data.lead_tables):
        tables.append(
            ReportTable(
                "Runs",
                [label for _, label in RUN_TABLE_COLUMNS],
                [[_run_cell(r, key) for key, _ in RUN_TABLE_COLUMNS] for r in data.runs],
                notes="Every column, with all digits, is in the CSV and JSON files.",
            )
        )
    sections = [Section("Summary", data.summary)]
    if data.warnings:
        sections.append(Section("Warnings", "\n\n".join(data.warnings)))
    if "bib" in report.formats and not data.papers:
        sections.append(Section("Papers", "No papers are linked to this scope, so there is no BibTeX file."))
    facts = [("Team", report.team.name), ("Report", f"#{report.pk}" if report.pk else "preview")]
    if report.created_by is not None:
        facts.append(("Requested by", report.created_by.get_username()))
    if report.digest_key:
        facts.append(("Digest week", report.digest_key))
    return build_html_report(
        data.title,
        sections,
        _report_figures(data),
        tables,
        generated_at=timezone.now(),
        title_page=TitlePage(scope=data.scope_text or data.summary, facts=facts, app_version=app_version()),
        lead_tables=[ReportTable(t, cols, rows) for t, cols, rows in data.lead_tables],
    )


def _report_outputs(report: Report, data: ReportData) -> dict[str, bytes]:
    _progress(report.pk, 30, "building figures and HTML")
    html = report_html(report, data)
    formats = report_formats(report.formats, data)
    out: dict[str, bytes] = {}
    if "html" in formats:
        out["html"] = html.encode()
    if "pdf" in formats:
        _progress(report.pk, 50, "rendering PDF")
        out["pdf"] = render_pdf(html)
    _progress(report.pk, 80, "exporting data")
    if "csv" in formats:
        out["csv"] = export_csv(data.runs, RUN_COLUMNS).encode()
    if "json" in formats:
        doc = {
            "report": {
                "id": report.pk,
                "scope": report.scope,
                "scope_text": data.scope_text,
                "params": report.params,
                "title": data.title,
                "app_version": app_version(),
            },
            "summary": data.summary,
            "warnings": data.warnings,
            "runs": data.runs,
            "tables": [{"title": t, "columns": c, "rows": r} for t, c, r in data.lead_tables + data.tables],
            "papers": data.papers,
            "fit": None
            if data.fit is None
            else {
                "version": data.fit.version,
                "status": data.fit.status,
                "method": data.fit.method,
                "params": data.fit.params,
                "ci": data.fit.ci,
                "goodness": data.fit.goodness,
            },
        }
        out["json"] = export_json(doc).encode()
    if "bib" in formats:
        out["bib"] = export_bibtex(data.papers).encode()
    return out


def report_file_name(report_id: int, fmt: str) -> str:
    """The report file's name in the default storage (local MEDIA_ROOT or the object store)."""
    return f"reports/{report_id}/report.{fmt}"


def _report_files_delete(report_id: int) -> None:
    file_delete(report_file_name(report_id, fmt) for fmt in REPORT_FORMATS)


def _report_fail(report_id: int, message: str) -> None:
    # No partial output stays listed or stored: a failed report has no files at all.
    _report_files_delete(report_id)
    with transaction.atomic():
        ReportFile.objects.filter(report_id=report_id).delete()
        Report.objects.filter(pk=report_id).update(
            status=Report.Status.FAILED, error=message, stage="failed", finished_at=timezone.now()
        )


def report_build(*, report_id: int) -> Report:
    """Claim the report (conditional UPDATE), build every requested format, then list the files at once."""
    now = timezone.now()
    # A report still "running" whose lease is no longer renewed lost its worker: another one may reclaim it.
    claimable = Q(status=Report.Status.QUEUED) | (
        Q(status=Report.Status.RUNNING) & ~Q(pk__in=fresh_lease_ids(Report))
    )
    claimed = (
        Report.objects.filter(claimable, pk=report_id).update(
            status=Report.Status.RUNNING, started_at=now, progress=5, stage="loading data", error=""
        )
        == 1
    )
    report = Report.objects.select_related("team").get(pk=report_id)
    if not claimed:
        return report  # done, failed, or being built by another worker right now
    with lease_held(Report, report_id):
        return _report_build_claimed(report)


def _report_build_claimed(report: Report) -> Report:
    report_id = report.pk
    try:
        data = report_data(report)
        outputs = _report_outputs(report, data)
        _progress(report_id, 90, "saving files")
        _report_files_delete(report_id)  # leftovers of a worker that died mid-build
        rows = []
        for fmt, content in outputs.items():
            rows.append(
                ReportFile(
                    report_id=report_id,
                    format=fmt,
                    path=file_save(report_file_name(report_id, fmt), content),
                    size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                )
            )
        with transaction.atomic():
            ReportFile.objects.filter(report_id=report_id).delete()
            ReportFile.objects.bulk_create(rows)
            Report.objects.filter(pk=report_id).update(
                status=Report.Status.DONE, progress=100, stage="done", finished_at=timezone.now()
            )
    except (OperationalError, StorageUnavailable):
        # The database or the object store went away: hand the report back so the task's retry can claim
        # it again (whatever was stored is removed first, if the store lets us).
        try:
            _report_files_delete(report_id)
        except StorageUnavailable:
            logger.warning("report %s: could not remove partial files; the retry replaces them", report_id)
        Report.objects.filter(pk=report_id).update(status=Report.Status.QUEUED, stage="retrying")
        raise
    except (ReportScopeError, PdfRenderError, ExportError, FitError, OSError, ValueError) as exc:
        logger.warning("report %s failed: %s", report_id, exc)
        _report_fail(report_id, f"{type(exc).__name__}: {exc}")
    except SoftTimeLimitExceeded:
        _report_fail(report_id, "the report took longer than the time limit")
    report.refresh_from_db()
    return report


def iso_week_key(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def report_digest_weekly(*, now: datetime | None = None) -> list[int]:
    """One digest (catalog scope) per team per ISO week over the last 7 days; a second call that week adds
    none (the unique constraint report_one_digest_per_week decides races). Read in the app at
    /reports/digests/ and as PDF/HTML/CSV/JSON files."""
    now = now or timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    key = iso_week_key(now)
    params = {"since": (now - timedelta(days=7)).isoformat(), "until": now.isoformat()}
    created = []
    for team in Team.objects.order_by("pk"):
        if Report.objects.filter(team=team, digest_key=key).exists():
            continue
        try:
            with transaction.atomic():
                report = Report.objects.create(
                    team=team,
                    scope=Report.Scope.CATALOG,
                    params=params,
                    # BibTeX is dropped at build time when no paper is new this week (never an empty file).
                    formats=["pdf", "html", "csv", "json", "bib"],
                    digest_key=key,
                    stage="weekly digest",
                )
        except IntegrityError:
            continue  # another beat/worker created this team's digest for the week first
        _enqueue_build(report.pk)
        created.append(report.pk)
    return created


REPORT_REQUEUE_GRACE = timedelta(minutes=2)


def reports_requeue(*, now: datetime | None = None) -> list[int]:
    """Outbox sweep for reports: re-publish reports still queued after the grace period (a lost publish) and
    reports left running by a worker that died (lease no longer renewed)."""
    moment = now or timezone.now()
    cutoff = moment - REPORT_REQUEUE_GRACE
    lost = Q(status=Report.Status.QUEUED, created_at__lt=cutoff)
    abandoned = (
        Q(status=Report.Status.RUNNING)
        & Q(started_at__lt=moment - timedelta(seconds=settings.ISOFLOP_LEASE_SECONDS))
        & ~Q(pk__in=fresh_lease_ids(Report, now=moment))
    )
    ids = list(Report.objects.filter(lost | abandoned).order_by("pk").values_list("pk", flat=True))
    for report_id in ids:
        publish(REPORT_BUILD_TASK, report_id)  # building claims the report first, so a duplicate is harmless
    return ids
