"""CSV (formula-injection safe), JSON (NaN -> null) and BibTeX (braces escaped) exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import bibtexparser
import numpy as np
import pytest

from analytics.reports.exports import ExportError, export_bibtex, export_csv, export_json


def _parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-1.5", "'-1.5"),  # a *string* that looks numeric is still neutralised
        ("plain text", "plain text"),
        ("a=b", "a=b"),  # only the first character matters
        (-1.5, "-1.5"),  # real numbers stay numbers
        (-3, "-3"),
        (float("nan"), ""),
        (None, ""),
        (np.float64(2.5), "2.5"),
    ],
)
def test_csv_cell_neutralisation(cell: object, written: str) -> None:
    rows = _parse(export_csv([{"v": cell}], ["v"]))
    assert rows == [["v"], [written]]


def test_csv_header_and_sequence_rows() -> None:
    text = export_csv([(1, "=x"), (2, "ok")], ["id", "=evil header"])
    assert _parse(text) == [["id", "'=evil header"], ["1", "'=x"], ["2", "ok"]]
    with pytest.raises(ExportError, match="row 2: 1 cells for 2 columns"):
        export_csv([(1, "a"), (2,)], ["id", "v"])


def test_csv_rejects_naive_datetimes_and_writes_aware_ones() -> None:
    aware = dt.datetime(2024, 12, 12, 8, 0, tzinfo=dt.UTC)
    assert _parse(export_csv([[aware]], ["t"]))[1] == ["2024-12-12T08:00:00+00:00"]
    with pytest.raises(ExportError, match="naive datetime"):
        export_csv([[dt.datetime(2024, 1, 1)]], ["t"])


def test_json_nan_becomes_null() -> None:
    text = export_json(
        {"loss": [2.5, float("nan"), float("inf")], "arr": np.array([1.0, np.nan]), "n": np.int64(7)}
    )
    assert json.loads(text) == {"loss": [2.5, None, None], "arr": [1.0, None], "n": 7}
    assert "NaN" not in text and "Infinity" not in text
    with pytest.raises(ExportError, match="cannot export object"):
        export_json({"x": object()})


def test_bibtex_escapes_braces_and_round_trips() -> None:
    papers = [
        {
            "key": "abdin2024phi4",
            "entry_type": "article",
            "title": "Phi-4 Technical Report } @misc{evil, title={pwned",
            "author": "Abdin, Marah and others",
            "year": 2024,
            "eprint": "2412.08905",
        },
        {"key": "abdin2024phi4", "title": "Back\\slash {braced}"},
    ]
    text = export_bibtex(papers)
    lib = bibtexparser.parse_string(text)  # the default parse stack removes the enclosing braces
    assert lib.failed_blocks == []
    assert [e.key for e in lib.entries] == ["abdin2024phi4", "abdin2024phi4_2"]  # no injected @misc entry
    first = lib.entries[0].fields_dict
    assert first["title"].value == "Phi-4 Technical Report \\} @misc\\{evil, title=\\{pwned"
    assert first["year"].value == "2024" and first["eprint"].value == "2412.08905"
    assert lib.entries[1].fields_dict["title"].value == "Back\\textbackslash{}slash \\{braced\\}"
