"""Scores extracted claims against the hand-written labels in tests/fixtures/articles/*.claims.json.

A claim matches a label when the quantity, the line, the subject (compared without case, spaces, hyphens
or underscores), the value (relative 1e-4) and the bounds agree; dates compare their ISO text and benchmark
scores their benchmark name. Matching is one-to-one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.parsers.article import parse_article
from ingestion.parsers.records import FactRecord

ARTICLES = Path(__file__).resolve().parents[2] / "fixtures" / "articles"


def norm_subject(subject: str) -> str:
    return re.sub(r"[\s\-_]+", "", subject).casefold()


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-4 * max(abs(a), abs(b))


def matches(fact: FactRecord, label: dict[str, object]) -> bool:
    if fact.name != label["name"] or fact.line != label["line"]:
        return False
    if norm_subject(fact.subject) != norm_subject(str(label.get("subject", ""))):
        return False
    if fact.name == "release_date":
        return fact.text_value == label.get("text")
    if fact.name == "benchmark_score" and fact.text_value != label.get("benchmark"):
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


def score_file(path: Path, total: Score) -> Score:
    labels = json.loads(Path(f"{path}.claims.json").read_text(encoding="utf-8"))["claims"]
    facts = parse_article(path.name, path.read_bytes()).claims
    score = Score()
    unmatched = list(labels)
    for fact in facts:
        hit = next((label for label in unmatched if matches(fact, label)), None)
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


def score_set(folder: Path) -> Score:
    total = Score()
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.endswith(".json") and Path(f"{path}.claims.json").exists():
            score_file(path, total)
    return total


if __name__ == "__main__":
    for folder in (ARTICLES, ARTICLES / "heldout"):
        result = score_set(folder)
        print(
            f"{folder.name}: precision={result.precision:.3f} recall={result.recall:.3f} tp={result.tp} fp={result.fp} fn={result.fn}"
        )
        for line in result.misses:
            print("  MISS ", line)
        for line in result.extras:
            print("  EXTRA", line)
