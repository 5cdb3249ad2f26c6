"""The run-log half of the real-world corpus keeps its score (provenance: runlogs/README.md)."""

from __future__ import annotations

import pytest

from tests.corpus.score import CORPUS, Summary, score_corpus

PASS_RATE_FLOOR = 0.95
DETECTION_FLOOR = 1.0


@pytest.fixture(scope="module")
def summary() -> Summary:
    return score_corpus(CORPUS / "runlogs")


def test_runlogs_corpus_is_populated(summary: Summary) -> None:
    assert all(c.path.startswith("runlogs/") for c in summary.cases)
    assert len(summary.scored) >= 25


def test_runlogs_pass_rate(summary: Summary) -> None:
    report = [f"{c.verdict} {c.path}: {c.failed[:3]}" for c in summary.scored if c.verdict != "PASS"]
    assert summary.rate("PASS") >= PASS_RATE_FLOOR, "\n".join(report)


def test_runlogs_format_detection(summary: Summary) -> None:
    wrong = [f"{c.path}: {c.failed[:2]}" for c in summary.scored if c.format_ok is False]
    assert summary.detection >= DETECTION_FLOOR, "\n".join(wrong)
