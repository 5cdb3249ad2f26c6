"""Facts from the tables of a model card, markdown or HTML.

A table is read one of three ways, by its shape:

- key/value ("Hyperparameter | Value", "n_parameters | 34.2B"): each row is a fact of the card's model;
- models as columns (DeepSeek's "# Total Params" row under "DeepSeek-V2 | Qwen2.5 72B | ..."): the
  column header is the subject;
- models as rows (the usual one): the label column names the model, a family label with a size column
  makes one model per size ("Llama 2" + "7B" -> "Llama 2 7B"), a "Total" row is not a model, and a data-mix
  table ("Subset | Tokens") only contributes its total, as the card model's training tokens.

HTML rows with a missing ``</td>`` are closed by the next ``<td>``, as browsers do, so cells never shift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from ingestion.parsers.cardfacts import (
    clean_inline,
    clean_subject,
    fact_for_label,
    has_size,
    header_scale,
    is_total,
    make_fact,
    nominal_size,
    norm_name,
    parse_value,
    same_model,
)
from ingestion.parsers.records import FactRecord

TABLE_CONFIDENCE = 0.9
MAX_TABLE_ROWS = 2000
MAX_TABLE_COLUMNS = 60

_KEY_HEADERS = frozenset(
    {
        "",
        "hyperparameter",
        "hyperparameters",
        "parameter",
        "parameters",
        "key",
        "attribute",
        "property",
        "field",
        "name",
        "item",
        "spec",
        "specification",
        "setting",
        "config",
        "configuration",
        "feature",
        "metric",
        "detail",
        "details",
    }
)
_VALUE_HEADERS = frozenset(
    {
        "value",
        "values",
        "details",
        "detail",
        "description",
        "setting",
        "settings",
        "info",
        "information",
        "specification",
        "specs",
        "score",
        "result",
    }
)
_NOT_MODEL_HEADERS = re.compile(
    r"^(?:#\s*)?(?:shots?|metric|benchmark.*|datasets?|tasks?|category|notes?|comments?|value|values|"
    r"description|details?|link|download|license|type|architecture|stage|setting)$",
    re.I,
)
_DATA_LABEL_RE = re.compile(
    r"^(?:\W*)(?:subset|data\s*set|dataset|data\s*source|source|sources|data|corpus|corpora|domain|"
    r"component|category|split|language|mix|data mix)\b",
    re.I,
)


@dataclass(slots=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    row_lines: list[int]
    section: str
    cell_lines: list[list[int]] = field(default_factory=list)
    excerpts: list[str] = field(default_factory=list)
    cell_excerpts: list[list[str]] = field(default_factory=list)

    def excerpt_of(self, row: int, col: int) -> str:
        """The source line of a cell (an HTML cell's own line, a markdown row's line)."""
        if self.cell_excerpts and row < len(self.cell_excerpts) and col < len(self.cell_excerpts[row]):
            return self.cell_excerpts[row][col]
        return self.excerpts[row] if row < len(self.excerpts) else ""

    def line_of(self, row: int, col: int) -> int:
        if self.cell_lines and row < len(self.cell_lines) and col < len(self.cell_lines[row]):
            return self.cell_lines[row][col]
        return self.row_lines[row]


# --- reading tables --------------------------------------------------------------------------------------

_SEPARATOR_RE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
HEADING_RE = re.compile(r"^\s*(#{1,6})\s+(.*?)\s*#*\s*$")


def split_row(line: str) -> list[str]:
    inner = line.strip().replace("\\|", "\x00")
    if inner.startswith("|"):
        inner = inner[1:]
    if inner.endswith("|"):
        inner = inner[:-1]
    return [c.replace("\x00", "|").strip() for c in inner.split("|")]


def markdown_tables(lines: list[str], first_line: int) -> tuple[list[Table], set[int]]:
    """Pipe tables (header, separator, rows); returns them and the 0-based indexes of their lines."""
    tables: list[Table] = []
    used: set[int] = set()
    section = ""
    i = 0
    while i < len(lines):
        heading = HEADING_RE.match(lines[i])
        if heading:
            section = clean_inline(heading.group(2))
        if (
            "|" in lines[i]
            and i + 1 < len(lines)
            and _SEPARATOR_RE.match(lines[i + 1])
            and "-" in lines[i + 1]
        ):
            header = [clean_inline(c) for c in split_row(lines[i])][:MAX_TABLE_COLUMNS]
            used.update((i, i + 1))
            table = Table(header, [], [], section)
            j = i + 2
            while j < len(lines) and "|" in lines[j] and lines[j].strip():
                used.add(j)
                if len(table.rows) < MAX_TABLE_ROWS:
                    cells = [clean_inline(c) for c in split_row(lines[j])][: len(header)]
                    table.rows.append(cells + [""] * (len(header) - len(cells)))
                    table.row_lines.append(first_line + j)
                    table.excerpts.append(lines[j].strip())
                j += 1
            tables.append(table)
            i = j
            continue
        i += 1
    return tables, used


class _HtmlTable(HTMLParser):
    """Cells of one ``<table>`` on a grid, rowspan/colspan resolved, unclosed cells closed by the next one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._row = -1
        # (row, col) -> (text, source line, True when the row only inherits it through a rowspan)
        self._taken: dict[tuple[int, int], tuple[str, int, bool]] = {}
        self._cell: list[str] | None = None
        self._cell_line = 0
        self._span = (1, 1)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._close_cell()
            self._row += 1
        elif tag in ("td", "th"):
            self._close_cell()  # a missing </td> ends at the next cell, never swallowing it
            if self._row < 0:
                self._row = 0
            self._cell = []
            self._cell_line = self.getpos()[0]
            spans = dict(attrs)
            self._span = (_span(spans.get("rowspan")), _span(spans.get("colspan")))
        elif tag in ("br", "p", "li") and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "tr", "table"):
            self._close_cell()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def _close_cell(self) -> None:
        if self._cell is None:
            return
        col = 0
        while (self._row, col) in self._taken:
            col += 1
        text = " ".join("".join(self._cell).split())
        rows, cols = self._span
        for dr in range(rows):
            for dc in range(cols):
                # A rowspan cell belongs to every row it spans; a colspan cell only to its first column.
                self._taken[(self._row + dr, col + dc)] = (text if dc == 0 else "", self._cell_line, dr > 0)
        self._cell = None

    def grid(self) -> list[list[tuple[str, int, bool]]]:
        if not self._taken:
            return []
        n_rows = min(max(r for r, _ in self._taken) + 1, MAX_TABLE_ROWS)
        n_cols = min(max(c for _, c in self._taken) + 1, MAX_TABLE_COLUMNS)
        return [[self._taken.get((r, c), ("", 0, True)) for c in range(n_cols)] for r in range(n_rows)]


def _line_text(lines: list[str], index: int) -> str:
    return lines[index].strip() if 0 <= index < len(lines) else ""


def _span(raw: str | None) -> int:
    try:
        return max(1, min(int(str(raw).strip()), 50))
    except ValueError:
        return 1


_TABLE_BLOCK_RE = re.compile(r"<table\b.*?</table\s*>", re.I | re.S)


def html_tables(body: str, first_line: int) -> tuple[list[Table], set[int]]:
    """``<table>`` blocks; the first row is the header. Returns them and the 0-based lines they cover."""
    tables: list[Table] = []
    used: set[int] = set()
    lines = body.split("\n")
    for block in _TABLE_BLOCK_RE.finditer(body):
        start = body.count("\n", 0, block.start())
        used.update(range(start, body.count("\n", 0, block.end()) + 1))
        parser = _HtmlTable()
        try:
            parser.feed(block.group(0))
            parser.close()
        except (ValueError, AssertionError):
            continue
        grid = parser.grid()
        if len(grid) < 2:
            continue
        section = ""
        for raw in reversed(lines[:start]):
            heading = HEADING_RE.match(raw)
            if heading:
                section = clean_inline(heading.group(2))
                break
        header = [clean_inline(text) for text, _, _ in grid[0]]
        table = Table(header, [], [], section)
        for row in grid[1:]:
            cell_lines = [first_line + start + (line or 1) - 1 for _, line, _ in row]
            own = [
                ln for (_, line, inherited), ln in zip(row, cell_lines, strict=True) if line and not inherited
            ]
            row_line = min(own or cell_lines)
            table.rows.append([clean_inline(text) for text, _, _ in row])
            table.cell_lines.append(cell_lines)
            table.row_lines.append(row_line)
            table.cell_excerpts.append([_line_text(lines, ln - first_line) for ln in cell_lines])
            table.excerpts.append(_line_text(lines, row_line - first_line))
        tables.append(table)
    return tables, used


# --- reading facts off a table ---------------------------------------------------------------------------


def _subject(label: str, card_name: str) -> str:
    """The label as a subject; "" for the card's own model (its name in any spelling, or its family)."""
    name = clean_subject(label)
    return "" if not norm_name(name) or same_model(name, card_name) else name


def _is_key_value(table: Table) -> bool:
    if len(table.header) not in (2, 3) or not any(fact_for_label(r[0]) for r in table.rows if r):
        return False
    first, second = (h.lower().strip(" :*#") for h in table.header[:2])
    if fact_for_label(table.header[1]):
        return False
    return second in _VALUE_HEADERS or (first in _KEY_HEADERS and not re.search(r"\d", second))


def _label_column_for_facts(table: Table) -> int | None:
    """The column (0 or 1) whose row labels name facts ("# Total Params"): models are then the columns."""
    for col in (0, 1):
        if col >= len(table.header) or fact_for_label(table.header[col]):
            continue
        if any(col < len(r) and _label_like(r[col]) and fact_for_label(r[col]) for r in table.rows):
            return col
    return None


def _label_like(cell: str) -> bool:
    """A row label, not a value that happens to say "tokens" ("4 trillion tokens (1 epoch)")."""
    return bool(cell) and not re.match(r"^\s*[~≈<>]?\s*\d", cell)


def _textual(cell: str) -> bool:
    return bool(cell) and not re.match(r"^\s*[~≈<>]?\s*[\d.,]+\s*\S{0,3}\s*$", cell)


def _label_column(table: Table, names: list[str | None]) -> int | None:
    n = len(table.header)
    for col in range(n):
        cells = [r[col] for r in table.rows if col < len(r) and r[col]]
        if not cells:
            continue
        textual = sum(_textual(c) for c in cells) / len(cells)
        if textual < 0.5:
            continue
        name = names[col]
        if name is None or not any(parse_value(name, c) for c in cells):
            return col
    return None


def _key_value_facts(table: Table, card_name: str) -> list[FactRecord]:
    facts: list[FactRecord] = []
    for i, row in enumerate(table.rows):
        name = fact_for_label(row[0]) if row else None
        if name is None or len(row) < 2:
            continue
        value = parse_value(name, row[1], scale=header_scale(row[0]))
        if value is None:
            continue
        facts.append(
            make_fact(
                name,
                value,
                line=table.line_of(i, 1),
                confidence=TABLE_CONFIDENCE,
                location=f"table '{table.section}' row '{row[0]}'",
                excerpt=table.excerpt_of(i, 1),
            )
        )
    return facts


def _column_model_facts(table: Table, label_col: int, card_name: str) -> list[FactRecord]:
    facts: list[FactRecord] = []
    models = {
        col: header
        for col, header in enumerate(table.header)
        if col > label_col
        and re.search(r"[A-Za-z]", header)
        and not _NOT_MODEL_HEADERS.match(header.strip())
        and fact_for_label(header) is None
    }
    for i, row in enumerate(table.rows):
        label = row[label_col] if label_col < len(row) else ""
        name = fact_for_label(label) if _label_like(label) else None
        if name is None:
            continue
        for col, header in models.items():
            value = (
                parse_value(name, row[col], scale=header_scale(row[label_col])) if col < len(row) else None
            )
            if value is None:
                continue
            facts.append(
                make_fact(
                    name,
                    value,
                    line=table.line_of(i, col),
                    confidence=TABLE_CONFIDENCE,
                    location=f"table '{table.section}' column '{header}' row '{row[label_col]}'",
                    excerpt=table.excerpt_of(i, col),
                    subject=_subject(header, card_name),
                )
            )
    return facts


def _row_model_facts(table: Table, card_name: str) -> list[FactRecord]:
    names = [fact_for_label(h) for h in table.header]
    if not any(names):
        return []
    label_col = _label_column(table, names)
    data_table = label_col is not None and bool(_DATA_LABEL_RE.match(table.header[label_col]))
    param_cols = [c for c, name in enumerate(names) if name == "parameters" and c != label_col]
    # A label shared by several rows ("Llama 2" | 7B, "Llama 2" | 13B) names a family: one model per size.
    labels: list[str] = []
    for r in table.rows:
        if label_col is not None and label_col < len(r):
            labels.append(clean_subject(r[label_col]) or (labels[-1] if labels else ""))
    family = {label for label in labels if label and labels.count(label) > 1}
    facts: list[FactRecord] = []
    label = ""
    for i, row in enumerate(table.rows):
        if label_col is not None:
            label = row[label_col] or label  # an empty label cell continues the row above
        if data_table:
            if not is_total(label):
                continue  # a data source, not a model; only the mix total is the card model's
            subject = ""
        elif is_total(label):
            continue  # a sum over models is no model
        else:
            base = clean_subject(label)
            size = next(
                (nominal_size(row[c]) for c in param_cols if c < len(row) and nominal_size(row[c])), None
            )
            composed = bool(size) and not has_size(base) and base in family
            subject = _subject(f"{base} {size}" if composed else base, card_name)
        for col, name in enumerate(names):
            if name is None or col == label_col or col >= len(row):
                continue
            value = parse_value(name, row[col], scale=header_scale(table.header[col]))
            if value is None:
                continue
            location = f"table '{table.section}' column '{table.header[col]}'" + (
                f" row '{label}'" if label else ""
            )
            facts.append(
                make_fact(
                    name,
                    value,
                    line=table.line_of(i, col),
                    confidence=TABLE_CONFIDENCE,
                    location=location,
                    excerpt=table.excerpt_of(i, col),
                    subject=subject,
                )
            )
    return facts


def table_facts(table: Table, card_name: str) -> list[FactRecord]:
    if not table.rows or not table.header:
        return []
    if _is_key_value(table):
        return _key_value_facts(table, card_name)
    label_col = _label_column_for_facts(table)
    if label_col is not None and not any(fact_for_label(h) for h in table.header):
        return _column_model_facts(table, label_col, card_name)
    return _row_model_facts(table, card_name)


def table_subjects(tables: list[Table]) -> list[str]:
    """Model-like labels of every table (row labels and column headers), for the prose reader."""
    out: list[str] = []
    for table in tables:
        out.extend(clean_subject(h) for h in table.header[1:] if has_size(h))
        out.extend(clean_subject(r[0]) for r in table.rows if r and has_size(r[0]))
    return [s for s in out if s]
