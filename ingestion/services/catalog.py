"""Mapping parsed records onto the catalog and a team's runs (the caller holds the transaction)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from ingestion.parsers.records import (
    ArticleRecord,
    FactRecord,
    MetricSeriesRecord,
    ModelCardRecord,
    PaperRecord,
    ParsedDocument,
    PowerSummary,
    RunLogRecord,
    RunManifestRecord,
)
from ingestion.services.progress import COPY_GROUP_ROWS, output_record, rows_stored
from tracker.catalog import services as catalog_services
from tracker.catalog.names import is_file_name, is_row_label, model_key
from tracker.claims import services as claims_services
from tracker.claims.models import Article
from tracker.models import MetricSeries, Model, ModelAlias, SourceDocument, Team, TrainingRun
from tracker.runs.metrics import FINAL_LOSS_TRAIN_K, SeriesTail, final_loss_choose
from tracker.runs.series.copy import SeriesPoints, points_insert_new, points_upsert
from tracker.runs.services import run_final_loss_apply

logger = logging.getLogger(__name__)

# Run status only moves forward: imported -> running -> finished or failed.
STATUS_RANK: dict[str, int] = {
    TrainingRun.Status.IMPORTED: 0,
    TrainingRun.Status.RUNNING: 1,
    TrainingRun.Status.FINISHED: 2,
    TrainingRun.Status.FAILED: 2,
}
TERMINAL = (TrainingRun.Status.FINISHED, TrainingRun.Status.FAILED)


def document_store(*, parsed: ParsedDocument, team: Team, user: Any, document: SourceDocument) -> int:
    """Write one parsed document into the catalog (caller holds the transaction). Returns rows written."""
    if parsed.kind == "papers":
        for rec in parsed.papers:
            output_record(paper_store(record=rec, source=document))
        return len(parsed.papers)
    if parsed.kind == "model_card" and parsed.model_card is not None:
        return model_card_store(record=parsed.model_card, source=document)
    if parsed.kind == "article" and parsed.article is not None:
        article = article_store(record=parsed.article, team=team, source=document)
        return 1 + article.claims.count()
    if parsed.kind == "run_log" and parsed.run_log is not None:
        log = parsed.run_log
        labels = sorted({s.run for s in log.series})
        if len(labels) <= 1:
            run = run_for_document(
                team=team, user=user, document=document, manifest=log.manifest or parsed.manifest
            )
            output_record(run)
            return run_log_store(run=run, record=log, source=document)
        # A long-format file holding several runs: one run per label, each keyed by (document, label).
        rows = 0
        for label in labels:
            run = run_for_document(team=team, user=user, document=document, manifest=None, label=label)
            output_record(run)
            rows += series_store(run=run, series=[s for s in log.series if s.run == label], source=document)
        return rows
    if parsed.kind == "manifest" and parsed.manifest is not None:
        output_record(run_for_document(team=team, user=user, document=document, manifest=parsed.manifest))
        return 1
    raise ValueError(f"parsed document of kind {parsed.kind!r} carries no records")


def paper_store(*, record: PaperRecord, source: SourceDocument) -> Any:
    paper, _ = catalog_services.paper_upsert(
        title=record.title,
        arxiv_id=record.arxiv_id or None,
        doi=record.doi or None,
        source=source,
        abstract=record.abstract,
        authors=list(record.authors),
        published=record.published,
        venue=record.venue,
        url=record.url,
        full_text=record.full_text,
        bibtex=record.bibtex,
    )
    for tag in record.tags:
        paper.tags.add(catalog_services.tag_get_or_create(name=tag))
    catalog_services.paper_models_suggest(paper=paper)
    return paper


# Model fields a card may fill when they are still empty (facts themselves are always kept).
_MODEL_FACT_FIELDS = ("parameters", "active_parameters", "training_tokens", "gpu_hours")
_GPU_COUNT_PREFIX = re.compile(r"^\s*\d+\s*[x\u00d7]\s*", re.I)


def article_store(*, record: ArticleRecord, team: Team, source: SourceDocument) -> Article:
    """An article and its claims; each claim is checked against the primary facts as it is stored."""
    claims = [
        claims_services.ClaimInput(
            subject=c.subject,
            quantity=c.name,
            value=c.value,
            line=c.line,
            text_value=c.text_value,
            unit=c.unit,
            lower=c.lower,
            upper=c.upper,
            confidence=c.confidence,
            excerpt=c.excerpt,
        )
        for c in record.claims
    ]
    return claims_services.article_store(
        document=source,
        team=team,
        title=record.title,
        fmt=record.fmt,
        text=record.text,
        line_map=record.line_map,
        claims=claims,
        language=record.language,
        metadata=record.metadata,
    )


def card_identity(
    *, record: ModelCardRecord, source: SourceDocument, repo_id: str = ""
) -> tuple[str, dict[str, str]]:
    """The name a card's model gets and every spelling of it the card gives (spelling -> alias source).

    The card's own name (front matter, model-index, title or introducing sentence, as the parser chose it),
    else the Hugging Face repository id; never the uploaded file's name (`llama31_README`) nor a table-row
    label. A repository id ("meta-llama/Llama-3.1-8B", or the cache spelling "meta-llama__Llama-3.1-8B" of
    a folder) is kept as an alias and the model is named by its last part.
    """
    spellings: dict[str, str] = {}
    name = " ".join(record.name.split())
    if is_file_name(name, source.name) or is_row_label(name):
        name = ""
    if "/" in name or "__" in name:
        spellings[name.replace("__", "/")] = ModelAlias.Source.HF_REPO
        name = name.replace("__", "/").rstrip("/").rsplit("/", 1)[-1]
    repo_id = repo_id.strip()
    if repo_id:
        spellings[repo_id] = ModelAlias.Source.HF_REPO
        name = name or repo_id.rstrip("/").rsplit("/", 1)[-1]
    index = record.metadata.get("model-index")
    if isinstance(index, list) and index and isinstance(index[0], dict) and index[0].get("name"):
        spellings.setdefault(str(index[0]["name"]).strip(), ModelAlias.Source.CARD_NAME)
    if not name or not model_key(name):
        raise catalog_services.NotAModelName(
            f"{source.name}: the card does not name its model (no model_name or model-index in the front "
            "matter, no title, no sentence introducing it), and a file name is not a model name; add "
            "`model_name: <name>` to the front matter or send the repository id"
        )
    return name[:200], {**spellings, name[:200]: ModelAlias.Source.CARD_NAME}


def model_card_store(*, record: ModelCardRecord, source: SourceDocument, repo_id: str = "") -> int:
    """A card's model and facts (primary evidence: claims about these models are rechecked after commit)."""
    name, spellings = card_identity(record=record, source=source, repo_id=repo_id)
    model, _ = catalog_services.model_get_or_create(
        name=name, aliases=spellings, document=source, alias_source=ModelAlias.Source.CARD_NAME
    )
    output_record(model)
    touched = {model.pk}
    catalog_services.card_papers_link(model=model, text=record.body, source=source)
    changed = []
    if not model.license and record.license:
        model.license = record.license[:100]
        changed.append("license")
    if not model.card and record.body:
        model.card = record.body
        changed.append("card")
    extra = {
        "base_model": record.base_model,
        "datasets": record.datasets,
        "tags": record.tags,
        "results": record.results,
        **record.metadata,
    }
    merged = {**{k: v for k, v in extra.items() if v}, **model.metadata}
    if merged != model.metadata:
        model.metadata = merged
        changed.append("metadata")
    for fact in record.facts:
        if fact.subject and (is_row_label(fact.subject) or not model_key(fact.subject)):
            # "Total" of a model table sums the others: a fact of no model (never a model of its own).
            logger.info(
                "%s: %s of row %r is not a model's fact: skipped", source.name, fact.name, fact.subject
            )
            continue
        own = catalog_services.model_resolve(name=fact.subject) if fact.subject else model
        if own is None or own.pk != model.pk:
            # A card covering several sizes: the fact belongs to the named sibling, not the card's model.
            subject, _ = catalog_services.model_get_or_create(
                name=fact.subject, document=source, alias_source=ModelAlias.Source.CARD_NAME
            )
            output_record(subject)
            touched.add(subject.pk)
            _fact_store(fact, subject, source)
            continue
        _fact_store(fact, model, source)
        if fact.name in _MODEL_FACT_FIELDS and fact.value is not None and getattr(model, fact.name) is None:
            setattr(model, fact.name, fact.value)
            changed.append(fact.name)
        if fact.name == "hardware" and fact.text_value and model.hardware_id is None:
            # "8 x A100-40GB" names the accelerator after the count.
            hw_name = _GPU_COUNT_PREFIX.sub("", fact.text_value).strip()[:100]
            if hw_name:
                model.hardware = catalog_services.hardware_get_or_create(name=hw_name)
                changed.append("hardware")
        if fact.name == "release_date" and fact.text_value and model.release_date is None:
            released = _iso_date(fact.text_value)
            if released is not None:  # a partial date ("2024") stays a fact only
                model.release_date = released
                changed.append("release_date")
    if changed:
        model.save(update_fields=sorted(set(changed)))
    claims_services.claims_recheck_enqueue(model_ids=touched)
    return 1 + len(record.facts)


def _iso_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _fact_store(fact: FactRecord, model: Model, source: SourceDocument) -> None:
    catalog_services.fact_record(
        source=source,
        model=model,
        name=fact.name,
        value=fact.value,
        unit=fact.unit,
        text_value=fact.text_value,
        lower=fact.lower,
        upper=fact.upper,
        confidence=fact.confidence,
        location=fact.location,
        line=fact.line,
        excerpt=fact.excerpt,
    )


def _manifest_fields(manifest: RunManifestRecord, team: Team) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in (
        "parameters",
        "tokens",
        "unique_tokens",
        "gpu_count",
        "gpu_hours",
        "synthetic_share",
        "synthetic_epochs",
    ):
        value = getattr(manifest, key)
        if value is not None:
            fields[key] = value
    if manifest.precision:
        fields["precision"] = manifest.precision
    if manifest.data_sources:
        fields["data_sources"] = dict(manifest.data_sources)
    if manifest.config:
        fields["config"] = dict(manifest.config)
    if manifest.hardware:
        fields["hardware"] = catalog_services.hardware_get_or_create(name=manifest.hardware[:100])
    if manifest.model and not is_row_label(manifest.model) and model_key(manifest.model):
        # Through aliases to the shared catalog's model ("meta-llama/Llama-3.1-8B" is Llama 3.1 8B), else the
        # team's private reference: a team's internal names never enter the shared catalog.
        fields["model"], _ = catalog_services.model_get_or_create(
            name=manifest.model, team=team, alias_source=ModelAlias.Source.MANIFEST
        )
        if manifest.parameters is not None:
            # The run states its model's size: claims about that model are rechecked after commit.
            claims_services.claims_recheck_enqueue(model_ids=[fields["model"].pk])
    if manifest.name:
        fields["name"] = manifest.name[:300]
    return fields


def run_upsert(
    *,
    team: Team,
    external_id: str,
    user: Any = None,
    source: SourceDocument | None = None,
    manifest: RunManifestRecord | None = None,
    **extra: Any,
) -> TrainingRun:
    """Create or update the team's run with this sender id; given fields overwrite, missing ones stay.

    Status only moves forward (imported -> running -> finished/failed): a late or replayed `run.started`
    never reopens a finished run (logged with the reason). Config is merged key by key, so the several files
    of one run (MLflow params, tags, meta) add up instead of replacing each other.
    """
    fields = {**(_manifest_fields(manifest, team) if manifest else {}), **extra}
    run = TrainingRun.objects.select_for_update().filter(team=team, external_id=external_id).first()
    if run is None:
        fields.setdefault("name", external_id)
        return TrainingRun.objects.create(
            team=team, external_id=external_id, created_by=user, source=source, **fields
        )
    new_status = fields.get("status")
    if new_status is not None and STATUS_RANK.get(new_status, 0) < STATUS_RANK.get(run.status, 0):
        logger.warning(
            "run %s (%s) is %s: a transition to %s is ignored (late or replayed event)",
            run.pk,
            external_id,
            run.status,
            new_status,
        )
        fields.pop("status")
        fields.pop("started_at", None)
    elif new_status is not None and run.status in TERMINAL and new_status != run.status:
        logger.warning("run %s (%s) already %s: %s ignored", run.pk, external_id, run.status, new_status)
        fields.pop("status")
        fields.pop("finished_at", None)
    if isinstance(fields.get("config"), dict) and isinstance(run.config, dict) and run.config:
        fields["config"] = {**run.config, **fields["config"]}
    for key, value in fields.items():
        setattr(run, key, value)
    if fields:
        run.save(update_fields=list(fields))
    return run


def run_for_document(
    *,
    team: Team,
    user: Any,
    document: SourceDocument,
    manifest: RunManifestRecord | None,
    label: str = "",
) -> TrainingRun:
    if manifest is not None and manifest.external_id:
        return run_upsert(
            team=team, external_id=manifest.external_id[:200], user=user, source=document, manifest=manifest
        )
    fields = _manifest_fields(manifest, team) if manifest else {}
    name = label[:300] if label else fields.get("name", document.name[:300])
    fields["name"] = name
    # Keyed by the source document: storing the same document again rewrites its run instead of adding one.
    runs = TrainingRun.objects.filter(team=team, source=document)
    run = runs.filter(name=name).first() if label else runs.first()
    if run is not None:
        run.series.all().delete()
        for key, value in fields.items():
            setattr(run, key, value)
        run.save()
        return run
    return TrainingRun.objects.create(team=team, created_by=user, source=document, **fields)


def _power_store(run: TrainingRun, power: PowerSummary) -> None:
    run.energy_kwh = power.energy_kwh
    run.gpu_hours = power.gpu_hours
    if power.gpu_count and not run.gpu_count:
        run.gpu_count = power.gpu_count
    if power.gpu_name and run.hardware_id is None:
        run.hardware = catalog_services.hardware_get_or_create(name=power.gpu_name[:100])
    if power.start is not None and run.started_at is None:
        run.started_at = datetime.fromtimestamp(power.start, tz=UTC)
    if power.end is not None and run.finished_at is None:
        run.finished_at = datetime.fromtimestamp(power.end, tz=UTC)
    run.save(update_fields=["energy_kwh", "gpu_hours", "gpu_count", "hardware", "started_at", "finished_at"])


def run_log_store(*, run: TrainingRun, record: RunLogRecord, source: SourceDocument | None) -> int:
    """Series and points of one run log. New series take the COPY fast path; existing ones are upserted."""
    if record.power is not None:
        _power_store(run, record.power)
    return series_store(run=run, series=record.series, source=source)


def _series_rows(
    *, run: TrainingRun, series: list[MetricSeriesRecord], source: SourceDocument | None
) -> dict[str, MetricSeries]:
    """The run's series rows for these records by name, the missing ones created (two statements at most,
    whatever the number of series; a concurrent creator of the same name wins and its row is used)."""
    names = {rec.name[:200] for rec in series}
    rows = {s.name: s for s in MetricSeries.objects.filter(run=run, name__in=names)}
    missing: dict[str, MetricSeriesRecord] = {}
    for rec in series:
        if rec.name[:200] not in rows:
            missing.setdefault(rec.name[:200], rec)  # the first record of a name describes it
    if missing:
        MetricSeries.objects.bulk_create(
            [
                MetricSeries(
                    run=run,
                    name=rec.name[:200],
                    source=source,
                    first_line=rec.first_line,
                    last_line=rec.last_line,
                )
                for rec in missing.values()
            ],
            ignore_conflicts=True,
        )
        rows = {s.name: s for s in MetricSeries.objects.filter(run=run, name__in=names)}
    return rows


def series_store(
    *, run: TrainingRun, series: Iterable[MetricSeriesRecord], source: SourceDocument | None
) -> int:
    series = list(series)
    by_name = _series_rows(run=run, series=series, source=source)
    fresh: list[SeriesPoints] = []
    overlapping: list[SeriesPoints] = []
    for rec in series:
        obj = by_name[rec.name[:200]]
        pts = SeriesPoints.from_lists(
            series_id=obj.pk, steps=rec.steps, values=rec.values, wall_times=rec.wall_times
        )
        # The summary is written with the points, in the same transaction: no query needed here.
        (overlapping if obj.n_points > 0 else fresh).append(pts)
    rows = 0
    # COPY in groups of whole series so the job page can count rows stored while a large file lands.
    group: list[SeriesPoints] = []
    for i, pts in enumerate(fresh):
        group.append(pts)
        if i == len(fresh) - 1 or sum(len(p.steps) for p in group) >= COPY_GROUP_ROWS:
            n = points_insert_new(batches=group)
            rows += n
            rows_stored(n)
            group = []
    if overlapping:
        n = points_upsert(batches=overlapping)
        rows += n
        rows_stored(n)
    # The documented final-loss rule (tracker.runs.metrics) over the tails of what was just stored.
    tails = [
        SeriesTail(name=r.name, steps=r.steps[-FINAL_LOSS_TRAIN_K:], values=r.values[-FINAL_LOSS_TRAIN_K:])
        for r in series
    ]
    run_final_loss_apply(run=run, computed=final_loss_choose(tails))
    return rows
