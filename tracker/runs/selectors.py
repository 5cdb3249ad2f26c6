"""Reads of a team's runs; every read is scoped by `TrainingRun.objects.visible_to(user, role)`.

`RunFilter.from_query(querydict)` validates the runs page's URL (and, later, the API's) into a typed value;
`runs_filtered(user=, run_filter=)` turns it into a queryset from whitelisted fields only: users never
name an ORM lookup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce, Lower
from django.urls import reverse
from django.utils import timezone

from core.auth import has_role
from core.roles import Role, roles_at_least
from tracker.accounts.models import Team
from tracker.catalog.models import Hardware, Model
from tracker.runs.curves import config_flat
from tracker.runs.metrics import metrics_ordered
from tracker.runs.models import MetricSeries, RunTag, TrainingRun
from tracker.runs.numbers import DASH, exact, human_count, human_float, human_sci, parse_quantity
from tracker.runs.tables import ALWAYS_SHOWN, COLUMNS, DEFAULT_COLUMNS, export_value

PER_PAGE_CHOICES = (25, 50, 100, 200)
DEFAULT_PER_PAGE = 50
DEFAULT_SORT = "-date"
MAX_TEXT = 200
MAX_VALUES = 20  # per repeated parameter (tag, status, ...)
SELECTION_LIMIT = 200
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9 ._:/+\-]{0,63}$")


class RunFilterError(ValueError):
    """Bad runs-page parameters: `errors` maps each parameter to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def tag_normalise(raw: str) -> str:
    """ "Baseline " -> "baseline"; raises ValueError when it is not a usable tag."""
    tag = " ".join(raw.strip().lower().split())
    if not TAG_RE.match(tag):
        raise ValueError(
            f"{raw[:40]!r} is not a tag: 1-64 characters, letters, digits, space and . _ : / + - "
            "(starting with a letter or digit)"
        )
    return tag


@dataclass(frozen=True)
class RunFilter:
    """What the runs page shows: filter, search, sort, page and columns. Defaults are the empty filter."""

    q: str = ""
    name: str = ""
    tags: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    hardware: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    n_min: float | None = None
    n_max: float | None = None
    d_min: float | None = None
    d_max: float | None = None
    c_min: float | None = None
    c_max: float | None = None
    loss_min: float | None = None
    loss_max: float | None = None
    after: date | None = None
    before: date | None = None
    sort: str = DEFAULT_SORT
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    columns: tuple[str, ...] = DEFAULT_COLUMNS

    # URL parameter -> field, for the repeatable ones and the ranges.
    LISTS = {"tag": "tags", "status": "statuses", "model": "models", "hardware": "hardware", "team": "teams"}
    RANGES = ("n_min", "n_max", "d_min", "d_max", "c_min", "c_max", "loss_min", "loss_max")
    PARAMS = ("q", "name", *LISTS, *RANGES, "after", "before", "sort", "page", "per_page", "cols", "col")

    @classmethod
    def from_query(cls, query: Any) -> RunFilter:
        """Validate a QueryDict (or any mapping with getlist); every bad parameter is reported at once."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        for key in sorted(set(query.keys()) - set(cls.PARAMS)):
            errors[key] = f"unknown parameter; the runs page understands {', '.join(cls.PARAMS)}"

        def given(key: str) -> list[str]:
            return [v.strip() for v in query.getlist(key) if v.strip()]

        for key in ("q", "name"):
            text = " ".join(given(key))
            if len(text) > MAX_TEXT:
                errors[key] = f"at most {MAX_TEXT} characters"
            values[key] = text
        for key, attr in cls.LISTS.items():
            items = list(dict.fromkeys(given(key)))
            if len(items) > MAX_VALUES:
                errors[key] = f"at most {MAX_VALUES} values"
            elif any(len(i) > MAX_TEXT for i in items):
                errors[key] = f"values of at most {MAX_TEXT} characters"
            if key == "status":
                bad = [s for s in items if s not in TrainingRun.Status.values]
                if bad:
                    errors[key] = f"{bad[0][:40]!r} is not a status ({', '.join(TrainingRun.Status.values)})"
            if key == "tag":
                try:
                    items = list(dict.fromkeys(tag_normalise(t) for t in items))
                except ValueError as exc:
                    errors[key] = str(exc)
            values[attr] = tuple(items)
        for key in cls.RANGES:
            raw = given(key)
            if not raw:
                continue
            try:
                values[key] = parse_quantity(raw[-1])
            except ValueError as exc:
                errors[key] = str(exc)
        for low, high in (
            ("n_min", "n_max"),
            ("d_min", "d_max"),
            ("c_min", "c_max"),
            ("loss_min", "loss_max"),
        ):
            if values.get(low) is not None and values.get(high) is not None and values[low] > values[high]:
                errors[high] = f"must not be smaller than {low}"
        for key in ("after", "before"):
            raw = given(key)
            if raw:
                try:
                    values[key] = date.fromisoformat(raw[-1])
                except ValueError:
                    errors[key] = f"{raw[-1][:40]!r} is not a date (YYYY-MM-DD)"
        if values.get("after") and values.get("before") and values["after"] > values["before"]:
            errors["before"] = "must not be earlier than after"
        sort = (given("sort") or [DEFAULT_SORT])[-1]
        column = COLUMNS.get(sort.removeprefix("-"))
        if column is None or column.sort is None:
            sortable = ", ".join(k for k, c in COLUMNS.items() if c.sort)
            errors["sort"] = f"{sort[:40]!r} is not a sortable column ({sortable}; prefix - for descending)"
        values["sort"] = sort
        for key, default in (("page", 1), ("per_page", DEFAULT_PER_PAGE)):
            raw = given(key)
            try:
                values[key] = int(raw[-1]) if raw else default
            except ValueError:
                errors[key] = f"{raw[-1][:40]!r} is not a whole number"
                continue
        if values.get("page", 1) < 1:
            errors["page"] = "pages start at 1"
        if values.get("per_page") not in PER_PAGE_CHOICES:
            errors["per_page"] = f"one of {', '.join(map(str, PER_PAGE_CHOICES))}"
        cols = [c.strip() for raw in given("cols") for c in raw.split(",") if c.strip()] + given("col")
        if cols:
            unknown = [c for c in cols if c not in COLUMNS]
            if unknown:
                errors["cols"] = f"{unknown[0][:40]!r} is not a column ({', '.join(COLUMNS)})"
            chosen = [*ALWAYS_SHOWN, *cols]
            values["columns"] = tuple(k for k in COLUMNS if k in chosen)
        if errors:
            raise RunFilterError(errors)
        return cls(**values)

    @property
    def sort_column(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def is_filtered(self) -> bool:
        keep = {"sort", "page", "per_page", "columns"}
        return any(getattr(self, f.name) != f.default for f in fields(self) if f.name not in keep)

    def query_pairs(self, **changes: Any) -> list[tuple[str, str]]:
        """The canonical URL parameters of this view (defaults left out), with `changes` applied."""
        view = replace(self, **changes) if changes else self
        pairs: list[tuple[str, str]] = []
        for key in ("q", "name"):
            if getattr(view, key):
                pairs.append((key, getattr(view, key)))
        for key, attr in self.LISTS.items():
            pairs.extend((key, v) for v in getattr(view, attr))
        for key in self.RANGES:
            value = getattr(view, key)
            if value is not None:
                pairs.append((key, f"{value:.6g}"))
        for key in ("after", "before"):
            if getattr(view, key):
                pairs.append((key, getattr(view, key).isoformat()))
        if view.sort != DEFAULT_SORT:
            pairs.append(("sort", view.sort))
        if view.columns != DEFAULT_COLUMNS:
            pairs.append(("cols", ",".join(view.columns)))
        if view.per_page != DEFAULT_PER_PAGE:
            pairs.append(("per_page", str(view.per_page)))
        if view.page != 1:
            pairs.append(("page", str(view.page)))
        return pairs

    def url_query(self, **changes: Any) -> str:
        pairs = self.query_pairs(**changes)
        return "?" + urlencode(pairs) if pairs else "?"


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _runs_annotated(user: Any) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.visible_to(user).annotate(
        flops=6.0 * F("parameters") * F("tokens"),
        date=Coalesce("started_at", "created_at"),
        name_lower=Lower("name"),
    )


def runs_filtered(*, user: Any, run_filter: RunFilter) -> QuerySet[TrainingRun]:
    """The user's runs matching the filter, sorted (missing values last, then newest id first)."""
    f = run_filter
    runs = _runs_annotated(user)
    for term in f.q.split():
        runs = runs.filter(
            Q(name__icontains=term)
            | Q(external_id__icontains=term)
            | Q(notes__icontains=term)
            | Q(model__name__icontains=term)
            | Q(hardware__name__icontains=term)
            | Exists(RunTag.objects.filter(run=OuterRef("pk"), name__icontains=term))
        )
    if f.name:
        runs = runs.filter(name__icontains=f.name)
    for tag in f.tags:
        runs = runs.filter(Exists(RunTag.objects.filter(run=OuterRef("pk"), name=tag)))
    if f.statuses:
        runs = runs.filter(status__in=f.statuses)
    if f.models:
        runs = runs.filter(_any_iexact("model__name", f.models))
    if f.hardware:
        runs = runs.filter(_any_iexact("hardware__name", f.hardware))
    if f.teams:
        runs = runs.filter(team__slug__in=f.teams)
    for key, lookup in (
        ("n_min", "parameters__gte"),
        ("n_max", "parameters__lte"),
        ("d_min", "tokens__gte"),
        ("d_max", "tokens__lte"),
        ("c_min", "flops__gte"),
        ("c_max", "flops__lte"),
        ("loss_min", "final_loss__gte"),
        ("loss_max", "final_loss__lte"),
    ):
        value = getattr(f, key)
        if value is not None:
            runs = runs.filter(**{lookup: value})
    # The run's date is when it started, else when it was stored (the "date" column).
    if f.after:
        start = _day_start(f.after)
        runs = runs.filter(Q(started_at__gte=start) | Q(started_at__isnull=True, created_at__gte=start))
    if f.before:
        end = _day_start(f.before + timedelta(days=1))
        runs = runs.filter(Q(started_at__lt=end) | Q(started_at__isnull=True, created_at__lt=end))
    field_name = COLUMNS[f.sort_column].sort
    assert field_name is not None  # from_query only lets sortable columns through
    order = F(field_name).desc(nulls_last=True) if f.descending else F(field_name).asc(nulls_last=True)
    return runs.order_by(order, "-pk")


def _any_iexact(lookup: str, names: Iterable[str]) -> Q:
    q = Q()
    for name in names:
        q |= Q(**{f"{lookup}__iexact": name})
    return q


@dataclass
class RunPage:
    run_filter: RunFilter
    runs: list[TrainingRun]
    count: int
    page: int
    num_pages: int
    columns: list[dict[str, Any]]
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.run_filter.per_page + 1 if self.count else 0

    @property
    def last_index(self) -> int:
        return min(self.page * self.run_filter.per_page, self.count)


def run_page(*, user: Any, run_filter: RunFilter) -> RunPage:
    """One page of the filtered runs, with the cells of the chosen columns (a page past the end shows the
    last one). Queries: count, rows (team, model, hardware joined), tags of the page's runs."""
    f = run_filter
    runs = (
        runs_filtered(user=user, run_filter=f)
        .select_related("team", "model", "hardware")
        .defer("config", "data_sources", "notes")  # possibly large, never shown in the table
    )
    if "tags" in f.columns:
        runs = runs.prefetch_related("tags")
    paginator = Paginator(runs, f.per_page, allow_empty_first_page=True)
    page_number = min(f.page, paginator.num_pages)
    page = paginator.page(page_number)
    page_runs = list(page.object_list)
    columns = []
    for key in f.columns:
        column = COLUMNS[key]
        active = f.sort_column == key
        if active:
            next_sort = key if f.descending else f"-{key}"
        else:  # numbers and dates open largest/newest first, text A to Z
            next_sort = f"-{key}" if column.numeric or key == "date" else key
        columns.append(
            {
                "key": key,
                "label": column.label,
                "title": column.title,
                "numeric": column.numeric,
                "sortable": column.sort is not None,
                "sorted": ("desc" if f.descending else "asc") if active else "",
                "sort_url": f.url_query(sort=next_sort, page=1) if column.sort else "",
            }
        )
    rows = []
    detail_url = reverse("runs:detail", args=[987654321])  # one reverse, not one per row
    for run in page_runs:
        cells = []
        for key in f.columns:
            cell = COLUMNS[key].cell(run)
            if key == "tags":
                cell["tags"] = [
                    {"name": t.name, "url": f.url_query(tags=tuple(dict.fromkeys((*f.tags, t.name))), page=1)}
                    for t in run.tags.all()
                ]
            cells.append(cell)
        rows.append({"run": run, "cells": cells, "url": detail_url.replace("987654321", str(run.pk))})
    return RunPage(
        run_filter=f,
        runs=page_runs,
        count=paginator.count,
        page=page_number,
        num_pages=paginator.num_pages,
        columns=columns,
        rows=rows,
    )


FACETS_TTL_S = 60


def facets_changed() -> None:
    """Called when tags change: the filter form's suggestions are recomputed on the next page view."""
    try:
        cache.incr(_FACETS_GENERATION)
    except ValueError:
        cache.set(_FACETS_GENERATION, 1, None)


_FACETS_GENERATION = "run-facets:generation"


def run_facets(*, user: Any) -> dict[str, list[str]]:
    """Values the filter form suggests: the user's teams, and the tags, models and hardware of their runs.

    Suggestions, not results: kept for FACETS_TTL_S per user (tag edits refresh them at once), so the runs
    page does not aggregate every tag of every visible run on each view."""
    key = f"run-facets:v1:{getattr(user, 'pk', None)}:{cache.get(_FACETS_GENERATION, 0)}"
    found = cache.get(key)
    if found is None:
        found = _run_facets(user)
        cache.set(key, found, FACETS_TTL_S)
    return found


def _run_facets(user: Any) -> dict[str, list[str]]:
    visible = TrainingRun.objects.visible_to(user)
    return {
        "teams": list(Team.objects.visible_to(user).order_by("name").values_list("slug", flat=True)),
        "tags": list(
            RunTag.objects.filter(run__in=visible.values("pk")).values_list("name", flat=True).distinct()
        ),
        "models": list(
            Model.objects.filter(pk__in=visible.values("model_id"))
            .order_by("name")
            .values_list("name", flat=True)
        ),
        "hardware": list(
            Hardware.objects.filter(pk__in=visible.values("hardware_id"))
            .order_by("name")
            .values_list("name", flat=True)
        ),
    }


def runs_export_rows(*, user: Any, run_filter: RunFilter) -> Iterable[list[Any]]:
    """Header, then one row per matching run (every page), every column, exact values."""
    keys = [k for k in COLUMNS if k != "tags"]
    yield ["id", *keys, "tags", "final_loss_provenance"]
    runs = runs_filtered(user=user, run_filter=run_filter).select_related("team", "model", "hardware")
    for chunk in _chunks(runs.prefetch_related("tags"), 500):
        for run in chunk:
            yield [
                run.pk,
                *(export_value(COLUMNS[k].value(run)) for k in keys),
                " ".join(t.name for t in run.tags.all()),
                run.final_loss_provenance,
            ]


def _chunks(runs: QuerySet[TrainingRun], size: int) -> Iterable[list[TrainingRun]]:
    # prefetch_related needs whole lists: page through with a keyset-free slice (the order is total).
    start = 0
    while True:
        chunk = list(runs[start : start + size])
        if not chunk:
            return
        yield chunk
        start += size


def run_list(*, user: Any) -> QuerySet[TrainingRun]:
    """The user's runs, newest first (other apps' pickers use this)."""
    return TrainingRun.objects.visible_to(user).select_related("team", "hardware")


def run_get(*, user: Any, run_id: int, min_role: str = Role.VIEWER) -> TrainingRun:
    """A run the user may see (or change, with min_role=EDITOR); anything else is a 404, never a hint."""
    runs = TrainingRun.objects.select_related("team", "hardware", "model", "source")
    return runs.get_visible_or_404(user, run_id, min_role)


def run_links(*, run: TrainingRun) -> dict[str, list[Any]]:
    """What a run page links to: the papers of the run's model (confirmed links) and the studies using it.

    Studies point at runs (`Study.runs`, related name `studies`); read through that relation, so this layer
    imports nothing above it.
    """
    papers = (
        list(run.model.papers.defer("full_text", "bibtex", "search").order_by("title")) if run.model else []
    )
    studies: Any = getattr(run, "studies", None)
    return {"model_papers": papers, "studies": list(studies.order_by("name")) if studies is not None else []}


def runs_visible_ids(*, user: Any, run_ids: Sequence[int], min_role: str = Role.VIEWER) -> list[int]:
    """Those of `run_ids` the user may see (or change), in the given order."""
    found = set(
        TrainingRun.objects.visible_to(user, min_role).filter(pk__in=run_ids).values_list("pk", flat=True)
    )
    return [i for i in run_ids if i in found]


def user_can_edit(*, user: Any, run: TrainingRun) -> bool:
    return has_role(user, run.team, Role.EDITOR)


def editable_team_ids(*, user: Any) -> set[int]:
    if getattr(user, "is_superuser", False):
        return set(Team.objects.values_list("pk", flat=True))
    return set(
        user.memberships.filter(role__in=roles_at_least(Role.EDITOR)).values_list("team_id", flat=True)
    )


def series_by_run(*, run_ids: Sequence[int]) -> dict[int, list[MetricSeries]]:
    """The series of runs already checked visible, by run id (one query)."""
    found: dict[int, list[MetricSeries]] = {i: [] for i in run_ids}
    for series in MetricSeries.objects.filter(run_id__in=run_ids).order_by("name"):
        found[series.run_id].append(series)
    return found


def run_series(*, run: TrainingRun) -> list[MetricSeries]:
    """The run's metric series in the documented order (loss first, counters last; `metrics` module)."""
    series = list(run.series.all())
    order = {name: i for i, name in enumerate(metrics_ordered(s.name for s in series))}
    return sorted(series, key=lambda s: order[s.name])


MANIFEST_FIELDS = (
    ("status", "status"),
    ("model", "model"),
    ("parameters", "N (parameters)"),
    ("tokens", "D (tokens)"),
    ("unique_tokens", "U (unique tokens)"),
    ("hardware", "hardware"),
    ("gpu_count", "GPUs"),
    ("precision", "precision"),
    ("synthetic_share", "synthetic share"),
    ("synthetic_epochs", "synthetic epochs"),
    ("final_loss", "final loss"),
)


def _diff_text(value: Any) -> str:
    if value is None or value == "":
        return DASH
    if isinstance(value, float):
        return exact(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def config_diff(runs: Sequence[TrainingRun]) -> dict[str, Any]:
    """Manifest fields, data mixture and config keys (dotted) across runs: those whose values differ, and
    those that are the same everywhere."""
    rows: list[tuple[str, str, list[str]]] = []
    for attr, label in MANIFEST_FIELDS:
        values = []
        for run in runs:
            value = getattr(run, attr)
            values.append(_diff_text(value.name if hasattr(value, "name") else value))
        rows.append(("run", label, values))
    for group, getter in (("data", lambda r: r.data_sources), ("config", lambda r: r.config)):
        flats = [config_flat(getter(run)) for run in runs]
        keys = sorted({k for flat in flats for k in flat})
        for key in keys:
            rows.append((group, key, [_diff_text(flat.get(key)) for flat in flats]))
    differ = [{"group": g, "key": k, "values": v} for g, k, v in rows if len(set(v)) > 1]
    same = [
        {"group": g, "key": k, "value": v[0]}
        for g, k, v in rows
        if len(set(v)) <= 1 and v and v[0] != "\u2013"
    ]
    return {"differ": differ, "same": same}


def filter_chips(run_filter: RunFilter) -> list[dict[str, str]]:
    """The active filters as removable chips: a label and the URL of this view without that filter."""
    f = run_filter
    chips = []
    if f.q:
        chips.append({"label": f"search “{f.q}”", "url": f.url_query(q="", page=1)})
    if f.name:
        chips.append({"label": f"name contains “{f.name}”", "url": f.url_query(name="", page=1)})
    for key, attr in RunFilter.LISTS.items():
        values: tuple[str, ...] = getattr(f, attr)
        for value in values:
            rest = tuple(v for v in values if v != value)
            chips.append({"label": f"{key} = {value}", "url": f.url_query(**{attr: rest, "page": 1})})
    for low, high, label in (
        ("n_min", "n_max", "N"),
        ("d_min", "d_max", "D"),
        ("c_min", "c_max", "C"),
        ("loss_min", "loss_max", "final loss"),
    ):
        lo, hi = getattr(f, low), getattr(f, high)
        if lo is None and hi is None:
            continue
        fmt = human_float if low == "loss_min" else (human_sci if low == "c_min" else human_count)
        text = (
            f"{fmt(lo)} ≤ {label} ≤ {fmt(hi)}"
            if lo is not None and hi is not None
            else (f"{label} ≥ {fmt(lo)}" if lo is not None else f"{label} ≤ {fmt(hi)}")
        )
        chips.append({"label": text, "url": f.url_query(**{low: None, high: None, "page": 1})})
    if f.after or f.before:
        text = " \u2013 ".join(d.isoformat() if d else "…" for d in (f.after, f.before))
        chips.append({"label": f"date {text}", "url": f.url_query(after=None, before=None, page=1)})
    return chips
