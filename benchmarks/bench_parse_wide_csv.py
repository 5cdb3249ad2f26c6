"""Not a test (pytest does not collect it): times a 1,000,000-row wide CSV through parse_document.

Run: .venv/bin/python benchmarks/bench_parse_wide_csv.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingestion.parsers.dispatch import parse_document


def main(rows: int = 1_000_000, repeats: int = 5) -> None:
    lines = ["step,loss,lr"] + [f"{i},{2.5 - i * 1e-6:.6f},{3e-4 * (1 - i / rows):.6e}" for i in range(rows)]
    data = ("\n".join(lines) + "\n").encode()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        doc = parse_document("big.csv", data)
        times.append(time.perf_counter() - start)
    assert doc.fmt == "csv_wide" and len(doc.run_log.series[0].steps) == rows
    print(
        f"{rows} rows, {len(data) / 1e6:.1f} MB: median {statistics.median(times):.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s over {repeats} runs"
    )


if __name__ == "__main__":
    main()
