from __future__ import annotations

import gzip

import pytest

from ingestion.parsers.dispatch import detect_format, parse_document
from ingestion.parsers.records import ParseError


@pytest.mark.parametrize(
    ("path", "name", "fmt"),
    [
        ("papers/arxiv.xml", "feed.txt.bin", "arxiv_atom"),
        ("papers/refs.bib", "refs", "bibtex"),
        ("papers/chinchilla.pdf", "download", "pdf"),
        ("cards/llama31_README.md", "README", "hf_card"),
        ("runlogs/wide.csv", "export", "csv_wide"),
        ("runlogs/long.csv", "export", "csv_long"),
        ("runlogs/wandb_history.csv", "export", "wandb_csv"),
        ("runlogs/metrics.jsonl", "metrics", "jsonl"),
        ("runlogs/megatron.log", "stdout", "megatron"),
        ("runlogs/train_kv.log", "stdout", "kv_log"),
        ("runlogs/nvidia_smi.csv", "power", "nvidia_smi"),
        ("runlogs/events.out.tfevents.1700000000.fixture", "blob", "tensorboard"),
    ],
)
def test_detects_by_content_not_extension(fixture_bytes, path, name, fmt):
    assert detect_format(name, fixture_bytes(path)) == fmt


@pytest.mark.parametrize(
    ("name", "path", "message"),
    [
        ("paper.pdf", "runlogs/wide.csv", r"extension \.pdf does not match content \(csv_wide\)"),
        ("log.csv", "papers/chinchilla.pdf", r"extension \.csv does not match content \(pdf\)"),
        ("refs.bib", "runlogs/metrics.jsonl", r"extension \.bib does not match content \(jsonl\)"),
        ("card.md", "runlogs/events.out.tfevents.1700000000.fixture", r"extension \.md does not match"),
    ],
)
def test_extension_lies_are_rejected(fixture_bytes, name, path, message):
    with pytest.raises(ParseError, match=message) as info:
        parse_document(name, fixture_bytes(path))
    assert info.value.filename == name


def test_oversize_rejected_before_parsing():
    with pytest.raises(ParseError, match="over the 10-byte limit"):
        parse_document("x.csv", b"step,loss\n1,2\n", max_bytes=10)


def test_gzip_single_file(fixture_bytes):
    doc = parse_document("wide.csv.gz", gzip.compress(fixture_bytes("runlogs/wide.csv")))
    assert doc.fmt == "csv_wide"
    with pytest.raises(ParseError, match="decompressed size exceeds"):
        parse_document("z.csv.gz", gzip.compress(b"0" * 10_000), max_bytes=5_000)


def test_archive_must_be_unpacked_first(fixture_bytes):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.csv", "step,loss\n1,2\n")
    with pytest.raises(ParseError, match="iter_archive_members"):
        parse_document("a.zip", buf.getvalue())


@pytest.mark.parametrize("data", [b"", b"   \n", b"hello world\n", b"\x00\x01\x02garbage"])
def test_unusable_input(data):
    with pytest.raises(ParseError):
        parse_document("thing", data)


def test_json_manifest_and_points_by_content():
    assert parse_document("a.json", b'{"name": "r1", "parameters": "8B"}').kind == "manifest"
    doc = parse_document("b.json", b'[{"step": 1, "metrics": {"loss": 2.0}}]')
    assert (doc.kind, doc.run_log.series[0].values) == ("run_log", [2.0])


def test_yaml_manifest_without_extension(fixture_bytes):
    assert detect_format("manifest", fixture_bytes("runlogs/manifest.yaml")) == "manifest"


def test_quoted_csv_header_is_detected():
    doc = parse_document("export", b'"step","loss"\n1,2.5\n2,2.25\n')
    assert (doc.fmt, doc.run_log.series[0].values) == ("csv_wide", [2.5, 2.25])


def test_markdown_card_starting_with_html():
    doc = parse_document(
        "README.md", b'<p align="center"><img src="logo.png"></p>\n\n# Foo-7B\n\nA 7B parameter model.\n'
    )
    assert (doc.fmt, doc.model_card.name, doc.model_card.facts[0].value) == ("hf_card", "Foo-7B", 7e9)


def test_other_xml_is_not_a_feed():
    with pytest.raises(ParseError, match="unrecognised file format"):
        parse_document("data.bin", b'<?xml version="1.0"?><rss><channel/></rss>')
