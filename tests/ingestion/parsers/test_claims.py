# ruff: noqa: RUF001 (full-width parentheses and the multiplication sign are inputs under test)
"""extract_claims: numerals in four languages, bounds, subjects, what is not a claim, lines; and precision and
recall on the hand-labelled articles in tests/fixtures/articles (pure: no database).

Scoring: a claim matches a label when the quantity, the line, the subject (compared without case, spaces,
hyphens or underscores), the value (relative 1e-4) and the bounds agree; dates compare their ISO text and
benchmark scores their benchmark name; matching is one-to-one. Print every miss and extra with

    python -m tests.ingestion.parsers.test_claims
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.parsers.article import parse_article
from ingestion.parsers.claims import QUANTITIES, UNITS, extract_claims
from ingestion.parsers.records import FactRecord

ARTICLES = Path(__file__).resolve().parents[2] / "fixtures" / "articles"


# ---------------------------------------------------------------------------------------------- scoring


def norm_subject(subject: str) -> str:
    return re.sub(r"[\s\-_]+", "", subject).casefold()


def _bench(name: str) -> str:
    """Benchmark names compare without case, spaces or hyphens: "SWE-Bench Verified" is "SWE-bench Verified"."""
    return re.sub(r"[\s\-]+", "", name).casefold()


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-4 * max(abs(a), abs(b))


def matches(fact: FactRecord, label: dict[str, object], *, subject: bool = True) -> bool:
    if fact.name != label["name"] or fact.line != label["line"]:
        return False
    if subject and norm_subject(fact.subject) != norm_subject(str(label.get("subject", ""))):
        return False
    if fact.name == "release_date":
        return fact.text_value == label.get("text")
    if fact.name == "benchmark_score" and _bench(fact.text_value) != _bench(str(label.get("benchmark"))):
        return False
    value = label.get("value")
    lower = label.get("lower")
    upper = label.get("upper")
    return (
        _close(fact.value, float(value) if value is not None else None)  # type: ignore[arg-type]
        and _close(fact.lower, float(lower) if lower is not None else None)  # type: ignore[arg-type]
        and _close(fact.upper, float(upper) if upper is not None else None)  # type: ignore[arg-type]
    )


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    misses: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def describe(fact: FactRecord) -> str:
    shown = fact.text_value if fact.name in ("release_date", "benchmark_score") else fact.value
    bounds = f" lower={fact.lower}" if fact.lower is not None else ""
    bounds += f" upper={fact.upper}" if fact.upper is not None else ""
    return f"line {fact.line} {fact.subject!r} {fact.name}={shown}{bounds}"


def score_file(path: Path, total: Score, *, subject: bool = True) -> Score:
    labels = json.loads(Path(f"{path}.claims.json").read_text(encoding="utf-8"))["claims"]
    facts = parse_article(path.name, path.read_bytes()).claims
    score = Score()
    unmatched = list(labels)
    for fact in facts:
        hit = next((label for label in unmatched if matches(fact, label, subject=subject)), None)
        if hit is None:
            score.fp += 1
            score.extras.append(f"{path.name}: {describe(fact)}")
        else:
            unmatched.remove(hit)
            score.tp += 1
    score.fn = len(unmatched)
    score.misses = [
        f"{path.name}: line {lab['line']} {lab.get('subject')!r} {lab['name']}={lab.get('value', lab.get('text'))}"
        for lab in unmatched
    ]
    for attr in ("tp", "fp", "fn"):
        setattr(total, attr, getattr(total, attr) + getattr(score, attr))
    total.misses += score.misses
    total.extras += score.extras
    return score


def score_set(folder: Path, *, subject: bool = True) -> Score:
    """Scores every labelled article in `folder`; subject=False ignores who a claim is about (the
    numbers, quantities, bounds and lines only)."""
    total = Score()
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.endswith(".json") and Path(f"{path}.claims.json").exists():
            score_file(path, total, subject=subject)
    return total


def _claims(text: str, **kwargs: object) -> list[tuple[str, str, object, object, object]]:
    return [
        (f.subject, f.name, f.value if f.value is not None else f.text_value, f.lower, f.upper)
        for f in extract_claims(text, **kwargs)  # type: ignore[arg-type]
    ]


def _one(text: str) -> FactRecord:
    facts = extract_claims(text)
    assert len(facts) == 1, facts
    return facts[0]


@pytest.mark.parametrize(
    ("text", "name", "value"),
    [
        # English: suffixes, scale words, separators, words, scientific notation
        ("Llama 3.1 405B has 405 billion parameters.", "parameters", 405e9),
        ("Llama 3.1 405B has 405B parameters.", "parameters", 405e9),
        ("Llama 3 was trained on 15T tokens.", "training_tokens", 15e12),
        ("Falcon 180B saw 3.5 trillion tokens.", "training_tokens", 3.5e12),
        ("Pythia-1.4B has 1,414,647,808 parameters.", "parameters", 1_414_647_808),
        ("OPT-175B has one hundred seventy-five billion parameters.", "parameters", 175e9),
        ("Llama 2 70B has seventy billion parameters.", "parameters", 70e9),
        ("Nimbus-7 supposedly has two trillion parameters.", "parameters", 2e12),
        ("Nimbus-7 has half a trillion parameters.", "parameters", 5e11),
        ("Nimbus-7 saw one and a half trillion tokens.", "training_tokens", 1.5e12),
        ("Llama 3.1 405B used 3.8M GPU hours.", "gpu_hours", 3.8e6),
        ("DeepSeek-V3 took 2.788M H800 GPU hours.", "gpu_hours", 2.788e6),
        ("Llama 3.1 405B used 3.8e25 FLOPs.", "training_compute", 3.8e25),
        ("Llama 3.1 405B used 3.8×10^25 FLOPs.", "training_compute", 3.8e25),
        ("Llama 3.1 405B used 3.8 x 10^25 FLOPs.", "training_compute", 3.8e25),
        ("Llama 3.1 405B used 3.8×10²⁵ FLOPs.", "training_compute", 3.8e25),
        ("Training GPT-4 cost $100 million.", "cost", 1e8),
        ("Training DeepSeek-V3 cost 5.6 million dollars.", "cost", 5.6e6),
        ("Training DeepSeek-V3 cost $5.6M.", "cost", 5.6e6),
        ("Llama 3.1 has a 128K context window.", "context_length", 131072),
        ("Llama 3.1 has a context window of 128,000 tokens.", "context_length", 128000),
        ("Nimbus-7 has a 1M token context window.", "context_length", 1e6),
        ("Llama 3.1 405B scores 88.6 on MMLU.", "benchmark_score", 88.6),
        # Korean: 만 / 억 / 조 with arabic digits
        ("라마 3.1 405B는 4050억 개 매개변수를 가진다.", "parameters", 405e9),
        ("라마 3는 15조 개의 토큰으로 학습했다.", "training_tokens", 15e12),
        ("오로라-X(Aurora-X)는 1조 5천억 개의 매개변수를 가졌다.", "parameters", 1.5e12),
        ("라마 3.1 405B 학습에 380만 GPU 시간이 들었다.", "gpu_hours", 3.8e6),
        ("라마 3.1 405B 학습 비용은 1억 달러였다.", "cost", 1e8),
        ("라마 3.1은 컨텍스트 길이 128K를 지원한다.", "context_length", 131072),
        ("라마 3.1은 12만8000개 토큰의 컨텍스트를 지원한다.", "context_length", 128000),
        # Chinese: 万 / 亿 / 万亿, Chinese digits
        ("GPT-4拥有1.8万亿参数。", "parameters", 1.8e12),
        ("Qwen2-72B的参数量为700亿。", "parameters", 7e10),
        ("混元拥有千亿参数。", "parameters", 1e11),
        ("Qwen2.5在十五万亿个token上训练。", "training_tokens", 1.5e13),
        ("DeepSeek-V3的训练成本约557.6万美元。", "cost", 5.576e6),
        ("DeepSeek-V3训练耗时278.8万H800 GPU小时。", "gpu_hours", 2.788e6),
        ("Qwen2.5支持128K上下文。", "context_length", 131072),
        # Japanese: 億 / 兆 / 万
        ("Llama 3.1 405Bは4050億パラメータを持つ。", "parameters", 405e9),
        ("Gemma 2 27Bは13兆トークンで学習された。", "training_tokens", 13e12),
        ("Llama 3.1 405Bの学習には3084万GPU時間が使われた。", "gpu_hours", 3.084e7),
    ],
)
def test_numerals(text: str, name: str, value: float) -> None:
    fact = _one(text)
    assert fact.name == name
    assert fact.value == pytest.approx(value)
    assert fact.unit == UNITS[name] or name == "benchmark_score"
    assert fact.line == 1
    assert fact.excerpt == text


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("Meta released Llama 3.1 on July 23, 2024.", "2024-07-23"),
        ("Llama 3.1 was released on 23 July 2024.", "2024-07-23"),
        ("Llama 3.1 (release date: 2024-07-23) is open.", "2024-07-23"),
        ("메타는 2024년 7월 23일 라마 3.1을 공개했다.", "2024-07-23"),
        ("阿里云于2024年9月发布了Qwen2.5。", "2024-09"),
        ("Googleは2024年6月27日にGemma 2を公開した。", "2024-06-27"),
    ],
)
def test_release_dates(text: str, iso: str) -> None:
    fact = _one(text)
    assert (fact.name, fact.value, fact.text_value, fact.unit) == ("release_date", None, iso, "")


@pytest.mark.parametrize(
    ("text", "lower", "upper"),
    [
        ("Aurora-X has more than 10B parameters.", 10e9, None),
        ("Llama 3.1 405B was trained on over 15 trillion tokens.", 15e12, None),
        ("Aurora-X 12B saw at least 18T tokens.", 18e12, None),
        ("Llama 3 saw 15T+ tokens.", 15e12, None),
        ("라마3는 15조 이상의 토큰으로 훈련됐다.", 15e12, None),
        ("Llama 3.1 405B有超过5000亿参数。", 5e11, None),
        ("Llama 3.1 405Bは15兆以上のトークンで学習された。", 15e12, None),
        ("Llama 3.1 supports a context window of up to 256K tokens.", None, 262144),
        ("Yi-34B cost under 5 million dollars to train.", None, 5e6),
        ("큐웬2.5(Qwen2.5)는 최대 128K 토큰의 컨텍스트를 처리한다.", None, 131072),
        ("Aurora-Z的参数量不超过3千亿。", None, 3e11),
    ],
)
def test_bounds(text: str, lower: float | None, upper: float | None) -> None:
    fact = _one(text)
    value = lower if lower is not None else upper
    assert (fact.value, fact.lower, fact.upper) == (value, lower, upper)


def test_approximate_values_keep_the_number_and_lower_the_confidence() -> None:
    exact = _one("Llama 3.1 405B was trained on 15.6 trillion tokens.")
    for text in (
        "Llama 3.1 405B was trained on about 15.6 trillion tokens.",
        "Llama 3.1 405B was trained on ~15.6T tokens.",
        "라마 3.1 405B는 약 15.6조 개의 토큰으로 학습했다.",
        "Llama 3.1 405B在约15.6万亿个token上训练。",
        "Llama 3.1 405Bは約15.6兆トークンで学習された。",
    ):
        fact = _one(text)
        assert (fact.value, fact.lower, fact.upper) == (15.6e12, None, None), text
        assert fact.confidence < exact.confidence, text


@pytest.mark.parametrize(
    ("text", "lower", "upper"),
    [
        ("The Llama 2 family ranges from 7B to 70B parameters.", 7e9, 70e9),
        ("Llama 2 models have 7B-70B parameters.", 7e9, 70e9),
        ("Llama 2 was trained on 2-3T tokens.", 2e12, 3e12),
        ("Llama 2 was trained on between 2 and 3 trillion tokens.", 2e12, 3e12),
        ("라마 2는 70억~700억 개의 매개변수를 가진다.", 7e9, 7e10),
    ],
)
def test_ranges_are_one_claim_with_both_bounds(text: str, lower: float, upper: float) -> None:
    fact = _one(text)
    assert (fact.lower, fact.upper, fact.value) == (lower, upper, (lower + upper) / 2)


def test_a_list_of_sizes_is_one_parameters_claim_per_family_member() -> None:
    assert _claims("Meta released the Llama 3.1 family in 8B, 70B and 405B sizes.") == [
        ("Llama 3.1 8B", "parameters", 8e9, None, None),
        ("Llama 3.1 70B", "parameters", 70e9, None, None),
        ("Llama 3.1 405B", "parameters", 405e9, None, None),
    ]
    assert _claims("Helios ships Aurora-X 12B/48B/310B, all trained on 22T tokens.") == [
        ("Aurora-X 12B", "parameters", 12e9, None, None),
        ("Aurora-X 48B", "parameters", 48e9, None, None),
        ("Aurora-X 310B", "parameters", 310e9, None, None),
        ("Aurora-X", "training_tokens", 22e12, None, None),
    ]
    assert _claims("라마3는 80억개와 700억개 매개변수 두 가지 모델이다.") == [
        ("Llama3 8B", "parameters", 8e9, None, None),
        ("Llama3 70B", "parameters", 70e9, None, None),
    ]
    assert _claims("Llama 3.1 405B joins its smaller eight- and 70-billion parameter siblings.") == [
        ("Llama 3.1 8B", "parameters", 8e9, None, None),
        ("Llama 3.1 70B", "parameters", 70e9, None, None),
    ]


# ------------------------------------------------------------------------------------------------ subjects


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("라마 3.1(Llama 3.1)은 4050억 개 매개변수를 가진다.", "Llama 3.1"),
        ("阿里云的通义千问（Qwen2.5）拥有727亿参数。", "Qwen2.5"),
        ("極光-Z（Aurora-Z）は3千億パラメータを持つ。", "Aurora-Z"),
        ("큐웬2.5(Qwen2.5) 72B는 18조 개 토큰으로 학습됐다.", "Qwen2.5 72B"),
        ("메타의 라마 3.1 405B는 4050억 개 매개변수를 가진다.", "Llama 3.1 405B"),
        ("딥시크-V3는 6710억 개의 매개변수를 가진다.", "DeepSeek-V3"),
        ("Meta's Llama 3.1 405B has 405B parameters.", "Llama 3.1 405B"),
        ("With 405B parameters, Llama 3.1 405B is large.", "Llama 3.1 405B"),
        ("Qwen3-235B-A22B has 235B parameters.", "Qwen3-235B-A22B"),
        ("Mixtral 8x22B has 141B total parameters.", "Mixtral 8x22B"),
        ("Nimbus-7, a fictional model, has 70B parameters.", "Nimbus-7"),
        ("The Zephyrion model has 12B parameters.", "Zephyrion"),
    ],
)
def test_subject_from_the_sentence(text: str, subject: str) -> None:
    assert _one(text).subject == subject


def test_two_models_in_one_sentence_each_keep_their_numbers() -> None:
    text = "Llama 3.1 405B has 405B parameters, while Aurora-X 310B has 310B parameters and 22T tokens."
    assert _claims(text) == [
        ("Llama 3.1 405B", "parameters", 405e9, None, None),
        ("Aurora-X 310B", "parameters", 310e9, None, None),
        ("Aurora-X 310B", "training_tokens", 22e12, None, None),
    ]
    text = "Aurora-X 310B scores 89.1 on MMLU and 97.2% on GSM8K, while Aurora-X 48B reaches 81.5 on MMLU."
    facts = extract_claims(text)
    assert [(f.subject, f.text_value, f.value, f.unit) for f in facts] == [
        ("Aurora-X 310B", "MMLU", 89.1, ""),
        ("Aurora-X 310B", "GSM8K", 97.2, "%"),
        ("Aurora-X 48B", "MMLU", 81.5, ""),
    ]


def test_subject_from_parent_bullet_heading_lead_in_and_previous_sentence() -> None:
    text = (
        "# Aurora-X review\n"
        "\n"
        "## Aurora-X 48B\n"
        "\n"
        "Training used 8T tokens.\n"
        "\n"
        "## Budgets\n"
        "\n"
        "- Aurora-X 12B\n"
        "  - 0.9M GPU hours\n"
        "  - at least 18T tokens\n"
        "- Aurora-X 310B: 21.5M GPU hours\n"
        "\n"
        "Aurora-X comes in two more sizes:\n"
        "\n"
        "- 3B: trained on 4T tokens\n"
        "\n"
        "Aurora-X 310B is the flagship. It has a 256K context window.\n"
        "Training took 54 days and 3.1e25 FLOPs.\n"
    )
    facts = extract_claims(text)
    assert [(f.line, f.subject, f.name, f.value) for f in facts] == [
        (5, "Aurora-X 48B", "training_tokens", 8e12),
        (10, "Aurora-X 12B", "gpu_hours", 0.9e6),
        (11, "Aurora-X 12B", "training_tokens", 18e12),
        (12, "Aurora-X 310B", "gpu_hours", 21.5e6),
        (16, "Aurora-X 3B", "training_tokens", 4e12),
        (18, "Aurora-X 310B", "context_length", 262144),
        (19, "Aurora-X", "training_compute", 3.1e25),
    ]
    assert facts[0].location == "paragraph; subject from heading 'Aurora-X 48B'"
    assert facts[1].location == "bullet; subject from bullet 'Aurora-X 12B'"
    assert facts[5].location == "paragraph; subject from previous sentence"
    assert facts[0].confidence < 0.9 and facts[3].confidence == 0.9


def test_names_with_a_size_in_parentheses_a_latin_prefix_and_several_members() -> None:
    assert _claims("# Meta Llama 3.1 (405B)\n\nこの4050億パラメータ・モデルは速い。") == [
        ("Llama 3.1 405B", "parameters", 405e9, None, None)
    ]
    assert _claims("K-엑사원은 매개변수 2천360억개(236B) 규모의 모델이다.") == [
        ("K-EXAONE", "parameters", 236e9, None, None)
    ]
    text = "엑사원 4.0은 32B(매개변수 320억 개)의 전문가 모델과 1.2B(매개변수 12억 개)의 온디바이스 모델로 공개됐다."
    assert _claims(text) == [
        ("EXAONE 4.0 32B", "parameters", 32e9, None, None),
        ("EXAONE 4.0 1.2B", "parameters", 1.2e9, None, None),
    ]
    assert [(f.text_value, f.value) for f in extract_claims("EXAONE 4.0 scores 75.4 on GPQA-Diamond.")] == [
        ("GPQA Diamond", 75.4)
    ]


def test_a_change_from_one_value_to_another_is_not_a_range() -> None:
    text = "Qwen2.5 expanded its pre-training data from 7 trillion tokens to 18 trillion tokens."
    assert _claims(text) == [
        ("", "training_tokens", 7e12, None, None),
        ("Qwen2.5", "training_tokens", 18e12, None, None),
    ]
    assert _claims("Qwen2.5 grew from 7 to 18 trillion tokens.")[-1] == (
        "Qwen2.5",
        "training_tokens",
        18e12,
        None,
        None,
    )


def test_the_405b_model_takes_its_family_from_context_and_is_no_claim_itself() -> None:
    text = "## Llama 3.1\n\nThe 405B model was trained on 15.6T tokens."
    assert _claims(text) == [("Llama 3.1 405B", "training_tokens", 15.6e12, None, None)]
    assert _claims("Aurora-X is a 70B model.") == [("Aurora-X", "parameters", 70e9, None, None)]


def test_no_model_anywhere_is_an_unknown_subject() -> None:
    fact = _one("The model was trained on 22T tokens.")
    assert (fact.subject, fact.value) == ("", 22e12)
    assert fact.confidence <= 0.6
    heading_with_two = "# Llama 3.1 vs Aurora-X\n\nTraining used 22T tokens.\n"
    assert _claims(heading_with_two) == [("", "training_tokens", 22e12, None, None)]


def test_tables_give_one_claim_per_cell_with_the_row_as_subject() -> None:
    text = (
        "## Aurora-X\n"
        "\n"
        "| Model | Params | Training tokens | Context | MMLU | Release |\n"
        "|---|---|---|---|---|---|\n"
        "| Aurora-X 12B | 12.4B | 22T+ | 32K | 61.2 | 2025-03-14 |\n"
        "| Nimbus Mini | ~1.5B | - | 8K | n/a | March 1, 2025 |\n"
        "| Total | 60B | | | | |\n"
    )
    facts = extract_claims(text)
    assert [(f.line, f.subject, f.name, f.value or f.text_value, f.lower) for f in facts] == [
        (5, "Aurora-X 12B", "parameters", 12.4e9, None),
        (5, "Aurora-X 12B", "training_tokens", 22e12, 22e12),
        (5, "Aurora-X 12B", "context_length", 32768, None),
        (5, "Aurora-X 12B", "benchmark_score", 61.2, None),
        (5, "Aurora-X 12B", "release_date", "2025-03-14", None),
        (6, "Nimbus Mini", "parameters", 1.5e9, None),
        (6, "Nimbus Mini", "context_length", 8192, None),
        (6, "Nimbus Mini", "release_date", "2025-03-01", None),
    ]
    assert facts[3].text_value == "MMLU"
    assert facts[0].location == "table column 'Params' row 'Aurora-X 12B'"


# ------------------------------------------------------------------------------------------- not claims


@pytest.mark.parametrize(
    "text",
    [
        "In 2024, Meta published a report about Llama 3.1.",
        "See page 12, Figure 3 and Table 4 of the Llama 3.1 paper [12].",
        "For Llama 3.1 questions call +1 415-555-0199 or 02-1234-5678.",
        "Llama 3.1 405B improved MMLU by 5% over Llama 3.",
        "70% of reviewers preferred Llama 3.1, and 35% of talks were about it.",
        "Version 3.1.2 of the Llama 3.1 toolkit and v2.1 of the docs shipped.",
        "Llama 3.1 405B was trained on 16,000 H100 GPUs for 54 days.",
        "Llama 3.1 405B uses a batch size of 16M tokens and a vocabulary of 128K tokens.",
        "Tickets for the Llama 3.1 launch party cost $499.",
        "Mistral raised $640 million in funding to train Mistral Large 2.",
        "Llama 2 was released in 2023.",
        "Llama 3.1 was released with a knowledge cutoff of December 2023.",
        "Llama 3.1 405B uses 8 KV heads, 126 layers and a 5-shot prompt.",
        "Room 405B of the convention center hosted 1,200 people.",
        "The 2023-2024 survey of 3.1 million users mentioned Llama 3.",
        "GPT-4 and Llama 3.1 are both large; see arXiv 2407.21783.",
        "Llama 3.1 405B 推理每百万token价格为1美元。",
        "Gemma 2の価格は月額20ドルです。",
    ],
)
def test_not_claims(text: str) -> None:
    assert extract_claims(text) == []


# ---------------------------------------------------------------------------------------- lines, excerpts


def test_line_numbers_follow_the_original_file() -> None:
    text = "# Llama 3.1\n\nThe flagship, Llama 3.1 405B, has\n450 billion parameters and\n15.6T tokens.\n"
    assert [(f.line, f.name) for f in extract_claims(text)] == [(4, "parameters"), (5, "training_tokens")]
    assert [f.line for f in extract_claims(text, line_offset=10)] == [14, 15]
    assert [f.line for f in extract_claims(text, line_map=[7, 7, 8, 9, 30, 31])] == [9, 30]
    (fact, _) = extract_claims(text)
    assert fact.excerpt == "The flagship, Llama 3.1 405B, has 450 billion parameters and 15.6T tokens."


def test_excerpts_are_bounded_and_claims_use_controlled_names() -> None:
    text = "Llama 3.1 405B has 405B parameters " + "and more words " * 200 + "."
    (fact,) = extract_claims(text)
    assert len(fact.excerpt) <= 500
    assert {f.name for f in extract_claims("\n".join(p.read_text() for p in ARTICLES.glob("*.md")))} <= set(
        QUANTITIES
    )


# ----------------------------------------------------------------------------------- precision and recall


def test_precision_and_recall_on_the_labelled_articles() -> None:
    score = score_set(ARTICLES)
    print(
        f"\nclaims on {ARTICLES.name}: precision={score.precision:.3f} recall={score.recall:.3f} "
        f"(tp={score.tp} fp={score.fp} fn={score.fn})"
    )
    print("\n".join(["misses:", *score.misses, "extras:", *score.extras]))
    assert score.tp + score.fn >= 120
    assert score.precision >= 0.90
    assert score.recall >= 0.80


@pytest.mark.parametrize("folder", ["heldout", "heldout2", "heldout3", "heldout4"])
def test_precision_and_recall_on_the_held_out_public_excerpts(folder: str) -> None:
    # Blind when first run (see tests/fixtures/articles/README.md); rules found through them were kept generic.
    score = score_set(ARTICLES / folder)
    loose = score_set(ARTICLES / folder, subject=False)
    print(
        f"\nclaims on {folder}: precision={score.precision:.3f} recall={score.recall:.3f} "
        f"(tp={score.tp} fp={score.fp} fn={score.fn}); without subjects: precision={loose.precision:.3f} "
        f"recall={loose.recall:.3f}"
    )
    print("\n".join(["misses:", *score.misses, "extras:", *score.extras]))
    # Regression floors, not targets: real articles name their subjects in ways no rule here foresaw.
    assert score.precision >= 0.60
    assert score.recall >= 0.60
    assert loose.precision >= 0.90
    assert loose.recall >= 0.90


# -------------------------------------------------------------------------------------------- properties

_FRAGMENTS = [
    "405B",
    " parameters",
    "4050억",
    " 개 매개변수",
    "1조 5천억",
    "1.8万亿",
    "参数",
    "十五万亿",
    " tokens",
    "토큰",
    "$",
    "US$",
    " million",
    "seventy billion",
    "half a",
    "(",
    ")",
    "（",
    "）",
    "Llama 3.1",
    "라마",
    "通义千问",
    "Aurora-X",
    "\n- ",
    "\n  - ",
    "\n# ",
    "\n## ",
    "\n",
    "\n\n",
    "|",
    "\n|---|---|\n",
    "%",
    " on MMLU",
    " released on July 23, 2024",
    "2024年7月",
    "~",
    "约",
    "over ",
    "up to ",
    "이상",
    "-",
    " to ",
    ", ",
    " and ",
    "3.8×10^25 FLOPs",
    "1e999",
    "9" * 40,
    "128K context",
    " GPU hours",
    "It ",
    "该模型",
    ". ",
    "。",
    "the 405B model",
    "12B/48B",
    "\x00",
    "\u200b",
    "𝟗",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(st.one_of(st.text(max_size=400), st.lists(st.sampled_from(_FRAGMENTS), max_size=40).map("".join)))
def test_extract_claims_never_crashes(text: str) -> None:
    lines = text.count("\n") + 1
    for fact in extract_claims(text):
        assert fact.name in QUANTITIES
        assert fact.line is not None and 1 <= fact.line <= lines
        assert 0.0 < fact.confidence <= 1.0
        assert fact.value is None or fact.value - fact.value == 0.0
        assert len(fact.excerpt) <= 500


if __name__ == "__main__":
    for folder in (ARTICLES, *(ARTICLES / f"heldout{n}" for n in ("", "2", "3", "4")), ARTICLES / "status"):
        loose = score_set(folder, subject=False)
        result = score_set(folder)
        print(
            f"{folder.name}: precision={result.precision:.3f} recall={result.recall:.3f} "
            f"tp={result.tp} fp={result.fp} fn={result.fn}; without subjects: "
            f"precision={loose.precision:.3f} recall={loose.recall:.3f}"
        )
        for line in result.misses:
            print("  MISS ", line)
        for line in result.extras:
            print("  EXTRA", line)
