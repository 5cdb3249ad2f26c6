"""The parts every metric-log parser shares: column names, limits, per-series accumulators, steps.

Pure (no Django). `runlogs` (CSV/JSON), `textlogs`, `wandb`, `hf` and `tensorboard` build on these, so none
of them imports another parser's internals.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterable
from typing import Any

from ingestion.parsers.records import MetricSeriesRecord, ParseError, RowError, RunLogRecord

# "current_steps" is LLaMA-Factory's trainer_log.jsonl.
STEP_COLUMNS = (
    "step",
    "_step",
    "global_step",
    "iteration",
    "iter",
    "steps",
    "trainer/global_step",
    "current_steps",
)
# An x-axis that is a step when no step column exists (Keras CSVLogger, Lightning per-epoch logs).
EPOCH_COLUMNS = ("epoch",)
LONG_NAME_COLUMNS = ("metric", "key", "name", "tag")
LONG_VALUE_COLUMNS = ("value", "val")
RUN_COLUMNS = ("run", "run_id", "run_name")
TIME_COLUMNS = ("_timestamp", "timestamp", "wall_time", "walltime", "time")
# W&B bookkeeping columns that are not metrics (every other "_"-prefixed column is dropped too), and the
# index column pandas writes with ``to_csv``.
IGNORED_COLUMNS = frozenset({"_runtime", "_wandb", "epoch_time", "unnamed: 0", "index"})
MAX_ROW_ERRORS = 1000
# A file with more metric names than this is a mistake or an attack, not a training run (issue 12).
MAX_SERIES_PER_FILE = 10_000


def check_series_count(count: int, *, filename: str, line: int | None = None) -> None:
    if count > MAX_SERIES_PER_FILE:
        raise ParseError(
            f"{count:,} metric series in one file, over the limit of {MAX_SERIES_PER_FILE:,}",
            filename=filename,
            line=line,
        )


class SeriesAcc:
    """Points of one metric in file order, before sorting and de-duplication."""

    __slots__ = ("first_line", "last_line", "name", "presorted", "run", "steps", "values", "walls")

    def __init__(self, name: str, run: str = "") -> None:
        self.name = name
        self.run = run
        self.steps: list[int] = []
        self.values: list[float] = []
        self.walls: list[float | None] = []
        self.first_line: int | None = None
        self.last_line: int | None = None
        self.presorted = False  # set by callers that already checked steps are strictly increasing

    def add(self, step: int, value: float, wall: float | None, line: int) -> None:
        self.steps.append(step)
        self.values.append(value)
        self.walls.append(wall)
        if self.first_line is None:
            self.first_line = line
        self.last_line = line

    def finish(self) -> MetricSeriesRecord:
        steps, values, walls = self.steps, self.values, self.walls
        if not self.presorted and any(a >= b for a, b in itertools.pairwise(steps)):
            latest: dict[int, int] = {}
            for i, s in enumerate(steps):
                latest[s] = i  # last write wins
            order = sorted(latest)
            idx = [latest[s] for s in order]
            steps = order
            values = [values[i] for i in idx]
            walls = [walls[i] for i in idx]
        return MetricSeriesRecord(
            name=self.name,
            steps=steps,
            values=values,
            wall_times=walls,
            first_line=self.first_line,
            last_line=self.last_line,
            run=self.run,
        )


class RowErrors(list[RowError]):
    def add(self, line: int, reason: str) -> None:
        if len(self) < MAX_ROW_ERRORS:
            self.append(RowError(line, reason))

    def value(self, line: int, text: str, where: str = "") -> float | None:
        """A finite metric value from a cell, or None with a row error ("bad value '..' in column 'x'")."""
        try:
            v = float(text)
        except ValueError:
            self.add(line, f"bad value {text!r}{where}")
            return None
        if v - v != 0.0:  # NaN or +-inf
            self.add(line, f"non-finite value {text!r}{where}")
            return None
        return v


def finish_record(accs: Iterable[SeriesAcc], errors: list[RowError], fmt: str, filename: str) -> RunLogRecord:
    accs = list(accs)
    check_series_count(len(accs), filename=filename)
    series = [a.finish() for a in accs if a.steps]
    if not series:
        detail = f"; first problem: line {errors[0].line}: {errors[0].reason}" if errors else ""
        raise ParseError(f"no metric points found ({fmt}){detail}", filename=filename)
    return RunLogRecord(series=series, row_errors=sorted(errors, key=lambda e: e.line), fmt=fmt)


STEP_LIMIT = 1 << 62


def parse_step(text: str) -> int:
    """A step from text; ValueError (with a row-error reason) when it is not a whole number >= 0."""
    try:
        step = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"bad step {text!r}") from None
        if not value.is_integer():  # also rejects nan/inf
            raise ValueError(f"bad step {text!r}: not a whole number") from None
        step = int(value)
    if step < 0:
        raise ValueError(f"negative step {step}")
    if step >= STEP_LIMIT:
        raise ValueError(f"bad step {text!r}: out of range")
    return step


def parse_float(text: str) -> float:
    return float(text)


def split_header(text: str) -> list[str]:
    first = text.split("\n", 1)[0].rstrip("\r")
    try:
        return [c.strip() for c in next(csv.reader([first]), [])]
    except csv.Error:
        return [c.strip() for c in first.split(",")]


def find_column(header_lower: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header_lower:
            return header_lower.index(name)
    return None


TENSORBOARD_CSV_HEADER = ["wall time", "step", "value"]
# W&B panel exports name each column "<run name> - <metric>" with "__MIN"/"__MAX" band columns beside it.
WANDB_PANEL_RE = re.compile(r"^(?P<run>.+?) - (?P<metric>.+?)(?P<band>__MIN|__MAX)?$")
WANDB_POWER_RE = re.compile(r"(?:^|[ /._-])gpu\.(?P<gpu>\d+)\.powerWatts(?:__MIN|__MAX)?$", re.IGNORECASE)


def is_junk_column(name: str) -> bool:
    """W&B bookkeeping ("_step", "_runtime", "_timestamp", "_wandb"), pandas' index, min/max bands."""
    lower = name.strip().lower()
    return (
        not lower
        or lower.startswith("_")
        or lower in IGNORED_COLUMNS
        or lower.startswith("unnamed:")
        or name.endswith("__MIN")
        or name.endswith("__MAX")
    )


def point_value(value: Any) -> float | None:
    """A metric value from JSON: numbers, and the strings "NaN"/"Infinity" that some loggers write."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in {"nan", "inf", "-inf", "infinity", "-infinity"}:
        return float(value.strip().lower().replace("infinity", "inf"))
    return None
