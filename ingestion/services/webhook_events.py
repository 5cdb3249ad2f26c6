"""What each webhook event does: one handler per event type, in the HANDLERS table.

A handler runs inside the delivery's transaction with the delivery row locked; it raises ValueError,
TypeError, KeyError or ParseError for a payload it cannot apply (the delivery fails with that reason).
Adding an event is one function and one table entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ingestion.models import WebhookDelivery
from ingestion.parsers.article import parse_article
from ingestion.parsers.dispatch import parse_document
from ingestion.parsers.manifest import manifest_from_mapping
from ingestion.parsers.records import PaperRecord
from ingestion.parsers.runlogs import parse_metric_points
from ingestion.parsers.text import safe_http_url
from ingestion.services.catalog import article_store, model_card_store, paper_store, run_upsert, series_store
from tracker.catalog import services as catalog_services
from tracker.models import SourceDocument, TrainingRun


def _payload_data(payload: dict[str, Any]) -> dict[str, Any]:
    # Standard Webhooks convention: {"type": ..., "timestamp": ..., "data": {...}}; bare objects also work.
    data = payload.get("data", payload)
    if not isinstance(data, dict):
        raise ValueError("payload 'data' must be a JSON object")
    return data


def _external_id(data: dict[str, Any]) -> str:
    value = data.get("external_id") or data.get("run_id")
    if not isinstance(value, str | int) or not str(value).strip():
        raise ValueError("payload needs the run's external_id")
    return str(value).strip()[:200]


def _parse_time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"{field} must be an ISO 8601 time or unix seconds")


def _finite_or_none(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field} must be a number")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{field} must be finite, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class Delivery:
    """One verified delivery, unpacked for its handler."""

    row: WebhookDelivery
    data: dict[str, Any]
    label: str
    document: SourceDocument

    @property
    def team(self) -> Any:
        return self.row.integration.team

    @property
    def user(self) -> Any:
        return self.row.integration.created_by


def _run_started(d: Delivery) -> None:
    manifest = manifest_from_mapping(d.data, filename=d.label)
    external_id = manifest.external_id or _external_id(d.data)
    run_upsert(
        team=d.team,
        external_id=external_id,
        user=d.user,
        source=d.document,
        manifest=manifest,
        status=TrainingRun.Status.RUNNING,
        started_at=_parse_time(d.data.get("started_at"), "started_at") or d.row.received_at,
    )


def _run_metrics(d: Delivery) -> None:
    external_id = _external_id(d.data)
    points = d.data.get("points")
    if not isinstance(points, list):
        raise ValueError("run.metrics needs a 'points' list")
    series = parse_metric_points(points, filename=d.label)
    run = run_upsert(team=d.team, external_id=external_id, user=d.user, source=d.document)
    series_store(run=run, series=series, source=d.document)


def _run_finished(d: Delivery) -> None:
    external_id = _external_id(d.data)
    status = d.data.get("status", TrainingRun.Status.FINISHED)
    if status not in (TrainingRun.Status.FINISHED, TrainingRun.Status.FAILED):
        raise ValueError(f"run.finished status must be 'finished' or 'failed', got {status!r}")
    fields: dict[str, Any] = {
        "status": status,
        "finished_at": _parse_time(d.data.get("finished_at"), "finished_at") or d.row.received_at,
    }
    for key in ("final_loss", "gpu_hours", "energy_kwh", "tokens"):
        value = _finite_or_none(d.data.get(key), key)
        if value is not None:
            fields[key] = value
    run_upsert(team=d.team, external_id=external_id, user=d.user, source=d.document, **fields)


def _paper_added(d: Delivery) -> None:
    data = d.data
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("paper.added needs a title")
    published = data.get("published")
    record = PaperRecord(
        title=title.strip(),
        abstract=str(data.get("abstract", "")),
        authors=[str(a) for a in data.get("authors", []) if isinstance(a, str)],
        arxiv_id=data.get("arxiv_id") or None,
        doi=data.get("doi") or None,
        published=datetime.fromisoformat(published).date() if isinstance(published, str) else None,
        venue=str(data.get("venue", "")),
        url=safe_http_url(str(data.get("url", ""))) or "",
        tags=[str(t) for t in data.get("tags", []) if isinstance(t, str)],
    )
    paper_store(record=record, source=d.document)


def _model_card(d: Delivery) -> None:
    text = d.data.get("markdown") or d.data.get("card")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("model.card needs the card's markdown text in 'markdown'")
    parsed = parse_document("README.md", text.encode())
    if parsed.model_card is None:
        raise ValueError("model.card text was not recognised as a model card")
    name = d.data.get("name")
    if isinstance(name, str) and name.strip():
        parsed.model_card.name = name.strip()
    repo_id = d.data.get("repo_id")
    model_card_store(
        record=parsed.model_card, source=d.document, repo_id=repo_id if isinstance(repo_id, str) else ""
    )


_ARTICLE_FORMATS = {"markdown": "article.md", "html": "article.html", "text": "article.txt"}


def _article_added(d: Delivery) -> None:
    """{"title": ..., "text": ..., "format": "markdown" | "html" | "text", "url": ...}: the sender says it
    is an article, so it is read as one (no card-vs-article guess)."""
    text = d.data.get("text") or d.data.get("markdown") or d.data.get("html")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("article.added needs the article's text in 'text' (or 'markdown' / 'html')")
    fmt = d.data.get("format") or ("html" if "html" in d.data and "text" not in d.data else "markdown")
    if fmt not in _ARTICLE_FORMATS:
        raise ValueError(f"article.added format must be one of {sorted(_ARTICLE_FORMATS)}, got {fmt!r}")
    record = parse_article(f"{d.label} {_ARTICLE_FORMATS[fmt]}", text.encode())
    title = d.data.get("title")
    if isinstance(title, str) and title.strip():
        record.title = title.strip()[:300]
    url = safe_http_url(str(d.data.get("url", "")))
    if url:
        d.document.url = url[:1000]
        d.document.media_type = "text/html" if fmt == "html" else "text/markdown"
        d.document.save(update_fields=["url", "media_type"])
    article_store(record=record, team=d.team, source=d.document)


@dataclass(frozen=True, slots=True)
class EventHandler:
    handle: Callable[[Delivery], None]
    lands_runs: bool  # new run evidence: the team's fits go stale and are refitted

    def apply(self, row: WebhookDelivery) -> None:
        """Unpack the delivery, record its source document and run the handler (inside the caller's
        transaction)."""
        integration = row.integration
        label = f"webhook {row.delivery_id}"
        body = repr(sorted(row.payload.items())).encode()
        document = catalog_services.source_document_get_or_create(
            kind=SourceDocument.Kind.WEBHOOK,
            name=label[:500],
            sha256=hashlib.sha256(f"{integration.pk}:{row.delivery_id}".encode() + body).hexdigest(),
            team=integration.team,
            media_type="application/json",
        )
        self.handle(Delivery(row=row, data=_payload_data(row.payload), label=label, document=document))


HANDLERS: dict[str, EventHandler] = {
    "run.started": EventHandler(_run_started, lands_runs=True),
    "run.metrics": EventHandler(_run_metrics, lands_runs=True),
    "run.finished": EventHandler(_run_finished, lands_runs=True),
    "paper.added": EventHandler(_paper_added, lands_runs=False),
    "model.card": EventHandler(_model_card, lands_runs=False),
    "article.added": EventHandler(_article_added, lands_runs=False),
}
