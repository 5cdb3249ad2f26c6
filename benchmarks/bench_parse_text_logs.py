"""Not a test (pytest does not collect it): times large training stdout logs through parse_document.

Run: .venv/bin/python benchmarks/bench_parse_text_logs.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingestion.parsers.dispatch import parse_document


def _megatron(rows: int) -> bytes:
    line = (
        "[default0]: [2025-08-01 07:19:37] iteration {i:8d}/ {n:8d} | consumed samples: {s:12d} | elapsed time per"
        " iteration (ms): 412.3 | learning rate: 3.000000E-04 | global batch size:   256 | lm loss: {l:.6E} |"
        " loss scale: 1.0 | grad norm: 0.812 | number of skipped iterations:   0 | number of nan iterations:   0 |"
    )
    return "\n".join(
        line.format(i=i, n=rows, s=256 * i, l=2.0 + 1.0 / i) for i in range(1, rows + 1)
    ).encode()


def _hf(rows: int) -> bytes:
    bar = " {p:2d}%|#   | {i}/{n} [00:16<2:14:42,  1.67s/it]"
    out = []
    for i in range(1, rows + 1):
        out.append(bar.format(p=100 * i // rows, i=i, n=rows))
        if i % 10 == 0:
            out.append(
                f"{{'loss': {2.0 + 1.0 / i:.4f}, 'grad_norm': 0.5, 'learning_rate': 1e-05, 'epoch': {i / rows:.2f}}}"
            )
    return "\r".join(out).encode()


def main(repeats: int = 3) -> None:
    for name, data, fmt in (
        ("megatron.log", _megatron(200_000), "megatron"),
        ("train.log", _hf(200_000), "hf_trainer_log"),
    ):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            doc = parse_document(name, data)
            times.append(time.perf_counter() - start)
        assert doc.fmt == fmt
        print(
            f"{name}: {len(data) / 1e6:.1f} MB, median {statistics.median(times):.2f} s over {repeats} runs"
        )
        print(f"RESULT bench={fmt} mb={len(data) / 1e6:.1f} median_s={statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
