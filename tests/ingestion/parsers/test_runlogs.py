from __future__ import annotations

import pytest

from ingestion.parsers.dispatch import parse_document
from ingestion.parsers.records import ParseError, RowError
from ingestion.parsers.runlogs import parse_csv, parse_metric_points


def _series(doc):
    return {(s.run, s.name): s for s in doc.run_log.series}


def test_wide_csv_restart_last_write_wins_and_nan_reported(fixture_bytes):
    doc = parse_document("wide.csv", fixture_bytes("runlogs/wide.csv"))
    assert (doc.kind, doc.fmt) == ("run_log", "csv_wide")
    series = _series(doc)
    loss = series["", "loss"]
    assert loss.steps == [0, 100, 200, 400]
    assert loss.values == [10.8125, 6.5428, 5.0990, 4.2177]  # step 200 re-logged after a restart on line 6
    assert (loss.first_line, loss.last_line) == (2, 7)
    assert series["", "lr"].steps == [0, 100, 200, 300, 400]
    assert doc.row_errors == [RowError(5, "non-finite value 'nan' in column 'loss'")]


def test_wide_csv_slow_path_matches_fast_path(fixture_bytes):
    text = fixture_bytes("runlogs/wide.csv").decode()
    fast = parse_csv(text, filename="w.csv")
    slow = parse_csv(text.replace("\n", "\r\n"), filename="w.csv")  # CRLF takes the row-by-row path
    assert [(s.name, s.steps, s.values, s.first_line, s.last_line) for s in fast.series] == [
        (s.name, s.steps, s.values, s.first_line, s.last_line) for s in slow.series
    ]
    assert [e.line for e in slow.row_errors] == [5]


def test_wide_csv_bad_rows_are_reported():
    text = "step,loss\n1,2.5\n2,oops\n3\nx,1.0\n4,2.0\n"
    record = parse_csv(text, filename="w.csv")
    assert record.series[0].steps == [1, 4]
    assert [(e.line, e.reason) for e in record.row_errors] == [
        (3, "bad value 'oops' in column 'loss'"),
        (4, "expected 2 columns, got 1"),
        (5, "bad step 'x'"),
    ]


def test_long_csv_with_run_column(fixture_bytes):
    doc = parse_document("long.csv", fixture_bytes("runlogs/long.csv"))
    assert doc.fmt == "csv_long"
    series = _series(doc)
    assert series["baseline", "loss"].steps == [10, 20]
    assert series["baseline", "loss"].values == [3.21, 2.98]
    assert series["baseline", "lr"].values == [0.0003]
    assert series["synth-30", "loss"].steps == [10, 30]
    assert (series["synth-30", "loss"].first_line, series["synth-30", "loss"].last_line) == (5, 7)
    assert doc.row_errors == [RowError(6, "non-finite value 'inf' for 'loss'")]


def test_long_csv_key_column_without_run():
    doc = parse_document("m.csv", b"step,key,value\n1,loss,2.0\n2,loss,1.5\n1,acc,0.5\n")
    assert doc.fmt == "csv_long"
    assert [(s.name, s.steps, s.values) for s in doc.run_log.series] == [
        ("loss", [1, 2], [2.0, 1.5]),
        ("acc", [1], [0.5]),
    ]


def test_wandb_history_export(fixture_bytes):
    doc = parse_document("history.csv", fixture_bytes("runlogs/wandb_history.csv"))
    assert doc.fmt == "wandb_csv"
    series = _series(doc)
    assert set(series) == {("", "train/loss"), ("", "train/lr"), ("", "eval/loss")}
    assert series["", "train/loss"].values == [10.75, 9.5, 8.25, 7.125]
    assert series["", "train/loss"].wall_times[0] == 1717171717.25
    assert series["", "eval/loss"].steps == [2]
    assert (series["", "eval/loss"].first_line, series["", "eval/loss"].last_line) == (4, 4)


def test_jsonl(fixture_bytes):
    doc = parse_document("metrics.jsonl", fixture_bytes("runlogs/metrics.jsonl"))
    series = _series(doc)
    assert series["", "loss"].steps == [1, 2, 3, 5]
    assert series["", "loss"].values == [3.5, 3.25, 3.0, 2.75]
    assert series["", "loss"].wall_times == [None, None, 1717171800.5, None]
    assert series["", "eval/loss"].values == [2.9]
    assert series["", "grad_norm"].steps == [2]
    assert [e.line for e in doc.row_errors] == [4, 5]
    assert doc.row_errors[0].reason == "non-finite value nan for 'loss'"


def test_mlflow_metric_file_named_by_path(fixture_bytes):
    name = "mlruns/0/3f2a9c1b/metrics/train/loss"
    doc = parse_document(name, fixture_bytes(f"runlogs/{name}"))
    assert doc.fmt == "mlflow"
    (loss,) = doc.run_log.series
    assert (loss.name, loss.steps, loss.values) == ("train/loss", [10, 20, 30], [2.5, 2.25, 2.0])
    assert loss.wall_times == [1717171717.0, 1717171727.0, 1717171737.0]


def test_megatron_log(fixture_bytes):
    doc = parse_document("train.log", fixture_bytes("runlogs/megatron.log"))
    assert doc.fmt == "megatron"
    series = _series(doc)
    assert series["", "lm loss"].steps == [100, 200, 300]
    assert series["", "lm loss"].values == [6.542812, 5.10315, 4.871002]
    assert series["", "learning rate"].values == [3.0e-4, 3.0e-4, 2.999e-4]
    assert series["", "grad norm"].values == [1.234, 0.987, 0.912]
    assert series["", "consumed samples"].values == [51200.0, 102400.0, 153600.0]
    assert (series["", "lm loss"].first_line, series["", "lm loss"].last_line) == (3, 6)
    assert ("", "number of skipped iterations") not in series


def test_kv_log(fixture_bytes):
    doc = parse_document("train.log", fixture_bytes("runlogs/train_kv.log"))
    assert doc.fmt == "kv_log"
    series = _series(doc)
    assert series["", "loss"].steps == [10, 20, 30]
    assert series["", "loss"].values == [2.31, 2.12, 1.98]
    assert series["", "lr"].values == [3e-4, 3e-4, 2.5e-4, 2.5e-4]
    assert doc.row_errors == [RowError(5, "non-finite value 'nan' for 'loss'")]


def test_non_utf8_log_names_first_bad_line():
    with pytest.raises(ParseError, match="not valid UTF-8") as info:
        parse_document("train.log", b"step: 1 loss: 2.0\nstep: 2 loss: 1.9\n\xc3\x28 step: 3\n")
    assert info.value.line == 3


def test_metric_points_both_shapes_last_write_wins():
    series = parse_metric_points(
        [
            {"step": 20, "metrics": {"loss": 2.0, "lr": 1e-4}},
            {"step": 10, "name": "loss", "value": 2.5},
            {"step": 20, "name": "loss", "value": 1.9},
        ],
        filename="webhook",
    )
    by_name = {s.name: s for s in series}
    assert by_name["loss"].steps == [10, 20]
    assert by_name["loss"].values == [2.5, 1.9]
    assert (by_name["loss"].first_line, by_name["loss"].last_line) == (1, 3)
    assert by_name["lr"].values == [1e-4]


@pytest.mark.parametrize(
    ("batch", "message", "line"),
    [
        ([{"step": 1, "metrics": {"loss": float("nan")}}], "non-finite", 1),
        ([{"step": 1, "metrics": {"loss": 1.0}}, {"metrics": {"loss": 1}}], "no 'step'", 2),
        ([{"step": "x", "name": "loss", "value": 1}], "bad step", 1),
        ([{"step": 1, "name": "loss", "value": "high"}], "not a number", 1),
        ([], "empty", None),
    ],
)
def test_metric_points_rejects(batch, message, line):
    with pytest.raises(ParseError, match=message) as info:
        parse_metric_points(batch, filename="webhook")
    assert info.value.line == line


def test_csv_without_points_is_rejected():
    with pytest.raises(ParseError, match="no metric points"):
        parse_document("x.csv", b"step,loss\n1,nan\n")


def test_json_file_points_skip_bad_items():
    data = b'[{"step": 1, "metrics": {"loss": 2.0}}, {"step": 2, "metrics": {"loss": "NaN"}}, 7, {"step": 3, "name": "loss", "value": 1.5}]'
    doc = parse_document("points.json", data)
    assert (doc.fmt, doc.run_log.series[0].steps, doc.run_log.series[0].values) == (
        "json_points",
        [1, 3],
        [2.0, 1.5],
    )
    assert [(e.line, e.reason) for e in doc.row_errors] == [
        (2, "non-finite value 'NaN' for 'loss'"),
        (3, "point is not an object"),
    ]


def test_mlflow_dotted_metric_name():
    doc = parse_document("mlruns/1/r/metrics/val.loss", b"1717171717000 2.0 3\n1717171718000 1.5 4\n")
    assert [(s.name, s.steps, s.values) for s in doc.run_log.series] == [("val.loss", [3, 4], [2.0, 1.5])]


def test_wandb_empty_cells_fast_path_matches_slow_path(fixture_bytes):
    text = fixture_bytes("runlogs/wandb_history.csv").decode()
    fast = parse_csv(text, filename="h.csv")
    slow = parse_csv(text.replace("\n", "\r\n"), filename="h.csv")
    assert [(s.name, s.steps, s.values, s.wall_times, s.first_line, s.last_line) for s in fast.series] == [
        (s.name, s.steps, s.values, s.wall_times, s.first_line, s.last_line) for s in slow.series
    ]
    assert fast.row_errors == slow.row_errors == []


def test_empty_cells_with_literal_nan_still_reported():
    record = parse_csv("_step,a,b\n0,1.0,\n1,nan,2.0\n2,,3.0\n", filename="h.csv")
    assert [(s.name, s.steps) for s in record.series] == [("a", [0]), ("b", [1, 2])]
    assert record.row_errors == [RowError(3, "non-finite value 'nan' in column 'a'")]


def test_jsonl_multiline_object_falls_back_to_line_by_line():
    doc = parse_document("m.jsonl", b'{"step": 1,\n"loss": 2.0}\n{"step": 2, "loss": 1.0}\n')
    assert doc.run_log.series[0].steps == [2]
    assert [e.line for e in doc.row_errors] == [1, 2]
