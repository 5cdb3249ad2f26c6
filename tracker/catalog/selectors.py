"""Reads for the catalog pages: home, papers, models, timeline, costs.

Every page reads in a fixed number of queries (pinned by tests): lists are paginated, relations are
select_related/prefetched, and cost numbers are computed in Python from one price query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce
from django.http import Http404

from tracker.accounts.models import Membership
from tracker.catalog import costs
from tracker.catalog.figures import ModelPoint, si
from tracker.catalog.models import (
    Fact,
    Hardware,
    HardwarePrice,
    Model,
    ModelAlias,
    ModelMerge,
    ModelPaperLink,
    Organization,
    Paper,
    SourceDocument,
    Tag,
)
from tracker.catalog.names import model_key

PAPERS_PER_PAGE = 25
MODELS_PER_PAGE = 100
COST_ROWS_PER_PAGE = 50  # a readable bar chart; also keeps the page well inside its latency budget
MAX_QUERY_CHARS = 200
UNKNOWN = "\u2013"  # an en dash, not a zero

# Per-model power facts (W per GPU) override the hardware TDP; model cards name them differently.
POWER_FACT_NAMES = ("power_watts", "tdp_watts", "gpu_power_watts", "power_w_per_gpu")
EMISSION_FACT_NAMES = ("co2_tonnes", "co2_eq_emissions", "co2_emissions")
# A $/GPU-hour the paper or card itself states (DeepSeek-V3: "assuming the rental price of the H800 is $2").
STATED_PRICE_FACT_NAMES = ("stated_usd_per_gpu_hour", "usd_per_gpu_hour", "rental_usd_per_gpu_hour")

MODEL_SORTS: dict[str, tuple[Any, ...]] = {
    "release": (F("release_date").desc(nulls_last=True), "name"),
    "name": ("name",),
    "params": (F("parameters").desc(nulls_last=True), "name"),
    "tokens": (F("training_tokens").desc(nulls_last=True), "name"),
    "gpu_hours": (F("gpu_hours").desc(nulls_last=True), "name"),
    "compute": (F("compute").desc(nulls_last=True), "name"),
}

# Wide text columns that list pages never show.
PAPER_HEAVY = ("full_text", "bibtex", "search")
MODEL_HEAVY = ("card", "metadata")


class BadQuery(ValueError):
    """A query parameter the page cannot use; the message is shown to the user."""


@dataclass(frozen=True)
class ReportedEmission:
    tonnes: float | None
    value: float
    unit: str
    source: str
    location: str


@dataclass
class ModelRow:
    model: Model
    cost: costs.CostEstimate
    reported_emissions: list[ReportedEmission] = field(default_factory=list)
    # Other catalog entries that are the same training (counted once, on this row): names.
    same_training: list[str] = field(default_factory=list)

    @property
    def tokens_per_parameter(self) -> float | None:
        return self.model.tokens_per_parameter

    @property
    def training_flops(self) -> float | None:
        return self.model.training_flops

    # Display strings: UNKNOWN marks an unknown number so that it is never mistaken for zero.
    @property
    def parameters_display(self) -> str:
        m = self.model
        if m.parameters is None:
            return UNKNOWN
        return (
            f"{si(m.parameters)} ({si(m.active_parameters)} active)"
            if m.active_parameters
            else si(m.parameters)
        )

    @property
    def tokens_display(self) -> str:
        return UNKNOWN if self.model.training_tokens is None else si(self.model.training_tokens)

    @property
    def tokens_per_parameter_display(self) -> str:
        tpp = self.tokens_per_parameter
        return UNKNOWN if tpp is None else f"{tpp:.1f}"

    @property
    def flops_display(self) -> str:
        c = self.training_flops
        return UNKNOWN if c is None else f"{c:.3g}"

    @property
    def gpu_hours_display(self) -> str:
        return UNKNOWN if self.model.gpu_hours is None else si(self.model.gpu_hours)

    @property
    def usd_display(self) -> str:
        return "no price" if self.cost.usd is None else f"${self.cost.usd:,.0f}"

    @property
    def energy_display(self) -> str:
        kwh = self.cost.energy_kwh
        return "no power known" if kwh is None else f"{kwh / 1e6:,.2f} GWh"

    @property
    def co2_display(self) -> str:
        t = self.cost.co2_tonnes
        return UNKNOWN if t is None else f"{t:,.0f} t"


def page_number(raw: str | None, paginator: Paginator) -> Page:
    if raw in (None, ""):
        return paginator.page(1)
    if not raw.isdigit() or int(raw) < 1:
        raise BadQuery(f"page: {raw!r} is not a page number (use 1, 2, 3, …)")
    number = int(raw)
    if number > paginator.num_pages:
        raise BadQuery(f"page: {number} is past the last page ({paginator.num_pages})")
    return paginator.page(number)


# ---- papers ---------------------------------------------------------------------------------------------


def paper_search(*, q: str = "", tag: str = "") -> QuerySet[Paper]:
    """Papers matching a websearch query (ranked: title > abstract > full text) and/or a tag."""
    q = q.strip()
    if len(q) > MAX_QUERY_CHARS:
        raise BadQuery(f"q: the search is {len(q)} characters long; at most {MAX_QUERY_CHARS} are allowed")
    papers = Paper.objects.defer(*PAPER_HEAVY).prefetch_related("tags")
    if tag:
        papers = papers.filter(tags__name=tag)
    if not q:
        return papers.order_by(F("published").desc(nulls_last=True), "title", "pk")
    query = SearchQuery(q, search_type="websearch", config="english")
    return (
        papers.filter(search=query)
        .annotate(rank=SearchRank(F("search"), query))
        .order_by("-rank", F("published").desc(nulls_last=True), "pk")
    )


def paper_page(*, q: str = "", tag: str = "", page: str | None = None) -> Page:
    return page_number(page, Paginator(paper_search(q=q, tag=tag), PAPERS_PER_PAGE))


def tag_list(limit: int = 40) -> list[Tag]:
    return list(Tag.objects.annotate(n=Count("papers")).filter(n__gt=0).order_by("-n", "name")[:limit])


def paper_detail(paper_id: int) -> Paper:
    paper = (
        Paper.objects.defer("search")
        .select_related("source")
        .prefetch_related(
            "tags",
            Prefetch("models", queryset=Model.objects.defer(*MODEL_HEAVY).select_related("organization")),
            Prefetch("facts", queryset=Fact.objects.select_related("source").order_by("name", "-confidence")),
        )
        .filter(pk=paper_id)
        .first()
    )
    if paper is None:
        raise Http404("No such paper")
    return paper


# ---- models and costs -----------------------------------------------------------------------------------


def prices_by_hardware() -> dict[int, list[costs.PricePoint]]:
    prices: dict[int, list[costs.PricePoint]] = defaultdict(list)
    for hw_id, usd, valid_from, provider in HardwarePrice.objects.values_list(
        "hardware_id", "usd_per_gpu_hour", "valid_from", "provider"
    ):
        prices[hw_id].append(costs.PricePoint(float(usd), valid_from, provider))
    return prices


@dataclass
class ModelFacts:
    """The facts the cost columns use, per model id (highest confidence first)."""

    power: dict[int, tuple[float, str]] = field(default_factory=dict)  # watts, where stated
    stated_price: dict[int, costs.StatedPrice] = field(default_factory=dict)
    emissions: dict[int, list[ReportedEmission]] = field(default_factory=lambda: defaultdict(list))


def _model_facts_of_interest(model_ids: Iterable[int]) -> ModelFacts:
    """Per-model power, stated price and reported emissions, in one query."""
    facts = ModelFacts()
    names = POWER_FACT_NAMES + EMISSION_FACT_NAMES + STATED_PRICE_FACT_NAMES
    rows = (
        Fact.objects.filter(model_id__in=list(model_ids), name__in=names)
        .filter(value__isnull=False)
        .order_by("model_id", "-confidence", "pk")
        .values_list("model_id", "name", "value", "unit", "source__name", "location")
    )
    for model_id, name, value, unit, source, location in rows:
        if value is None:  # excluded by the query; narrows the type
            continue
        where = f"{source}, {location}" if location else source
        if name in POWER_FACT_NAMES:
            facts.power.setdefault(model_id, (value, f"stated per GPU ({where})"))
        elif name in STATED_PRICE_FACT_NAMES:
            facts.stated_price.setdefault(model_id, costs.StatedPrice(value, where))
        else:
            facts.emissions[model_id].append(
                ReportedEmission(costs.emissions_in_tonnes(value, unit or "t"), value, unit, source, location)
            )
    return facts


def _model_rows(
    models: list[Model],
    *,
    overrides: dict[int, float] | None = None,
    pue: float = costs.DEFAULT_PUE,
    grid: float = costs.DEFAULT_GRID_KG_PER_KWH,
    price_rule: str = costs.DEFAULT_PRICE_RULE,
) -> list[ModelRow]:
    overrides = overrides or {}
    prices = prices_by_hardware()
    facts = _model_facts_of_interest(m.pk for m in models)
    rows = []
    for m in models:
        watts, basis = facts.power.get(m.pk) or (m.hardware.tdp_watts if m.hardware else None, "TDP")
        estimate = costs.estimate(
            gpu_hours=m.gpu_hours,
            release_date=m.release_date,
            prices=prices.get(m.hardware_id, []) if m.hardware_id else [],
            power_watts=watts,
            hardware_name=m.hardware.name if m.hardware else "",
            power_basis=basis,
            price_rule=price_rule,
            stated_price=facts.stated_price.get(m.pk),
            what_if_usd_per_gpu_hour=overrides.get(m.hardware_id) if m.hardware_id else None,
            pue=pue,
            grid_kg_per_kwh=grid,
        )
        if m.hardware_id is None and m.gpu_hours is not None:
            estimate = costs.CostEstimate(None, None, "no hardware known", None, None, None, "none")
        rows.append(ModelRow(m, estimate, facts.emissions.get(m.pk, [])))
    return rows


def models_visible(user: Any = None) -> QuerySet[Model]:
    """The shared catalog plus the private model references of the user's teams (all of them for a
    superuser; the shared catalog only without a user)."""
    models = Model.objects.all()
    if user is not None and getattr(user, "is_superuser", False):
        return models
    if user is None or not getattr(user, "is_authenticated", False):
        return models.filter(team__isnull=True)
    teams = Membership.objects.filter(user=user).values("team_id")
    return models.filter(Q(team__isnull=True) | Q(team__in=teams))


def _model_queryset(user: Any = None) -> QuerySet[Model]:
    return (
        models_visible(user)
        .defer(*MODEL_HEAVY)
        .select_related("organization", "hardware")
        .annotate(compute=6.0 * Coalesce("active_parameters", "parameters") * F("training_tokens"))
    )


def model_table(
    *, sort: str = "release", page: str | None = None, user: Any = None
) -> tuple[Page, list[ModelRow]]:
    if sort not in MODEL_SORTS:
        raise BadQuery(f"sort: {sort!r} is not one of {', '.join(MODEL_SORTS)}")
    models = _model_queryset(user).order_by(*MODEL_SORTS[sort])
    current = page_number(page, Paginator(models, MODELS_PER_PAGE))
    return current, _model_rows(list(current.object_list))


def model_detail(model_id: int, user: Any = None) -> tuple[ModelRow, list[Fact], list[Paper]]:
    # The detail page shows the card; another team's private model is a 404, never a hint.
    model = _model_queryset(user).defer(None).filter(pk=model_id).first()
    if model is None:
        raise Http404("No such model")
    facts = list(model.facts.select_related("source").order_by("name", "-confidence", "pk"))
    papers = list(model.papers.defer(*PAPER_HEAVY).order_by(F("published").desc(nulls_last=True), "title"))
    return _model_rows([model])[0], facts, papers


@dataclass(frozen=True)
class CostAssumptions:
    """What every number on the costs page rests on; reports show the same."""

    price_rule: str
    price_rule_text: str
    pue: float
    grid_kg_per_kwh: float
    average_power_fraction_gpu: float
    average_power_fraction_tpu: float
    server_multipliers: tuple[tuple[str, float, str], ...]
    default_server_multiplier: tuple[float, str]
    energy_method: str
    what_if_prices: dict[int, float]

    @property
    def price_rules(self) -> dict[str, str]:
        return costs.PRICE_RULES

    def as_dict(self) -> dict[str, Any]:
        """Plain data for reports (JSON, CSV notes)."""
        return {
            "price_rule": self.price_rule,
            "price_rule_text": self.price_rule_text,
            "pue": self.pue,
            "grid_kg_per_kwh": self.grid_kg_per_kwh,
            "average_power_fraction": {
                "gpu": self.average_power_fraction_gpu,
                "tpu": self.average_power_fraction_tpu,
            },
            "server_multipliers": {key: value for key, value, _basis in self.server_multipliers},
            "default_server_multiplier": self.default_server_multiplier[0],
            "energy_method": self.energy_method,
            "what_if_prices": {str(k): v for k, v in self.what_if_prices.items()},
        }


def cost_assumptions(
    *,
    price_rule: str = costs.DEFAULT_PRICE_RULE,
    pue: float = costs.DEFAULT_PUE,
    grid: float = costs.DEFAULT_GRID_KG_PER_KWH,
    overrides: dict[int, float] | None = None,
) -> CostAssumptions:
    if price_rule not in costs.PRICE_RULES:
        raise BadQuery(f"price_rule: {price_rule!r} is not one of {', '.join(costs.PRICE_RULES)}")
    return CostAssumptions(
        price_rule=price_rule,
        price_rule_text=costs.PRICE_RULES[price_rule],
        pue=pue,
        grid_kg_per_kwh=grid,
        average_power_fraction_gpu=costs.GPU_AVERAGE_POWER_FRACTION,
        average_power_fraction_tpu=costs.TPU_AVERAGE_POWER_FRACTION,
        server_multipliers=costs.SERVER_MULTIPLIERS,
        default_server_multiplier=costs.DEFAULT_SERVER_MULTIPLIER,
        energy_method=costs.EPOCH_ENERGY_SOURCE,
        what_if_prices=dict(overrides or {}),
    )


def cost_table(
    *,
    overrides: dict[int, float],
    pue: float,
    grid: float,
    page: str | None = None,
    price_rule: str = costs.DEFAULT_PRICE_RULE,
) -> tuple[Page, list[ModelRow], CostAssumptions]:
    """Shared models with known GPU hours, most expensive (by hours) first, one row per training, and the
    assumptions behind them.

    Two entries of one training (one model under two spellings, or the same GPU-hours fact stored on two
    entries: `costs.same_training`) are one row, on the first entry, naming the others.
    """
    assumptions = cost_assumptions(price_rule=price_rule, pue=pue, grid=grid, overrides=overrides)
    models = (
        Model.objects.filter(team__isnull=True, gpu_hours__isnull=False)
        .order_by(F("gpu_hours").desc(), "name", "pk")
        .values_list("pk", "name", "gpu_hours", "parameters", "hardware_id")
    )
    names: dict[int, str] = {}
    identities = []
    for pk, name, hours, params, hw_id in models:
        names[pk] = name
        identities.append(costs.TrainingIdentity(pk, model_key(name), hours, params, hw_id))
    trainings = costs.one_per_training(identities)
    current = page_number(page, Paginator(list(trainings), COST_ROWS_PER_PAGE))
    ids = list(current.object_list)
    by_pk = {m.pk: m for m in _model_queryset().filter(pk__in=ids)}
    rows = _model_rows(
        [by_pk[pk] for pk in ids if pk in by_pk],
        overrides=overrides,
        pue=pue,
        grid=grid,
        price_rule=price_rule,
    )
    for row in rows:
        row.same_training = [names[pk] for pk in trainings[row.model.pk]]
    return current, rows, assumptions


def hardware_with_prices() -> list[Hardware]:
    return list(
        Hardware.objects.prefetch_related(
            Prefetch("prices", queryset=HardwarePrice.objects.order_by("-valid_from", "provider"))
        ).order_by("name")
    )


# ---- timeline -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineFilters:
    organization: str = ""  # exact organization name; "" for all
    since: date | None = None  # release date on or after
    until: date | None = None  # release date on or before

    def query(self) -> dict[str, str]:
        """The filters as query-string values (blank when unset), for forms and links."""
        return {
            "organization": self.organization,
            "from": self.since.isoformat() if self.since else "",
            "to": self.until.isoformat() if self.until else "",
        }


def _date_param(name: str, raw: str) -> date | None:
    text = raw.strip()
    if not text:
        return None
    try:
        return date(int(text), 1, 1) if text.isdigit() and len(text) == 4 else date.fromisoformat(text)
    except ValueError:
        raise BadQuery(f"{name}: {text[:40]!r} is not a date (use YYYY-MM-DD or a year)") from None


def timeline_filters(*, organization: str = "", since: str = "", until: str = "") -> TimelineFilters:
    """Checked timeline filters; BadQuery names the parameter. A bare year `to` means its last day."""
    if len(organization) > MAX_QUERY_CHARS:
        raise BadQuery(f"organization: at most {MAX_QUERY_CHARS} characters")
    if "\x00" in organization:
        raise BadQuery("organization: contains a NUL character")
    start = _date_param("from", since)
    end = _date_param("to", until)
    if end is not None and until.strip().isdigit():
        end = date(end.year, 12, 31)
    if start and end and start > end:
        raise BadQuery(f"from: {start.isoformat()} is after to: {end.isoformat()}")
    return TimelineFilters(organization.strip(), start, end)


def timeline_organizations() -> list[str]:
    """Organizations with at least one dated model, for the timeline's filter."""
    return list(
        Organization.objects.filter(models__release_date__isnull=False, models__team__isnull=True)
        .order_by("name")
        .distinct()
        .values_list("name", flat=True)
    )


def timeline_points(filters: TimelineFilters | None = None) -> list[ModelPoint]:
    filters = filters or TimelineFilters()
    models = Model.objects.filter(release_date__isnull=False, team__isnull=True)  # shared models only
    if filters.organization:
        models = models.filter(organization__name=filters.organization)
    if filters.since:
        models = models.filter(release_date__gte=filters.since)
    if filters.until:
        models = models.filter(release_date__lte=filters.until)
    rows = models.order_by("release_date", "name").values_list(
        "name",
        "release_date",
        "organization__name",
        "family",
        "parameters",
        "active_parameters",
        "training_tokens",
    )
    points = []
    for name, released, org, family, n, n_active, d in rows:
        if released is None:  # excluded by the query; narrows the type
            continue
        n_eff = n_active or n
        flops = 6.0 * n_eff * d if n_eff and d else None
        points.append(ModelPoint(name, released, org or "", family, n, n_active, d, flops))
    return points


def model_list(*, user: Any, sort: str = "release") -> QuerySet[Model]:
    """Every model the user may see (shared, and their teams' private references) in a total order (the API
    pages through it with a cursor)."""
    if sort not in MODEL_SORTS:
        raise BadQuery(f"sort: {sort!r} is not one of {', '.join(MODEL_SORTS)}")
    return (
        _model_queryset(user)
        .select_related(None)
        .select_related("organization")
        .order_by(*MODEL_SORTS[sort], "pk")
    )


def fact_list(
    *, user: Any, name: str = "", model_id: int | None = None, paper_id: int | None = None
) -> QuerySet[Fact]:
    """Facts with their sources, optionally of one name, model or paper, in a total order; facts of another
    team's private model reference are not listed."""
    facts = Fact.objects.select_related("source", "model", "paper").filter(
        Q(model__isnull=True) | Q(model__in=models_visible(user).values("pk"))
    )
    if name:
        facts = facts.filter(name=name)
    if model_id is not None:
        facts = facts.filter(model_id=model_id)
    if paper_id is not None:
        facts = facts.filter(paper_id=paper_id)
    return facts.order_by("name", "-confidence", "pk")


# ---- identity: aliases, merges, duplicates --------------------------------------------------------------


@dataclass
class MergePreview:
    survivor: Model
    duplicate: Model
    facts: int
    runs: int
    papers: int
    aliases: list[str]

    # Display strings (UNKNOWN, never 0, for a number nobody gave).
    @property
    def survivor_parameters(self) -> str:
        return si(self.survivor.parameters) if self.survivor.parameters is not None else UNKNOWN

    @property
    def duplicate_parameters(self) -> str:
        return si(self.duplicate.parameters) if self.duplicate.parameters is not None else UNKNOWN

    @property
    def survivor_gpu_hours(self) -> str:
        return si(self.survivor.gpu_hours) if self.survivor.gpu_hours is not None else UNKNOWN

    @property
    def duplicate_gpu_hours(self) -> str:
        return si(self.duplicate.gpu_hours) if self.duplicate.gpu_hours is not None else UNKNOWN


def model_aliases(model: Model) -> list[ModelAlias]:
    return list(model.aliases.select_related("document").order_by("alias"))


def model_merges(model: Model) -> list[ModelMerge]:
    return list(model.merges.select_related("merged_by").order_by("-merged_at"))


def merge_candidates(model: Model, *, limit: int = 30) -> list[Model]:
    """Likely duplicates of `model` in its catalog: entries whose name key starts with the same word (the
    family: "llama ..."), nearest keys first."""
    key = model_key(model.name)
    first = key.split(" ", 1)[0] if key else ""
    if not first:
        return []
    ids = ModelAlias.objects.filter(team=model.team, key__startswith=first).values("model_id")
    candidates = list(
        Model.objects.defer(*MODEL_HEAVY)
        .filter(team=model.team)
        .filter(Q(pk__in=ids) | Q(name__icontains=first))
        .exclude(pk=model.pk)
        .order_by("name")[:200]
    )
    own = set(key.split())
    candidates.sort(key=lambda m: (-len(own & set(model_key(m.name).split())), m.name))
    return candidates[:limit]


def merge_preview(*, survivor_id: int, duplicate_ref: str, user: Any) -> MergePreview:
    """What merging `duplicate_ref` (an id or any name of the model) into the survivor would move."""
    from_ = models_visible(user)
    survivor = from_.filter(pk=survivor_id).first()
    if survivor is None:
        raise Http404("No such model")
    ref = duplicate_ref.strip()
    duplicate = from_.filter(pk=int(ref)).first() if ref.isdigit() and len(ref) < 18 else None
    if duplicate is None and ref:
        alias = (
            ModelAlias.objects.filter(key=model_key(ref), team=survivor.team).select_related("model").first()
        )
        duplicate = alias.model if alias is not None else None
    if duplicate is None:
        raise BadQuery(f"duplicate: no model in this catalog is called or numbered {ref!r}")
    if duplicate.pk == survivor.pk:
        raise BadQuery(f"duplicate: {duplicate.name!r} is this model; choose another one")
    if duplicate.team_id != survivor.team_id:
        raise BadQuery(f"duplicate: {duplicate.name!r} is not in the same catalog as {survivor.name!r}")
    return MergePreview(
        survivor=survivor,
        duplicate=duplicate,
        facts=duplicate.facts.count(),
        runs=duplicate.runs.count(),
        papers=duplicate.papers.count(),
        aliases=[a.alias for a in duplicate.aliases.order_by("alias")],
    )


# ---- links -----------------------------------------------------------------------------------------------


def model_paper_links(model: Model) -> list[ModelPaperLink]:
    """The model's links to papers, confirmed first, then suggestions; rejected ones are not shown."""
    return list(
        model.paper_links.exclude(status=ModelPaperLink.Status.REJECTED)
        .select_related("paper", "source")
        .defer(*(f"paper__{f}" for f in PAPER_HEAVY))
        .order_by("status", "-confidence", "pk")
    )


def paper_model_links(paper: Paper, user: Any = None) -> list[ModelPaperLink]:
    visible = models_visible(user).values("pk")
    return list(
        paper.model_links.exclude(status=ModelPaperLink.Status.REJECTED)
        .filter(model__in=visible)
        .select_related("model", "source")
        .defer(*(f"model__{f}" for f in MODEL_HEAVY))
        .order_by("status", "-confidence", "pk")
    )


def model_runs(model: Model, user: Any) -> list[Any]:
    """The runs of the user's teams that trained this model (through their manifests' names and aliases)."""
    runs: Any = model.runs
    return list(runs.visible_to(user).select_related("team").order_by("-created_at")[:50])


@dataclass(frozen=True)
class SourceLinks:
    """Where a fact's source document can be opened: the paper it is the source of, the ingest job that
    stored it (only for the user's own teams' uploads)."""

    paper_id: int | None = None
    paper_title: str = ""
    job_id: int | None = None


def fact_source_links(facts: list[Fact], user: Any) -> dict[int, SourceLinks]:
    """Per source document of these facts, in two queries (papers; the user's teams' ingest jobs)."""
    source_ids = {f.source_id for f in facts}
    if not source_ids:
        return {}
    papers: dict[int, tuple[int, str]] = {}
    for source_id, pk, title in Paper.objects.filter(source_id__in=source_ids).values_list(
        "source_id", "pk", "title"
    ):
        if source_id is not None:
            papers.setdefault(source_id, (pk, title))
    jobs: dict[int, int] = {}
    if getattr(user, "is_authenticated", False):
        teams = Membership.objects.filter(user=user).values("team_id")
        # Ingest files point at their source document (`IngestFile.document`); read through that relation so
        # the catalog imports nothing from ingestion.
        rows = (
            SourceDocument.objects.filter(pk__in=source_ids, team__in=teams, ingestfile__isnull=False)
            .values_list("pk", "ingestfile__job_id")
            .order_by("pk", "-ingestfile__job_id")
        )
        for pk, job_id in rows:
            jobs.setdefault(pk, job_id)
    return {
        sid: SourceLinks(papers.get(sid, (None, ""))[0], papers.get(sid, (None, ""))[1], jobs.get(sid))
        for sid in source_ids
        if sid in papers or sid in jobs
    }
