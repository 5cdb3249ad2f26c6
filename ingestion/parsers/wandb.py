"""Weights & Biases CSV exports: panel exports and system-metric exports.

- Panel export ("Download CSV" on a chart): the first column is the chart's x-axis (``Step``, ``epoch``,
  ``Relative Time (Process)``, ...); every other column is ``<run name> - <metric>``, each followed by
  ``__MIN``/``__MAX`` band columns. Bands, ``_step``/``_runtime``/``_timestamp`` columns are bookkeeping, not
  metrics. One run's series are named by metric; several runs keep their run name in ``run``.
- System metrics (``system.gpu.0.powerWatts`` from a run's event stream, or a panel of
  ``system/gpu.N.powerWatts``): GPU power is integrated over time into a PowerSummary, exactly as for
  nvidia-smi logs (energy in kWh, GPU hours).

Error policy as for other CSVs: bad cells are reported as RowError and skipped; a file with neither a usable
series nor a power summary is rejected.
"""

from __future__ import annotations

import csv
import math

from ingestion.parsers.points import (
    WANDB_PANEL_RE,
    WANDB_POWER_RE,
    RowErrors,
    SeriesAcc,
    check_series_count,
    finish_record,
    is_junk_column,
    parse_step,
)
from ingestion.parsers.power import summarize_power
from ingestion.parsers.records import ParseError, PowerSummary, RunLogRecord

# x-axes of a panel export that are steps, and those that are seconds.
_STEP_AXES = (
    "step",
    "_step",
    "global_step",
    "trainer/global_step",
    "train/global_step",
    "epoch",
    "iteration",
)
_RELATIVE_TIME_AXES = ("relative time (process)", "relative time (wall)", "_runtime")
_ABSOLUTE_TIME_AXES = ("_timestamp", "wall time")


def _seconds(raw: str, *, wall: bool) -> float:
    value = float(raw)
    if wall and value > 1e11:  # milliseconds since the epoch
        value /= 1000.0
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def parse_wandb_csv(text: str, *, filename: str, fmt: str) -> RunLogRecord:
    reader = csv.reader(text.splitlines())
    try:
        header = [h.strip() for h in next(reader)]
        rows = list(reader)
    except (csv.Error, StopIteration) as exc:
        raise ParseError(f"malformed CSV: {exc}", filename=filename) from None
    check_series_count(len(header) - 1, filename=filename, line=1)
    # Columns: (index, run label, metric). A panel column carries its run; a history column does not.
    axes: dict[str, int] = {}
    metric_cols: list[tuple[int, str, str]] = []
    power_cols: list[tuple[int, str, str]] = []
    for j, name in enumerate(header):
        m = WANDB_PANEL_RE.match(name)
        if m:
            if m.group("band"):
                continue
            run, metric = m.group("run"), m.group("metric")
        else:
            run, metric = "", name
        lower = metric.lower()
        if not run and lower in _STEP_AXES + _RELATIVE_TIME_AXES + _ABSOLUTE_TIME_AXES:
            axes.setdefault(lower, j)
            continue
        if WANDB_POWER_RE.search(metric):
            power_cols.append((j, run, metric))
        elif not is_junk_column(metric) and not lower.startswith("system"):
            metric_cols.append((j, run, metric))
    step_col = next((axes[a] for a in _STEP_AXES if a in axes), None)
    abs_col = next((axes[a] for a in _ABSOLUTE_TIME_AXES if a in axes), None)
    rel_col = next((axes[a] for a in _RELATIVE_TIME_AXES if a in axes), None)
    if metric_cols and step_col is None:
        raise ParseError(
            f"W&B export with x-axis {header[0]!r}: metrics need a step axis (export with x = Step)",
            filename=filename,
            line=1,
        )
    time_col = abs_col if abs_col is not None else rel_col
    absolute = time_col is not None and time_col == abs_col
    power_runs = {run for _, run, _ in power_cols}
    single_run = len({run for _, run, _ in metric_cols}) <= 1
    errors = RowErrors()
    if power_cols and time_col is None:
        errors.add(1, "GPU power columns but no time column (_timestamp, _runtime, Relative Time): no energy")
    elif len(power_runs) > 1:
        errors.add(
            1, "GPU power of several runs in one export: upload one run's system metrics for its energy"
        )
    use_power = bool(power_cols) and time_col is not None and len(power_runs) == 1
    accs: dict[tuple[str, str], SeriesAcc] = {}
    samples: dict[str, list[tuple[float, float]]] = {}
    width = len(header)
    for line, row in enumerate(rows, start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != width:
            errors.add(line, f"expected {width} columns, got {len(row)}")
            continue
        if metric_cols:
            assert step_col is not None
            _metric_row(row, line, header, step_col, abs_col, metric_cols, single_run, accs, errors)
        if use_power:
            assert time_col is not None
            _power_row(row, line, header, time_col, absolute, power_cols, samples, errors)
    power: PowerSummary | None = None
    if samples:
        power = summarize_power(samples, {}, list(errors), filename=filename, absolute_times=absolute)
    if not accs:
        if power is None:
            detail = f"; first problem: line {errors[0].line}: {errors[0].reason}" if errors else ""
            raise ParseError(
                f"no metric points or GPU power samples found ({fmt}){detail}", filename=filename
            )
        return RunLogRecord(power=power, row_errors=sorted(errors, key=lambda e: e.line), fmt=fmt)
    record = finish_record(accs.values(), list(errors), fmt, filename)
    record.power = power
    return record


def _metric_row(
    row: list[str],
    line: int,
    header: list[str],
    step_col: int,
    abs_col: int | None,
    metric_cols: list[tuple[int, str, str]],
    single_run: bool,
    accs: dict[tuple[str, str], SeriesAcc],
    errors: RowErrors,
) -> None:
    raw_step = row[step_col].strip()
    if not raw_step:
        return  # a row of another panel's x values (system rows in a history export)
    try:
        step = parse_step(raw_step)
    except ValueError as exc:
        errors.add(line, str(exc))
        return
    wall = None
    if abs_col is not None and row[abs_col].strip():
        try:
            wall = _seconds(row[abs_col], wall=True)
        except ValueError:
            wall = None
    for j, run, metric in metric_cols:
        cell = row[j].strip()
        if not cell:
            continue  # not logged at this step
        v = errors.value(line, cell, f" in column {header[j]!r}")
        if v is None:
            continue
        key = ("" if single_run else run, metric)
        acc = accs.get(key)
        if acc is None:
            acc = accs[key] = SeriesAcc(metric, key[0])
        acc.add(step, v, wall, line)


def _power_row(
    row: list[str],
    line: int,
    header: list[str],
    time_col: int,
    absolute: bool,
    power_cols: list[tuple[int, str, str]],
    samples: dict[str, list[tuple[float, float]]],
    errors: RowErrors,
) -> None:
    t_raw = row[time_col].strip()
    if not t_raw:
        return
    try:
        t = _seconds(t_raw, wall=absolute)
    except ValueError:
        errors.add(line, f"bad time {t_raw!r} in column {header[time_col]!r}")
        return
    for j, _run, metric in power_cols:
        cell = row[j].strip()
        if not cell:
            continue
        try:
            watts = float(cell)
        except ValueError:
            errors.add(line, f"bad power {cell!r} in column {header[j]!r}")
            continue
        if not (0.0 <= watts <= 100_000.0):
            errors.add(line, f"power {cell!r} out of range in column {header[j]!r}")
            continue
        m = WANDB_POWER_RE.search(metric)
        assert m is not None
        samples.setdefault(m.group("gpu"), []).append((t, watts))
