"""Property tests: whatever bytes or payloads arrive, parsers either succeed or raise ParseError, quickly."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.parsers import manifest, papers, runlogs, tensorboard
from ingestion.parsers.archive import iter_archive_members
from ingestion.parsers.dispatch import parse_document
from ingestion.parsers.manifest import manifest_from_mapping, parse_manifest
from ingestion.parsers.modelcard import parse_model_card
from ingestion.parsers.records import ParseError
from ingestion.parsers.runlogs import parse_metric_points

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
pytestmark = pytest.mark.timeout(120)

SEEDS = [
    (FIXTURES / p).read_bytes()
    for p in (
        "papers/arxiv.xml",
        "papers/refs.bib",
        "papers/chinchilla.pdf",
        "cards/llama31_README.md",
        "cards/tinystories_card.md",
        "runlogs/wide.csv",
        "runlogs/long.csv",
        "runlogs/wandb_history.csv",
        "runlogs/metrics.jsonl",
        "runlogs/megatron.log",
        "runlogs/train_kv.log",
        "runlogs/nvidia_smi.csv",
        "runlogs/manifest.yaml",
        "runlogs/events.out.tfevents.1700000000.fixture",
    )
]
NAMES = st.sampled_from(
    [
        "x.csv",
        "x.pdf",
        "x.bib",
        "README.md",
        "x.jsonl",
        "x.json",
        "x.xml",
        "x.yaml",
        "x.log",
        "noext",
        "a.csv.gz",
        "events.out.tfevents.1.h",
        "mlruns/0/r/metrics/loss",
    ]
)


@st.composite
def mutated(draw):
    """A fixture with a few bytes flipped, cut or spliced: close enough to real formats to reach deep code."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 64))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


ANY_BYTES = st.one_of(st.binary(max_size=2048), mutated(), st.text(max_size=1024).map(str.encode))


def _ok_or_parse_error(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ParseError:
        return None


@SETTINGS
@given(name=NAMES, data=ANY_BYTES)
def test_parse_document_only_raises_parse_error(name, data):
    _ok_or_parse_error(parse_document, name, data, max_bytes=1 << 20)


@SETTINGS
@given(data=ANY_BYTES)
def test_format_parsers_only_raise_parse_error(data):
    for fn in (
        papers.parse_arxiv_atom,
        papers.parse_bibtex,
        papers.parse_pdf,
        parse_model_card,
        tensorboard.parse_tensorboard,
        runlogs.parse_text_log,
    ):
        _ok_or_parse_error(fn, data, filename="f")
    _ok_or_parse_error(parse_manifest, "m.yaml", data)
    text = data.decode("utf-8", "replace")
    for fn in (
        runlogs.parse_csv,
        runlogs.parse_jsonl,
        runlogs.parse_json_points,
        runlogs.parse_mlflow_metric,
    ):
        _ok_or_parse_error(fn, text, filename="f")


def _zip_of(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in members:
            zf.writestr(name, body)
    return buf.getvalue()


ARCHIVES = st.one_of(
    st.binary(max_size=1024).map(lambda b: b"PK\x03\x04" + b),
    st.binary(max_size=1024).map(lambda b: gzip.compress(b)),
    st.lists(
        st.tuples(st.text(min_size=1, max_size=20), st.binary(max_size=256)),
        max_size=5,
        unique_by=lambda t: t[0],
    ).map(_zip_of),
    mutated()
    .map(lambda b: _zip_of([("f.csv", b)]))
    .flatmap(lambda z: st.integers(0, len(z) - 1).map(lambda i: z[:i] + bytes([z[i] ^ 0x55]) + z[i + 1 :])),
)


@SETTINGS
@given(data=ARCHIVES)
def test_archive_only_raises_parse_error(data):
    try:
        for name, _body in iter_archive_members("a.zip", data, max_total_bytes=1 << 20):
            assert not name.startswith("/") and ".." not in name.split("/")
    except ParseError:
        pass


JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
# Every key the manifest parser accepts, so fuzzing keeps up when one is added.
MANIFEST_KEYS = st.sampled_from(sorted(manifest.MANIFEST_KEYS))
MANIFEST_VALUES = st.one_of(
    JSON, st.sampled_from(["8B", "1.5T", "70 billion", "30%", "bf16", "fp8", "-1", "1e400"])
)


@SETTINGS
@given(obj=st.one_of(st.dictionaries(MANIFEST_KEYS, MANIFEST_VALUES, max_size=8), JSON))
def test_manifest_from_mapping_only_raises_parse_error(obj):
    _ok_or_parse_error(manifest_from_mapping, obj, filename="webhook")


POINT = st.one_of(
    st.fixed_dictionaries(
        {"step": JSON_LEAF, "metrics": st.dictionaries(st.text(max_size=8), JSON, max_size=3)}
    ),
    st.fixed_dictionaries({"step": JSON_LEAF, "name": JSON_LEAF, "value": JSON_LEAF}),
    st.fixed_dictionaries(
        {
            "step": st.integers(-5, 5),
            "metrics": st.dictionaries(st.sampled_from(["loss", "lr"]), st.floats(), min_size=1),
        }
    ),
    JSON,
)


@SETTINGS
@given(obj=st.one_of(st.lists(POINT, max_size=6), JSON))
def test_metric_points_only_raise_parse_error(obj):
    result = _ok_or_parse_error(parse_metric_points, obj, filename="webhook")
    for series in result or []:
        assert series.steps == sorted(set(series.steps))
        assert all(v - v == 0.0 for v in series.values)
