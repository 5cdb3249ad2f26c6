"""Scores the real-world corpus: each real public file against expectations written independently of the parser.

Layout: ``tests/corpus/<category>/<file>`` with ``<file>.expected.json`` beside it, and provenance (repository,
commit, path, license) in ``tests/corpus/README.md``. A file whose license does not allow committing it is
absent; its ``.expected.json`` stays and the case is SKIPPED. A target may be a directory (an ``mlruns``
folder) or an archive: every member is dispatched and the results are merged.

Expectation keys (all optional; each present key is one check):

- ``format``: the detected format (``detect_format`` / ``ParsedDocument.fmt``); ``kind`` likewise.
- ``refused``: true when the file must be refused; ``refusal_contains``: substrings the message must hold.
- ``series``: ``{name: {"count": n, "first": [step, value], "last": [step, value], "min": v, "max": v}}``;
  ``series_exact``: true when no other series may be produced; ``series_absent``: names that must not appear.
- ``power``: ``{"energy_kwh": x, "gpu_hours": y, "gpu_count": n}`` (relative tolerance ``rel_tol``, 1%).
- ``manifest``: ``{field: value}`` of the run manifest (from a manifest file or a run log).
- ``paper_count``; ``papers``: ``[{"title", "arxiv_id", "doi", "first_author", "year", "published",
  "abstract_startswith", "url"}]`` matched to the parsed papers by arXiv id, DOI or title, in order.
- ``model_name``: the card's model; ``model_names``: the set of models the card produces (the card's name plus
  each fact's subject, or the record's ``models`` when it has them); ``model_names_absent``.
- ``facts``: ``[{"name", "value" | "text", "subject", "rel_tol"}]``; with ``facts_complete`` true the list is
  every fact the card states, so unmatched extracted facts count against precision.
- ``forbidden_facts``: ``[{"name", "value", "subject"?}]``: silently wrong numbers that must not be extracted.

Run ``python -m tests.corpus.score`` for the table and one ``RESULT`` line; ``test_corpus.py`` holds the floors.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestion.parsers import archive
from ingestion.parsers.dispatch import parse_document
from ingestion.parsers.records import FactRecord, ParsedDocument, ParseError

CORPUS = Path(__file__).resolve().parent
SUFFIX = ".expected.json"
DEFAULT_REL_TOL = 0.01
# Facts scored for precision: a card's numbers a researcher would read off it.
SCORED_FACTS = frozenset(
    {
        "parameters",
        "active_parameters",
        "training_tokens",
        "gpu_hours",
        "co2_tonnes",
        "co2_tonnes_market_based",
        "tdp_watts",
        "context_length",
        "release_date",
    }
)


@dataclass
class CaseScore:
    path: str
    verdict: str = "PASS"  # PASS | PARTIAL | FAIL | SKIP
    checks: int = 0
    failed: list[str] = field(default_factory=list)
    fact_tp: int = 0
    fact_fp: int = 0
    fact_fn: int = 0
    format_ok: bool | None = None

    def check(self, ok: bool, reason: str) -> bool:
        self.checks += 1
        if not ok:
            self.failed.append(reason)
        return ok


@dataclass
class Parsed:
    documents: list[tuple[str, ParsedDocument]] = field(default_factory=list)
    errors: list[tuple[str, ParseError]] = field(default_factory=list)


def _close(a: float | None, b: float | None, rel_tol: float) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-12)


def _members(target: Path) -> Iterator[tuple[str, bytes]]:
    if target.is_dir():
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            yield str(path.relative_to(target.parent)), path.read_bytes()
        return
    data = target.read_bytes()
    if archive.is_archive(target.name, data):
        yield from archive.iter_archive_members(target.name, data)
        return
    yield target.name, data


def parse_target(target: Path) -> Parsed:
    parsed = Parsed()
    for name, data in _members(target):
        try:
            parsed.documents.append((name, parse_document(name, data)))
        except ParseError as exc:
            parsed.errors.append((name, exc))
    return parsed


def _series(parsed: Parsed) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _, doc in parsed.documents:
        if doc.run_log is not None:
            for rec in doc.run_log.series:
                out[rec.name if not rec.run else f"{rec.run}/{rec.name}"] = rec
    return out


def _check_series(score: CaseScore, parsed: Parsed, expected: dict[str, Any]) -> None:
    got = _series(parsed)
    tol = float(expected.get("rel_tol", 1e-6))
    for name, want in expected.get("series", {}).items():
        rec = got.get(name)
        if not score.check(rec is not None, f"series {name!r} missing (got {sorted(got)[:12]})"):
            continue
        if "count" in want:
            score.check(
                len(rec.steps) == want["count"], f"{name}: {len(rec.steps)} points, want {want['count']}"
            )
        for key, idx in (("first", 0), ("last", -1)):
            if key in want and rec.steps:
                step, value = want[key]
                ok = rec.steps[idx] == step and _close(rec.values[idx], value, tol)
                score.check(
                    ok, f"{name}: {key} point ({rec.steps[idx]}, {rec.values[idx]}), want ({step}, {value})"
                )
        for key, fn in (("min", min), ("max", max)):
            if key in want and rec.values:
                finite = [v for v in rec.values if not math.isnan(v)]
                got_v = fn(finite) if finite else None
                score.check(_close(got_v, want[key], tol), f"{name}: {key} {got_v}, want {want[key]}")
    if expected.get("series_exact"):
        extra = sorted(set(got) - set(expected.get("series", {})))
        score.check(not extra, f"unexpected series {extra[:10]}")
    present = sorted(set(expected.get("series_absent", [])) & set(got))
    if "series_absent" in expected:
        score.check(not present, f"junk series present: {present}")


def _check_power(score: CaseScore, parsed: Parsed, expected: dict[str, Any]) -> None:
    want = expected["power"]
    power = next((d.run_log.power for _, d in parsed.documents if d.run_log and d.run_log.power), None)
    if not score.check(power is not None, "no power summary"):
        return
    tol = float(want.get("rel_tol", DEFAULT_REL_TOL))
    for key, value in want.items():
        if key != "rel_tol":
            got = getattr(power, key)
            score.check(_close(float(got), float(value), tol), f"power {key} {got}, want {value}")


def _check_manifest(score: CaseScore, parsed: Parsed, expected: dict[str, Any]) -> None:
    found = (d.manifest or (d.run_log.manifest if d.run_log else None) for _, d in parsed.documents)
    manifest = next((m for m in found if m is not None), None)
    if not score.check(manifest is not None, "no manifest"):
        return
    for key, value in expected["manifest"].items():
        got = getattr(manifest, key, None)
        ok = _close(got, float(value), DEFAULT_REL_TOL) if isinstance(value, int | float) else got == value
        score.check(ok, f"manifest {key} {got!r}, want {value!r}")


def _check_papers(score: CaseScore, parsed: Parsed, expected: dict[str, Any]) -> None:
    papers = [p for _, d in parsed.documents for p in d.papers]
    if "paper_count" in expected:
        score.check(
            len(papers) == expected["paper_count"], f"{len(papers)} papers, want {expected['paper_count']}"
        )
    for i, want in enumerate(expected.get("papers", [])):
        match = None
        for p in papers:
            if (want.get("arxiv_id") and p.arxiv_id == want["arxiv_id"]) or (
                want.get("doi") and (p.doi or "").lower() == want["doi"].lower()
            ):
                match = p
                break
        if match is None and "title" in want:
            match = next((p for p in papers if p.title == want["title"]), None)
        if match is None and i < len(papers) and "arxiv_id" not in want and "doi" not in want:
            match = papers[i]
        label = want.get("arxiv_id") or want.get("doi") or want.get("title", f"#{i}")
        if not score.check(match is not None, f"paper {label!r} not found"):
            continue
        for key in ("title", "arxiv_id", "doi", "url"):
            if key in want:
                score.check(
                    getattr(match, key) == want[key],
                    f"paper {label}: {key} {getattr(match, key)!r}, want {want[key]!r}",
                )
        if "first_author" in want:
            first = match.authors[0] if match.authors else None
            score.check(
                first == want["first_author"],
                f"paper {label}: first author {first!r}, want {want['first_author']!r}",
            )
        if "year" in want:
            year = match.published.year if match.published else None
            score.check(year == want["year"], f"paper {label}: year {year}, want {want['year']}")
        if "published" in want:
            got = match.published.isoformat() if match.published else None
            score.check(got == want["published"], f"paper {label}: published {got}, want {want['published']}")
        if "abstract_startswith" in want:
            score.check(
                match.abstract.startswith(want["abstract_startswith"]),
                f"paper {label}: abstract starts {match.abstract[:60]!r}",
            )


def _fact_value(fact: FactRecord) -> float | str | None:
    return fact.value if fact.value is not None else (fact.text_value or None)


def _fact_matches(
    fact: FactRecord, want: dict[str, Any], default_subject: str, *, any_subject: bool = False
) -> bool:
    if fact.name != want["name"]:
        return False
    # An expected fact without "subject" is about the card's own model (not "any model": a comparison row
    # with the same number must not stand in for it); a forbidden one without "subject" is wrong for any.
    if ("subject" in want or not any_subject) and (fact.subject or default_subject) != want.get(
        "subject", default_subject
    ):
        return False
    if "text" in want:
        return fact.text_value == want["text"]
    return fact.value is not None and _close(
        fact.value, float(want["value"]), float(want.get("rel_tol", DEFAULT_REL_TOL))
    )


def _check_card(score: CaseScore, parsed: Parsed, expected: dict[str, Any]) -> None:
    card = next((d.model_card for _, d in parsed.documents if d.model_card is not None), None)
    if not score.check(card is not None, "no model card parsed"):
        return
    if "model_name" in expected:
        score.check(
            card.name == expected["model_name"], f"model name {card.name!r}, want {expected['model_name']!r}"
        )
    produced = set(
        getattr(card, "models", None) or [card.name, *(f.subject for f in card.facts if f.subject)]
    )
    if "model_names" in expected:
        want = set(expected["model_names"])
        score.check(produced == want, f"models {sorted(produced)}, want {sorted(want)}")
    bad = sorted(produced & set(expected.get("model_names_absent", [])))
    if "model_names_absent" in expected:
        score.check(not bad, f"junk models {bad}")
    facts = list(card.facts)
    matched: set[int] = set()
    for want in expected.get("facts", []):
        hit = next(
            (i for i, f in enumerate(facts) if i not in matched and _fact_matches(f, want, card.name)), None
        )
        label = f"{want.get('subject', card.name)}:{want['name']}={want.get('value', want.get('text'))}"
        if score.check(hit is not None, f"fact {label} missing"):
            matched.add(hit)  # type: ignore[arg-type]
            score.fact_tp += 1
        else:
            score.fact_fn += 1
    if expected.get("facts_complete"):
        names = SCORED_FACTS | {w["name"] for w in expected.get("facts", [])}
        extra = [f for i, f in enumerate(facts) if i not in matched and f.name in names]
        score.fact_fp += len(extra)
        for f in extra[:5]:
            score.failed.append(
                f"extra fact {(f.subject or card.name)}:{f.name}={_fact_value(f)} (line {f.line})"
            )
    for want in expected.get("forbidden_facts", []):
        bad_hit = next((f for f in facts if _fact_matches(f, want, card.name, any_subject=True)), None)
        score.check(
            bad_hit is None, f"silently wrong fact {want['name']}={want.get('value', want.get('text'))}"
        )


def score_case(target: Path, expected: dict[str, Any], root: Path = CORPUS) -> CaseScore:
    # Named from the corpus root when the file lives in it (runlogs/x.log), else from the scored folder.
    resolved = target.resolve()
    base = next((b for b in (CORPUS, root.resolve()) if resolved.is_relative_to(b)), None)
    score = CaseScore(path=str(resolved.relative_to(base)) if base else str(target))
    if not target.exists():
        score.verdict = "SKIP"
        return score
    parsed = parse_target(target)
    if expected.get("refused"):
        refused = not parsed.documents and bool(parsed.errors)
        score.format_ok = refused
        if score.check(refused, "was accepted, must be refused"):
            message = " ".join(str(e) for _, e in parsed.errors)
            for part in expected.get("refusal_contains", []):
                score.check(part in message, f"refusal lacks {part!r}: {message[:200]}")
        score.verdict = "PASS" if not score.failed else "FAIL"
        return score
    if parsed.errors and not parsed.documents:
        score.format_ok = False
        score.failed.append(f"refused: {parsed.errors[0][1]}")
        score.verdict = "FAIL"
        return score
    for name, exc in parsed.errors:
        score.check(False, f"member {name} refused: {exc}")
    if "format" in expected:
        fmts = {d.fmt for _, d in parsed.documents}
        score.format_ok = score.check(
            expected["format"] in fmts, f"format {sorted(fmts)}, want {expected['format']}"
        )
    if "kind" in expected:
        kinds = {d.kind for _, d in parsed.documents}
        score.check(expected["kind"] in kinds, f"kind {sorted(kinds)}, want {expected['kind']}")
    if {"series", "series_absent", "series_exact"} & set(expected):
        _check_series(score, parsed, expected)
    if "power" in expected:
        _check_power(score, parsed, expected)
    if "manifest" in expected:
        _check_manifest(score, parsed, expected)
    if {"papers", "paper_count"} & set(expected):
        _check_papers(score, parsed, expected)
    if {"model_name", "model_names", "facts", "forbidden_facts", "model_names_absent"} & set(expected):
        _check_card(score, parsed, expected)
    if score.failed:
        passed = score.checks - len([f for f in score.failed if not f.startswith("extra fact")])
        score.verdict = "FAIL" if score.format_ok is False or passed <= 0 else "PARTIAL"
    elif score.fact_fp:
        score.verdict = "PARTIAL"
    return score


def iter_cases(root: Path = CORPUS) -> Iterator[tuple[Path, dict[str, Any]]]:
    for spec in sorted(root.rglob(f"*{SUFFIX}")):
        target = spec.with_name(spec.name[: -len(SUFFIX)])
        yield target, json.loads(spec.read_text(encoding="utf-8"))


@dataclass
class Summary:
    cases: list[CaseScore]

    @property
    def scored(self) -> list[CaseScore]:
        return [c for c in self.cases if c.verdict != "SKIP"]

    def rate(self, verdict: str) -> float:
        scored = self.scored
        return sum(c.verdict == verdict for c in scored) / len(scored) if scored else 0.0

    @property
    def fact_precision(self) -> float:
        tp = sum(c.fact_tp for c in self.cases)
        fp = sum(c.fact_fp for c in self.cases)
        return tp / (tp + fp) if tp + fp else 1.0

    @property
    def fact_recall(self) -> float:
        tp = sum(c.fact_tp for c in self.cases)
        fn = sum(c.fact_fn for c in self.cases)
        return tp / (tp + fn) if tp + fn else 1.0

    @property
    def detection(self) -> float:
        judged = [c for c in self.scored if c.format_ok is not None]
        return sum(bool(c.format_ok) for c in judged) / len(judged) if judged else 1.0


def score_corpus(root: Path = CORPUS) -> Summary:
    return Summary([score_case(target, expected, root) for target, expected in iter_cases(root)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", type=Path, default=CORPUS, help="a corpus folder (e.g. a held-out set)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="every failed check, not the first three"
    )
    args = parser.parse_args(argv)
    summary = score_corpus(args.root)
    for case in summary.cases:
        reasons = case.failed if args.verbose else case.failed[:3]
        print(f"{case.verdict:8} {case.path}" + (f"  -- {'; '.join(reasons)}" if reasons else ""))
    scored = summary.scored
    print(
        f"\n{len(scored)} scored, {len(summary.cases) - len(scored)} skipped: "
        f"{summary.rate('PASS'):.1%} PASS, {summary.rate('PARTIAL'):.1%} PARTIAL, {summary.rate('FAIL'):.1%} FAIL"
    )
    print(
        f"RESULT files={len(scored)} pass_rate={summary.rate('PASS'):.4f} detection={summary.detection:.4f} "
        f"fact_precision={summary.fact_precision:.4f} fact_recall={summary.fact_recall:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
