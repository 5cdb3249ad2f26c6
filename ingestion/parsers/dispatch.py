"""Format detection by content (never trusting the extension alone) and dispatch to the right parser.

The extension is only a cross-check: when it names a known type and the content is something else
(``paper.pdf`` holding text, ``log.csv`` holding a PDF) the file is rejected. Archives are not parsed
here; unpack them with ``ingestion.parsers.archive.iter_archive_members`` and dispatch each member.
A single gzip-compressed file (``log.jsonl.gz``) is decompressed (within ``max_bytes``) and dispatched.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib

from ingestion.parsers import (
    archive,
    article,
    hf,
    manifest,
    mlflow,
    modelcard,
    papers,
    points,
    power,
    runlogs,
    tensorboard,
    textlogs,
)
from ingestion.parsers.records import ParsedDocument, ParseError, RunLogRecord
from ingestion.parsers.sandbox import Limits
from ingestion.parsers.text import decode_utf8

DEFAULT_MAX_BYTES = 200 * 1024 * 1024

# Which detected formats each extension may hold.
_CSV_FORMATS = {
    "csv_wide",
    "csv_long",
    "wandb_csv",
    "wandb_panel_csv",
    "wandb_system_csv",
    "tensorboard_csv",
    "nvidia_smi",
}
_STDOUT_FORMATS = {"megatron", "nemo", "hf_trainer_log", "nanogpt", "llmc", "kv_log", "composer"}
_TEXT_LOGS = _CSV_FORMATS | _STDOUT_FORMATS | {"jsonl", "mlflow"}
EXTENSION_FORMATS: dict[str, set[str]] = {
    ".pdf": {"pdf"},
    ".csv": _CSV_FORMATS,
    ".tsv": _CSV_FORMATS,
    ".jsonl": {"jsonl"},
    ".ndjson": {"jsonl"},
    ".json": {"manifest", "json_points", "jsonl", "hf_trainer_state"},
    ".xml": {"arxiv_atom"},
    ".atom": {"arxiv_atom"},
    ".bib": {"bibtex"},
    ".bibtex": {"bibtex"},
    ".md": {"hf_card", "article"},
    ".markdown": {"hf_card", "article"},
    ".html": {"article"},
    ".htm": {"article"},
    ".yaml": {"manifest", "mlflow_run_meta", "mlflow_experiment"},
    ".yml": {"manifest", "mlflow_run_meta", "mlflow_experiment"},
    ".log": _TEXT_LOGS,
    ".txt": _TEXT_LOGS | {"bibtex", "hf_card", "article"},
    ".out": _TEXT_LOGS,
    ".zip": {"archive"},
    ".tar": {"archive"},
    ".tgz": {"archive"},
    ".gz": {"gzip", "archive"},
}

_BIBTEX_RE = re.compile(r"^\s*(?:%[^\n]*\n\s*)*@[A-Za-z]+\s*[{(]", re.S)


def _extension(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if "tfevents" in base:
        return ".tfevents"
    if base.endswith(".tar.gz"):
        return ".tgz"
    return "." + base.rsplit(".", 1)[-1] if "." in base else ""


def _check_extension(filename: str, fmt: str) -> None:
    if fmt == "mlflow_value":
        return  # "params/lr.decay": the name is an MLflow key, its dot is not a file type
    ext = _extension(filename)
    if ext == ".tfevents":
        if fmt != "tensorboard":
            raise ParseError(f"name says TensorBoard event file but content is {fmt}", filename=filename)
        return
    allowed = EXTENSION_FORMATS.get(ext)
    if allowed is not None and fmt not in allowed:
        raise ParseError(f"extension {ext} does not match content ({fmt})", filename=filename)


SUPPORTED_FORMATS = (
    "run logs: CSV (wide with a step/epoch column, long metric/value, W&B history, W&B panel and"
    " system-metric exports, TensorBoard 'Wall time,Step,Value' exports), JSONL, TensorBoard event files, HF"
    " trainer_state.json and Trainer stdout, Megatron-LM/Megatron-DeepSpeed/NeMo stdout (any launcher"
    " prefix), GPT-NeoX, nanoGPT/modded-nanogpt/llm.c, Composer, fairseq and 'step: N key: value' logs,"
    " MLflow mlruns files, nvidia-smi --query-gpu CSV; manifests (YAML/JSON); papers (arXiv Atom, BibTeX,"
    " PDF); model cards (Markdown); articles (Markdown, HTML, text)"
)
_SNIFF_LINES = 50_000


def _mlflow_format(filename: str, text: str) -> str | None:
    if mlflow.value_file(filename) and len(text) <= 5000 and "\n" not in text.strip():
        return "mlflow_value"
    if mlflow.is_meta_yaml(filename):
        try:
            kind = mlflow.meta_kind(manifest.load_yaml_mapping(text, filename=filename))
        except ParseError:
            return None
        if kind == "run":
            return "mlflow_run_meta"
        if kind == "experiment":
            return "mlflow_experiment"
    return None


def _detect_json(text: str) -> str | None:
    """'hf_trainer_state' / 'jsonl' / 'manifest' / 'json_points' / 'json' for a whole-file JSON value."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(obj, dict):
        if hf.looks_like_trainer_state(obj):
            return "hf_trainer_state"
        return "jsonl" if runlogs.json_step(obj)[0] is not None else "manifest"
    if isinstance(obj, list):
        return "json_points"
    return "json"


def _detect_text(filename: str, text: str) -> str:
    ext = _extension(filename)
    stripped = text.lstrip()
    head = stripped[:4096]
    first_line = stripped.split("\n", 1)[0].strip()
    found = _mlflow_format(filename, text)
    if found:
        return found
    if head.startswith("<?xml") or head.startswith("<feed"):
        return "arxiv_atom" if "<feed" in head else "xml"
    # Other leading markup ("<p align=center>", "<!-- -->") is common at the top of a markdown card.
    if text.startswith("---") and text[:4].rstrip("\r\n") == "---":
        return "manifest" if ext in (".yaml", ".yml") else "hf_card"
    if _BIBTEX_RE.match(head):
        return "bibtex"
    if head.startswith("{") or head.startswith("["):
        found = _detect_json(text)
        if found:
            return found
    if power.is_nvidia_smi_header(first_line):
        return "nvidia_smi"
    if "," in first_line:
        kind = runlogs.classify_csv_header(points.split_header(first_line))
        if kind:
            return kind
    elif "\t" in first_line and _tsv_as_csv(text) is not None:
        kind = runlogs.classify_csv_header([c.strip() for c in first_line.split("\t")])
        if kind:
            return kind
    sample = text.splitlines()[:_SNIFF_LINES]
    found = textlogs.sniff(sample)
    if found:
        return found
    if head.startswith("{"):
        return "jsonl"  # JSON lines with broken lines: each bad line is reported
    if runlogs.mlflow_metric_name(filename) and runlogs.looks_like_mlflow(text):
        return "mlflow"
    if ext in (".yaml", ".yml"):
        return "manifest"
    if ext in (".md", ".markdown") or stripped.startswith("#"):
        return "hf_card"
    if _looks_like_yaml_manifest(text):
        return "manifest"
    return "unknown"


def _tsv_as_csv(text: str) -> str | None:
    """A tab-separated table as CSV text, when that is lossless (no commas or quotes in it); else None."""
    head = text.lstrip().split("\n", 1)[0]
    if "\t" not in head or "," in head or "," in text or '"' in text:
        return None
    return text.replace("\t", ",")


def _describe(text: str) -> str:
    lines = text.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    shown = first[:80] + ("..." if len(first) > 80 else "")
    return f"{len(lines):,} lines of text starting {shown!r}"


def _refusal(filename: str, text: str, fmt: str, closest: str = "") -> ParseError:
    """A refusal naming the file, what it looked like, why each candidate format did not fit, and what is
    supported."""
    stripped = text.lstrip()
    first_line = stripped.split("\n", 1)[0].strip()
    tried = []
    if stripped[:1] in "{[":
        tried.append("JSON/JSONL: not valid JSON (whole file or first line)")
    if "," in first_line:
        tried.append(f"CSV: {runlogs.explain_csv_header(points.split_header(first_line))}")
    else:
        tried.append("CSV: first line has no commas (or tabs, for a tab-separated table)")
    tried.extend(textlogs.why_not(text.splitlines()[:50]))
    tried.append("manifest: no top-level keys such as name, model, parameters, tokens")
    looked = "XML that is not an arXiv Atom feed" if fmt == "xml" else _describe(text)
    nearest = f" The closest was {closest}." if closest else ""
    return ParseError(
        f"unrecognised file format: it looks like {looked}.{nearest} Tried: {'; '.join(tried)}. "
        f"Supported: {SUPPORTED_FORMATS}",
        filename=filename,
    )


_YAML_KEY_RE = re.compile(r"^([A-Za-z_][\w-]*):(?:\s|$)", re.M)


def _looks_like_yaml_manifest(text: str) -> bool:
    """Top-level ``key: value`` lines naming two or more manifest keys: a YAML manifest without .yaml."""
    keys = set(_YAML_KEY_RE.findall(text[:20_000]))
    return len(keys & manifest.MANIFEST_KEYS) >= 2


def _detect(filename: str, data: bytes) -> tuple[str, str]:
    if data.startswith(b"%PDF-"):
        return "pdf", ""
    if archive.is_archive(filename, data):
        return "archive", ""
    if data[:2] == b"\x1f\x8b":
        return "gzip", ""
    if tensorboard.looks_like_tfrecord(data):
        return "tensorboard", ""
    text = decode_utf8(data, filename=filename)
    if _is_html(filename, text):
        return "article", text
    fmt = _detect_text(filename, text)
    # A markdown or YAML name wins over weak text heuristics (a card that quotes "step: 10 loss: 2.3").
    ext = _extension(filename)
    if (fmt in _TEXT_LOGS and fmt not in _CSV_FORMATS) or fmt == "unknown":
        if ext in (".md", ".markdown"):
            fmt = "hf_card"
        elif ext in (".yaml", ".yml"):
            fmt = "manifest"
    if _is_article(filename, text, fmt):
        fmt = "article"
    return fmt, text


_ARTICLE_EXTENSIONS = (".md", ".markdown", ".txt")


def _is_html(filename: str, text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return _extension(filename) in article.HTML_EXTENSIONS or head.startswith(("<!doctype html", "<html"))


def _is_article(filename: str, text: str, fmt: str) -> bool:
    """Prose that is not a model card: a Markdown/text file the detector took for a card (or nothing)
    without a card's front matter keys or template headings. ``README.md`` is the card convention."""
    if fmt not in ("hf_card", "unknown"):
        return False
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if base == "readme.md" or (fmt == "unknown" and _extension(filename) not in (*_ARTICLE_EXTENSIONS, "")):
        return False
    return article.looks_like_article(filename, text)


def detect_format(filename: str, data: bytes) -> str:
    """The format name parse_document would use for this file (ParseError for non-UTF-8 text)."""
    return _detect(filename, data)[0]


def _gunzip(filename: str, data: bytes, max_bytes: int) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            out = gz.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ParseError(f"bad gzip data: {exc}", filename=filename) from None
    if len(out) > max_bytes:
        raise ParseError(f"decompressed size exceeds the {max_bytes}-byte limit", filename=filename)
    return out


def parse_document(
    filename: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, pdf_limits: Limits | None = None
) -> ParsedDocument:
    """Parse one file. Raises ParseError naming file, line and reason."""
    if len(data) > max_bytes:
        raise ParseError(f"file is {len(data)} bytes, over the {max_bytes}-byte limit", filename=filename)
    if not data[:65536].strip() and not data.strip():
        raise ParseError("file is empty", filename=filename)
    fmt, text = _detect(filename, data)
    if fmt == "gzip":
        inner_name = filename[:-3] if filename.lower().endswith(".gz") else filename
        inner = _gunzip(filename, data, max_bytes)
        if inner[:2] == b"\x1f\x8b":
            raise ParseError("gzip inside gzip is not accepted", filename=filename)
        try:
            return parse_document(inner_name, inner, max_bytes=max_bytes)
        except ParseError as exc:
            raise exc.with_filename(filename) from None
    if fmt in ("unknown", "xml"):
        raise _refusal(filename, text, fmt)
    _check_extension(filename, fmt)
    if fmt == "archive":
        raise ParseError("is an archive: unpack it with iter_archive_members first", filename=filename)
    if fmt == "pdf":
        pdf = papers.parse_pdf(data, filename=filename, limits=pdf_limits)
        return ParsedDocument(kind="papers", fmt=fmt, papers=[pdf])
    if fmt == "arxiv_atom":
        records, errors = papers.parse_arxiv_atom(data, filename=filename)
        return ParsedDocument(kind="papers", fmt=fmt, papers=records, row_errors=errors)
    if fmt == "bibtex":
        records, errors = papers.parse_bibtex(data, filename=filename)
        return ParsedDocument(kind="papers", fmt=fmt, papers=records, row_errors=errors)
    if fmt == "article":
        return ParsedDocument(kind="article", fmt=fmt, article=article.parse_article(filename, data))
    if fmt == "hf_card":
        return ParsedDocument(
            kind="model_card", fmt=fmt, model_card=modelcard.parse_model_card(data, filename=filename)
        )
    if fmt == "manifest":
        return ParsedDocument(kind="manifest", fmt=fmt, manifest=manifest.parse_manifest(filename, data))
    if fmt == "tensorboard":
        return _run_log(tensorboard.parse_tensorboard(data, filename=filename))
    if fmt == "nvidia_smi":
        return _run_log(power.parse_nvidia_smi(data, filename=filename))
    if fmt in _CSV_FORMATS - {"nvidia_smi"}:
        return _run_log(runlogs.parse_csv(_tsv_as_csv(text) or text, filename=filename))
    if fmt == "hf_trainer_state":
        return _run_log(hf.parse_trainer_state(text, filename=filename))
    if fmt in _STDOUT_FORMATS:
        try:
            return _run_log(textlogs.parse_text(fmt, text, filename=filename))
        except ParseError as exc:
            if not exc.reason.startswith("no metric points"):
                raise
            # It only looked like a log: say what else was tried, not just what this parser missed.
            raise _refusal(filename, text, "unknown", closest=f"{fmt} ({exc.reason})") from None
    if fmt in ("mlflow_run_meta", "mlflow_experiment"):
        record = mlflow.parse_meta_yaml(text, filename=filename)
        return ParsedDocument(kind="manifest", fmt=fmt, manifest=record)
    if fmt == "mlflow_value":
        record = mlflow.parse_value_file(text, filename=filename)
        return ParsedDocument(kind="manifest", fmt=fmt, manifest=record)
    if fmt == "jsonl":
        return _run_log(runlogs.parse_jsonl(text, filename=filename))
    if fmt in ("json_points", "json"):
        return _run_log(runlogs.parse_json_points(text, filename=filename))
    if fmt == "mlflow":
        metric = runlogs.parse_mlflow_metric(text, filename=filename)
        metric.manifest = mlflow.run_manifest_for(filename)
        return _run_log(metric)
    raise _refusal(filename, text, fmt)


def _run_log(record: RunLogRecord) -> ParsedDocument:
    return ParsedDocument(kind="run_log", fmt=record.fmt, run_log=record, row_errors=list(record.row_errors))
