"""Typed records every parser returns. Pure dataclasses: the ingestion services map them onto the catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


class ParseError(ValueError):
    """A clean, user-facing parse failure naming the file, line and reason."""

    def __init__(self, reason: str, *, filename: str = "", line: int | None = None) -> None:
        self.reason = reason
        self.filename = filename
        self.line = line
        where = filename or "<input>"
        if line is not None:
            where = f"{where}, line {line}"
        super().__init__(f"{where}: {reason}")

    def with_filename(self, filename: str) -> ParseError:
        return ParseError(self.reason, filename=filename, line=self.line)


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected row in a format whose good rows are kept (reported, not fatal)."""

    line: int
    reason: str


@dataclass(slots=True)
class PaperRecord:
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    arxiv_id: str | None = None
    doi: str | None = None
    published: date | None = None
    venue: str = ""
    url: str = ""
    full_text: str = ""
    bibtex: str = ""
    tags: list[str] = field(default_factory=list)
    line: int | None = None


@dataclass(slots=True)
class FactRecord:
    """One number (or short text) from a document: name is a controlled key such as 'parameters'."""

    name: str
    value: float | None
    unit: str = ""
    text_value: str = ""
    lower: float | None = None
    upper: float | None = None
    confidence: float = 1.0
    line: int | None = None
    location: str = ""
    excerpt: str = ""
    # The model a number is about when a card covers several (e.g. "Llama 3.1 70B"); "" = the card's model.
    subject: str = ""


@dataclass(slots=True)
class ModelCardRecord:
    name: str
    metadata: dict[str, object] = field(default_factory=dict)
    license: str = ""
    base_model: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    results: list[dict[str, object]] = field(default_factory=list)
    facts: list[FactRecord] = field(default_factory=list)
    body: str = ""
    # Every model the card gives facts for: its own (``name``) first, then each fact subject (one per size
    # of a multi-model card, other models of comparison tables). A fact's subject "" is ``name``.
    models: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MetricSeriesRecord:
    """Points of one metric, sorted by step with duplicates resolved (last write wins)."""

    name: str
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    wall_times: list[float | None] = field(default_factory=list)
    first_line: int | None = None
    last_line: int | None = None
    # Long-format CSVs may hold several runs; "" when the file is one run.
    run: str = ""


@dataclass(slots=True)
class RunManifestRecord:
    """What a run manifest or webhook says about a run: N, D, hardware, precision, data mixture."""

    name: str = ""
    external_id: str = ""
    model: str = ""
    parameters: float | None = None
    tokens: float | None = None
    unique_tokens: float | None = None
    hardware: str = ""
    gpu_count: int | None = None
    gpu_hours: float | None = None
    precision: str = ""
    synthetic_share: float | None = None
    synthetic_epochs: float | None = None
    data_sources: dict[str, float] = field(default_factory=dict)
    config: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class PowerSummary:
    """From an nvidia-smi power log: energy integrated over time, GPU hours."""

    energy_kwh: float
    gpu_hours: float
    gpu_count: int
    mean_power_w: float
    samples: int
    gpu_name: str = ""
    start: float | None = None  # POSIX seconds of the first sample
    end: float | None = None


@dataclass(slots=True)
class RunLogRecord:
    series: list[MetricSeriesRecord] = field(default_factory=list)
    manifest: RunManifestRecord | None = None
    power: PowerSummary | None = None
    row_errors: list[RowError] = field(default_factory=list)
    fmt: str = ""


@dataclass(slots=True)
class ParsedDocument:
    """What `ingestion.parsers.dispatch.parse_document` returns for one file."""

    kind: str  # "papers" | "model_card" | "run_log" | "manifest" | "article"
    fmt: str  # e.g. "arxiv_atom", "bibtex", "pdf", "hf_card", "csv_wide", "tensorboard", "nvidia_smi", ...
    papers: list[PaperRecord] = field(default_factory=list)
    model_card: ModelCardRecord | None = None
    run_log: RunLogRecord | None = None
    manifest: RunManifestRecord | None = None
    row_errors: list[RowError] = field(default_factory=list)
    article: ArticleRecord | None = None


@dataclass(slots=True)
class ArticleRecord:
    """An article (news, blog post, newsletter, review) and the claims it makes.

    `text` is its readable text, one line per line of `line_map`: Markdown keeps its heading (``#``) and list
    markers, HTML is turned into the same shape (``<h2>`` -> ``## ``, ``<li>`` -> ``- ``, table rows -> pipe
    rows). `line_map[i]` is the 1-based line in the original file of text line i; every claim's `line` is
    already such an original line.
    """

    title: str
    fmt: str  # "markdown" | "html" | "text"
    text: str = ""
    line_map: list[int] = field(default_factory=list)
    claims: list[FactRecord] = field(default_factory=list)
    language: str = ""  # "en" | "ko" | "zh" | "ja" | "" (other or unknown)
    metadata: dict[str, str] = field(default_factory=dict)  # front matter / <meta>: date, author, ...
