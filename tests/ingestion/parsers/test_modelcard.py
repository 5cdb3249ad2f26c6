from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    # One model per size: the family label "Llama 3.1 (text only)" plus the Params column.
    assert _facts(llama, "parameters", 0.9) == [
        ("Llama 3.1 8B", 8e9, 58),
        ("Llama 3.1 70B", 70e9, 74),
        ("Llama 3.1 405B", 405e9, 82),
    ]
    tokens = [f for f in llama.facts if f.name == "training_tokens" and f.confidence == 0.9]
    assert [(f.subject, f.value, f.lower, f.upper, f.text_value, f.line) for f in tokens] == [
        ("Llama 3.1 8B", 15e12, 15e12, None, "15T+", 68),
        ("Llama 3.1 70B", 15e12, 15e12, None, "15T+", 68),
        ("Llama 3.1 405B", 15e12, 15e12, None, "15T+", 68),
    ]
    assert tokens[0].location == "table 'Model Information' column 'Token count' row 'Llama 3.1 (text only)'"
    # "128k" context windows are binary: 131,072 tokens.
    assert _facts(llama, "context_length") == [
        ("Llama 3.1 8B", 131072.0, 64),
        ("Llama 3.1 70B", 131072.0, 76),
        ("Llama 3.1 405B", 131072.0, 84),
    ]
    assert _facts(llama, "release_date") == [("", "2024-07-23", 95)]
    assert (
        llama.name == "Llama 3.1"
    )  # no title: "**Model Architecture:** Llama 3.1 is an auto-regressive ..."
    assert llama.models == ["Llama 3.1", "Llama 3.1 8B", "Llama 3.1 70B", "Llama 3.1 405B"]


def test_html_table_cells_keep_their_own_lines(llama):
    tokens = [f for f in llama.facts if f.name == "training_tokens" and f.confidence == 0.9]
    # A rowspan cell is a fact of every model row it spans, quoted from its own source line.
    assert {f.excerpt for f in tokens} == {'<td rowspan="3" >15T+'}
    params = [f for f in llama.facts if f.name == "parameters"]
    assert [f.excerpt for f in params] == ["<td>8B", "<td>70B", "<td>405B"]


def test_markdown_table_label_carries_down():
    card = parse_model_card(
        b"## Sizes\n\n| Model | Params | Tokens |\n|---|---|---|\n| Foo | 1.5B | 2T |\n| | 7B | ~15-16T |\n",
        filename="README.md",
    )
    assert [(f.name, f.subject, f.value, f.lower, f.upper, f.line) for f in card.facts] == [
        ("parameters", "Foo 1.5B", 1.5e9, None, None, 5),
        ("training_tokens", "Foo 1.5B", 2e12, None, None, 5),
        ("parameters", "Foo 7B", 7e9, None, None, 6),
        ("training_tokens", "Foo 7B", 15.5e12, 15e12, 16e12, 6),
    ]
    assert card.facts[0].location == "table 'Sizes' column 'Params' row 'Foo'"


def test_llama_training_energy_table(llama):
    assert _facts(llama, "gpu_hours", 0.9) == [
        ("Llama 3.1 8B", 1.46e6, 111),
        ("Llama 3.1 70B", 7.0e6, 112),
        ("Llama 3.1 405B", 30.84e6, 113),
    ]
    assert _facts(llama, "co2_tonnes", 0.9) == [
        ("Llama 3.1 8B", 420.0, 111),
        ("Llama 3.1 70B", 2040.0, 112),
        ("Llama 3.1 405B", 8930.0, 113),
    ]
    assert _facts(llama, "tdp_watts", 0.9) == [
        ("Llama 3.1 8B", 700.0, 111),
        ("Llama 3.1 70B", 700.0, 112),
        ("Llama 3.1 405B", 700.0, 113),
    ]
    assert "Total" not in llama.models  # the totals row sums the models; it is none
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
    hours = {s: v for s, v, _ in _facts(llama, "gpu_hours")}
    co2 = {s: v for s, v, _ in _facts(llama, "co2_tonnes")}
    for r in rows:
        # The family total is stated in the card's prose (its own model, subject ""), not as a "Total" model.
        subject = "" if r["model"] == "Llama 3.1 (all)" else r["model"]
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


# --- real-world failure modes (issue 13), each with its negative ------------------------------------------


def _card(text: str, filename: str = "README.md"):
    return parse_model_card(text.encode(), filename=filename)


def _values(card, name):
    return [
        (f.subject, f.value if f.value is not None else f.text_value) for f in card.facts if f.name == name
    ]


def test_nominal_size_wins_over_the_exact_one():
    card = _card("# Tiny\n\n| Model | Params |\n|---|---|\n| Tiny 1B | 1B (1.23B) |\n")
    assert _values(card, "parameters") == [("Tiny 1B", 1e9)]


HTML_MISSING_TD = """# Llama 9

<table>
  <tr><td></td><td>Training Time (GPU hours)</td><td>Training Power Consumption (W)</td>
   <td>Training Location-Based Greenhouse Gas Emissions<p><strong>(tons CO2eq)</strong></td></tr>
  <tr><td>Llama 9 8B</td><td>1.46M</td><td>700</td><td>420</td></tr>
  <tr>
   <td>Total
   </td>
   <td>39.3M
   <td>
<ul>
</ul>
   </td>
   <td>11,390
   </td>
  </tr>
</table>
"""


def test_html_row_with_a_missing_closing_td_keeps_its_columns():
    card = _card(HTML_MISSING_TD)
    assert _values(card, "tdp_watts") == [("Llama 9 8B", 700.0)]  # 11,390 never becomes a TDP
    assert _values(card, "co2_tonnes") == [("Llama 9 8B", 420.0)]
    assert card.models == ["Llama 9", "Llama 9 8B"]  # the Total row is no model


@pytest.mark.parametrize(
    ("header", "fact"),
    [
        ("Training Tokens", "training_tokens"),
        ("Token count", "training_tokens"),
        ("Tokens (Billion)", "training_tokens"),
        ("Tokens/s", None),
        ("Throughput (tokens/s)", None),
        ("Time to first token (ms)", None),
        ("Max new tokens", None),
        ("Context length", "context_length"),
        ("Vocab size", None),
        ("Training Location-Based Greenhouse Gas Emissions (tCO<sub>2</sub>eq)", "co2_tonnes"),
        ("Carbon Emitted(tCO<sub>2</sub>eq)", "co2_tonnes"),
        ("Market-Based Emissions (tons CO2eq)", "co2_tonnes_market_based"),
        ("#Activated Params", "active_parameters"),
        ("Non-Embedding Params", "non_embedding_parameters"),
        ("Knowledge cutoff", None),
        ("Release Date", "release_date"),
    ],
)
def test_column_headers(header, fact):
    from ingestion.parsers.cardfacts import fact_for_label

    assert fact_for_label(header) == fact


def test_throughput_column_is_not_training_data():
    card = _card("# M\n\n| Model | Tokens/s | Training Tokens |\n|---|---|---|\n| M 7B | 3,200 | 2T |\n")
    assert _values(card, "training_tokens") == [("M 7B", 2e12)]


@pytest.mark.parametrize(
    ("sentence", "facts"),
    [
        ("The context window is extendable up to 1 million tokens.", []),
        ("It supports a context length of up to 128K tokens.", [("context_length", 131072.0)]),
        ("Context length: 8k", [("context_length", 8192.0)]),
        ("It has a 4k-token context.", [("context_length", 4096.0)]),
        ("It was trained on 128k tokens of dialogue.", [("training_tokens", 128000.0)]),
        ("It can fit up to 140K tokens on a single GPU.", []),
    ],
)
def test_context_windows_are_not_training_data(sentence, facts):
    card = _card(f"# M-7B\n\n{sentence}\n")
    assert [(f.name, f.value) for f in card.facts if f.name in ("context_length", "training_tokens")] == facts


def test_prose_about_another_model_names_that_model():
    card = _card(
        "# TinyLlama-1.1B\n\nWe adopted the Llama 2 architecture. Llama 2 was pretrained on 2T tokens.\n"
        "TinyLlama is pretrained on 3 trillion tokens.\n"
        "It outperforms comparable models (e.g., MPT-7B, StableLM), thanks to being trained on 1.5T tokens.\n"
    )
    assert _values(card, "training_tokens") == [("Llama 2", 2e12), ("", 3e12), ("", 1.5e12)]
    assert card.models == ["TinyLlama-1.1B", "Llama 2"]


@pytest.mark.parametrize(
    "sentence",
    [
        "It outperforms models with up to 30B parameters.",
        "Qwen2.5 comes in sizes ranging from 0.5 to 72 billion parameters.",
        "It is state-of-the-art among models with less than 13 billion parameters.",
        "Training smaller than 7 billion parameters is cheap.",
    ],
)
def test_comparisons_and_ranges_are_no_parameter_count(sentence):
    assert _values(_card(f"# M-7B\n\n{sentence}\n"), "parameters") == []


def test_bold_number_before_its_magnitude_and_sub_tags():
    card = _card(
        "# M\n\nTraining used **39.3**M GPU hours on H100.\n\n"
        "| | Time (GPU hours) | Carbon Emitted(tCO<sub>2</sub>eq) |\n|---|---|---|\n| M 7B | 184320 | 31.22 |\n"
    )
    assert _values(card, "gpu_hours") == [("", 39.3e6), ("M 7B", 184320.0)]
    assert _values(card, "co2_tonnes") == [("M 7B", 31.22)]


@pytest.mark.parametrize(
    ("line", "iso"),
    [
        ("**Release Date:** Oct 24, 2024", "2024-10-24"),
        ("- Release date: 2025.04.29", "2025-04-29"),
        ("Released on 11.July.2022.", "2022-07-11"),
        ("Model Release Date: July 23, 2024.", "2024-07-23"),
    ],
)
def test_release_dates_in_the_ways_cards_write_them(line, iso):
    assert _values(_card(f"# M\n\n{line}\n"), "release_date") == [("", iso)]


@pytest.mark.parametrize(
    "line",
    [
        "Knowledge cutoff date: March 5, 2024",
        "The training has started on 2023-09-01.",
        "Date cutoff: Dec. 2023",
    ],
)
def test_dates_that_are_not_releases(line):
    assert _values(_card(f"# M\n\n{line}\n"), "release_date") == []


@pytest.mark.parametrize(
    ("title", "sentence", "value"),
    [
        ("M", "The model has 1,261,545,472 parameters.", 1_261_545_472.0),
        ("Phi-2", "Phi-2 is a Transformer with **2.7 billion** parameters.", 2.7e9),
        ("Amber", "Amber is an 7B English language model.", 7e9),
        ("M", "The model has 12 parameters per head.", None),
        ("M", "This repo contains the base 7B Qwen2.5 model.", None),
    ],
)
def test_parameter_counts_written_out(title, sentence, value):
    got = _values(_card(f"# {title}\n\n{sentence}\n"), "parameters")
    assert got == ([("", value)] if value else [])


def test_key_value_and_data_mix_tables():
    card = _card(
        "# Amber\n\n## DataMix\n| Subset | Tokens (Billion) |\n|---|---|\n| Arxiv | 30.00 |\n| C4 | 197.67 |\n"
        "| Total | 1259.13 |\n\n## Hyperparameters\n| Hyperparameter | Value |\n|---|---|\n"
        "| Total Parameters | 6.7B |\n| Vocab Size | 32000 |\n| Max Seq Length | 2048 |\n"
    )
    assert _values(card, "training_tokens") == [("", 1259.13e9)]  # data sources are no models
    assert _values(card, "parameters") == [("", 6.7e9)]
    assert _values(card, "context_length") == [("", 2048.0)]
    assert card.models == ["Amber"]


def test_models_as_columns():
    card = _card(
        "# Qwen2-57B-A14B\n\n| Datasets | Jamba | Qwen2-57B-A14B |\n|---|---|---|\n| Architecture | MoE | MoE |\n"
        "| #Activated Params | 12B | 14B |\n| #Params | 52B | 57B |\n| MMLU | 67.4 | 76.5 |\n"
    )
    assert _values(card, "active_parameters") == [("Jamba", 12e9), ("", 14e9)]
    assert _values(card, "parameters") == [("Jamba", 52e9), ("", 57e9)]


@pytest.mark.parametrize(
    ("text", "filename", "name"),
    [
        ("---\nmodel_name: Falcon3-7B\n---\n# Model Details\n", "README.md", "Falcon3-7B"),
        ("---\nmodel-index:\n- name: org/Tiny-1B\n---\n# X\n", "README.md", "Tiny-1B"),
        ("# DEPRECATED. This is now live at org/new\n\n# Tiny 2\n", "README.md", "Tiny 2"),
        ("# Model Details\n\nPhi-2 is a Transformer with 2.7 billion parameters.\n", "README.md", "Phi-2"),
        ("# 🚀 Falcon-7B\n", "README.md", "Falcon-7B"),
        ("# Model Card for OLMo 2 13B\n", "README.md", "OLMo 2 13B"),
        ("# Poro 34B Model Card\n", "README.md", "Poro 34B"),
        (
            "# **Meet 10.7B Solar: Elevating Performance!**\n\nWe introduce SOLAR-10.7B, an LLM.\n",
            "README.md",
            "SOLAR-10.7B",
        ),
        ("## Usage\n\nno title\n", "org/Qwen2.5-7B/README.md", "Qwen2.5-7B"),
        ("## Usage\n\nno title\n", "MODEL_CARD.md", "unnamed model"),
    ],
)
def test_card_names(text, filename, name):
    assert _card(text, filename).name == name


def test_yaml_alias_bomb_in_front_matter_fails_cleanly():
    import time

    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i, key in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        levels.append(f"{key}: &{key} [" + ", ".join([f"*{prev}"] * 10) + "]")
    data = ("---\n" + "\n".join(levels) + "\n---\n# Bomb\n").encode()
    start = time.monotonic()
    with pytest.raises(ParseError, match=r"expands? to more than") as info:
        parse_model_card(data, filename="README.md")
    assert info.value.filename == "README.md"
    assert time.monotonic() - start < 5


def test_front_matter_within_budget_is_kept():
    card = _card("---\nbase: &b {lr: 1, steps: 2}\nrun1: *b\nrun2: *b\n---\n# M\n")
    assert card.metadata == {
        "base": {"lr": 1, "steps": 2},
        "run1": {"lr": 1, "steps": 2},
        "run2": {"lr": 1, "steps": 2},
    }


CARD_TEXT = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "# Llama 9 8B",
                "| Model | Params | Tokens | Context length |",
                "|---|---|---|---|",
                "| Llama 9 | 8B (8.03B) | 15T+ | 128k |",
                "| Total | 1M | | |",
                "<table><tr><td>x<td>Params<tr><td>A 7B<td>7B</table>",
                "It was trained on 2T tokens with 405B parameters and a context length of 8k.",
                "**Release Date:** Oct 24, 2024",
                "Training utilized **39.3**M GPU hours; emissions were 11,390 tons CO2eq (TDP of 700W).",
            ]
        ),
        st.text(max_size=80),
    ),
    max_size=12,
).map("\n".join)


@settings(max_examples=200, deadline=None, database=None)
@given(text=CARD_TEXT)
def test_card_parser_never_crashes_on_card_like_text(text):
    try:
        card = _card(text)
    except ParseError:
        return
    assert card.models[0] == card.name
    assert all(f.subject in card.models or f.subject == "" for f in card.facts)


def test_a_sentence_about_the_card_that_names_its_base_model():
    card = _card(
        "# Model Card: Nous-Yarn-Mistral-7b-128k\n\n"
        "It is an extension of Mistral-7B-v0.1 and supports a 128k token context window.\n"
    )
    assert card.name == "Nous-Yarn-Mistral-7b-128k"
    assert _values(card, "context_length") == [("", 131072.0)]


@pytest.mark.parametrize(
    "sentence",
    [
        "We have 3 subtasks, one for each of the three context lengths 2K, 4K and 8K.",
        "Llama 3 comes in two sizes - 8B and 70B parameters.",
        "We track degradation on 2K context tasks.",
        "Model outputs (limited to 2K context lengths) were ranked.",
    ],
)
def test_enumerations_and_task_settings_are_no_facts(sentence):
    card = _card(f"# M-7B\n\n{sentence}\n")
    assert [f.name for f in card.facts if f.name != "hardware"] == []


def test_repository_sentence_names_an_untitled_card():
    card = _card(
        "## Model Details\n\n**Model Architecture** Llama 3 is an auto-regressive language model.\n\n"
        "This repository contains two versions of Meta-Llama-3-8B-Instruct, for use with transformers.\n"
    )
    assert card.name == "Meta-Llama-3-8B-Instruct"


def test_non_embedding_parameter_rows_are_not_the_parameter_count():
    card = _card(
        "# Qwen2-7B\n\n| Datasets | Mistral-7B | Qwen2-7B |\n|---|---|---|\n"
        "| # Params | 7.2B | 7.6B |\n| # Non-emb Params | 7.0B | 6.5B |\n"
    )
    assert _values(card, "parameters") == [("Mistral-7B", 7.2e9), ("", 7.6e9)]


@pytest.mark.parametrize(
    ("name", "card", "same"),
    [
        ("Falcon-7B", "falcon-7b-instruct", False),
        ("Mistral-7B", "Mistral-7B-v0.1", True),
        ("TinyLlama", "TinyLlama-1.1B", True),
        ("Llama 3.1 8B", "Meta-Llama-3.1-8B", True),
        ("Llama 3.1 70B", "Meta-Llama-3.1-8B", False),
        ("TinyLlama-1.1B-intermediate-step-50K", "TinyLlama-1.1B", False),
        ("Phi-1.5", "phi-1_5", True),
    ],
)
def test_same_model(name, card, same):
    from ingestion.parsers.cardfacts import same_model

    assert same_model(name, card) is same


def test_base_model_sentence_keeps_the_base_model_as_subject():
    card = _card(
        "# Falcon-7B-Instruct\n\nFalcon-7B-Instruct is a 7B parameters model.\n\n"
        "Falcon-7B is a strong base model, thanks to being trained on 1,500B tokens of RefinedWeb.\n"
    )
    assert _values(card, "parameters") == [("", 7e9)]
    assert _values(card, "training_tokens") == [("Falcon-7B", 1.5e12)]


def test_size_ranges_and_footnote_marks_in_comparison_tables():
    card = _card(
        "# OpenChat 3.5\n\n| Model | # Params |\n|---|---|\n| OpenChat-3.5 | **7B** |\n| Zephyr-β^ | 7B |\n"
        "| Open-source SOTA** | 13B-70B |\n"
    )
    assert _values(card, "parameters") == [("", 7e9), ("Zephyr-β", 7e9)]


def test_banter_in_first_and_second_person_is_no_specification():
    card = _card("# OpenChat 3.5\n\nWith 33 billion parameters and all, you've really outdone yourself.\n")
    assert _values(card, "parameters") == []


def test_an_unversioned_intro_name_takes_the_version_the_card_keeps_using():
    card = _card(
        "# OpenChat: Advancing Open-source Language Models with Mixed-Quality Data\n\n"
        "OpenChat is an innovative library of open-source language models.\n\n"
        "OpenChat 3.5 was trained with C-RLFT. Our OpenChat 3.5 code is open.\n"
    )
    assert card.name == "OpenChat 3.5"


def test_code_is_no_fact_source_and_one_line_fences_close_themselves():
    card = _card(
        "# M\n\n```<|prompter|>Hi</s><|assistant|>```\n\nIt was trained on 2T tokens.\n\n"
        "```python\n# trained on 9T tokens with 70B parameters\n```\n<!-- context length of 4096 -->\n"
    )
    assert [(f.name, f.value) for f in card.facts] == [("training_tokens", 2e12)]


def test_headings_state_no_facts():
    card = _card("# M\n\n### Example test on long context of 13400 tokens\n\nThe context length is 32K.\n")
    assert _values(card, "context_length") == [("", 32768.0)]


def test_long_context_benchmark_rows_are_no_context_windows():
    card = _card(
        "# Llama-3.2-1B\n\n| Category | Benchmark | # Shots | Llama 3.2 1B | Llama 3.2 3B |\n|---|---|---|---|---|\n"
        "| Long Context | Needle in Haystack | 0 | 96.8 | 1 |\n| | InfiniteBench/En.QA | 0 | 20.3 | 19.8 |\n\n"
        "These models were trained on a dataset of text data, totaling 6 trillion tokens.\n"
    )
    assert _values(card, "context_length") == []
    assert _values(card, "training_tokens") == [("", 6e12)]


def test_copied_model_index_name_loses_to_a_sized_title():
    card = _card("---\nmodel-index:\n- name: StarCoderBase-3B\n---\n# `stable-code-3b`\n\n")
    assert card.name == "stable-code-3b"


def test_checkpoint_name_beats_family_name_in_the_introduction():
    card = _card(
        "### 1. Introduction\n\nIntroducing DeepSeek LLM, an advanced language model comprising 67 billion parameters.\n\n"
        "`deepseek-llm-67b-base` is a 67B parameter model trained on 2 trillion tokens from scratch.\n"
    )
    assert card.name == "deepseek-llm-67b-base"
    assert _values(card, "parameters") == [("", 67e9)]


def test_doubled_magnitude_typo():
    assert _values(_card("# M\n\n`M` is a 2.7B billion parameter language model.\n"), "parameters") == [
        ("", 2.7e9)
    ]
