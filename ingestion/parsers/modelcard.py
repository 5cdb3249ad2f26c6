"""Hugging Face model cards (README.md with YAML front matter) and plain markdown cards.

Error policy: the front matter must be safe YAML (``yaml.safe_load``; a ``!!python/object`` tag or a syntax
error rejects the whole file naming the line) and small once aliases are expanded (a YAML alias bomb is a
ParseError, never a memory blow-up). Facts are extracted best-effort: front matter and table cells with
confidence 0.9, "Key: value" lines 0.8, prose 0.6; a cell or sentence that cannot be read is not a fact.
Each fact names the model it is about (``subject``, "" for the card's own model); ``models`` lists them all.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from ingestion.parsers.cardfacts import clean_inline, norm_name, strip_symbols
from ingestion.parsers.cardprose import prose_facts
from ingestion.parsers.cardtables import HEADING_RE, html_tables, markdown_tables, table_facts, table_subjects
from ingestion.parsers.manifest import load_yaml_mapping
from ingestion.parsers.records import FactRecord, ModelCardRecord, ParseError
from ingestion.parsers.text import decode_utf8

FRONT_MATTER_CONFIDENCE = 0.9
MAX_BODY_CHARS = 1_000_000
# YAML aliases let a few lines name a tree with billions of nodes: the copy we keep is bounded.
MAX_METADATA_NODES = 20_000
MAX_METADATA_CHARS = 256 * 1024
MAX_METADATA_DEPTH = 20


# --- front matter ----------------------------------------------------------------------------------------


class _MetadataTooLarge(Exception):
    pass


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0
        self.chars = 0

    def spend(self, nodes: int = 1, chars: int = 0) -> None:
        self.nodes += nodes
        self.chars += chars
        if self.nodes > MAX_METADATA_NODES:
            raise _MetadataTooLarge(f"more than {MAX_METADATA_NODES} values")
        if self.chars > MAX_METADATA_CHARS:
            raise _MetadataTooLarge(f"more than {MAX_METADATA_CHARS} characters")


def _plain(value: Any, budget: _Budget, depth: int = 0) -> Any:
    """YAML values made JSON-safe (dates as ISO text, odd floats as text), every node paid for.

    Aliases make the loaded object a graph whose expansion can be exponential in the text size; walking it
    as a tree under a node budget turns that into a clean failure instead of a stuck worker.
    """
    budget.spend()
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        budget.spend(0, len(value))
        return value
    if isinstance(value, float):
        return value if value - value == 0.0 else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if depth >= MAX_METADATA_DEPTH:
        return None  # never str() a container: its text is the expansion we refuse to build
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = str(k) if isinstance(k, str | int | float | bool | date) or k is None else type(k).__name__
            budget.spend(0, len(key))
            out[key] = _plain(v, budget, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_plain(v, budget, depth + 1) for v in value]
    text = type(value).__name__
    budget.spend(0, len(text))
    return text


def plain_metadata(meta: dict[str, Any], *, filename: str) -> dict[str, Any]:
    """The front matter as bounded JSON-safe data, or a ParseError naming the file and the limit."""
    budget = _Budget()
    try:
        return {str(key): _plain(value, budget) for key, value in meta.items()}
    except _MetadataTooLarge as exc:
        raise ParseError(
            f"front matter expands to {exc} (YAML aliases?); the limit keeps cards small",
            filename=filename,
            line=1,
        ) from None
    except RecursionError:
        raise ParseError("front matter is nested too deeply", filename=filename, line=1) from None


# --- body preparation ------------------------------------------------------------------------------------

_FENCE_RE = re.compile(r"^\s*(```|~~~)")
_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)


def _blank_code_and_comments(lines: list[str]) -> list[str]:
    """Code blocks and HTML comments emptied, line numbers kept: sample code is no fact source."""
    out: list[str] = []
    fence: str | None = None
    for raw in lines:
        m = _FENCE_RE.match(raw)
        if fence is not None:
            if m and m.group(1) == fence:
                fence = None
            out.append("")
            continue
        if m:
            if raw.count(m.group(1)) < 2:  # "```<|prompter|>...```" opens and closes on one line
                fence = m.group(1)
            out.append("")
            continue
        out.append(raw)
    text = "\n".join(out)
    text = _COMMENT_RE.sub(lambda c: "\n" * c.group(0).count("\n"), text)
    return text.split("\n")


# --- the card's name -------------------------------------------------------------------------------------

_TITLE_PREFIX_RE = re.compile(r"^(?:model\s+card\s+(?:for|of)\s*:?\s*|model\s*card\s*:\s*|the\s+)", re.I)
_TITLE_SUFFIX_RE = re.compile(r"\s*(?:[-:|]\s*)?(?:model\s*card|(?<=\w)\s+model)\s*$", re.I)
_GENERIC_TITLE_RE = re.compile(
    r"^(?:model[ _]?card|readme|model[ _]?details|model information|model summary|model description|"
    r"model overview|overview|introduction|summary|usage(?: instructions)?|how to (?:use|get started).*|"
    r"quick ?start|getting started|evaluation(?: results)?|results|benchmarks?|performance|citation|license|"
    r"limitations?|training(?: details| data| procedure)?|uses|bias.*|ethical.*|contact|acknowledge?ments?|"
    r"references|notice|disclaimer|requirements|installation|inference|deployment|environmental impact|"
    r"technical specifications|model files|table of contents|contents|changelog|news|updates?|about.*|faq|"
    r"hardware.*|software.*|model architecture|architecture|prompt (?:format|template)|team|authors?|"
    r"the .* team|examples?|demo|disclaimers?|warning)$",
    re.I,
)
_NOT_A_TITLE_RE = re.compile(
    r"\b(?:deprecated|now live at|moved to|has moved|please use|coming soon)\b", re.I
)
_GENERIC_STEMS = frozenset({"readme", "model_card", "modelcard", "index", "card", "model-card", "model card"})
_INTRO_RES = (
    # "This repository contains two versions of Meta-Llama-3-8B-Instruct": a repository id names the model.
    re.compile(
        r"\bthis\s+(?:repo|repository)\s+(?:contains|hosts|provides|is\s+for)\b[^.]{0,80}?"
        r"(?P<name>(?-i:[A-Za-z][\w.]*)(?:[-_][\w.]+)+)",
        re.I,
    ),
    re.compile(
        r"\b(?:we\s+(?:introduce|present|release|open-source|open source)|introducing)\s+(?:the\s+)?"
        r"(?P<name>[\w@/+`-](?:[\w@/+` -]|\.(?=\w)){1,59}?)"
        r"(?=\s*(?:,|\(|:|\.\s|$|\s+(?:a|an|the|which|that|is|as|with|model|family)\b))",
        re.I,
    ),
    re.compile(
        r"^(?:the\s+)?(?-i:(?:[a-z]+\s+){0,3}?)(?P<name>[A-Za-z][\w.+-]*(?:\s+[\w.+-]+){0,3}?)\s+is\s+(?:a|an|the)\b",
        re.I,
    ),
    re.compile(
        r"^(?:the\s+)?(?P<name>[A-Z][\w.+-]*(?:\s+[\w.+-]+){0,3}?)\s+(?:collection|family|series|suite)\s+of\b",
        re.I,
    ),
)


def _looks_like_model_name(name: str) -> bool:
    words = name.split()
    if not name or len(words) > 5 or len(name) > 80:
        return False
    if _GENERIC_TITLE_RE.match(name) or name.lower() in (
        "it",
        "this",
        "this model",
        "our model",
        "the model",
    ):
        return False
    return bool(re.search(r"\d", name) or re.search(r"[a-z][A-Z]|[A-Z]{2}|[-_]", name) or len(words) <= 2)


def _clean_title(raw: str) -> str:
    title = strip_symbols(clean_inline(raw))
    title = _TITLE_PREFIX_RE.sub("", title)
    return _TITLE_SUFFIX_RE.sub("", title).strip(" -:|*")


def _title_ok(title: str) -> bool:
    if not title or _GENERIC_TITLE_RE.match(title) or _NOT_A_TITLE_RE.search(title):
        return False
    words = title.split()
    return len(words) <= 8 and not title.endswith(("!", "?")) and not (": " in title and len(words) > 5)


def _intro_name(lines: list[str], skip: set[int]) -> str:
    """The model a card's opening prose introduces; the surest phrasing anywhere wins over a looser one."""
    texts: list[str] = []
    for i, raw in enumerate(lines):
        if i in skip or not raw.strip() or HEADING_RE.match(raw) or raw.lstrip().startswith(("<", "|", "!")):
            continue
        # "**Model Architecture** Llama 3 is ...": a bold run-in label is not part of the sentence.
        text = clean_inline(re.sub(r"^\s*\*\*[^*]{1,60}\*\*\s*:?\s*", "", raw))
        if text:
            texts.append(text)
        if len(texts) >= 40:
            break
    candidates: list[str] = []
    for regex in _INTRO_RES:
        for text in texts:
            m = regex.search(text)
            if m:
                name = strip_symbols(m["name"].strip(" `*\"'"))
                if _looks_like_model_name(name):
                    candidates.append(name)
    # "Introducing DeepSeek LLM, ..." then "`deepseek-llm-67b-base` is a 67B model": the checkpoint's own
    # name (it carries a size or version) beats the family's.
    return next((c for c in candidates if re.search(r"\d", c)), candidates[0] if candidates else "")


def _versioned(name: str, lines: list[str]) -> str:
    """ "OpenChat is a library of models" on a card that keeps saying "OpenChat 3.5": the versioned name."""
    if re.search(r"\d", name):
        return name
    counts: dict[str, int] = {}
    pattern = re.compile(rf"(?<![\w-]){re.escape(name)}[ _-](\d+(?:\.\d+)*[a-zA-Z]?)(?![\w.-])")
    for raw in lines[:2000]:
        for m in pattern.finditer(clean_inline(raw)):
            counts[m.group(0)] = counts.get(m.group(0), 0) + 1
    best = max(counts.items(), key=lambda kv: kv[1], default=("", 0))
    return best[0] if best[1] >= 2 else name


def _title(lines: list[str], skip: set[int]) -> str:
    for i, raw in enumerate(lines):
        heading = HEADING_RE.match(raw)
        if i in skip or not heading or len(heading.group(1)) != 1:
            continue
        title = _clean_title(heading.group(2))
        if _title_ok(title):
            return title
    for raw in re.findall(r"<h1[^>]*>(.*?)</h1>", "\n".join(lines[:200]), re.I | re.S):
        title = _clean_title(raw)
        if _title_ok(title):
            return title
    return ""


def _card_name(meta: dict[str, Any], lines: list[str], skip: set[int], filename: str) -> str:
    """Front matter (model_name, model-index), the first real title, the sentence introducing the model,
    the README's folder, the file name; never "MODEL_CARD", "README" or a section heading."""
    for key in ("model_name", "model-name", "model_id", "name"):
        value = meta.get(key)
        if isinstance(value, str) and _title_ok(_clean_title(value)):
            return _clean_title(value).split("/")[-1]
    title = _title(lines, skip)
    index = meta.get("model-index")
    if isinstance(index, list) and index and isinstance(index[0], dict) and index[0].get("name"):
        name = strip_symbols(str(index[0]["name"])).split("/")[-1]
        # model-index blocks are often copied from another card ("StarCoderBase-3B" atop stable-code-3b):
        # a title naming a different, sized model wins.
        if name and not (title and re.search(r"\d", title) and norm_name(title) != norm_name(name)):
            return name
    if title:
        return title
    intro = _intro_name(lines, skip)
    if intro:
        return _versioned(intro, lines)
    parts = [p for p in filename.replace("\\", "/").split("/") if p]
    stem = parts[-1].rsplit(".", 1)[0] if parts else ""
    if stem.lower() in _GENERIC_STEMS:
        # Hub repositories hold their card as <org>/<model>/README.md: the folder names the model.
        return parts[-2] if len(parts) >= 2 else "unnamed model"
    return stem or "unnamed model"


# --- assembling ----------------------------------------------------------------------------------------


def _dedupe(facts: list[FactRecord]) -> list[FactRecord]:
    """One fact per (name, subject, value): the most confident, earliest statement of it."""
    best: dict[tuple[str, str, str], FactRecord] = {}
    for fact in facts:
        value = f"{fact.value:.6g}" if fact.value is not None else fact.text_value
        key = (fact.name, fact.subject, value)
        kept = best.get(key)
        if kept is None or fact.confidence > kept.confidence:
            best[key] = fact
    return sorted(best.values(), key=lambda f: (f.line or 0, f.name))


def _models(name: str, facts: list[FactRecord]) -> list[str]:
    out = [name]
    seen = {norm_name(name)}
    for fact in facts:
        if fact.subject and norm_name(fact.subject) not in seen:
            seen.add(norm_name(fact.subject))
            out.append(fact.subject)
    return out


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None and not isinstance(v, dict | list)]
    return [str(value)]


def _key_line(front_lines: list[str], key: str) -> int | None:
    for i, raw in enumerate(front_lines):
        if raw.startswith(f"{key}:"):
            return i + 2  # front matter starts on line 2
    return None


def _results(meta: dict[str, Any]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    index = meta.get("model-index")
    if not isinstance(index, list):
        return out
    for model in index:
        if not isinstance(model, dict) or not isinstance(model.get("results"), list):
            continue
        for result in model["results"]:
            if not isinstance(result, dict):
                continue
            task_raw, dataset_raw, metrics_raw = (
                result.get("task"),
                result.get("dataset"),
                result.get("metrics"),
            )
            task: dict[str, Any] = task_raw if isinstance(task_raw, dict) else {}
            dataset: dict[str, Any] = dataset_raw if isinstance(dataset_raw, dict) else {}
            metrics: list[Any] = metrics_raw if isinstance(metrics_raw, list) else []
            for metric in metrics:
                if not isinstance(metric, dict):
                    continue
                value = metric.get("value")
                out.append(
                    {
                        "model": str(model.get("name", "")),
                        "task": str(task.get("type", "")),
                        "dataset": str(dataset.get("name") or dataset.get("type") or ""),
                        "metric": str(metric.get("type") or metric.get("name") or ""),
                        "value": value
                        if isinstance(value, int | float) and not isinstance(value, bool)
                        else str(value),
                    }
                )
    return out


def _front_matter_facts(meta: dict[str, Any], front_lines: list[str]) -> list[FactRecord]:
    facts: list[FactRecord] = []
    co2 = meta.get("co2_eq_emissions")
    line = _key_line(front_lines, "co2_eq_emissions")
    grams: Any = co2.get("emissions") if isinstance(co2, dict) else co2
    if isinstance(grams, int | float) and not isinstance(grams, bool) and grams > 0 and grams - grams == 0:
        facts.append(
            FactRecord(
                "co2_tonnes",
                float(grams) / 1e6,  # the HF card spec gives emissions in grams
                unit="tCO2eq",
                confidence=FRONT_MATTER_CONFIDENCE,
                line=line,
                location="front matter co2_eq_emissions",
                excerpt=f"co2_eq_emissions: {grams} g",
            )
        )
    if isinstance(co2, dict) and isinstance(co2.get("hardware_used"), str) and co2["hardware_used"].strip():
        facts.append(
            FactRecord(
                "hardware",
                None,
                text_value=co2["hardware_used"].strip()[:100],
                confidence=FRONT_MATTER_CONFIDENCE,
                line=line,
                location="front matter co2_eq_emissions.hardware_used",
                excerpt=f"hardware_used: {co2['hardware_used']}"[:300],
            )
        )
    return facts


def parse_model_card(data: bytes, *, filename: str) -> ModelCardRecord:
    text = decode_utf8(data, filename=filename)
    if len(text) > MAX_BODY_CHARS:
        raise ParseError(f"model card longer than {MAX_BODY_CHARS} characters", filename=filename)
    lines = text.splitlines()
    raw_meta: dict[str, Any] = {}
    front_lines: list[str] = []
    body_start = 0
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
        if end is None:
            raise ParseError("front matter opened with '---' is never closed", filename=filename, line=1)
        front_lines = lines[1:end]
        loaded = load_yaml_mapping("\n".join(front_lines), filename=filename, line_offset=1)
        if loaded is not None and not isinstance(loaded, dict):
            raise ParseError("front matter is not a mapping", filename=filename, line=2)
        raw_meta = dict(loaded or {})
        body_start = end + 1
    meta = plain_metadata(raw_meta, filename=filename)
    body_lines = _blank_code_and_comments(lines[body_start:])
    first_line = body_start + 1
    md_tables, md_lines = markdown_tables(body_lines, first_line)
    htm_tables, htm_lines = html_tables("\n".join(body_lines), first_line)
    skip = md_lines | htm_lines
    name = _card_name(meta, body_lines, skip, filename)[:300]
    tables = md_tables + htm_tables
    facts = _front_matter_facts(meta, front_lines)
    for table in tables:
        facts += table_facts(table, name)
    known = [*table_subjects(tables), *_as_list(meta.get("base_model"))]
    facts += prose_facts(body_lines, first_line, skip, name, known)
    facts = _dedupe(facts)
    if not meta and not facts and not any(line.strip() for line in body_lines):
        raise ParseError("empty model card", filename=filename)
    return ModelCardRecord(
        name=name,
        metadata=meta,
        license=str(meta.get("license") or "")[:100],
        base_model=_as_list(meta.get("base_model")),
        datasets=_as_list(meta.get("datasets")),
        tags=_as_list(meta.get("tags")),
        results=_results(meta),
        facts=facts,
        body="\n".join(lines[body_start:]),
        models=_models(name, facts),
    )
