"""The pure model-identity key: spellings of one model share it, different models never do."""

from __future__ import annotations

import pytest

from tracker.catalog.names import is_file_name, is_row_label, model_key


@pytest.mark.parametrize(
    "spelling",
    [
        "Meta-Llama-3.1-405B",
        "meta-llama/Llama-3.1-405B",
        "meta-llama__Meta-Llama-3.1-405B",
        "Llama 3.1 405B",
        "llama-3.1-405b",
        "LLaMA 3.1 (405 B)",
        "Llama-3.1-405B-hf",
    ],
)
def test_spellings_of_llama_3_1_405b_share_one_key(spelling):
    assert model_key(spelling) == model_key("Llama 3.1 405B") == "llama 3 1 405 b"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Qwen2-7B", "Qwen-27B"),  # digit groups stay apart
        ("Llama 3.1", "Llama 31"),
        ("Llama 3.1 8B", "Llama 3.1 70B"),
        ("Mistral-7B-v0.1", "Mistral-7B-Instruct-v0.2"),
        ("falcon-7b", "falcon-7b-instruct"),
        ("Meta-Llama-3.1-8B", "Meta-Llama-3-8B"),
    ],
)
def test_different_models_have_different_keys(a, b):
    assert model_key(a) != model_key(b)


def test_accents_case_and_underscores_do_not_matter():
    assert model_key("Phi-1_5") == model_key("phi 1.5") == "phi 1 5"
    assert model_key("Poro-34B") == model_key("PORO 34 b")
    assert model_key("Modèle-7B") == model_key("modele 7b")


def test_a_vendor_word_alone_is_kept_and_punctuation_alone_has_no_key():
    assert model_key("Meta") == "meta"
    assert model_key("--- / ---") == ""


@pytest.mark.parametrize("label", ["Total", "total", "TOTAL:", "Average", "All models", "Sum"])
def test_table_row_labels_are_not_model_names(label):
    assert is_row_label(label)


@pytest.mark.parametrize("name", ["Llama 3.1 405B", "Falcon", "Total-7B", "Mixtral 8x7B"])
def test_model_names_are_not_row_labels(name):
    assert not is_row_label(name)


def test_file_names_are_recognised_only_as_the_uploaded_file():
    assert is_file_name("llama31_README", "llama31_README.md")
    assert is_file_name("llama31_readme", "cards/llama31_README.md")
    assert not is_file_name("Llama 3.1", "llama31_README.md")
    assert not is_file_name("tiny-lm-350m", "README.md")
