"""Run pages: the filterable list (and its CSV), selection hand-offs, run detail with metric panels, tags,
notes and final loss edits, curve data (JSON), full CSV of a series, and comparison with a config diff."""

from __future__ import annotations

import csv
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from tracker.runs import panels, selectors, services
from tracker.runs.curves import MAX_POINTS, X_MODES, CurveParamError, CurveParams
from tracker.runs.models import TrainingRun
from tracker.runs.numbers import DASH, exact, human_count, human_float, human_sci
from tracker.runs.series import reads
from tracker.runs.series.reads import SeriesQueryError
from tracker.runs.services import RunEditError
from tracker.runs.tables import COLUMNS, DEFAULT_COLUMNS

RUN_PANELS = 6
COMPARE_PANELS = 2


def _form_state(query: Any, run_filter: selectors.RunFilter | None) -> dict[str, Any]:
    """What the filter form shows: the view's values, or what the user typed when it was refused."""

    def last(key: str) -> str:
        values = [v for v in query.getlist(key) if v.strip()]
        return values[-1] if values else ""

    state: dict[str, Any] = {
        key: last(key) for key in ("q", "name", *selectors.RunFilter.RANGES, "after", "before")
    }
    for key in selectors.RunFilter.LISTS:
        state[key] = [v for v in query.getlist(key) if v.strip()]
    state["sort"] = last("sort")
    state["per_page"] = last("per_page") or str(selectors.DEFAULT_PER_PAGE)
    if run_filter is not None:
        state["columns"] = set(run_filter.columns)
    else:
        chosen = {c.strip() for raw in query.getlist("cols") for c in raw.split(",")} | set(
            query.getlist("col")
        )
        state["columns"] = (chosen & set(COLUMNS)) or set(DEFAULT_COLUMNS)
    return state


@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        "facets": selectors.run_facets(user=request.user),
        "all_columns": list(COLUMNS.values()),
        "statuses": TrainingRun.Status.choices,
        "per_page_choices": selectors.PER_PAGE_CHOICES,
    }
    try:
        run_filter = selectors.RunFilter.from_query(request.GET)
    except selectors.RunFilterError as exc:
        context.update(errors=exc.errors, form=_form_state(request.GET, None))
        return render(request, "tracker/run_list.html", context, status=400)
    context["form"] = _form_state(request.GET, run_filter)
    page = selectors.run_page(user=request.user, run_filter=run_filter)
    context.update(
        run_filter=run_filter,
        page=page,
        chips=selectors.filter_chips(run_filter),
        view_query=run_filter.url_query(),
        prev_query=run_filter.url_query(page=page.page - 1) if page.page > 1 else "",
        next_query=run_filter.url_query(page=page.page + 1) if page.page < page.num_pages else "",
        can_edit_any=bool(selectors.editable_team_ids(user=request.user)),
        list_url=reverse("runs:list"),
    )
    return render(request, "tracker/run_list.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
def run_export(request: HttpRequest) -> HttpResponseBase:
    """Every run the filter matches (all pages), every column, exact values (CSV)."""
    try:
        run_filter = selectors.RunFilter.from_query(request.GET)
    except selectors.RunFilterError as exc:
        return HttpResponse(f"Bad filter: {exc}", status=400, content_type="text/plain; charset=utf-8")
    writer = csv.writer(_Echo())
    rows = selectors.runs_export_rows(user=request.user, run_filter=run_filter)
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="runs.csv"'
    return response


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("runs:list")


def _selected_ids(request: HttpRequest) -> list[int]:
    raw = request.POST.getlist("id") + [p for v in request.POST.getlist("ids") for p in v.split(",")]
    ids: list[int] = []
    for part in raw:
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise ValueError(f"run ids are whole numbers, got {part[:40]!r}")
        if int(part) not in ids:
            ids.append(int(part))
    if len(ids) > selectors.SELECTION_LIMIT:
        raise ValueError(f"select at most {selectors.SELECTION_LIMIT} runs at once, got {len(ids)}")
    return ids


@require_POST
def run_selection(request: HttpRequest) -> HttpResponseBase:
    """What to do with the runs ticked on the list: compare, report, add to a study, tag or untag them.

    Hand-offs (read by the other pages): compare `runs:compare?ids=1,2`; report
    `reports:list?scope=run_set&run_ids=1,2`; study `studies:list?runs=1,2`."""
    action = request.POST.get("action", "")
    back = _back(request)
    try:
        ids = _selected_ids(request)
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    ids = selectors.runs_visible_ids(user=request.user, run_ids=ids)
    if not ids:
        messages.error(request, "Select at least one run first (tick the boxes in the first column).")
        return redirect(back)
    joined = ",".join(map(str, ids))
    if action == "compare":
        if len(ids) > reads.MAX_COMPARE_RUNS:
            messages.error(
                request, f"Compare takes at most {reads.MAX_COMPARE_RUNS} runs; {len(ids)} are selected."
            )
            return redirect(back)
        return redirect(f"{reverse('runs:compare')}?{urlencode({'ids': joined})}")
    if action == "report":
        return redirect(f"{reverse('reports:list')}?{urlencode({'scope': 'run_set', 'run_ids': joined})}")
    if action == "study":
        return redirect(f"{reverse('studies:list')}?{urlencode({'runs': joined})}")
    if action in ("tag", "untag"):
        runs = list(selectors.run_list(user=request.user).filter(pk__in=ids))
        try:
            changed = services.runs_tag_bulk(
                actor=request.user, runs=runs, name=request.POST.get("tag", ""), add=action == "tag"
            )
        except PermissionDenied:
            return HttpResponse("Your role does not allow tagging some of these runs.", status=403)
        except RunEditError as exc:
            messages.error(request, str(exc))
            return redirect(back)
        verb = "Tagged" if action == "tag" else "Untagged"
        messages.success(request, f"{verb} {changed} of {len(runs)} runs.")
        return redirect(back)
    return HttpResponse(f"Unknown action {action[:40]!r}: compare, report, study, tag or untag.", status=400)


def _facts(run: Any) -> list[dict[str, str]]:
    def row(label: str, text: str, title: str = "") -> dict[str, str]:
        return {"label": label, "text": text, "title": title}

    hardware = "\u2013"
    if run.hardware:
        hardware = f"{run.hardware.name} \u00d7 {run.gpu_count}" if run.gpu_count else run.hardware.name
    return [
        row("Team", run.team.name),
        row("Status", run.get_status_display()),
        row("Model", run.model.name if run.model else "\u2013"),
        row("Parameters N", human_count(run.parameters), exact(run.parameters)),
        row("Tokens D", human_count(run.tokens), exact(run.tokens)),
        row("Unique tokens U", human_count(run.unique_tokens), exact(run.unique_tokens)),
        row("Training FLOPs C ≈ 6ND", human_sci(run.training_flops), exact(run.training_flops)),
        row("Hardware", hardware),
        row("GPU hours", human_count(run.gpu_hours), exact(run.gpu_hours)),
        row("Energy (kWh)", human_count(run.energy_kwh), exact(run.energy_kwh)),
        row("Precision", run.get_precision_display() if run.precision else "\u2013"),
        row(
            "Synthetic share",
            human_float(run.synthetic_share)
            + (f" ({human_float(run.synthetic_epochs)} epochs)" if run.synthetic_epochs else ""),
        ),
        row("Started", run.started_at.strftime("%Y-%m-%d %H:%M") if run.started_at else "\u2013"),
        row("Source", str(run.source) if run.source else "\u2013"),
        row("Sender id", run.external_id or "\u2013"),
    ]


def _series_row(series: Any) -> dict[str, Any]:
    def value(v: float | None) -> dict[str, str]:
        return {"text": human_float(v), "title": exact(v)}

    steps = DASH
    if series.min_step is not None and series.max_step is not None:
        steps = f"{series.min_step:,}\u2013{series.max_step:,}"
    return {
        "series": series,
        "points": f"{series.n_points:,}",
        "steps": steps,
        "min": value(series.min_value),
        "max": value(series.max_value),
        "last": value(series.last_value),
    }


def _curve_params(request: HttpRequest, *, extra: tuple[str, ...]) -> CurveParams:
    return CurveParams.from_query(request.GET, allowed_extra=extra)


@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_get(user=request.user, run_id=run_id)
    series = selectors.run_series(run=run)
    context: dict[str, Any] = {
        "run": run,
        "series": series,
        "series_rows": [_series_row(s) for s in series],
        "facts": _facts(run),
        "tags": list(run.tags.all()),
        **selectors.run_links(run=run),
        "can_edit": selectors.user_can_edit(user=request.user, run=run),
        "final_loss": {
            "text": human_float(run.final_loss),
            "exact": exact(run.final_loss),
            "provenance": run.final_loss_provenance,
            "computed": human_float(run.final_loss_computed),
            "computed_exact": exact(run.final_loss_computed),
        },
        "max_points": MAX_POINTS,
        "x_choices": list(X_MODES.items()),
    }
    wanted = request.GET.get("series")
    try:
        params = _curve_params(request, extra=("series",))
        if wanted:
            chosen = next((s for s in series if str(s.pk) == wanted), None)
            if chosen is None:
                context["error"] = f"This run has no metric series with id {wanted[:40]!r}."
                return render(request, "tracker/run_detail.html", context, status=404)
            params = replace(params, metrics=tuple(dict.fromkeys((chosen.name, *params.metrics))))
        curves = panels.curves_build(
            runs=[run], series_by_run={run.pk: series}, params=params, default_panels=RUN_PANELS
        )
    except CurveParamError as exc:
        context["error"] = str(exc)
        return render(request, "tracker/run_detail.html", context, status=400)
    context["curves"] = curves
    return render(request, "tracker/run_detail.html", context)


def _edit_guard(request: HttpRequest, run_id: int) -> Any:
    # Looked up as a viewer first: another team's run is a 404 for every verb, a viewer's edit a 403.
    return selectors.run_get(user=request.user, run_id=run_id)


@require_POST
def run_delete(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _edit_guard(request, run_id)
    try:
        services.run_delete(actor=request.user, run=run)
    except PermissionDenied:
        return HttpResponse("Your role in this team does not allow deleting runs.", status=403)
    return redirect("runs:list")


@require_POST
def run_tags(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _edit_guard(request, run_id)
    try:
        if request.POST.get("action") == "remove":
            services.run_tag_remove(actor=request.user, run=run, name=request.POST.get("tag", ""))
        else:
            services.run_tag_add(actor=request.user, run=run, name=request.POST.get("tag", ""))
    except PermissionDenied:
        return HttpResponse("Your role in this team does not allow tagging runs.", status=403)
    except RunEditError as exc:
        messages.error(request, str(exc))
    return redirect(reverse("runs:detail", args=[run.pk]) + "#about")


@require_POST
def run_notes(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _edit_guard(request, run_id)
    try:
        services.run_notes_set(actor=request.user, run=run, notes=request.POST.get("notes", ""))
    except PermissionDenied:
        return HttpResponse("Your role in this team does not allow editing notes.", status=403)
    except RunEditError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Notes saved.")
    return redirect(reverse("runs:detail", args=[run.pk]) + "#about")


@require_POST
def run_final_loss(request: HttpRequest, run_id: int) -> HttpResponse:
    """action=enter (value, note), clear (back to the computed value) or recompute (rule over the curves)."""
    run = _edit_guard(request, run_id)
    action = request.POST.get("action", "enter")
    try:
        if action == "enter":
            raw = request.POST.get("value", "").strip()
            try:
                value = float(raw)
            except ValueError:
                raise RunEditError(f"the final loss must be a number, got {raw[:40]!r}") from None
            services.run_final_loss_enter(
                actor=request.user, run=run, value=value, note=request.POST.get("note", "")
            )
        elif action == "clear":
            services.run_final_loss_clear(actor=request.user, run=run)
        elif action == "recompute":
            services.run_final_loss_recompute(actor=request.user, run=run)
        else:
            return HttpResponse(f"Unknown action {action[:40]!r}: enter, clear or recompute.", status=400)
    except PermissionDenied:
        return HttpResponse("Your role in this team does not allow editing the final loss.", status=403)
    except RunEditError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Final loss updated.")
    return redirect(reverse("runs:detail", args=[run.pk]) + "#about")


@require_GET
def series_data(request: HttpRequest, run_id: int, series_id: int) -> JsonResponse:
    """One window of one series, M4-downsampled: points above MAX_POINTS are served as MAX_POINTS."""
    try:
        x0, x1, points = reads.window_params_parse(
            x0=request.GET.get("x0"), x1=request.GET.get("x1"), points=request.GET.get("points")
        )
    except SeriesQueryError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    run = selectors.run_get(user=request.user, run_id=run_id)
    series = reads.series_get_for_run(run=run, series_id=series_id)
    window = reads.series_window(series=series, x0=x0, x1=x1, points=min(points, MAX_POINTS))
    return JsonResponse(window.as_dict())


@require_GET
def series_csv(request: HttpRequest, run_id: int, series_id: int) -> StreamingHttpResponse:
    run = selectors.run_get(user=request.user, run_id=run_id)
    series = reads.series_get_for_run(run=run, series_id=series_id)
    response = StreamingHttpResponse(
        reads.series_csv_chunks(series=series), content_type="text/csv; charset=utf-8"
    )
    filename = f"{slugify(run.name) or 'run'}-{slugify(series.name) or 'series'}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def run_compare(request: HttpRequest) -> HttpResponse:
    try:
        run_ids = reads.compare_ids_parse(request.GET.get("ids"))
        params = _curve_params(request, extra=("ids",))
    except (SeriesQueryError, CurveParamError) as exc:
        return render(request, "tracker/run_compare.html", {"error": str(exc)}, status=400)
    runs_by_id = {
        r.pk: r for r in selectors.run_list(user=request.user).select_related("model").filter(pk__in=run_ids)
    }
    if len(runs_by_id) != len(run_ids):
        raise Http404("No such run")
    runs = [runs_by_id[i] for i in run_ids]
    series_by_run = selectors.series_by_run(run_ids=run_ids)
    context: dict[str, Any] = {
        "runs": runs,
        "ids": ",".join(map(str, run_ids)),
        "diff": selectors.config_diff(runs),
        "x_choices": list(X_MODES.items()),
    }
    try:
        context["curves"] = panels.curves_build(
            runs=runs, series_by_run=series_by_run, params=params, default_panels=COMPARE_PANELS
        )
    except CurveParamError as exc:
        context["error"] = str(exc)
        return render(request, "tracker/run_compare.html", context, status=400)
    return render(request, "tracker/run_compare.html", context)
