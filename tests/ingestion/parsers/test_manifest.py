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


def _alias_bomb(levels: int, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_with_a_line():
    bomb = _alias_bomb(9)  # ~300 bytes standing for 9**9 values
    assert len(bomb) < 500
    with pytest.raises(ParseError, match="alias bomb") as info:
        parse_manifest("run.yaml", ("name: x\nconfig:\n  " + bomb.replace("\n", "\n  ")).encode())
    assert info.value.filename == "run.yaml"
    assert info.value.line is not None and info.value.line > 2


def test_yaml_bomb_in_card_front_matter_is_refused_by_the_shared_loader():
    from ingestion.parsers.manifest import load_yaml_mapping

    with pytest.raises(ParseError, match="alias bomb") as info:
        load_yaml_mapping(_alias_bomb(8), filename="README.md", line_offset=1)
    assert info.value.line is not None and info.value.line >= 2


def test_few_aliases_are_fine_and_recursive_ones_refused():
    from ingestion.parsers.manifest import load_yaml_mapping

    assert load_yaml_mapping("a: &x {b: 1}\nc: *x\n", filename="m.yaml") == {"a": {"b": 1}, "c": {"b": 1}}
    with pytest.raises(ParseError, match="recursive YAML alias"):
        load_yaml_mapping("a: &x [*x]\n", filename="m.yaml")


def test_config_over_256_kb_is_refused_naming_the_line():
    big = "\n".join(f"  key_{i}: {'v' * 100}" for i in range(3000))
    with pytest.raises(ParseError, match="over the 262,144-byte limit") as info:
        parse_manifest("run.yaml", f"name: r\nmodel: m\nconfig:\n{big}\n".encode())
    assert info.value.line == 3


def test_json_safe_counts_shared_references():
    shared: list[object] = list(range(1000))
    nested = {"a": [shared] * 200}  # 200k values once expanded, one list in memory
    with pytest.raises(ParseError, match="more than 100,000 values"):
        manifest_from_mapping({"name": "r", "config": nested}, filename="webhook")
