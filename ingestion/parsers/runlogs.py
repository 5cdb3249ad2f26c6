"""Training-run metric files: CSV (wide, long, W&B run history; W&B panel/system exports in ``wandb``,
TensorBoard UI exports), JSONL (incl. LLaMA-Factory's trainer_log.jsonl, epoch-level JSON logs and W&B
event streams with GPU power), MLflow metric files, and webhook ``run.metrics`` batches. Training stdout
(Megatron/NeMo, HF Trainer, nanoGPT/llm.c, key-value) lives in ``textlogs``.

Limits: more than ``MAX_SERIES_PER_FILE`` metric names refuse the file; a negative step is a row error.

Error policy (all formats here): the file must be UTF-8 (else the whole file is rejected naming the first
bad line) and must have a recognisable header/shape (else rejected). Individual bad rows -- unparsable
numbers, a wrong column count, NaN/Inf values, a broken JSONL line -- are skipped and reported as
``RowError(line, reason)``; the good rows are kept. A file with no usable point at all is rejected.

Every series is sorted by step; a step written twice keeps the later row (last write wins), which is what a
restarted run that re-logs steps after its last checkpoint means.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from ingestion.parsers import power, textlogs, wandb
from ingestion.parsers.points import (
    EPOCH_COLUMNS,
    IGNORED_COLUMNS,
    LONG_NAME_COLUMNS,
    LONG_VALUE_COLUMNS,
    MAX_ROW_ERRORS,
    RUN_COLUMNS,
    STEP_COLUMNS,
    STEP_LIMIT,
    TENSORBOARD_CSV_HEADER,
    TIME_COLUMNS,
    WANDB_PANEL_RE,
    WANDB_POWER_RE,
    RowErrors,
    SeriesAcc,
    check_series_count,
    find_column,
    finish_record,
    is_junk_column,
    parse_step,
    point_value,
    split_header,
)
from ingestion.parsers.records import MetricSeriesRecord, ParseError, RunLogRecord
from ingestion.parsers.text import decode_utf8


def classify_csv_header(header: list[str]) -> str | None:
    """The CSV flavour from its header row, or None when it is not a metrics CSV at all.

    'tensorboard_csv' (TensorBoard UI export), 'wandb_panel_csv' / 'wandb_system_csv' (W&B exports),
    'csv_long', 'wandb_csv' (W&B run history), 'csv_wide'.
    """
    lower = [h.strip().lower() for h in header]
    if lower == TENSORBOARD_CSV_HEADER:
        return "tensorboard_csv"
    if len(header) >= 2 and any(WANDB_POWER_RE.search(h.strip()) for h in header):
        panel = [WANDB_PANEL_RE.match(h.strip()) for h in header[1:]]
        metrics = [m.group("metric") if m else h for m, h in zip(panel, header[1:])]
        if all(
            WANDB_POWER_RE.search(m) or m.lower().startswith("system") or is_junk_column(m) for m in metrics
        ):
            return "wandb_system_csv"
    if len(header) >= 2 and sum(" - " in h for h in header[1:]) >= 1:
        rest = [h.strip() for h in header[1:] if h.strip()]
        if rest and all(WANDB_PANEL_RE.match(h) for h in rest):
            return "wandb_panel_csv"
    if find_column(lower, STEP_COLUMNS) is None:
        if len(header) >= 2 and find_column(lower, EPOCH_COLUMNS) is not None:
            return "csv_wide"
        return None
    if (
        find_column(lower, LONG_NAME_COLUMNS) is not None
        and find_column(lower, LONG_VALUE_COLUMNS) is not None
    ):
        return "csv_long"
    if len(header) < 2:
        return None
    return "wandb_csv" if "_step" in lower else "csv_wide"


def explain_csv_header(header: list[str]) -> str:
    """Why a header that looks like CSV is not a metrics CSV (for refusal messages)."""
    shown = ", ".join(repr(h) for h in header[:6]) + (", ..." if len(header) > 6 else "")
    return f"header [{shown}] has no step column ({', '.join(STEP_COLUMNS[:4])}, epoch, or W&B 'Step')"


def parse_csv(text: str, *, filename: str) -> RunLogRecord:
    if not text.strip():
        raise ParseError("empty CSV", filename=filename)
    head = split_header(text)
    check_series_count(len(head) - 1, filename=filename, line=1)
    kind = classify_csv_header(head)
    if kind in ("wandb_panel_csv", "wandb_system_csv") or (
        kind is not None and any(WANDB_POWER_RE.search(h.strip()) for h in head)
    ):
        return wandb.parse_wandb_csv(text, filename=filename, fmt=kind)
    if kind == "tensorboard_csv":
        return _parse_tensorboard_csv(text.splitlines(), filename)
    fast = _fast_wide(text, filename)
    if fast is not None:
        return fast
    reader = csv.reader(text.splitlines())
    try:
        header = [c.strip() for c in next(reader)]
    except csv.Error as exc:
        raise ParseError(f"bad CSV header: {exc}", filename=filename, line=1) from None
    fmt = classify_csv_header(header)
    if fmt is None:
        raise ParseError(explain_csv_header(header), filename=filename, line=1)
    try:
        if fmt == "csv_long":
            return _parse_csv_long(reader, header, filename)
        return _parse_csv_wide(reader, header, filename, fmt)
    except csv.Error as exc:
        raise ParseError(f"malformed CSV: {exc}", filename=filename, line=reader.line_num) from None


_TB_EXPORT_NAME_RE = re.compile(r"run[-_](?P<run>.*?)[-_]tag[-_](?P<tag>.+?)(?:\.csv)?$", re.IGNORECASE)


def tensorboard_csv_tag(filename: str) -> str:
    """``run-.-tag-train_loss.csv`` (the TensorBoard UI's download name) -> ``train_loss``; else the stem."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    m = _TB_EXPORT_NAME_RE.match(base)
    if m:
        return m.group("tag")
    return base[:-4] if base.lower().endswith(".csv") else base


def _parse_tensorboard_csv(lines: list[str], filename: str) -> RunLogRecord:
    """``Wall time,Step,Value`` (one scalar tag per file, as downloaded from TensorBoard's UI)."""
    acc = SeriesAcc(tensorboard_csv_tag(filename))
    errors = RowErrors()
    reader = csv.reader(lines)
    try:
        next(reader)
        for line, row in enumerate(reader, start=2):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != 3:
                errors.add(line, f"expected 3 columns, got {len(row)}")
                continue
            try:
                step = parse_step(row[1].strip())
            except ValueError as exc:
                errors.add(line, str(exc))
                continue
            v = errors.value(line, row[2])
            if v is None:
                continue
            try:
                wall: float | None = float(row[0])
            except ValueError:
                wall = None
            acc.add(step, v, wall if wall is not None and math.isfinite(wall) else None, line)
    except csv.Error as exc:
        raise ParseError(f"malformed CSV: {exc}", filename=filename, line=reader.line_num) from None
    return finish_record([acc], errors, "tensorboard_csv", filename)


_NON_NUMERIC_RE = re.compile(r"[^0-9eE.,+\-\n ]")


def _fast_wide(text: str, filename: str) -> RunLogRecord | None:
    """NumPy's C reader for the common clean case (no quotes, no blank lines): ~5x faster.

    Empty cells (W&B exports) are read as NaN and skipped silently, which is only safe when the body holds
    nothing but digits and separators, i.e. no literal NaN/Inf that must be reported. Returns None whenever
    anything is unusual; the row-by-row path then runs and reports row errors.
    """
    if '"' in text or "\r" in text or "\n\n" in text or "#" in text:
        return None
    head, _, body = text.partition("\n")
    header = [c.strip() for c in head.split(",")]
    fmt = classify_csv_header(header)
    if fmt not in ("csv_wide", "wandb_csv") or not body.strip():
        return None
    step_col, time_col, cols = _wide_columns(header)
    if not cols or step_col is None:
        return None
    expected_rows = body.count("\n") + (0 if body.endswith("\n") else 1)
    missing_is_nan = (
        body.startswith(",") or ",," in body or ",\n" in body or "\n," in body or body.endswith(",")
    )
    if missing_is_nan:
        if _NON_NUMERIC_RE.search(body):
            return None
        body = (
            body.replace(",,", ",nan,")
            .replace(",,", ",nan,")
            .replace(",\n", ",nan\n")
            .replace("\n,", "\nnan,")
        )
        if body.startswith(","):
            body = "nan" + body
        if body.endswith(","):
            body += "nan"
    try:
        table = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, comments=None, ndmin=2)
    except (ValueError, OverflowError):
        return None
    if table.shape[1] != len(header) or table.shape[0] != expected_rows:
        return None
    raw_steps = table[:, step_col]
    if not (np.isfinite(raw_steps).all() and (raw_steps == np.floor(raw_steps)).all()):
        return None
    if raw_steps.size and (np.abs(raw_steps).max() >= 2.0**53 or raw_steps.min() < 0):
        return None  # the row-by-row path reports negative steps
    steps = raw_steps.astype(np.int64)
    increasing = bool(np.all(steps[1:] > steps[:-1]))
    walls: list[float | None] | None = None
    if time_col is not None:
        wall_col = table[:, time_col]
        walls = [w if w - w == 0.0 else None for w in wall_col.tolist()]
    n = len(steps)
    lines = np.arange(2, n + 2)
    errors = RowErrors()
    accs = []
    for j in cols:
        col = table[:, j]
        finite = np.isfinite(col)
        if missing_is_nan:
            missing = np.isnan(col)
            if missing.any():
                col = col.copy()
                col[missing] = 0.0  # not reported: an empty cell is "not logged at this step"
                finite &= ~missing
                reportable = ~finite & ~missing
            else:
                reportable = ~finite
        else:
            reportable = ~finite
        acc = SeriesAcc(header[j])
        acc.presorted = increasing
        if finite.all():
            acc.steps = steps.tolist()
            acc.values = col.tolist()
            acc.walls = walls if walls is not None else [None] * n
            acc.first_line, acc.last_line = 2, n + 1
        else:
            bad = np.flatnonzero(reportable)
            for i in bad[:MAX_ROW_ERRORS].tolist():
                errors.add(i + 2, f"non-finite value '{float(col[i])}' in column {header[j]!r}")
            keep = np.flatnonzero(finite)
            acc.steps = steps[keep].tolist()
            acc.values = col[keep].tolist()
            acc.walls = [walls[i] for i in keep.tolist()] if walls is not None else [None] * len(keep)
            if keep.size:
                acc.first_line, acc.last_line = int(lines[keep[0]]), int(lines[keep[-1]])
        accs.append(acc)
    errors.sort(key=lambda e: e.line)
    return finish_record(accs, errors, fmt, filename)


def _wide_columns(header: list[str]) -> tuple[int | None, int | None, list[int]]:
    """(step column, time column, metric columns) of a wide CSV header.

    The step is the first step-like column, else an epoch column; other x-axes (epoch, time) and W&B
    bookkeeping are never metrics.
    """
    lower = [h.lower() for h in header]
    step_col = find_column(lower, STEP_COLUMNS)
    if step_col is None:
        step_col = find_column(lower, EPOCH_COLUMNS)
    time_col = find_column(lower, TIME_COLUMNS)
    cols = [
        j
        for j, h in enumerate(header)
        if j not in (step_col, time_col)
        and not is_junk_column(h)
        and lower[j] not in STEP_COLUMNS
        and lower[j] not in EPOCH_COLUMNS
        and lower[j] not in TIME_COLUMNS
    ]
    return step_col, time_col, cols


def _parse_csv_wide(reader: Any, header: list[str], filename: str, fmt: str) -> RunLogRecord:
    step_col, time_col, cols = _wide_columns(header)
    assert step_col is not None
    if not cols:
        raise ParseError("CSV has a step column but no metric columns", filename=filename, line=1)
    accs = [SeriesAcc(header[j]) for j in cols]
    pairs = list(zip(cols, accs))
    width = len(header)
    errors = RowErrors()
    line = 1
    for row in reader:
        line += 1
        if len(row) != width:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            errors.add(line, f"expected {width} columns, got {len(row)}")
            continue
        try:
            step = parse_step(row[step_col])
        except ValueError as exc:
            errors.add(line, str(exc))
            continue
        wall = None
        if time_col is not None and row[time_col]:
            try:
                wall = float(row[time_col])
            except ValueError:
                wall = None
        for j, acc in pairs:
            cell = row[j]
            if not cell:
                continue  # W&B exports leave a metric's cell empty on steps it was not logged
            v = errors.value(line, cell, f" in column {header[j]!r}")
            if v is None:
                continue
            acc.add(step, v, wall, line)
    return finish_record(accs, errors, fmt, filename)


def _parse_csv_long(reader: Any, header: list[str], filename: str) -> RunLogRecord:
    lower = [h.lower() for h in header]
    step_col = find_column(lower, STEP_COLUMNS)
    name_col = find_column(lower, LONG_NAME_COLUMNS)
    value_col = find_column(lower, LONG_VALUE_COLUMNS)
    run_col = find_column(lower, RUN_COLUMNS)
    time_col = find_column(lower, TIME_COLUMNS)
    assert step_col is not None and name_col is not None and value_col is not None
    accs: dict[tuple[str, str], SeriesAcc] = {}
    errors = RowErrors()
    width = len(header)
    line = 1
    for row in reader:
        line += 1
        if len(row) != width:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            errors.add(line, f"expected {width} columns, got {len(row)}")
            continue
        name = row[name_col].strip()
        if not name:
            errors.add(line, "empty metric name")
            continue
        try:
            step = parse_step(row[step_col])
        except ValueError as exc:
            errors.add(line, str(exc))
            continue
        v = errors.value(line, row[value_col], f" for {name!r}")
        if v is None:
            continue
        wall = None
        if time_col is not None:
            try:
                wall = float(row[time_col])
            except ValueError:
                wall = None
        run = row[run_col].strip() if run_col is not None else ""
        key = (run, name)
        acc = accs.get(key)
        if acc is None:
            acc = accs[key] = SeriesAcc(name, run)
        acc.add(step, v, wall, line)
    return finish_record(accs.values(), errors, "csv_long", filename)


def _flatten(obj: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + "/")
        else:
            yield name, value


def json_step(obj: dict[str, Any]) -> tuple[str | None, Any]:
    for key in STEP_COLUMNS:
        if key in obj:
            return key, obj[key]
    return None, None


def _step_from_json(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("step is a boolean")
    if isinstance(raw, int | float | str):
        return parse_step(str(raw).strip()) if not isinstance(raw, int) else parse_step(str(raw))
    raise ValueError(f"bad step {raw!r}")


def _wall_from_json(obj: dict[str, Any]) -> float | None:
    for key in TIME_COLUMNS:
        raw = obj.get(key)
        if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
            return float(raw)
    return None


# Progress counters and x-axes that JSON loggers write beside the metrics (LLaMA-Factory's total_steps and
# percentage; an epoch next to a step).
_JSON_SKIP = frozenset(
    {*STEP_COLUMNS, *TIME_COLUMNS, *IGNORED_COLUMNS, *EPOCH_COLUMNS, "total_steps", "percentage"}
)
_TIME_KEYS = frozenset(TIME_COLUMNS)


def _add_json_row(
    obj: dict[str, Any], line: int, accs: dict[tuple[str, str], SeriesAcc], errors: RowErrors, run: str = ""
) -> None:
    raw_step = obj.get("step")
    if type(raw_step) is int and 0 <= raw_step < STEP_LIMIT:
        step = raw_step  # the common case, without the general checks below
    else:
        step_key, raw_step = json_step(obj)
        if step_key is None:
            # Epoch-level JSON logs (DeiT/MAE/DINO "log.txt"): a whole-number epoch is the step.
            epoch = obj.get("epoch")
            if type(epoch) is int and epoch >= 0:
                step_key, raw_step = "epoch", epoch
            else:
                errors.add(line, "no step key (step, _step, global_step, iteration, or a whole-number epoch)")
                return
        try:
            step = _step_from_json(raw_step)
        except (ValueError, OverflowError) as exc:
            errors.add(line, str(exc) if str(exc).startswith("negative") else f"bad step {raw_step!r}")
            return
    wall = None if _TIME_KEYS.isdisjoint(obj) else _wall_from_json(obj)
    for name, raw in obj.items():
        if name in _JSON_SKIP or name[:1] == "_":
            continue
        kind = type(raw)
        if kind is float or kind is int:
            v = float(raw)
            if v - v == 0.0:
                acc = accs.get((run, name))
                if acc is None:
                    acc = accs[run, name] = SeriesAcc(name, run)
                acc.add(step, v, wall, line)
                continue
            errors.add(line, f"non-finite value {raw!r} for {name!r}")
            continue
        pairs = _flatten(raw, name + "/") if kind is dict else ((name, raw),)
        for sub_name, sub_raw in pairs:
            if sub_name in _JSON_SKIP:
                continue
            sub_v = point_value(sub_raw)
            if sub_v is None:
                continue
            v = sub_v
            if v - v != 0.0:
                errors.add(line, f"non-finite value {sub_raw!r} for {sub_name!r}")
                continue
            acc = accs.get((run, sub_name))
            if acc is None:
                acc = accs[run, sub_name] = SeriesAcc(sub_name, run)
            acc.add(step, v, wall, line)


def _json_lines(text: str) -> list[tuple[int, Any]] | None:
    """All lines at once through the C decoder when every line is valid JSON; None otherwise."""
    numbered = [(i, raw) for i, raw in enumerate(text.splitlines(), start=1) if raw.strip()]
    try:
        values = json.loads("[" + ",".join(raw for _, raw in numbered) + "]")
    except (ValueError, RecursionError):
        return None
    if len(values) != len(numbered):
        return None  # a line held two values ("1, 2") and shifted the rest
    return [(i, v) for (i, _), v in zip(numbered, values)]


def parse_jsonl(text: str, *, filename: str) -> RunLogRecord:
    accs: dict[tuple[str, str], SeriesAcc] = {}
    errors = RowErrors()
    parsed = _json_lines(text)
    if parsed is None:
        parsed = []
        for line, raw in enumerate(text.splitlines(), start=1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                parsed.append((line, json.loads(raw)))
            except (ValueError, RecursionError) as exc:
                errors.add(line, f"bad JSON: {exc}")
    samples: dict[str, list[tuple[float, float]]] = {}
    for line, obj in parsed:
        if not isinstance(obj, dict):
            errors.add(line, "JSON line is not an object")
            continue
        if json_step(obj)[0] is None and _add_power_row(obj, samples):
            continue  # a W&B system-metrics event (wandb-events.jsonl): GPU power, no step
        _add_json_row(obj, line, accs, errors)
    if samples and not any(a.steps for a in accs.values()):
        summary = power.summarize_power(samples, {}, list(errors), filename=filename)
        return RunLogRecord(power=summary, row_errors=sorted(errors, key=lambda e: e.line), fmt="jsonl")
    record = finish_record(accs.values(), errors, "jsonl", filename)
    if samples:
        record.power = power.summarize_power(samples, {}, list(errors), filename=filename)
    return record


def _add_power_row(obj: dict[str, Any], samples: dict[str, list[tuple[float, float]]]) -> bool:
    """GPU power of a W&B event row (``system.gpu.0.powerWatts`` at ``_timestamp``); False if it has none."""
    stamp = obj.get("_timestamp")
    if not isinstance(stamp, int | float) or isinstance(stamp, bool) or not math.isfinite(stamp):
        return False
    found = False
    for key, raw in obj.items():
        m = WANDB_POWER_RE.search(key)
        if m and isinstance(raw, int | float) and not isinstance(raw, bool) and 0.0 <= raw <= 100_000.0:
            samples.setdefault(m.group("gpu"), []).append((float(stamp), float(raw)))
            found = True
    return found


def parse_metric_points(obj: list[dict[str, Any]], *, filename: str) -> list[MetricSeriesRecord]:
    """Webhook ``run.metrics`` batch: ``[{"step": 10, "metrics": {"loss": 2.3}}]`` or
    ``[{"step": 10, "name": "loss", "value": 2.3}]`` (mixable). ``line`` is the 1-based item index.

    Unlike files, a batch is all-or-nothing: any bad item (including NaN/Inf) rejects the batch, so the
    sender can fix and resend it whole.
    """
    if not isinstance(obj, list):
        raise ParseError("metrics batch must be a JSON list of points", filename=filename)
    if not obj:
        raise ParseError("metrics batch is empty", filename=filename)
    accs: dict[tuple[str, str], SeriesAcc] = {}
    for index, item in enumerate(obj, start=1):
        if not isinstance(item, dict):
            raise ParseError("point is not an object", filename=filename, line=index)
        if "step" not in item:
            raise ParseError("point has no 'step'", filename=filename, line=index)
        try:
            step = _step_from_json(item["step"])
        except (ValueError, OverflowError) as exc:
            reason = str(exc) if str(exc).startswith("negative") else f"bad step {item['step']!r}"
            raise ParseError(reason, filename=filename, line=index) from None
        wall = _wall_from_json(item)
        if "metrics" in item:
            metrics = item["metrics"]
            if not isinstance(metrics, dict) or not metrics:
                raise ParseError("'metrics' must be a non-empty object", filename=filename, line=index)
            pairs = list(_flatten(metrics))
        elif "name" in item and "value" in item:
            pairs = [(item["name"], item["value"])]
        else:
            raise ParseError("point needs 'metrics' or 'name' and 'value'", filename=filename, line=index)
        for name, raw in pairs:
            if not isinstance(name, str) or not name.strip() or len(name) > 200:
                raise ParseError(f"bad metric name {name!r}", filename=filename, line=index)
            v = point_value(raw)
            if v is None:
                raise ParseError(f"value of {name!r} is not a number", filename=filename, line=index)
            if v - v != 0.0:
                raise ParseError(f"non-finite value {raw!r} for {name!r}", filename=filename, line=index)
            key = ("", name.strip())
            acc = accs.get(key)
            if acc is None:
                acc = accs[key] = SeriesAcc(name.strip())
            acc.add(step, v, wall, index)
    return [a.finish() for a in accs.values()]


def parse_json_points(text: str, *, filename: str) -> RunLogRecord:
    """A whole-file JSON list of metric points: webhook batch shapes or plain JSONL-like rows.

    As for other files (and unlike the webhook batch), bad points are skipped and reported by item number.
    """
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"bad JSON: {exc}", filename=filename) from None
    if not isinstance(obj, list) or not obj:
        raise ParseError("JSON is not a list of metric points", filename=filename)
    accs: dict[tuple[str, str], SeriesAcc] = {}
    errors = RowErrors()
    for index, item in enumerate(obj, start=1):
        if not isinstance(item, dict):
            errors.add(index, "point is not an object")
            continue
        row = item
        if isinstance(item.get("metrics"), dict):
            row = {k: v for k, v in item.items() if k != "metrics"} | {
                k: v for k, v in item["metrics"].items() if k not in STEP_COLUMNS
            }
        elif "name" in item and "value" in item and isinstance(item["name"], str):
            row = {k: v for k, v in item.items() if k not in ("name", "value")} | {
                item["name"]: item["value"]
            }
        _add_json_row(row, index, accs, errors)
    return finish_record(accs.values(), errors, "json_points", filename)


# --- MLflow file store --------------------------------------------------------------------------------

_FILE_SUFFIXES = frozenset(
    {
        "csv",
        "tsv",
        "json",
        "jsonl",
        "ndjson",
        "log",
        "txt",
        "out",
        "yaml",
        "yml",
        "md",
        "gz",
        "zip",
        "tar",
        "tgz",
        "pdf",
    }
)
_MLFLOW_PATH = re.compile(r"(?:^|/)metrics/(?P<name>[^\0]+)$")


def mlflow_metric_name(filename: str) -> str | None:
    """``mlruns/0/<run>/metrics/train/loss`` -> ``train/loss``; None for paths outside a metrics folder."""
    m = _MLFLOW_PATH.search(filename.replace("\\", "/"))
    if not m:
        return None
    last = m["name"].rsplit("/", 1)[-1]
    # Metric names may contain dots ("val.loss"), but "metrics/summary.csv" is an ordinary file.
    if "." in last and last.rsplit(".", 1)[-1].lower() in _FILE_SUFFIXES:
        return None
    return m["name"]


def looks_like_mlflow(text: str) -> bool:
    for raw in text.splitlines()[:5]:
        parts = raw.split()
        if not parts:
            continue
        if len(parts) not in (2, 3):
            return False
        try:
            [float(p) for p in parts]
        except ValueError:
            return False
    return bool(text.strip())


def parse_mlflow_metric(text: str, *, filename: str, name: str | None = None) -> RunLogRecord:
    """One MLflow metric file: lines ``<timestamp ms> <value> [<step>]``."""
    name = name or mlflow_metric_name(filename) or filename.rsplit("/", 1)[-1]
    acc = SeriesAcc(name)
    errors = RowErrors()
    for line, raw in enumerate(text.splitlines(), start=1):
        parts = raw.split()
        if not parts:
            continue
        if len(parts) not in (2, 3):
            errors.add(line, f"expected 'timestamp value step', got {len(parts)} fields")
            continue
        try:
            ts = float(parts[0]) / 1000.0
            v = float(parts[1])
        except ValueError:
            errors.add(line, "bad number")
            continue
        try:
            step = parse_step(parts[2]) if len(parts) == 3 else 0
        except ValueError as exc:
            errors.add(line, str(exc))
            continue
        if v - v != 0.0:
            errors.add(line, f"non-finite value {parts[1]!r}")
            continue
        acc.add(step, v, ts if math.isfinite(ts) else None, line)
    return finish_record([acc], errors, "mlflow", filename)


# --- text logs (implemented in ingestion.parsers.textlogs) --------------------------------------------


def parse_megatron(text: str, *, filename: str) -> RunLogRecord:
    return textlogs.parse_megatron(text, filename=filename)


def parse_kv_log(text: str, *, filename: str) -> RunLogRecord:
    return textlogs.parse_kv_log(text, filename=filename)


def parse_text_log(data: bytes, *, filename: str) -> RunLogRecord:
    """Any training stdout log, by its content (Megatron/NeMo, HF Trainer, nanoGPT/llm.c, key-value)."""
    text = decode_utf8(data, filename=filename)
    fmt = textlogs.sniff(text.splitlines()[:5000]) or "kv_log"
    return textlogs.parse_text(fmt, text, filename=filename)
