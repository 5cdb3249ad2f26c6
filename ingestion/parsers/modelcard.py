"""Hugging Face model cards (README.md with YAML front matter) and plain markdown cards.

Error policy: the front matter must be safe YAML (``yaml.safe_load``; a ``!!python/object`` tag or a syntax
error rejects the whole file naming the line). Facts are extracted best-effort: front matter and table cells
with confidence 0.9, prose with confidence 0.6; a cell or sentence that cannot be read is simply not a fact.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from html.parser import HTMLParser
from typing import Any

from ingestion.parsers.manifest import load_yaml_mapping
from ingestion.parsers.records import FactRecord, ModelCardRecord, ParseError
from ingestion.parsers.text import decode_utf8, parse_quantity

TABLE_CONFIDENCE = 0.9
FRONT_MATTER_CONFIDENCE = 0.9
PROSE_CONFIDENCE = 0.6
MAX_BODY_CHARS = 1_000_000

UNITS = {
    "parameters": "params",
    "training_tokens": "tokens",
    "gpu_hours": "GPU-hours",
    "tdp_watts": "W",
    "co2_tonnes": "tCO2eq",
    "co2_tonnes_market_based": "tCO2eq",
    "context_length": "tokens",
    "hardware": "",
    "release_date": "",
}


def _column_fact(header: str) -> str | None:
    h = header.lower().replace("*", "")
    if "gpu hours" in h or "gpu-hours" in h or "gpu hrs" in h:
        return "gpu_hours"
    if "co2" in h or "greenhouse" in h or "emission" in h:
        return "co2_tonnes_market_based" if "market" in h else "co2_tonnes"
    if "tdp" in h or ("power" in h and "(w)" in h):
        return "tdp_watts"
    if "context" in h:
        return "context_length"
    if "token" in h:
        return "training_tokens"
    if re.search(r"\bparam", h):
        return "parameters"
    if "release" in h and "date" in h:
        return "release_date"
    return None


_MONTH_NAMES = "January|February|March|April|May|June|July|August|September|October|November|December"
_DATE_RE = re.compile(rf"\b(?:({_MONTH_NAMES})\s+(\d{{1,2}}),?\s+(\d{{4}})|(\d{{4}})-(\d{{2}})-(\d{{2}}))\b")


def _parse_date(text: str) -> str | None:
    m = _DATE_RE.search(text)
    if not m:
        return None
    try:
        if m.group(1):
            return datetime.strptime(f"{m.group(1)} {m.group(2)} {m.group(3)}", "%B %d %Y").date().isoformat()
        return date(int(m.group(4)), int(m.group(5)), int(m.group(6))).isoformat()
    except ValueError:
        return None


def _clean_cell(cell: str) -> str:
    return re.sub(r"<[^>]{0,100}>", " ", cell).replace("**", "").replace("__", "").strip()


def _fact(
    name: str, text: str, *, line: int, confidence: float, location: str, excerpt: str, subject: str = ""
) -> FactRecord | None:
    if name == "release_date":
        iso = _parse_date(text)
        if iso is None:
            return None
        return FactRecord(
            name,
            None,
            text_value=iso,
            confidence=confidence,
            line=line,
            location=location,
            excerpt=excerpt[:300],
            subject=subject,
        )
    if name == "hardware":
        return FactRecord(
            name,
            None,
            text_value=text.strip()[:100],
            confidence=confidence,
            line=line,
            location=location,
            excerpt=excerpt[:300],
            subject=subject,
        )
    q = parse_quantity(text)
    if q is None or q.value <= 0:
        return None
    return FactRecord(
        name,
        q.value,
        unit=UNITS.get(name, ""),
        text_value=q.text,
        lower=q.lower,
        upper=q.upper,
        confidence=confidence,
        line=line,
        location=location,
        excerpt=excerpt[:300],
        subject=subject,
    )


def _split_row(line: str) -> list[str]:
    inner = line.strip()
    if inner.startswith("|"):
        inner = inner[1:]
    if inner.endswith("|"):
        inner = inner[:-1]
    return [c.strip() for c in inner.split("|")]


_SEPARATOR_RE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_HEADING_RE = re.compile(r"^\s*(#{1,6})\s+(.*?)\s*#*\s*$")


def _table_facts(lines: list[str], first_line: int) -> tuple[list[FactRecord], set[int]]:
    """Facts from markdown tables; returns them and the (0-based) indexes of table lines."""
    facts: list[FactRecord] = []
    table_lines: set[int] = set()
    section = ""
    i = 0
    while i < len(lines):
        heading = _HEADING_RE.match(lines[i])
        if heading:
            section = _clean_cell(heading.group(2))
        if (
            "|" in lines[i]
            and i + 1 < len(lines)
            and _SEPARATOR_RE.match(lines[i + 1])
            and "-" in lines[i + 1]
        ):
            header = [_clean_cell(c) for c in _split_row(lines[i])]
            names = [_column_fact(h) for h in header]
            table_lines.update((i, i + 1))
            j = i + 2
            label = ""
            while j < len(lines) and "|" in lines[j] and lines[j].strip():
                table_lines.add(j)
                cells = [_clean_cell(c) for c in _split_row(lines[j])]
                label = cells[0] if cells and cells[0] and names[0] is None else label
                for k, cell in enumerate(cells[: len(names)]):
                    name = names[k]
                    if name is None or not cell or cell in {"-", "—", "N/A", "n/a"}:
                        continue
                    location = f"table '{section}' column '{header[k]}'" + (
                        f" row '{label}'" if label else ""
                    )
                    fact = _fact(
                        name,
                        cell,
                        line=first_line + j,
                        confidence=TABLE_CONFIDENCE,
                        location=location[:300],
                        excerpt=lines[j].strip(),
                        subject=label,
                    )
                    if fact is not None:
                        facts.append(fact)
                j += 1
            i = j
            continue
        i += 1
    return facts, table_lines


class _HtmlTable(HTMLParser):
    """Cells of one HTML ``<table>``: (row, column, text, line), with rowspan/colspan resolved."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[tuple[int, int, str, int]] = []
        self._row = -1
        self._taken: set[tuple[int, int]] = set()
        self._cell: list[str] | None = None
        self._cell_line = 0
        self._span = (1, 1)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._row += 1
        elif tag in ("td", "th") and self._row >= 0:
            self._cell = []
            self._cell_line = self.getpos()[0]
            spans = dict(attrs)
            self._span = (_span(spans.get("rowspan")), _span(spans.get("colspan")))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            col = 0
            while (self._row, col) in self._taken:
                col += 1
            rows, cols = self._span
            for dr in range(rows):
                for dc in range(cols):
                    self._taken.add((self._row + dr, col + dc))
            self.cells.append((self._row, col, " ".join("".join(self._cell).split()), self._cell_line))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _span(raw: str | None) -> int:
    try:
        return max(1, min(int(str(raw).strip()), 50))
    except ValueError:
        return 1


_TABLE_BLOCK_RE = re.compile(r"<table\b.*?</table\s*>", re.I | re.S)


def _html_table_facts(body: str, first_line: int) -> tuple[list[FactRecord], set[int]]:
    """Facts from HTML tables (many HF cards, Llama's among them, use them); header = first row."""
    facts: list[FactRecord] = []
    table_lines: set[int] = set()
    lines = body.split("\n")
    for block in _TABLE_BLOCK_RE.finditer(body):
        start_index = body.count("\n", 0, block.start())
        table_lines.update(range(start_index, body.count("\n", 0, block.end()) + 1))
        parser = _HtmlTable()
        try:
            parser.feed(block.group(0))
            parser.close()
        except (ValueError, AssertionError):
            continue
        section = ""
        for raw in reversed(lines[:start_index]):
            heading = _HEADING_RE.match(raw)
            if heading:
                section = _clean_cell(heading.group(2))
                break
        header = {col: text for row, col, text, _ in parser.cells if row == 0}
        names = {col: _column_fact(text) for col, text in header.items()}
        labels = {row: text for row, col, text, _ in parser.cells if col == 0 and row > 0 and text}
        label_rows = sorted(labels)
        for row, col, text, line in parser.cells:
            name = names.get(col)
            if row == 0 or name is None or not text or text in {"-", "—", "N/A", "n/a"}:
                continue
            label = next((labels[r] for r in reversed(label_rows) if r <= row), "")
            location = f"table '{section}' column '{header.get(col, '')}'" + (
                f" row '{label}'" if label else ""
            )
            absolute = start_index + line - 1  # 0-based index into the body
            fact = _fact(
                name,
                text,
                line=first_line + absolute,
                confidence=TABLE_CONFIDENCE,
                location=location[:300],
                excerpt=lines[absolute].strip() if absolute < len(lines) else text,
                subject=label,
            )
            if fact is not None:
                facts.append(fact)
    return facts, table_lines


_Q = r"[~≈]?\d[\d,]*(?:\.\d+)?\s*(?:[KMBT]|thousand|million|billion|trillion)?\+?"
# Token and parameter counts need a magnitude word: "2048 tokens" is a context size, not a data size.
_QS = r"[~≈]?\d[\d,]*(?:\.\d+)?\s*(?:[KMBT]|thousand|million|billion|trillion)\+?"
_PROSE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("gpu_hours", re.compile(rf"(?:\*\*)?({_Q})(?:\*\*)?\s*(?:[A-Z]\d+\s+)?GPU[- ]hours", re.I)),
    (
        "training_tokens",
        re.compile(rf"(?:over\s+|more than\s+)?({_QS})\s*(?:\*\*)?\s+(?:training\s+)?tokens\b", re.I),
    ),
    ("parameters", re.compile(rf"({_QS})\s*(?:\*\*)?[\s-]*(?:total\s+)?param(?:eter)?s?\b", re.I)),
    ("tdp_watts", re.compile(r"TDP of (\d[\d,]*)\s*W\b|(\d[\d,]*)\s*W\s+TDP", re.I)),
    (
        "co2_tonnes",
        re.compile(
            r"(\d[\d,]*(?:\.\d+)?)(?:\*\*)?\s*(?:metric\s+)?(?:tons|tonnes|t)\s*"
            r"(?:of\s+)?CO2(?:[- ]?eq|e)?\b",
            re.I,
        ),
    ),
    (
        "context_length",
        re.compile(
            r"context (?:length|window) of (?:up to )?(\d[\d,]*\s*[kK]?)\b|(\d+[kK])[- ](?:token )?context",
            re.I,
        ),
    ),
    (
        "hardware",
        re.compile(
            r"\b((?:NVIDIA\s+)?(?:H100|H200|H800|A100|A800|V100|B200|GB200|MI250X?|MI300X|TPU\s?v\d\w*)(?:-\d+\s?GB)?)\b"
        ),
    ),
    (
        "release_date",
        re.compile(
            rf"(?:release date|released on|released)\W{{0,6}}"
            rf"((?:{_MONTH_NAMES})\s+\d{{1,2}},?\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}})",
            re.I,
        ),
    ),
]


def _prose_facts(lines: list[str], first_line: int, skip: set[int]) -> list[FactRecord]:
    facts: list[FactRecord] = []
    for i, raw in enumerate(lines):
        if i in skip or len(raw) > 5000 or not raw.strip():
            continue
        for name, pattern in _PROSE_PATTERNS:
            for m in pattern.finditer(raw):
                text = next((g for g in m.groups() if g), None)
                if not text:
                    continue
                fact = _fact(
                    name,
                    text,
                    line=first_line + i,
                    confidence=PROSE_CONFIDENCE,
                    location="prose",
                    excerpt=raw.strip(),
                )
                if fact is not None:
                    facts.append(fact)
                if name == "hardware":
                    break  # one hardware mention per line is enough
    return facts


def _card_name(meta: dict[str, Any], heading: str, filename: str) -> str:
    """model-index name, model_name, the first H1, the folder of a README, else the file stem."""
    index = meta.get("model-index")
    if isinstance(index, list) and index and isinstance(index[0], dict) and index[0].get("name"):
        return str(index[0]["name"])
    explicit = str(meta.get("model_name") or meta.get("model-name") or "")
    if explicit or heading:
        return explicit or _clean_cell(heading)
    parts = [p for p in filename.replace("\\", "/").split("/") if p]
    stem = parts[-1].rsplit(".", 1)[0] if parts else "model card"
    # Hub repositories hold their card as <org>/<model>/README.md: the folder names the model.
    if stem.lower() == "readme" and len(parts) >= 2:
        return parts[-2]
    return stem


def _plain(value: Any, depth: int = 0) -> Any:
    """YAML values made JSON-safe: dates as ISO text, odd floats and other objects as text."""
    if depth > 20:
        return str(value)[:200]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value - value == 0.0 else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    return str(value)[:200]


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
            task = result.get("task") if isinstance(result.get("task"), dict) else {}
            dataset = result.get("dataset") if isinstance(result.get("dataset"), dict) else {}
            metrics = result.get("metrics") if isinstance(result.get("metrics"), list) else []
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
    meta: dict[str, Any] = {}
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
        meta = {str(k): v for k, v in (loaded or {}).items()}
        body_start = end + 1
    body_lines = lines[body_start:]
    table_facts, table_lines = _table_facts(body_lines, body_start + 1)
    html_facts, html_lines = _html_table_facts("\n".join(body_lines), body_start + 1)
    table_facts += html_facts
    table_lines |= html_lines
    facts = (
        _front_matter_facts(meta, front_lines)
        + table_facts
        + _prose_facts(body_lines, body_start + 1, table_lines)
    )
    facts.sort(key=lambda f: (f.line or 0, f.name))
    heading = next((m.group(2) for m in map(_HEADING_RE.match, body_lines) if m and m.group(1) == "#"), "")
    name = _card_name(meta, heading, filename)
    safe_meta = {key: _plain(value) for key, value in meta.items()}
    if not meta and not facts and not body_lines:
        raise ParseError("empty model card", filename=filename)
    return ModelCardRecord(
        name=name[:300],
        metadata=safe_meta,
        license=str(meta.get("license") or "")[:100],
        base_model=_as_list(meta.get("base_model")),
        datasets=_as_list(meta.get("datasets")),
        tags=_as_list(meta.get("tags")),
        results=_results(meta),
        facts=facts,
        body="\n".join(body_lines),
    )
