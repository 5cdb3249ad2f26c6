"""Catalog pages: papers, models, timeline, costs. Thin: parse input, call selectors, render.

A query parameter the page cannot use answers 400 with the page itself explaining what was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.auth import can_edit_catalog, catalog_editor_required
from tracker.catalog import costs, services
from tracker.catalog import figures as figures_catalog
from tracker.catalog import selectors as selectors_catalog
from tracker.catalog.card_render import render_card_html
from tracker.catalog.models import Hardware, ModelPaperLink
from tracker.catalog.selectors import BadQuery


def _bad(request: HttpRequest, template: str, error: str, context: Mapping[str, Any]) -> HttpResponse:
    return render(request, template, {**context, "error": error}, status=400)


@require_GET
def paper_list(request: HttpRequest) -> HttpResponse:
    q, tag = request.GET.get("q", ""), request.GET.get("tag", "")
    context: dict[str, Any] = {"q": q, "tag": tag, "tags": selectors_catalog.tag_list()}
    try:
        context["page"] = selectors_catalog.paper_page(q=q, tag=tag, page=request.GET.get("page"))
    except BadQuery as exc:
        return _bad(request, "tracker/paper_list.html", str(exc), context)
    return render(request, "tracker/paper_list.html", context)


@require_GET
def paper_detail(request: HttpRequest, paper_id: int) -> HttpResponse:
    paper = selectors_catalog.paper_detail(paper_id)
    links = selectors_catalog.paper_model_links(paper, request.user)
    linked = {link.model_id for link in links}
    return render(
        request,
        "tracker/paper_detail.html",
        {
            "paper": paper,
            "links": links,
            "other_models": [m for m in paper.models.all() if m.pk not in linked and m.team_id is None],
            "can_edit": can_edit_catalog(request.user),
        },
    )


@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    sort = request.GET.get("sort", "release")
    context: dict[str, Any] = {"sort": sort, "sorts": list(selectors_catalog.MODEL_SORTS)}
    try:
        context["page"], context["rows"] = selectors_catalog.model_table(
            sort=sort, page=request.GET.get("page"), user=request.user
        )
    except BadQuery as exc:
        return _bad(request, "tracker/model_list.html", str(exc), context)
    return render(request, "tracker/model_list.html", context)


@require_GET
def model_detail(request: HttpRequest, model_id: int) -> HttpResponse:
    row, facts, papers = selectors_catalog.model_detail(model_id, user=request.user)
    links = selectors_catalog.model_paper_links(row.model)
    linked = {link.paper_id for link in links}
    return render(
        request,
        "tracker/model_detail.html",
        {
            "row": row,
            "model": row.model,
            "facts": facts,
            "papers": [p for p in papers if p.pk not in linked],
            "aliases": selectors_catalog.model_aliases(row.model),
            "merges": selectors_catalog.model_merges(row.model),
            "links": links,
            "runs": selectors_catalog.model_runs(row.model, request.user),
            "source_links": selectors_catalog.fact_source_links(facts, request.user),
            "can_edit": can_edit_catalog(request.user),
            "card_html": render_card_html(row.model.card) if row.model.card else "",
        },
    )


@require_http_methods(["GET", "POST"])
@catalog_editor_required
def model_merge(request: HttpRequest, model_id: int) -> HttpResponse:
    """GET: choose the duplicate (?duplicate=<id or any name>) and see what would move; POST: merge it."""
    survivor = selectors_catalog.models_visible(request.user).filter(pk=model_id).first()
    if survivor is None:
        raise Http404("No such model")
    context: dict[str, Any] = {"model": survivor, "candidates": selectors_catalog.merge_candidates(survivor)}
    ref = (request.POST if request.method == "POST" else request.GET).get("duplicate", "")
    if not ref.strip():
        if request.method == "POST":
            return _bad(request, "tracker/model_merge.html", "duplicate: choose the model to merge", context)
        return render(request, "tracker/model_merge.html", context)
    try:
        preview = selectors_catalog.merge_preview(survivor_id=model_id, duplicate_ref=ref, user=request.user)
    except BadQuery as exc:
        return _bad(request, "tracker/model_merge.html", str(exc), {**context, "duplicate_ref": ref})
    if request.method == "GET":
        return render(request, "tracker/model_merge.html", {**context, "preview": preview})
    try:
        merge = services.model_merge(
            survivor=preview.survivor, duplicate=preview.duplicate, user=request.user
        )
    except ValueError as exc:
        return _bad(request, "tracker/model_merge.html", str(exc), {**context, "preview": preview})
    moved = ", ".join(f"{what} {n}" for what, n in merge.moved.items() if n) or "nothing"
    messages.success(request, f"Merged {merge.merged_name} into {survivor.name} (moved: {moved}).")
    return redirect(reverse("catalog:model-detail", args=[survivor.pk]))


def _cost_params(query: QueryDict) -> tuple[dict[int, float], float, float]:
    """What-if inputs: price_<hardware id>=USD per GPU hour, pue, grid (kg CO2 per kWh)."""
    overrides: dict[int, float] = {}
    for key in query:
        raw = query.get(key) or ""
        if not key.startswith("price_") or key == "price_rule" or not raw.strip():
            continue
        hw_id = key.removeprefix("price_")
        if not hw_id.isdigit():
            raise BadQuery(f"{key}: expected price_<hardware id>")
        try:
            overrides[int(hw_id)] = costs.parse_bounded(key, raw, *costs.PRICE_RANGE)
        except ValueError as exc:
            raise BadQuery(str(exc)) from None
    try:
        pue = costs.parse_bounded("pue", query.get("pue") or str(costs.DEFAULT_PUE), *costs.PUE_RANGE)
        grid = costs.parse_bounded(
            "grid", query.get("grid") or str(costs.DEFAULT_GRID_KG_PER_KWH), *costs.GRID_RANGE
        )
    except ValueError as exc:
        raise BadQuery(str(exc)) from None
    return overrides, pue, grid


@require_GET
def cost_comparison(request: HttpRequest) -> HttpResponse:
    hardware = selectors_catalog.hardware_with_prices()
    context: dict[str, Any] = {
        "hardware": hardware,
        "can_edit": can_edit_catalog(request.user),
        "price_form": PriceForm(initial={"valid_from": timezone.localdate()}),
        "pue": request.GET.get("pue") or costs.DEFAULT_PUE,
        "grid": request.GET.get("grid") or costs.DEFAULT_GRID_KG_PER_KWH,
        "price_rule": request.GET.get("price_rule") or costs.DEFAULT_PRICE_RULE,
        "price_rules": costs.PRICE_RULES,
    }
    try:
        overrides, pue, grid = _cost_params(request.GET)
        page, rows, assumptions = selectors_catalog.cost_table(
            overrides=overrides,
            pue=pue,
            grid=grid,
            page=request.GET.get("page"),
            price_rule=context["price_rule"],
        )
    except BadQuery as exc:
        return _bad(request, "tracker/costs.html", str(exc), context)
    context |= {
        "assumptions": assumptions,
        "overrides": {str(k): v for k, v in overrides.items()},
        "page": page,
        "rows": rows,
        "fig": figures_catalog.cost_figure(
            [figures_catalog.CostBar(r.model.name, r.cost.usd, r.cost.energy_kwh) for r in rows]
        ),
    }
    return render(request, "tracker/costs.html", context)


class PriceForm(forms.Form):
    hardware = forms.ModelChoiceField(queryset=Hardware.objects.order_by("name"))
    usd_per_gpu_hour = forms.DecimalField(min_value=0, max_value=1000, max_digits=10, decimal_places=4)
    valid_from = forms.DateField()
    provider = forms.CharField(max_length=100, required=False)
    note = forms.CharField(max_length=300, required=False)


@require_POST
@catalog_editor_required
def price_create(request: HttpRequest) -> HttpResponse:
    form = PriceForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(
            f"{name}: {' '.join(str(e) for e in errs)}" for name, errs in form.errors.items()
        )
        messages.error(request, f"Price not saved. {problems}")
        return redirect(reverse("catalog:costs"))
    data = form.cleaned_data
    price = services.hardware_price_set(
        hardware=data["hardware"],
        usd_per_gpu_hour=data["usd_per_gpu_hour"],
        valid_from=data["valid_from"],
        provider=data["provider"],
        note=data["note"],
    )
    messages.success(request, f"Saved {price}.")
    return redirect(reverse("catalog:costs"))


@require_POST
@catalog_editor_required
def link_decide(request: HttpRequest, link_id: int) -> HttpResponse:
    """Confirm or reject a suggested model <-> paper link; back to the page it was decided on."""
    link = get_object_or_404(ModelPaperLink.objects.select_related("model", "paper"), pk=link_id)
    decision = request.POST.get("decision", "")
    if decision not in ("confirm", "reject"):
        return HttpResponse(f"decision: {decision!r} is not confirm or reject", status=400)
    services.paper_link_decide(link=link, confirm=decision == "confirm", user=request.user)
    verb = "Confirmed" if decision == "confirm" else "Rejected"
    messages.success(request, f"{verb}: {link.model.name} \u2194 {link.paper.title}")
    back = request.POST.get("next", "")
    if back == "paper":
        return redirect(reverse("catalog:paper-detail", args=[link.paper_id]))
    return redirect(reverse("catalog:model-detail", args=[link.model_id]))
