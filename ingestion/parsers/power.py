"""nvidia-smi power logs (``--query-gpu=timestamp,index,name,power.draw [W],... --format=csv``).

Energy is integrated per GPU with the trapezoidal rule over its samples; GPU hours are the sum over GPUs of
the time each GPU's samples cover. Error policy: rows that cannot be read (``[N/A]`` power, bad timestamp,
wrong column count) are skipped and reported as RowError; a file without a power column or without two
samples of any GPU is rejected.
"""

from __future__ import annotations

import csv
import itertools
from datetime import UTC, datetime

from ingestion.parsers.records import ParseError, PowerSummary, RowError, RunLogRecord
from ingestion.parsers.text import decode_utf8

_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f")
# Columns that name the GPU of a row, most specific first ("gpu" is what some wrapper scripts write).
_GPU_ID_COLUMNS = ("uuid", "pci.bus_id", "gpu_uuid", "gpu", "index", "gpu_index", "gpu.index")


def is_nvidia_smi_header(first_line: str) -> bool:
    lower = first_line.lower()
    return "power.draw" in lower and "timestamp" in lower


def _timestamp(text: str) -> float:
    """nvidia-smi's ``2024/07/01 12:00:00.000`` (local time, taken as UTC), ISO 8601 with or without an
    offset (``2025-09-08T17:26:50+08:00``, ``date --iso-8601=ns`` output), or POSIX seconds."""
    text = text.strip()
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    iso = text.replace(",", ".")
    if "." in iso:  # nanosecond fractions: fromisoformat takes at most 6 digits
        head, _, frac = iso.partition(".")
        digits = len(frac) - len(frac.lstrip("0123456789"))
        iso = f"{head}.{frac[: min(digits, 6)]}{frac[digits:]}"
    try:
        stamp = datetime.fromisoformat(iso)
    except ValueError:
        pass
    else:
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(text) from None
    if not (1e8 < value < 1e10):  # POSIX seconds from 1973 to 2286; anything else is not a timestamp
        raise ValueError(text)
    return value


def _number(text: str) -> float:
    value = float(text.strip().split()[0]) if text.strip() else float("nan")
    return value


def parse_nvidia_smi(data: bytes, *, filename: str) -> RunLogRecord:
    text = decode_utf8(data, filename=filename)
    reader = csv.reader(text.splitlines())
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ParseError("empty file", filename=filename) from None
    if not is_nvidia_smi_header(",".join(header)):
        raise ParseError(
            "not an nvidia-smi CSV (needs timestamp and power.draw columns)", filename=filename, line=1
        )
    ts_col = next(i for i, h in enumerate(header) if h.startswith("timestamp"))
    power_col = next(i for i, h in enumerate(header) if h.startswith("power.draw"))
    name_col = next((i for i, h in enumerate(header) if h == "name"), None)
    power_in_mw = "[mw]" in header[power_col]
    rows: list[tuple[int, list[str]]] = []
    errors: list[RowError] = []
    line = 1
    try:
        for row in reader:
            line += 1
            if not row or not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                errors.append(RowError(line, f"expected {len(header)} columns, got {len(row)}"))
                continue
            rows.append((line, row))
    except csv.Error as exc:
        raise ParseError(f"malformed CSV: {exc}", filename=filename, line=line) from None
    id_col = _gpu_id_column(header, rows, ts_col)
    samples: dict[str, list[tuple[float, float]]] = {}
    names: dict[str, str] = {}
    for line, row in rows:
        try:
            ts = _timestamp(row[ts_col])
        except ValueError:
            errors.append(RowError(line, f"bad timestamp {row[ts_col].strip()!r}"))
            continue
        try:
            watts = _number(row[power_col])
        except ValueError:
            errors.append(RowError(line, f"bad power.draw {row[power_col].strip()!r}"))
            continue
        if power_in_mw:
            watts /= 1000.0
        if watts - watts != 0.0 or watts < 0 or watts > 100_000:
            errors.append(RowError(line, f"power.draw {row[power_col].strip()!r} out of range"))
            continue
        gpu = row[id_col].strip() if id_col is not None else "0"
        samples.setdefault(gpu, []).append((ts, watts))
        if name_col is not None:
            names.setdefault(gpu, row[name_col].strip())
    summary = summarize_power(samples, names, errors, filename=filename)
    return RunLogRecord(power=summary, row_errors=errors[:1000], fmt="nvidia_smi")


def _gpu_id_column(header: list[str], rows: list[tuple[int, list[str]]], ts_col: int) -> int | None:
    """The column naming each row's GPU: the most specific one under which no GPU has two samples at the
    same timestamp (a wrapper that writes ``gpu`` 0..7 beside a constant ``index`` is read by ``gpu``)."""
    candidates = [
        i for name in _GPU_ID_COLUMNS for i, h in enumerate(header) if h == name or h.startswith(name + " ")
    ]
    best: int | None = None
    best_distinct = 0
    for col in dict.fromkeys(candidates):
        keys = [(row[col].strip(), row[ts_col].strip()) for _, row in rows]
        distinct = len({k[0] for k in keys})
        if len(set(keys)) == len(keys):
            return col
        if distinct > best_distinct:
            best, best_distinct = col, distinct
    return best


def summarize_power(
    samples: dict[str, list[tuple[float, float]]],
    names: dict[str, str],
    errors: list[RowError],
    *,
    filename: str,
    absolute_times: bool = True,
) -> PowerSummary:
    """Energy by the trapezoidal rule per GPU over (seconds, watts) samples; GPU hours = time covered.

    ``absolute_times`` False: the seconds are relative to the run start, so no start/end is reported.
    """
    energy_j = 0.0
    seconds = 0.0
    count = 0
    starts, ends = [], []
    gpus = 0
    for points in samples.values():
        points.sort()
        count += len(points)
        if len(points) < 2:
            continue
        gpus += 1
        starts.append(points[0][0])
        ends.append(points[-1][0])
        for (t0, w0), (t1, w1) in itertools.pairwise(points):
            energy_j += (w0 + w1) / 2.0 * (t1 - t0)
        seconds += points[-1][0] - points[0][0]
    if not gpus or seconds <= 0:
        detail = f"; first problem: line {errors[0].line}: {errors[0].reason}" if errors else ""
        raise ParseError(f"need at least two timed samples of one GPU{detail}", filename=filename)
    gpu_hours = seconds / 3600.0
    energy_kwh = energy_j / 3.6e6
    return PowerSummary(
        energy_kwh=energy_kwh,
        gpu_hours=gpu_hours,
        gpu_count=gpus,
        mean_power_w=energy_kwh * 1000.0 / gpu_hours,
        samples=count,
        gpu_name=", ".join(sorted({n for n in names.values() if n})),
        start=min(starts) if absolute_times else None,
        end=max(ends) if absolute_times else None,
    )
