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


def is_nvidia_smi_header(first_line: str) -> bool:
    lower = first_line.lower()
    return "power.draw" in lower and "timestamp" in lower


def _timestamp(text: str) -> float:
    text = text.strip()
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise ValueError(text)


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
    index_col = next((i for i, h in enumerate(header) if h == "index" or h.startswith("index")), None)
    name_col = next((i for i, h in enumerate(header) if h == "name"), None)
    uuid_col = next(
        (i for i, h in enumerate(header) if h.startswith("uuid") or h.startswith("pci.bus_id")), None
    )
    power_in_mw = "[mw]" in header[power_col]
    samples: dict[str, list[tuple[float, float]]] = {}
    names: dict[str, str] = {}
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
            gpu = (
                row[uuid_col].strip()
                if uuid_col is not None
                else (row[index_col].strip() if index_col is not None else "0")
            )
            samples.setdefault(gpu, []).append((ts, watts))
            if name_col is not None:
                names.setdefault(gpu, row[name_col].strip())
    except csv.Error as exc:
        raise ParseError(f"malformed CSV: {exc}", filename=filename, line=line) from None
    energy_j = 0.0
    seconds = 0.0
    count = 0
    starts, ends = [], []
    for points in samples.values():
        points.sort()
        count += len(points)
        starts.append(points[0][0])
        ends.append(points[-1][0])
        for (t0, w0), (t1, w1) in itertools.pairwise(points):
            energy_j += (w0 + w1) / 2.0 * (t1 - t0)
        seconds += points[-1][0] - points[0][0]
    if not samples or seconds <= 0:
        detail = f"; first problem: line {errors[0].line}: {errors[0].reason}" if errors else ""
        raise ParseError(f"need at least two timed samples of one GPU{detail}", filename=filename)
    gpu_hours = seconds / 3600.0
    energy_kwh = energy_j / 3.6e6
    summary = PowerSummary(
        energy_kwh=energy_kwh,
        gpu_hours=gpu_hours,
        gpu_count=len(samples),
        mean_power_w=energy_kwh * 1000.0 / gpu_hours,
        samples=count,
        gpu_name=", ".join(sorted(set(names.values()))),
        start=min(starts),
        end=max(ends),
    )
    return RunLogRecord(power=summary, row_errors=errors[:1000], fmt="nvidia_smi")
