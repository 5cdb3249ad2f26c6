"""Run pages: list, detail with metric curves, curve data (JSON), full CSV export and comparison."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from tracker.runs import selectors, services
from tracker.runs.series import reads
from tracker.runs.series.reads import SeriesQueryError


@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    runs = selectors.run_list(user=request.user)
    return render(request, "tracker/run_list.html", {"runs": runs})


@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_get(user=request.user, run_id=run_id)
    series = list(run.series.all())
    chosen = series[0] if series else None
    wanted = request.GET.get("series")
    if wanted:
        chosen = next((s for s in series if str(s.pk) == wanted), None)
        if chosen is None:
            return render(
                request,
                "tracker/run_detail.html",
                {"run": run, "series": series, "error": f"This run has no metric series with id {wanted!r}."},
                status=404,
            )
    window = reads.series_window(series=chosen) if chosen and chosen.n_points else None
    context = {"run": run, "series": series, "chosen": chosen, "window": window}
    if window is not None:
        context["window_json"] = window.as_dict()
    return render(request, "tracker/run_detail.html", context)


@require_POST
def run_delete(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_get(user=request.user, run_id=run_id)
    try:
        services.run_delete(actor=request.user, run=run)
    except PermissionDenied:
        return HttpResponse("Your role in this team does not allow deleting runs.", status=403)
    return redirect("runs:list")


@require_GET
def series_data(request: HttpRequest, run_id: int, series_id: int) -> JsonResponse:
    try:
        x0, x1, points = reads.window_params_parse(
            x0=request.GET.get("x0"), x1=request.GET.get("x1"), points=request.GET.get("points")
        )
    except SeriesQueryError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    run = selectors.run_get(user=request.user, run_id=run_id)
    series = reads.series_get_for_run(run=run, series_id=series_id)
    window = reads.series_window(series=series, x0=x0, x1=x1, points=points)
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
        _, _, points = reads.window_params_parse(x0=None, x1=None, points=request.GET.get("points"))
    except SeriesQueryError as exc:
        return render(request, "tracker/run_compare.html", {"error": str(exc)}, status=400)
    comparison = reads.runs_compare(
        user=request.user, run_ids=run_ids, metric=request.GET.get("metric") or None, points=points
    )
    traces = [
        {"name": line.run.name, "steps": line.window.steps, "values": line.window.values}
        for line in comparison["lines"]
        if line.window is not None
    ]
    return render(
        request,
        "tracker/run_compare.html",
        {**comparison, "ids": ",".join(str(i) for i in run_ids), "traces": traces},
    )
