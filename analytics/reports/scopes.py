"""What a report covers: one entry per scope in SCOPES (its parameters, checked; the data it loads).

Adding a scope is one `ReportScope` here and one `Report.Scope` value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from analytics.models import Fit, Report, Study
from analytics.studies import selectors as study_selectors
from analytics.studies.points import study_runs
from analytics.studies.registry import kind_get
from analytics.studies.selectors import fit_current, fit_latest
from core.plotstyle import human
from tracker.catalog import costs
from tracker.catalog.selectors import prices_by_hardware
from tracker.claims.models import Claim
from tracker.models import Fact, Paper, TrainingRun
from tracker.models import Model as CatalogModel
from tracker.runs.curves import CurveParams
from tracker.runs.metrics import EVAL_LOSS, TRAIN_LOSS, metric_group, metrics_ordered
from tracker.runs.models import MetricSeries
from tracker.runs.panels import curves_build
from tracker.runs.selectors import config_diff, series_by_run

RUN_COLUMNS = [
    "id",
    "name",
    "status",
    "model",
    "parameters",
    "tokens",
    "flops",
    "gpu_hours",
    "cost_usd",
    "energy_kwh",
    "synthetic_share",
    "synthetic_epochs",
    "final_loss",
    "final_loss_source",
    "created_at",
]
REPORT_PANELS = 4  # metric panels in a run-set report (the run page shows 6, compare 2)
SAME_ROWS_MAX = 60
RUN_NAMES_IN_SCOPE = 12

Table = tuple[str, list[str], list[list[Any]]]


class ReportScopeError(ValueError):
    """The report's scope parameters do not select anything this team may see."""


class ReportRequestError(ValueError):
    """The request names an unknown scope/format or parameters that select nothing; the message says which."""


@dataclass
class ReportData:
    """Everything a report shows, loaded once; the service turns it into figures and files."""

    title: str
    summary: str
    runs: list[dict[str, Any]]
    tables: list[Table]
    papers: list[dict[str, Any]]
    study: Study | None = None
    fit: Fit | None = None
    counts: dict[str, int] | None = None
    scope_text: str = ""  # the scope in words, for the title page and the reports list
    lead_tables: list[Table] = field(default_factory=list)  # shown right after the summary
    curve_panels: list[dict[str, Any]] = field(default_factory=list)  # {"metric", "x_title", "traces"}
    warnings: list[str] = field(default_factory=list)
    digest: dict[str, Any] | None = None  # the weekly digest's sections (catalog scope)


@dataclass(frozen=True)
class ReportScope:
    name: str
    clean_params: Callable[[dict[str, Any]], dict[str, Any]]  # raises ReportRequestError
    load: Callable[
        [Report, bool], ReportData
    ]  # (report, full) raises ReportScopeError; full=False: no curves


def _loss_fallback(series: Sequence[MetricSeries]) -> tuple[float, str] | None:
    """The last logged validation loss, else training loss, for runs without a stored final loss."""
    by_name = {x.name: x for x in series if x.last_value is not None}
    for group in (EVAL_LOSS, TRAIN_LOSS):
        for name in metrics_ordered(by_name):
            if metric_group(name) == group:
                return float(by_name[name].last_value or 0.0), f"last {name}"
    return None


def _run_rows(runs: QuerySet[TrainingRun]) -> list[dict[str, Any]]:
    """One dict per run with its costs: FLOPs = 6ND, cost = GPU hours x the price in force when it started,
    energy as reported else by Epoch's method (costs.power_assumptions); final loss as stored, else computed,
    else the last loss."""
    ordered = list(runs.select_related("model", "hardware").order_by("pk"))
    prices = prices_by_hardware() if any(r.hardware_id and r.gpu_hours for r in ordered) else {}
    need_series = [r.pk for r in ordered if r.final_loss is None and r.final_loss_computed is None]
    series = series_by_run(run_ids=need_series) if need_series else {}
    rows = []
    for run in ordered:
        when = (run.started_at or run.created_at).date() if (run.started_at or run.created_at) else None
        price = costs.price_in_force(prices.get(run.hardware_id or 0, []), when) if run.gpu_hours else None
        cost = (
            costs.training_cost_usd(gpu_hours=run.gpu_hours, usd_per_gpu_hour=price.usd_per_gpu_hour)
            if price and run.gpu_hours
            else None
        )
        energy = run.energy_kwh
        watts = run.hardware.tdp_watts if run.hardware else None
        if energy is None and run.gpu_hours and run.hardware and watts:
            power = costs.power_assumptions(chip_watts=watts, hardware_name=run.hardware.name)
            energy = costs.energy_kwh(gpu_hours=run.gpu_hours, power=power)
        loss, loss_source = run.final_loss, run.final_loss_source or ("stored" if run.final_loss else "")
        if loss is None and run.final_loss_computed is not None:
            loss, loss_source = run.final_loss_computed, "computed"
        if loss is None and (fallback := _loss_fallback(series.get(run.pk, []))):
            loss, loss_source = fallback
        rows.append(
            {
                "id": run.pk,
                "name": run.name,
                "status": run.status,
                "model": run.model.name if run.model else "",
                "parameters": run.parameters,
                "tokens": run.tokens,
                "flops": run.training_flops,
                "gpu_hours": run.gpu_hours,
                "cost_usd": cost,
                "energy_kwh": energy,
                "synthetic_share": run.synthetic_share,
                "synthetic_epochs": run.synthetic_epochs,
                "final_loss": loss,
                "final_loss_source": loss_source,
                "created_at": run.created_at,
            }
        )
    return rows


def _summary_table(rows: list[dict[str, Any]]) -> Table:
    """Human numbers for reading (the CSV and JSON keep every digit)."""
    return (
        "Run summary",
        [
            "run",
            "model",
            "N",
            "D (tokens)",
            "C = 6ND (FLOP)",
            "GPU hours",
            "cost (USD)",
            "energy (kWh)",
            "final loss",
        ],
        [
            [
                f"{r['name']} (#{r['id']})",
                r["model"] or "\u2013",
                human(r["parameters"]),
                human(r["tokens"]),
                f"{r['flops']:.3g}" if r["flops"] else "\u2013",
                f"{r['gpu_hours']:,.0f}" if r["gpu_hours"] is not None else "\u2013",
                f"${human(r['cost_usd'])}" if r["cost_usd"] is not None else "\u2013",
                human(r["energy_kwh"]) if r["energy_kwh"] is not None else "\u2013",
                (
                    f"{r['final_loss']:.4f}"
                    + (f" ({r['final_loss_source']})" if r["final_loss_source"] else "")
                )
                if r["final_loss"] is not None
                else "\u2013",
            ]
            for r in rows
        ],
    )


def _run_names(runs: Sequence[TrainingRun] | Sequence[dict[str, Any]]) -> str:
    names = [f"{r['name']} (#{r['id']})" if isinstance(r, dict) else f"{r.name} (#{r.pk})" for r in runs]
    shown = ", ".join(names[:RUN_NAMES_IN_SCOPE])
    return shown + (f" and {len(names) - RUN_NAMES_IN_SCOPE} more" if len(names) > RUN_NAMES_IN_SCOPE else "")


def _paper_rows(papers: QuerySet[Paper]) -> list[dict[str, Any]]:
    out = []
    for p in papers.distinct().order_by("pk"):
        out.append(
            {
                "key": p.arxiv_id or p.doi or f"paper{p.pk}",
                "entry_type": "article",
                "title": p.title,
                "author": " and ".join(str(a) for a in p.authors) if isinstance(p.authors, list) else "",
                "year": p.published.year if p.published else None,
                "journal": p.venue,
                "doi": p.doi,
                "eprint": p.arxiv_id,
                "url": p.url,
            }
        )
    return out


# --- study ----------------------------------------------------------------------------------------------


def _study_params(params: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"study_id": int(params["study_id"])}
    except (KeyError, TypeError, ValueError):
        raise ReportRequestError("scope 'study' needs params.study_id (an integer)") from None


def _fit_warnings(fit: Fit) -> list[str]:
    """Warnings recorded with the fit (goodness/ci "warnings"), and those of studies' fit_summary when the
    selector exists; read defensively, since both are optional."""
    found: list[str] = []
    for holder in (fit.goodness, fit.ci):
        raw = holder.get("warnings") if isinstance(holder, dict) else None
        if isinstance(raw, list):
            found.extend(str(w.get("message", w)) if isinstance(w, dict) else str(w) for w in raw)
        elif isinstance(raw, str) and raw:
            found.append(raw)
    summary_fn = getattr(study_selectors, "fit_summary", None)
    if callable(summary_fn):
        try:
            summary = summary_fn(fit)
        except (TypeError, ValueError, KeyError, AttributeError):  # optional add-on: never break the report
            summary = None
        raw = summary.get("warnings") if isinstance(summary, dict) else getattr(summary, "warnings", None)
        for w in raw or []:
            text = str(w.get("message", w)) if isinstance(w, dict) else str(getattr(w, "message", w))
            if text not in found:
                found.append(text)
    if fit.error_message:
        found.append(fit.error_message)
    return found


def _fit_tables(fit: Fit) -> list[Table]:
    ci = fit.ci if isinstance(fit.ci, dict) else {}
    bounds = ci.get("params") if isinstance(ci.get("params"), dict) else {}
    level = ci.get("level")
    level_text = f"{float(level):.0%}" if isinstance(level, int | float) else ""
    rows = []
    for name, value in (fit.params or {}).items():
        if isinstance(value, dict | list):
            continue
        lo_hi = bounds.get(name) if isinstance(bounds, dict) else None
        lo, hi = (lo_hi[0], lo_hi[1]) if isinstance(lo_hi, list | tuple) and len(lo_hi) == 2 else (None, None)
        rows.append([name, value, lo, hi])
    head = ["parameter", "value", f"{level_text} CI low".strip(), f"{level_text} CI high".strip()]
    goodness = [[k, v] for k, v in (fit.goodness or {}).items() if not isinstance(v, dict | list)]
    return [
        (f"Fit v{fit.version} parameters ({fit.method})", head, rows),
        ("Goodness of fit", ["measure", "value"], goodness),
    ]


def _study_load(report: Report, full: bool = True) -> ReportData:
    params = report.params
    study = Study.objects.filter(pk=params.get("study_id"), team_id=report.team_id).first()
    if study is None:
        raise ReportScopeError(f"study {params.get('study_id')!r} not found in team {report.team.slug}")
    runs = study_runs(study)
    fit = fit_current(study) or fit_latest(study)
    label = kind_get(study.kind).label
    rows = _run_rows(runs)
    history = [
        [
            f.version,
            f.get_status_display(),
            f.method,
            f.goodness.get("n_points") if f.goodness else None,
            f.created_at,
        ]
        for f in study.fits.order_by("-version")[:10]
    ]
    return ReportData(
        title=f"Study: {study.name}",
        summary=(
            f"{label} study of team {report.team.name}, target {study.target_metric}, {len(rows)} runs. "
            + (f"Fit v{fit.version} ({fit.get_status_display()})." if fit else "Not fitted yet.")
        ),
        runs=rows,
        lead_tables=_fit_tables(fit) if fit else [],
        tables=[("Fit history", ["version", "status", "method", "points", "created"], history)],
        papers=_paper_rows(Paper.objects.filter(models__runs__in=runs)),
        study=study,
        fit=fit,
        scope_text=f"Study \u201c{study.name}\u201d ({label}) of team {report.team.name}: {len(rows)} runs, "
        f"target {study.target_metric}",
        warnings=_fit_warnings(fit) if fit else [],
    )


# --- model family ---------------------------------------------------------------------------------------


def _family_params(params: dict[str, Any]) -> dict[str, Any]:
    family = str(params.get("family") or "").strip()
    if not family:
        raise ReportRequestError("scope 'model_family' needs params.family")
    return {"family": family}


def _family_load(report: Report, full: bool = True) -> ReportData:
    family = str(report.params.get("family") or "")
    models = list(CatalogModel.objects.filter(family=family).order_by("name"))
    if not family or not models:
        raise ReportScopeError(f"no models in family {family!r}")
    team_runs = TrainingRun.objects.filter(team_id=report.team_id)
    facts = (
        Fact.objects.filter(model__in=models)
        .select_related("model", "source")
        .order_by("model__name", "name", "-confidence")
    )
    fact_rows = [
        [
            f.model.name if f.model else "",
            f.name,
            f.value if f.value is not None else f.text_value,
            f.unit,
            f.source.url or f.source.name,
            f.location or (f"line {f.line}" if f.line else ""),
            f.confidence,
            "conflicts" if f.conflicting else "",
        ]
        for f in facts
    ]
    return ReportData(
        title=f"Model family: {family}",
        summary=f"{len(models)} models of family {family}; runs of team {report.team.name} on them.",
        runs=_run_rows(team_runs.filter(model__family=family)),
        lead_tables=[
            (
                "Models",
                ["name", "release date", "parameters", "training tokens", "GPU hours", "license"],
                [
                    [
                        m.name,
                        m.release_date,
                        human(m.parameters),
                        human(m.training_tokens),
                        m.gpu_hours,
                        m.license,
                    ]
                    for m in models
                ],
            )
        ],
        tables=[
            (
                "Facts and their sources",
                ["model", "fact", "value", "unit", "source", "where", "confidence", ""],
                fact_rows,
            )
        ],
        papers=_paper_rows(Paper.objects.filter(models__family=family)),
        scope_text=f"Model family \u201c{family}\u201d: {len(models)} models "
        f"({', '.join(m.name for m in models[:8])}{' ...' if len(models) > 8 else ''}), "
        f"and the runs of team {report.team.name} on them",
    )


# --- run set --------------------------------------------------------------------------------------------


def _run_set_params(params: dict[str, Any]) -> dict[str, Any]:
    raw = params.get("run_ids")
    try:
        ids = sorted({int(i) for i in raw}) if isinstance(raw, list) else []
    except (TypeError, ValueError):
        ids = []
    if not ids:
        raise ReportRequestError("scope 'run_set' needs params.run_ids, a non-empty list of run ids")
    return {"run_ids": ids}


def _curve_panels(runs: list[TrainingRun]) -> list[dict[str, Any]]:
    """The run pages' panels with their defaults (x = step, y-trim on, M4 on the server, <= 2,000 points)."""
    by_run = series_by_run(run_ids=[r.pk for r in runs])
    curves = curves_build(runs=runs, series_by_run=by_run, params=CurveParams(), default_panels=REPORT_PANELS)
    x_title = curves.modes.get(curves.params.x, curves.params.x)
    return [
        {
            "metric": p["metric"],
            "x_title": x_title,
            "traces": p["traces"],
            "count": p["count"],
            "missing": p["missing"],
        }
        for p in curves.panels
        if p["traces"]
    ]


def _diff_tables(runs: list[TrainingRun]) -> list[Table]:
    diff = config_diff(runs)
    names = [f"{r.name} (#{r.pk})" for r in runs]
    differ = [[d["group"], d["key"], *d["values"]] for d in diff["differ"]]
    same = [[d["group"], d["key"], d["value"]] for d in diff["same"]]
    tables: list[Table] = [("Manifest and config: what differs", ["", "key", *names], differ)]
    if same:
        title = "Manifest and config: the same in every run"
        if len(same) > SAME_ROWS_MAX:
            title += f" (first {SAME_ROWS_MAX} of {len(same)}; all in the JSON)"
        tables.append((title, ["", "key", "value"], same[:SAME_ROWS_MAX]))
    return tables


def _run_set_load(report: Report, full: bool = True) -> ReportData:
    ids = report.params.get("run_ids") or []
    runs = TrainingRun.objects.filter(team_id=report.team_id, pk__in=ids)
    missing = sorted(set(ids) - set(runs.values_list("pk", flat=True)))
    if not ids or missing:
        raise ReportScopeError(f"runs {missing or ids} not found in team {report.team.slug}")
    ordered = list(runs.select_related("model", "hardware").order_by("pk"))
    rows = _run_rows(runs)
    panels = _curve_panels(ordered) if full else []
    return ReportData(
        title=f"Run set ({len(ids)} runs)",
        summary=(
            f"{len(ids)} runs of team {report.team.name}. "
            + (
                f"Curves: {len(panels)} metric panels, each downsampled on the server like the run pages."
                if panels
                else "No metric series are stored for these runs, so there are no curves."
            )
        ),
        runs=rows,
        lead_tables=[_summary_table(rows)],
        tables=_diff_tables(ordered),
        papers=_paper_rows(Paper.objects.filter(models__runs__in=runs)),
        scope_text=f"{len(ids)} runs of team {report.team.name}: {_run_names(ordered)}",
        curve_panels=panels,
    )


# --- catalog (what is new in a time window; the weekly digest) ------------------------------------------


def _catalog_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: str(params[k]) for k in ("since", "until") if params.get(k)}


def _window(params: dict[str, Any]) -> tuple[datetime, datetime]:
    try:
        until = datetime.fromisoformat(params["until"]) if params.get("until") else timezone.now()
        since = datetime.fromisoformat(params["since"]) if params.get("since") else until - timedelta(days=7)
    except (TypeError, ValueError) as exc:
        raise ReportScopeError(f"since/until must be ISO 8601 datetimes ({exc})") from exc
    if timezone.is_naive(since) or timezone.is_naive(until):
        raise ReportScopeError("since/until need a timezone offset (e.g. 2025-01-06T00:00:00+00:00)")
    return since, until


def _fit_moves(fits: Sequence[Fit]) -> list[list[Any]]:
    """Parameters of each new fit that left the previous fit's interval: [study, parameter, previous value,
    previous interval, new value, versions]."""
    moves: list[list[Any]] = []
    for fit in fits:
        if fit.status == Fit.Status.FAILED:
            continue
        prev = (
            Fit.objects.filter(study_id=fit.study_id, version__lt=fit.version)
            .exclude(status=Fit.Status.FAILED)
            .order_by("-version")
            .first()
        )
        if prev is None:
            continue
        bounds = study_selectors.fit_summary(prev)["intervals"]
        if not isinstance(bounds, dict):
            continue
        for name, value in (fit.params or {}).items():
            interval = bounds.get(name)
            if not isinstance(value, int | float) or not isinstance(interval, dict):
                continue
            lo, hi = interval.get("low"), interval.get("high")
            if lo is None or hi is None or lo <= value <= hi:
                continue
            moves.append(
                [
                    fit.study.name,
                    name,
                    prev.params.get(name),
                    f"[{lo:.4g}, {hi:.4g}]",
                    value,
                    f"v{prev.version} \u2192 v{fit.version}",
                ]
            )
    return moves


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _catalog_load(report: Report, full: bool = True) -> ReportData:
    """What changed for a team in a time window (the weekly digest): new runs and their final losses, fits
    whose parameters left the previous fit's interval, new papers and models, claims that changed status."""
    since, until = _window(report.params)
    window = {"created_at__gte": since, "created_at__lt": until}
    papers = Paper.objects.filter(**window)
    models = CatalogModel.objects.filter(**window).order_by("name")
    fits = list(
        Fit.objects.filter(study__team_id=report.team_id, **window).select_related("study").order_by("pk")
    )
    runs = TrainingRun.objects.filter(team_id=report.team_id, **window)
    rows = _run_rows(runs)
    moves = _fit_moves(fits)
    counts = {
        "papers": papers.count(),
        "models": models.count(),
        "runs": len(rows),
        "fits": len(fits),
        "fit moves": len(moves),
    }
    run_table = [
        [
            f"{r['name']} (#{r['id']})",
            r["model"] or "\u2013",
            human(r["parameters"]),
            human(r["tokens"]),
            r["final_loss"],
            r["created_at"],
        ]
        for r in rows
    ]
    model_table = [
        [m.name, m.family, m.organization.name if m.organization else "", human(m.parameters), m.release_date]
        for m in models.select_related("organization")
    ]
    paper_table = [
        [p.title, p.arxiv_id or p.doi or "", p.published] for p in papers.order_by("-published", "pk")
    ]
    fit_table = [[f.study.name, f.version, f.get_status_display(), f.method, f.created_at] for f in fits]
    claims = (
        Claim.objects.filter(
            article__team_id=report.team_id, status_changed_at__gte=since, status_changed_at__lt=until
        )
        .select_related("article", "model")
        .order_by("article_id", "line", "pk")
    )
    claim_table = [
        [
            c.article.title,
            c.model.name if c.model else (c.subject or "\u2013"),
            c.quantity.replace("_", " "),
            c.text_value or human(c.value),
            f"{c.previous_status.replace('_', ' ')} \u2192 {c.status.replace('_', ' ')}",
        ]
        for c in claims
    ]
    counts["claims changed"] = len(claim_table)
    period = f"{since.astimezone(UTC):%Y-%m-%d %H:%M} to {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    parts = [
        _count(counts["runs"], "new run"),
        _count(counts["fits"], "fit")
        + f" ({_count(counts['fit moves'], 'parameter')} moved beyond the previous interval)",
        _count(counts["papers"], "new paper"),
        _count(counts["models"], "new model"),
        _count(counts["claims changed"], "claim") + " changed status",
    ]
    return ReportData(
        title=f"Weekly digest {since.date().isoformat()} to {until.date().isoformat()}",
        summary=f"For team {report.team.name}, {period}: " + "; ".join(parts) + ".",
        runs=rows,
        lead_tables=[
            (
                "New runs and their final losses",
                ["run", "model", "N", "D (tokens)", "final loss", "stored"],
                run_table,
            ),
            (
                "Fits whose parameters moved beyond the previous interval",
                ["study", "parameter", "previous", "previous interval", "now", "fit"],
                moves,
            ),
        ],
        tables=[
            ("New papers", ["title", "id", "published"], paper_table),
            ("New models", ["name", "family", "organization", "parameters", "released"], model_table),
            ("Claims that changed status", ["article", "model", "quantity", "value", "status"], claim_table),
            ("New fits", ["study", "version", "status", "method", "created"], fit_table),
        ],
        papers=_paper_rows(papers),
        counts=counts,
        scope_text=f"What changed for team {report.team.name} from {period}",
        digest={
            "period": period,
            "runs": run_table,
            "moves": moves,
            "papers": paper_table,
            "models": model_table,
            "fits": fit_table,
            "claims": claim_table,
            "counts": counts,
        },
    )


SCOPES: dict[str, ReportScope] = {
    scope.name: scope
    for scope in (
        ReportScope(Report.Scope.STUDY, _study_params, _study_load),
        ReportScope(Report.Scope.MODEL_FAMILY, _family_params, _family_load),
        ReportScope(Report.Scope.RUN_SET, _run_set_params, _run_set_load),
        ReportScope(Report.Scope.CATALOG, _catalog_params, _catalog_load),
    )
}


def report_data(report: Report, *, full: bool = True) -> ReportData:
    """What the report shows; full=False skips the metric curves (a request is checked with it)."""
    scope = SCOPES.get(report.scope)
    if scope is None:
        raise ReportScopeError(f"unknown scope {report.scope!r}")
    return scope.load(report, full)
