"""Hugging Face ``trainer_state.json`` (written with every Trainer checkpoint).

``log_history`` holds one object per logging/evaluation event: ``{"loss": 2.1, "learning_rate": ...,
"epoch": 0.5, "step": 50}``, ``{"eval_loss": ..., "step": 50}`` and a final summary (``train_runtime``,
``train_loss``, ``total_flos``). Each numeric key becomes a series over ``step``; ``epoch`` is an x-axis,
not a series. ``line`` in points and row errors is the item number in ``log_history``.
"""

from __future__ import annotations

import json
from typing import Any

from ingestion.parsers.points import RowErrors, SeriesAcc, finish_record, parse_step, point_value
from ingestion.parsers.records import ParseError, RunLogRecord

_NOT_SERIES = frozenset({"step", "epoch"})


def looks_like_trainer_state(obj: object) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("log_history"), list)


def parse_trainer_state(text: str, *, filename: str, obj: Any = None) -> RunLogRecord:
    if obj is None:
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ParseError(
                f"bad JSON: {exc}", filename=filename, line=getattr(exc, "lineno", None)
            ) from None
    if not looks_like_trainer_state(obj):
        raise ParseError("not a trainer_state.json (no 'log_history' list)", filename=filename)
    accs: dict[str, SeriesAcc] = {}
    errors = RowErrors()
    for index, item in enumerate(obj["log_history"], start=1):
        if not isinstance(item, dict):
            errors.add(index, "log_history item is not an object")
            continue
        raw = item.get("step")
        if raw is None or isinstance(raw, bool) or not isinstance(raw, int | float | str):
            errors.add(index, "log_history item has no step")
            continue
        try:
            step = parse_step(str(raw))
        except ValueError as exc:
            errors.add(index, str(exc))
            continue
        for key, value in item.items():
            if key in _NOT_SERIES:
                continue
            v = point_value(value)
            if v is None:
                continue
            if v - v != 0.0:
                errors.add(index, f"non-finite value {value!r} for {key!r}")
                continue
            acc = accs.get(key)
            if acc is None:
                acc = accs[key] = SeriesAcc(key)
            acc.add(step, v, None, index)
    return finish_record(accs.values(), errors, "hf_trainer_state", filename)
