"""The claim-vs-fact rule and the subject normaliser: plain values, no database."""

from __future__ import annotations

import pytest

from tracker.claims.checks import ClaimValue, PrimaryFact, agrees, verdict
from tracker.claims.subjects import family_name, index_of, model_for_subject, subject_key


def fact(value=None, text="", lower=None, upper=None, confidence=1.0, id=1):
    return PrimaryFact(id=id, value=value, text_value=text, lower=lower, upper=upper, confidence=confidence)


@pytest.mark.parametrize(
    ("claim", "primary", "expected"),
    [
        (ClaimValue("parameters", 8e9), fact(8.03e9), True),  # within 5%
        (ClaimValue("parameters", 450e9), fact(405e9), False),  # 11% off
        (ClaimValue("context_length", 128_000), fact(131_072), True),  # 128K decimal vs binary
        (ClaimValue("context_length", 262_144, upper=262_144), fact(131_072), False),  # "up to 256K" is 256K
        (ClaimValue("training_tokens", 20e12, lower=20e12), fact(15e12, lower=15e12), False),  # ">20T" vs 15T
        (ClaimValue("training_tokens", 15e12, lower=15e12), fact(15.6e12), True),  # "over 15T" vs 15.6T
        (ClaimValue("parameters", 14.5e9, lower=2e9, upper=27e9), fact(9e9), True),  # a range holds 9B
        (ClaimValue("parameters", 14.5e9, lower=2e9, upper=27e9), fact(70e9), False),
        (ClaimValue("gpu_hours", 39.3e6), fact(30.84e6), False),  # 27% off
        (ClaimValue("release_date", None, "2024-07"), fact(text="2024-07-23"), True),
        (ClaimValue("release_date", None, "2024-07-24"), fact(text="2024-07-23"), False),
        (ClaimValue("benchmark_score", 88.6, "MMLU"), fact(88.6, text="mmlu"), True),
        (ClaimValue("benchmark_score", 91.2, "MMLU"), fact(88.6, text="MMLU"), False),
        (ClaimValue("benchmark_score", 91.2, "MMLU"), fact(91.2, text="GSM8K"), None),  # another benchmark
        (ClaimValue("parameters", 8e9), fact(None), None),  # the fact has no number
    ],
)
def test_agrees(claim, primary, expected):
    assert agrees(claim, primary) is expected


def test_verdict_prefers_an_agreeing_fact_and_names_the_most_confident_disagreeing_one():
    claim = ClaimValue("parameters", 405e9)
    status, found = verdict(claim, [fact(450e9, id=1), fact(405e9, confidence=0.5, id=2)], subject_known=True)
    assert (status, found.id) == ("corroborated", 2)
    wrong = ClaimValue("parameters", 500e9)
    status, found = verdict(wrong, [fact(405e9, confidence=0.7, id=3), fact(405e9, id=4)], subject_known=True)
    assert (status, found.id) == ("conflicting", 4)
    # A catalog fact is named before a run that agrees as well.
    run = PrimaryFact(id=9, value=405e9, from_run=True)
    assert verdict(claim, [run, fact(405e9, confidence=0.5, id=5)], subject_known=True)[1].id == 5
    assert verdict(claim, [], subject_known=True) == ("uncorroborated", None)
    assert verdict(claim, [fact(405e9)], subject_known=False) == ("unknown_subject", None)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Llama 3.1 405B", "llama-3.1-405b"),
        ("Llama 3.1 405B", "Llama3.1 405B"),
        ("Qwen2.5-72B", "Qwen/Qwen2.5-72B"),
        ("Ｌｌａｍａ 3.1 8B", "Llama_3.1_8B"),  # noqa: RUF001 (full-width letters are the point)
    ],
)
def test_subject_key_ignores_case_width_spacing_and_org(a, b):
    assert subject_key(a) == subject_key(b)


def test_index_matches_vendor_prefixed_names_and_drops_ambiguous_keys():
    index = index_of([(1, "meta-llama/Meta-Llama-3.1-8B"), (2, "Llama 3.1 70B"), (3, "Foo"), (4, "foo")])
    assert model_for_subject("Llama 3.1 8B", index) == 1
    assert model_for_subject("Meta Llama 3.1 8B", index) == 1
    assert model_for_subject("llama-3.1-70b", index) == 2
    assert model_for_subject("Llama 3.1 405B", index) is None
    assert model_for_subject("FOO", index) is None  # two models answer to it: neither is named
    assert model_for_subject("", index) is None


@pytest.mark.parametrize(
    ("subject", "family"),
    [("Llama 3.1 70B", "Llama 3.1"), ("Mixtral 8x22B", "Mixtral"), ("Qwen2.5-72B", "Qwen2.5"), ("GPT-4", "")],
)
def test_family_name(subject, family):
    assert family_name(subject) == family
