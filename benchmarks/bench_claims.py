"""Not a test (pytest does not collect it): times parse_article on a 100 KB article (target: under 1 s).

The article is the fixture articles (English, Korean, Chinese, Japanese; Markdown and text) repeated to
100 KB, as Markdown; the same content as HTML is timed too. Baseline in the same run: a plain regex scan of
the same text for numbers with a magnitude (no subjects, no quantities), i.e. the floor any extractor pays.

Run: .venv/bin/python benchmarks/bench_claims.py [--kb 100] [--repeats 7]
"""

from __future__ import annotations

import argparse
import html
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingestion.parsers.article import parse_article  # noqa: E402
from ingestion.parsers.claims import extract_claims  # noqa: E402

ARTICLES = ROOT / "tests" / "fixtures" / "articles"
BASELINE_RE = re.compile(
    r"\d[\d,]*(?:\.\d+)?\s*(?:[KMBT]\b|thousand|million|billion|trillion|만|억|조|万|亿|億|兆)?",
    re.IGNORECASE,
)


def build_markdown(kb: int) -> str:
    parts = [
        p.read_text(encoding="utf-8")
        for p in sorted(ARTICLES.iterdir())
        if p.suffix in (".md", ".txt") and p.name != "README.md"
    ]
    chunk = "\n\n".join(parts)
    text = ""
    while len(text.encode()) < kb * 1024:
        text += chunk + "\n\n"
    return text


def as_html(markdown: str) -> str:
    body = []
    for line in markdown.split("\n"):
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            body.append(f"<h{len(m.group(1))}>{html.escape(m.group(2))}</h{len(m.group(1))}>")
        elif line.lstrip().startswith("- "):
            body.append(f"<ul><li>{html.escape(line.lstrip()[2:])}</li></ul>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    return (
        "<!doctype html><html><head><title>bench</title></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>"
    )


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """Median wall-clock and CPU seconds (the CPU figure does not move with other load on the machine)."""
    wall, cpu = [], []
    result: object = None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kb", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    markdown = build_markdown(args.kb)
    data = markdown.encode()
    html_data = as_html(markdown).encode()
    print(
        f"article: {len(data) / 1024:.0f} KB Markdown, {len(html_data) / 1024:.0f} KB as HTML, {markdown.count(chr(10))} lines"
    )

    baseline_s, _, matches = timed(lambda: BASELINE_RE.findall(markdown), args.repeats)
    parse_s, parse_cpu, record = timed(lambda: parse_article("big.md", data), args.repeats)
    claims_s, _, _ = timed(lambda: extract_claims(markdown), args.repeats)
    html_s, html_cpu, html_record = timed(lambda: parse_article("big.html", html_data), args.repeats)
    claims = len(record.claims)  # type: ignore[attr-defined]
    ratio = parse_s / baseline_s if baseline_s else float("inf")
    print(f"baseline regex scan:        {baseline_s * 1e3:8.1f} ms  ({len(matches)} numbers)")  # type: ignore[arg-type]
    print(f"extract_claims (text only): {claims_s * 1e3:8.1f} ms")
    print(
        f"parse_article Markdown:     {parse_s * 1e3:8.1f} ms  (CPU {parse_cpu * 1e3:.1f} ms; {claims} claims, "
        f"{ratio:.0f}x the regex scan)"
    )
    html_claims = len(html_record.claims)  # type: ignore[attr-defined]
    print(
        f"parse_article HTML:         {html_s * 1e3:8.1f} ms  (CPU {html_cpu * 1e3:.1f} ms; {html_claims} claims)"
    )
    print(
        f"median of {args.repeats} runs each; target: 100 KB under 1 s; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"RESULT parse_{args.kb}kb_s={parse_s:.3f} cpu_s={parse_cpu:.3f} claims={claims} "
        f"html_{args.kb}kb_s={html_s:.3f} baseline_regex_s={baseline_s:.4f} ratio={ratio:.0f}"
    )


if __name__ == "__main__":
    main()
