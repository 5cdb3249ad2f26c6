"""CSV / JSON / BibTeX exports of the data behind a report."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import bibtexparser
import numpy as np
from bibtexparser.library import Library
from bibtexparser.model import Block, Entry, Field

# OWASP "CSV injection": spreadsheet apps evaluate cells starting with these as formulas.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class ExportError(ValueError):
    pass


def neutralise_cell(value: Any) -> str:
    """Text for one CSV cell. Only *strings* are neutralised: a real number such as -1.5 stays numeric.

    A string that merely looks like a number ("-1.5" typed by a user) is prefixed too, because a spreadsheet
    cannot tell it apart from the start of a formula such as "-1+cmd|...".
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer | Decimal):
        return str(value)
    if isinstance(value, float | np.floating):
        return "" if not math.isfinite(float(value)) else repr(float(value))
    if isinstance(value, dt.datetime | dt.date):
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            raise ExportError(f"naive datetime {value!r} in export; use aware datetimes")
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def export_csv(rows: Iterable[Mapping[str, Any] | Sequence[Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutralise_cell(c) for c in columns])
    for n, row in enumerate(rows, start=1):
        if isinstance(row, Mapping):
            cells = [row.get(c) for c in columns]
        else:
            cells = list(row)
            if len(cells) != len(columns):
                raise ExportError(f"row {n}: {len(cells)} cells for {len(columns)} columns")
        writer.writerow([neutralise_cell(c) for c in cells])
    return out.getvalue()


def _jsonable(obj: Any) -> Any:
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating | Decimal):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, dt.datetime | dt.date):
        if isinstance(obj, dt.datetime) and obj.tzinfo is None:
            raise ExportError(f"naive datetime {obj!r} in export; use aware datetimes")
        return obj.isoformat()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_jsonable(v) for v in obj]
    raise ExportError(f"cannot export {type(obj).__name__} to JSON")


def export_json(obj: Any) -> str:
    """JSON text; NaN and infinities become null (JSON has no NaN, and most parsers reject it)."""
    return json.dumps(_jsonable(obj), allow_nan=False, ensure_ascii=False, indent=2, sort_keys=False)


_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_:.\-]+")


def _bibtex_escape(value: str) -> str:
    # Braces delimit BibTeX values: an unbalanced one in a title would swallow the rest of the file.
    return (
        value.replace("\\", "\x00")
        .replace("{", "\\{")
        .replace("}", "\\}")
        .replace("\x00", "\\textbackslash{}")
    )


def export_bibtex(papers: Iterable[Mapping[str, Any]]) -> str:
    """Each paper: {"key", "entry_type" (default article), other fields...}; values are escaped."""
    entries = []
    seen: set[str] = set()
    for n, paper in enumerate(papers, start=1):
        key = _KEY_UNSAFE.sub("_", str(paper.get("key") or f"paper{n}")).strip("_") or f"paper{n}"
        base, i = key, 2
        while key in seen:  # duplicate keys make BibTeX silently drop entries
            key, i = f"{base}_{i}", i + 1
        seen.add(key)
        entry_type = _KEY_UNSAFE.sub("", str(paper.get("entry_type") or "article")).lower() or "misc"
        fields = [
            Field(name, _bibtex_escape(str(value)))
            for name, value in paper.items()
            if name not in ("key", "entry_type")
            and value not in (None, "")
            and re.fullmatch(r"[a-z_]+", name)
        ]
        entries.append(Entry(entry_type, key, fields))
    blocks: list[Block] = list(entries)
    return bibtexparser.write_string(Library(blocks))
