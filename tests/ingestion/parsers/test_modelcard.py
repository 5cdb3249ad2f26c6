from __future__ import annotations

import pytest

from ingestion.parsers.dispatch import parse_document
from ingestion.parsers.modelcard import parse_model_card
from ingestion.parsers.records import ParseError


def _facts(card, name, confidence=None):
    return [
        (f.subject, f.value if f.value is not None else f.text_value, f.line)
        for f in card.facts
        if f.name == name and (confidence is None or f.confidence == confidence)
    ]


@pytest.fixture
def llama(fixture_bytes):
    doc = parse_document("README.md", fixture_bytes("cards/llama31_README.md"))
    assert (doc.kind, doc.fmt) == ("model_card", "hf_card")
    return doc.model_card


def test_llama_front_matter(llama):
    assert llama.license == "llama3.1"
    assert llama.base_model == ["meta-llama/Meta-Llama-3.1-8B"]
    assert llama.tags == ["facebook", "meta", "pytorch", "llama", "llama-3"]
    assert llama.metadata["library_name"] == "transformers"


def test_llama_model_information_table(llama):
    assert _facts(llama, "parameters", 0.9) == [
        ("Llama 3.1 (text only)", 8e9, 58),
        ("Llama 3.1 (text only)", 70e9, 74),
        ("Llama 3.1 (text only)", 405e9, 82),
    ]
    (tokens,) = [f for f in llama.facts if f.name == "training_tokens" and f.confidence == 0.9]
    assert (tokens.value, tokens.lower, tokens.upper, tokens.text_value) == (15e12, 15e12, None, "15T+")
    assert tokens.line == 68
    assert tokens.location == "table 'Model Information' column 'Token count' row 'Llama 3.1 (text only)'"
    assert [v for _, v, _ in _facts(llama, "context_length")] == [128_000.0] * 3
    assert [line for _, _, line in _facts(llama, "context_length")] == [64, 76, 84]
    assert _facts(llama, "release_date") == [("", "2024-07-23", 95)]


def test_html_table_cells_keep_their_own_lines(llama):
    tokens = next(f for f in llama.facts if f.name == "training_tokens" and f.confidence == 0.9)
    assert tokens.excerpt == '<td rowspan="3" >15T+'  # a rowspan cell is one fact, not one per spanned row


def test_markdown_table_label_carries_down():
    card = parse_model_card(
        b"## Sizes\n\n| Model | Params | Tokens |\n|---|---|---|\n| Foo | 1.5B | 2T |\n| | 7B | ~15-16T |\n",
        filename="README.md",
    )
    assert [(f.name, f.subject, f.value, f.lower, f.upper, f.line) for f in card.facts] == [
        ("parameters", "Foo", 1.5e9, None, None, 5),
        ("training_tokens", "Foo", 2e12, None, None, 5),
        ("parameters", "Foo", 7e9, None, None, 6),
        ("training_tokens", "Foo", 15.5e12, 15e12, 16e12, 6),
    ]
    assert card.facts[0].location == "table 'Sizes' column 'Params' row 'Foo'"


def test_llama_training_energy_table(llama):
    assert _facts(llama, "gpu_hours", 0.9) == [
        ("Llama 3.1 8B", 1.46e6, 111),
        ("Llama 3.1 70B", 7.0e6, 112),
        ("Llama 3.1 405B", 30.84e6, 113),
        ("Total", 39.3e6, 114),
    ]
    assert _facts(llama, "co2_tonnes", 0.9) == [
        ("Llama 3.1 8B", 420.0, 111),
        ("Llama 3.1 70B", 2040.0, 112),
        ("Llama 3.1 405B", 8930.0, 113),
        ("Total", 11390.0, 114),
    ]
    assert _facts(llama, "tdp_watts", 0.9) == [
        ("Llama 3.1 8B", 700.0, 111),
        ("Llama 3.1 70B", 700.0, 112),
        ("Llama 3.1 405B", 700.0, 113),
    ]
    row = next(f for f in llama.facts if f.name == "gpu_hours" and f.line == 111)
    assert row.excerpt == "| Llama 3.1 8B | 1.46M | 700 | 420 | 0 |"
    assert row.unit == "GPU-hours"


def test_llama_prose_facts(llama):
    assert _facts(llama, "gpu_hours", 0.6) == [("", 39.3e6, 105)]
    assert _facts(llama, "hardware", 0.6) == [("", "H100-80GB", 105)]
    assert _facts(llama, "tdp_watts", 0.6) == [("", 700.0, 105)]
    assert _facts(llama, "co2_tonnes", 0.6) == [("", 11390.0, 107)]
    (tokens,) = [f for f in llama.facts if f.name == "training_tokens" and f.confidence == 0.6]
    assert (tokens.value, tokens.lower, tokens.upper, tokens.line) == (15e12, 14.5e12, 15.5e12, 120)


def test_llama_matches_reference_csv(llama):
    import csv
    from pathlib import Path

    ref = Path(__file__).resolve().parents[3] / "data" / "reference" / "llama31_deepseekv3_training_cost.csv"
    rows = [r for r in csv.DictReader(ref.open()) if r["model"].startswith("Llama 3.1")]
    hours = {s: v for s, v, _ in _facts(llama, "gpu_hours", 0.9)}
    co2 = {s: v for s, v, _ in _facts(llama, "co2_tonnes", 0.9)}
    for r in rows:
        subject = "Total" if r["model"] == "Llama 3.1 (all)" else r["model"]
        assert hours[subject] == float(r["gpu_hours"])
        assert co2[subject] == float(r["location_based_tCO2eq"])


def test_second_card_style(fixture_bytes):
    card = parse_model_card(fixture_bytes("cards/tinystories_card.md"), filename="README.md")
    assert card.name == "tiny-lm-350m"
    assert card.license == "apache-2.0"
    assert card.datasets == ["roneneldan/TinyStories", "HuggingFaceFW/fineweb-edu"]
    assert card.results == [
        {
            "model": "tiny-lm-350m",
            "task": "text-generation",
            "dataset": "HellaSwag",
            "metric": "acc_norm",
            "value": 0.412,
        }
    ]
    assert card.metadata["released"] == "2024-03-05"
    co2 = next(f for f in card.facts if f.name == "co2_tonnes")
    assert (co2.value, co2.line, co2.confidence) == (2.5, 9, 0.9)  # 2,500,000 g
    assert _facts(card, "hardware") == [("", "8 x A100-40GB", 9), ("", "A100-40GB", 33)]
    assert _facts(card, "parameters") == [("", 350e6, 31)]
    assert _facts(card, "training_tokens") == [("", 60e9, 31)]
    assert _facts(card, "gpu_hours") == [("", 1200.0, 33)]
    assert _facts(card, "context_length") == [("", 2048.0, 33)]
    assert _facts(card, "release_date") == [("", "2024-03-05", 34)]


def test_python_tag_in_front_matter_is_rejected():
    data = b"---\nlicense: mit\nevil: !!python/object/apply:os.system ['echo pwned']\n---\n# x\n"
    with pytest.raises(ParseError, match="bad YAML") as info:
        parse_document("README.md", data)
    assert info.value.line == 3


def test_unclosed_front_matter():
    with pytest.raises(ParseError, match="never closed"):
        parse_model_card(b"---\nlicense: mit\n# body\n", filename="README.md")


def test_non_utf8_card_names_line():
    with pytest.raises(ParseError, match="not valid UTF-8") as info:
        parse_document("README.md", b"---\nlicense: mit\n---\n# ok\nbad \xff byte\n")
    assert info.value.line == 5


def test_card_name_prefers_model_index_then_heading_then_readme_folder():
    from ingestion.parsers.modelcard import parse_model_card

    indexed = b"---\nmodel-index:\n- name: Tiny-1B\n  results: []\n---\n# Something else\ntext\n"
    assert parse_model_card(indexed, filename="README.md").name == "Tiny-1B"
    headed = b"---\nlicense: mit\n---\n# Qwen2.5 7B\nA model.\n"
    assert parse_model_card(headed, filename="README.md").name == "Qwen2.5 7B"
    bare = b"---\nlicense: mit\n---\nA model with 7B parameters.\n"
    assert parse_model_card(bare, filename="meta-llama/Llama-3.1-8B/README.md").name == "Llama-3.1-8B"
    assert parse_model_card(bare, filename="my-card.md").name == "my-card"
