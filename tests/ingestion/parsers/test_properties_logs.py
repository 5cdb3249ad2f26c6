"""Property tests for the log entry points added for real-world files: anything in, ParseError or a record out."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.parsers import hf, mlflow, textlogs, wandb
from ingestion.parsers.dispatch import parse_document
from ingestion.parsers.manifest import load_yaml_mapping
from ingestion.parsers.records import ParseError

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
pytestmark = pytest.mark.timeout(120)

PREFIXES = st.sampled_from(
    ["", "[default0]: ", "0: ", "[2025-08-01 07:19:37] ", "[Rank 0] ", "[1,0]<stdout>:"]
)
NUMBERS = st.one_of(
    st.integers(-5, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "1e400", "-0", "3.0E-04", "nanms", "12.5%"]),
)
LINES = st.one_of(
    st.builds(
        lambda p, i, n, v: f"{p} iteration {i}/ {n} | lm loss: {v} | learning rate: {v} |",
        PREFIXES,
        NUMBERS,
        NUMBERS,
        NUMBERS,
    ),
    st.builds(
        lambda i, v: f"Training epoch 0, iteration {i}/9 | global_step: {i} | reduced_train_loss: {v}",
        NUMBERS,
        NUMBERS,
    ),
    st.builds(lambda i, v: f"iter {i}: loss {v}, time {v}ms, mfu {v}%", NUMBERS, NUMBERS),
    st.builds(lambda i, v: f"step {i}: train loss {v}, val loss {v}", NUMBERS, NUMBERS),
    st.builds(lambda i, v: f"step:{i}/100 val_loss:{v} train_time:{v}ms", NUMBERS, NUMBERS),
    st.builds(lambda i, v: f"s:{i} trl:{v} lr:{v}", NUMBERS, NUMBERS),
    st.builds(
        lambda i, v: f" 10%| | {i}/100 [00:01<00:09, 1.0it/s]{{'loss': {v}, 'epoch': {v}}}", NUMBERS, NUMBERS
    ),
    st.builds(lambda i, v: f"step={i}, skipped=0, lr=[{v}, {v}]", NUMBERS, NUMBERS),
    st.text(max_size=80),
)
TEXT_LOGS = st.lists(LINES, max_size=12).map("\n".join)


@SETTINGS
@given(text=TEXT_LOGS, fmt=st.sampled_from(sorted(textlogs.PARSERS)))
def test_text_log_parsers_only_raise_parse_error(text, fmt):
    try:
        record = textlogs.parse_text(fmt, text, filename="log")
    except ParseError:
        return
    for series in record.series:
        assert series.steps == sorted(set(series.steps)) and all(s >= 0 for s in series.steps)
        assert all(v - v == 0.0 for v in series.values)


@SETTINGS
@given(text=TEXT_LOGS, name=st.sampled_from(["train.log", "stdout", "x.txt", "x.out", "x.csv"]))
def test_dispatch_of_text_logs_only_raises_parse_error(text, name):
    with contextlib.suppress(ParseError):
        parse_document(name, text.encode())


CELL = st.one_of(NUMBERS, st.just(""), st.text(max_size=6))
HEADERS = st.sampled_from(
    [
        ["Step", "r - loss", "r - loss__MIN", "r - loss__MAX"],
        ["Relative Time (Process)", "r - system/gpu.0.powerWatts", "r - system/gpu.0.powerWatts__MAX"],
        ["system.gpu.0.powerWatts", "system.gpu.1.powerWatts", "_runtime", "_timestamp"],
        ["_step", "_timestamp", "loss", "system.gpu.0.powerWatts"],
        ["Step", "a - x", "b - x"],
    ]
)


@SETTINGS
@given(header=HEADERS, rows=st.lists(st.lists(CELL, min_size=1, max_size=5), max_size=8))
def test_wandb_csv_only_raises_parse_error(header, rows):
    text = "\n".join([",".join(header)] + [",".join(r) for r in rows])
    for fmt in ("wandb_panel_csv", "wandb_system_csv"):
        try:
            record = wandb.parse_wandb_csv(text, filename="w.csv", fmt=fmt)
        except ParseError:
            continue
        if record.power is not None:
            assert record.power.energy_kwh >= 0 and record.power.gpu_hours > 0


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**12), st.floats(), st.text(max_size=8))
LOG_ITEM = st.dictionaries(
    st.sampled_from(["step", "loss", "epoch", "eval_loss", "x"]), JSON_LEAF, max_size=5
)


@SETTINGS
@given(items=st.lists(st.one_of(LOG_ITEM, JSON_LEAF), max_size=8))
def test_trainer_state_only_raises_parse_error(items):
    with contextlib.suppress(ParseError):
        hf.parse_trainer_state("", filename="trainer_state.json", obj={"log_history": items})


@SETTINGS
@given(
    text=st.text(max_size=300),
    name=st.sampled_from(["mlruns/0/r/meta.yaml", "mlruns/0/r/params/lr", "mlruns/0/r/tags/t"]),
)
def test_mlflow_entry_points_only_raise_parse_error(text, name):
    for fn in (mlflow.parse_meta_yaml, mlflow.parse_value_file):
        with contextlib.suppress(ParseError):
            fn(text, filename=name)
    with contextlib.suppress(ParseError):
        parse_document(name, text.encode())


@SETTINGS
@given(depth=st.integers(1, 9), width=st.integers(1, 12))
def test_yaml_aliases_either_load_small_or_are_refused(depth, width):
    lines = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, depth)]
    try:
        load_yaml_mapping("\n".join(lines), filename="m.yaml")
    except ParseError as exc:
        assert width**depth > 50_000 and "alias" in exc.reason
