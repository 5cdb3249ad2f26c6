from __future__ import annotations

import json

import pytest

from ingestion.parsers.dispatch import parse_document
from ingestion.parsers.manifest import manifest_from_mapping, parse_manifest
from ingestion.parsers.records import ParseError


def test_yaml_manifest(fixture_bytes):
    doc = parse_document("manifest.yaml", fixture_bytes("runlogs/manifest.yaml"))
    assert (doc.kind, doc.fmt) == ("manifest", "manifest")
    m = doc.manifest
    assert (m.name, m.external_id, m.model) == ("chinchilla-replica-1b", "wandb:lab/abc123", "decoder-1b")
    assert (m.parameters, m.tokens, m.unique_tokens) == (1.1e9, 22e9, 11e9)
    assert (m.hardware, m.gpu_count, m.gpu_hours, m.precision) == ("H100-80GB", 64, 1536.0, "bf16")
    assert (m.synthetic_share, m.synthetic_epochs) == (0.3, 2.0)
    assert m.data_sources == {"web": 0.6, "synthetic-math": 0.3, "code": 0.1}
    assert m.config == {"lr": 3e-4, "batch_size": 512}


def test_json_manifest_same_keys():
    data = json.dumps(
        {"name": "r", "parameters": "70 billion", "tokens": "1.5T", "precision": "FP8"}
    ).encode()
    m = parse_manifest("run.json", data)
    assert (m.parameters, m.tokens, m.precision) == (70e9, 1.5e12, "fp8")


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        ({"parameters": "lots"}, "parameters"),
        ({"parameters": -5}, "parameters"),
        ({"tokens": True}, "tokens"),
        ({"synthetic_share": 1.5}, "synthetic_share"),
        ({"synthetic_share": "130%"}, "synthetic_share"),
        ({"gpu_count": 2.5}, "gpu_count"),
        ({"precision": "fp13"}, "precision"),
        ({"data_sources": {"web": 0.8, "code": 0.5}}, "data_sources"),
        ({"data_sources": [0.5]}, "data_sources"),
        ({"tokens": 1e9, "unique_tokens": 2e9}, "unique_tokens"),
        ({"config": "lr=3"}, "config"),
        ({"gpu_hours": float("inf")}, "gpu_hours"),
    ],
)
def test_bad_values_name_the_key(payload, key):
    with pytest.raises(ParseError) as info:
        manifest_from_mapping(payload, filename="webhook")
    assert info.value.reason.startswith(f"{key}")


def test_yaml_python_tag_rejected():
    with pytest.raises(ParseError, match="bad YAML") as info:
        parse_manifest("run.yaml", b"name: x\nconfig: !!python/object/apply:os.system ['id']\n")
    assert info.value.line == 2
