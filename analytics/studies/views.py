"""Thin views: parse input, call one selector or service, render."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from analytics.fitting.errors import FitError
from analytics.models import Study
from analytics.studies import forms, selectors, services
from analytics.studies.authoring import SpecError, StudySpec, data_from_form, run_ids_from_data
from analytics.studies.points import StudySelectionError
from analytics.studies.registry import KIND_OPTIONS, KINDS, kind_get, spec_from_data
from core.auth import has_role
from core.params import ParamError, float_param, id_param
from core.roles import Role
from tracker.models import Hardware, Team
from tracker.runs.selectors import runs_visible_ids

EDIT_REFUSED = "Your role in this study's team does not allow editing studies (editors can)."


def _handoff(request: HttpRequest) -> tuple[list[int], str]:
    """The runs page's selection (`?runs=1,2`): the ids this user may see, or what is wrong with them."""
    raw = request.GET.get("runs")
    if raw is None:
        return [], ""
    try:
        ids = list(run_ids_from_data(raw, "runs"))
    except SpecError as exc:
        return [], str(exc)
    return runs_visible_ids(user=request.user, run_ids=ids), ""


@require_GET
def study_list(request: HttpRequest) -> HttpResponse:
    rows = [
        {"study": s, "fit": selectors.fit_latest(s), "kind": kind_get(s.kind).label}
        for s in selectors.study_list(user=request.user)
    ]
    ids, error = _handoff(request)
    can_author = bool(selectors.author_teams(user=request.user))
    context: dict[str, Any] = {"rows": rows, "can_author": can_author, "handoff_error": error}
    if ids:
        joined = ",".join(map(str, ids))
        context["handoff"] = {
            "ids": ids,
            "joined": joined,
            "new_url": f"{reverse('studies:create')}?{urlencode({'runs': joined})}",
            "studies": selectors.handoff_studies(user=request.user, run_ids=ids) if can_author else [],
        }
    return render(request, "analytics/study_list.html", context, status=400 if error else 200)


def _errors(exc: SpecError) -> dict[str, Any]:
    listed = [(forms.error_label(k, KIND_OPTIONS), m) for k, m in exc.errors.items()]
    rows: dict[int, str] = {}
    for key, message in exc.errors.items():
        if key.startswith("selection.filter["):
            index = key.removeprefix("selection.filter[").split("]", 1)[0]
            if index.isdigit():
                rows.setdefault(int(index), message)
    return {"errors": listed, "error_keys": set(exc.errors), "row_errors": rows}


def _targets(team: Team | None, spec: StudySpec | None, state: forms.FormState) -> list[tuple[str, str]]:
    if team is None:
        return [("final_loss", "final loss")]
    if spec is not None:
        return selectors.target_choices(team_id=team.pk, run_ids=spec.run_ids, conditions=spec.conditions)
    try:
        ids = run_ids_from_data(state.run_ids) if state.selection == "runs" else ()
    except SpecError:
        ids = ()
    return selectors.target_choices(team_id=team.pk, run_ids=ids)


def _explicit_runs(team: Team | None, spec: StudySpec | None, state: forms.FormState) -> dict[str, Any]:
    """The names behind the run ids in the form (the first few), so an editor sees which runs they are."""
    if team is None or state.selection != "runs":
        return {}
    try:
        ids = spec.run_ids if spec is not None else run_ids_from_data(state.run_ids)
    except SpecError:
        return {}
    names = selectors.run_names(team_id=team.pk, run_ids=ids[: forms.NAMES_SHOWN])
    return {"names": names, "more": max(len(ids) - len(names), 0)} if names else {}


def _render_form(
    request: HttpRequest,
    *,
    state: forms.FormState,
    team: Team | None,
    teams: list[Team],
    study: Study | None = None,
    spec: StudySpec | None = None,
    preview: services.StudyPreview | None = None,
    error: SpecError | None = None,
    status: int = 200,
) -> HttpResponse:
    labels = {name: kind.label for name, kind in KINDS.items()}
    context: dict[str, Any] = {
        "state": state,
        "study": study,
        "team": team,
        "teams": teams,
        "kinds": selectors.kind_choices(),
        "condition_choices": forms.condition_choices(),
        "option_groups": forms.option_widgets(KIND_OPTIONS, labels, state),
        "targets": _targets(team, spec, state),
        "explicit_runs": _explicit_runs(team, spec, state),
        "preview": preview,
        "preview_rows": [
            (r, [forms.number_cell(c, r.values.get(c)) for c in preview.columns]) for r in preview.rows
        ]
        if preview
        else [],
        "preview_figures": [
            (f"preview-fig-{i}", fig) for i, fig in enumerate(selectors.preview_figures(preview))
        ]
        if preview
        else [],
        "errors": [],
        "error_keys": set(),
        "row_errors": {},
    }
    if error is not None:
        context.update(_errors(error))
    return render(request, "analytics/study_form.html", context, status=status)


def _spec_or_error(request: HttpRequest) -> tuple[StudySpec | None, SpecError | None]:
    try:
        return spec_from_data(data_from_form(request.POST.getlist, kinds=KIND_OPTIONS)), None
    except SpecError as exc:
        return None, exc


def _save_or_preview(
    request: HttpRequest, *, team: Team, teams: list[Team], study: Study | None
) -> HttpResponse:
    """POST of the study form: action=preview shows the points, anything else saves."""
    state = forms.state_from_post(request.POST.getlist, KIND_OPTIONS)
    spec, error = _spec_or_error(request)

    def again(**kw: Any) -> HttpResponse:
        return _render_form(request, state=state, team=team, teams=teams, study=study, **kw)

    if spec is None:
        return again(error=error, status=400)
    try:
        if request.POST.get("action") == "preview":
            return again(spec=spec, preview=services.study_preview(user=request.user, team=team, spec=spec))
        if study is None:
            saved = services.study_author(user=request.user, team=team, spec=spec)
            messages.success(request, f"Study “{saved.name}” created.")
        else:
            saved = services.study_update(user=request.user, study=study, spec=spec)
            messages.success(request, f"Study “{saved.name}” saved.")
    except SpecError as exc:
        return again(spec=spec, error=exc, status=400)
    except PermissionDenied as exc:
        return HttpResponse(str(exc), status=403)
    return redirect("studies:detail", study_id=saved.pk)


@require_http_methods(["GET", "POST"])
def study_create(request: HttpRequest) -> HttpResponse:
    teams = selectors.author_teams(user=request.user)
    if not teams:
        return HttpResponse("Your role does not allow creating studies (editors of a team can).", status=403)
    if request.method == "POST":
        team = next((t for t in teams if str(t.pk) == request.POST.get("team", "")), None)
        if team is None:
            return HttpResponse("Choose one of your teams (where you are an editor).", status=400)
        return _save_or_preview(request, team=team, teams=teams, study=None)
    ids, error = _handoff(request)
    state = forms.FormState(kind=request.GET.get("kind", "") if request.GET.get("kind") in KINDS else "")
    state.kind = state.kind or next(iter(KINDS))
    team = teams[0]
    if ids:
        state.selection, state.run_ids = "runs", ", ".join(map(str, ids))
        first = selectors.run_team_id(run_id=ids[0])
        team = next((t for t in teams if t.pk == first), team)
    if error:
        return _render_form(request, state=state, team=team, teams=teams, error=SpecError("runs", error))
    return _render_form(request, state=state, team=team, teams=teams)


def _editable(request: HttpRequest, study_id: int) -> Study:
    # Looked up as a viewer first: another team's study is a 404 for every verb, a viewer's edit a 403.
    study = selectors.study_get(user=request.user, study_id=study_id)
    if not has_role(request.user, study.team, Role.EDITOR):
        raise PermissionDenied(EDIT_REFUSED)
    return study


@require_http_methods(["GET", "POST"])
def study_edit(request: HttpRequest, study_id: int) -> HttpResponse:
    try:
        study = _editable(request, study_id)
    except PermissionDenied as exc:
        return HttpResponse(str(exc), status=403)
    teams = [study.team]
    if request.method == "POST":
        return _save_or_preview(request, team=study.team, teams=teams, study=study)
    try:
        spec = selectors.study_spec(study)
    except StudySelectionError as exc:
        # A stored filter from before the whitelist: show the form without it, and say why.
        state = forms.state_from_spec(
            StudySpec(study.name, study.kind, target_metric=study.target_metric, options=study.options),
            KIND_OPTIONS,
        )
        error = SpecError("selection.filter", str(exc))
        return _render_form(request, state=state, team=study.team, teams=teams, study=study, error=error)
    state = forms.state_from_spec(spec, KIND_OPTIONS)
    return _render_form(request, state=state, team=study.team, teams=teams, study=study, spec=spec)


@require_http_methods(["GET", "POST"])
def study_delete(request: HttpRequest, study_id: int) -> HttpResponse:
    try:
        study = _editable(request, study_id)
    except PermissionDenied as exc:
        return HttpResponse(str(exc), status=403)
    if request.method == "POST":
        name = study.name
        services.study_delete(user=request.user, study=study)
        messages.success(request, f"Study “{name}” deleted.")
        return redirect("studies:list")
    context = {
        "study": study,
        "n_fits": study.fits.count(),
        "selection": selectors.study_selection_text(study),
    }
    return render(request, "analytics/study_confirm_delete.html", context)


@require_POST
def study_add_runs(request: HttpRequest, study_id: int) -> HttpResponse:
    """The runs page's "add to study": the selected runs join a study that selects runs by id."""
    try:
        study = _editable(request, study_id)
    except PermissionDenied as exc:
        return HttpResponse(str(exc), status=403)
    try:
        ids = run_ids_from_data(request.POST.get("runs", ""), "runs")
        if not ids:
            raise SpecError("runs", "no runs given")
        before = study.runs.count()
        study = services.study_runs_add(user=request.user, study=study, run_ids=ids)
    except SpecError as exc:
        messages.error(request, str(exc))
        query = urlencode({"runs": request.POST.get("runs", "")[:2000]})
        return redirect(f"{reverse('studies:list')}?{query}")
    messages.success(
        request, f"Added {study.runs.count() - before} runs to “{study.name}”; a refit is queued."
    )
    return redirect("studies:detail", study_id=study.pk)


@require_GET
def study_status(request: HttpRequest, study_id: int) -> JsonResponse:
    """The study page's live state (polled while a refit is queued or running)."""
    try:
        study = selectors.study_get(user=request.user, study_id=study_id)
    except Http404:
        return JsonResponse({"error": "no such study"}, status=404)
    return JsonResponse(selectors.study_status(study))


def _parse_plan(request: HttpRequest) -> tuple[float, int, float] | None:
    raw = request.GET.get("compute", "").strip()
    if not raw:
        return None
    try:
        compute = float_param(raw, "compute (FLOPs)", lo=1.0, hi=1e35)
        hardware_id = id_param(request.GET.get("hardware", ""), "hardware")
        mfu = float_param(request.GET.get("mfu") or "0.4", "MFU", lo=1e-6, hi=1.0)
    except ParamError as exc:
        raise FitError(f"plan: {exc}") from exc
    assert compute is not None and mfu is not None  # both given: raw is non-empty, MFU has a default
    return compute, hardware_id, mfu


@require_GET
def study_detail(request: HttpRequest, study_id: int) -> HttpResponse:
    study = selectors.study_get(user=request.user, study_id=study_id)
    spec = kind_get(study.kind)
    shown = selectors.fit_current(study) or selectors.fit_latest(study)
    figures = selectors.fit_figures(study, shown)
    plan, plan_error = None, ""
    try:
        parsed = _parse_plan(request)
        if parsed is not None and shown is not None:
            compute, hardware_id, mfu = parsed
            hardware = get_object_or_404(Hardware, pk=hardware_id)
            plan = selectors.run_plan(fit=shown, compute=compute, hardware=hardware, mfu=mfu)
    except FitError as exc:
        plan_error = str(exc)
    summary = selectors.fit_summary(shown) if shown is not None else {}
    context = {
        "study": study,
        "kind": spec,
        "fit": shown,
        "summary": summary,
        # Nested results (curves, per-size rows, optima) are drawn as figures, not listed as parameters.
        "param_rows": forms.summary_rows(summary) if summary else [],
        "derived_rows": forms.derived_rows(summary) if summary else [],
        "options_text": [(k, forms.value_text(v)) for k, v in study.options.items()],
        "fits": selectors.fits_for_study(study)[:50],
        "figures": [(f"fig-{i}", fig) for i, fig in enumerate(figures)],
        "plan": plan,
        "plan_error": plan_error,
        "hardware": Hardware.objects.order_by("name"),
        "can_edit": has_role(request.user, study.team, Role.EDITOR),
        "request_get": request.GET,
        "selection": selectors.study_selection_text(study),
        "live": selectors.study_status(study),
    }
    return render(request, "analytics/study_detail.html", context, status=400 if plan_error else 200)


@require_POST
def study_refit(request: HttpRequest, study_id: int) -> HttpResponse:
    study = selectors.study_get(user=request.user, study_id=study_id)
    if not has_role(request.user, study.team, Role.EDITOR):
        return HttpResponse("Your role does not allow refits.", status=403)
    services.study_refit_enqueue(study=study)
    messages.info(request, "Refit queued; the page shows the new version when the worker finishes.")
    return redirect("studies:detail", study_id=study.pk)
