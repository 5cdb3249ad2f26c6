"""Cost of `run.log()` in the training loop's thread, and sustained points/s into the fake server.

1. Per-call cost: `calls` log() calls of `metrics` values each, every call timed with perf_counter_ns, against a
   baseline of appending the same dict to a list, timed the same way in the same process (the timer's own
   cost is in both). The run is online against the fake server, so the sender thread's batching, JSON and
   HTTP work competes with the caller for the GIL exactly as in training.
2. Throughput: `throughput_calls` log() calls as fast as possible, then finish(); points acknowledged by the
   server divided by the time from the first log() to the end of finish().

The fake server (clients/python/tests/fake_server.py) runs in its own process and counts points instead of
keeping them. The end-to-end into PostgreSQL and the MLflow comparison come once the server lands.

    /tmp/sdk-venv/bin/python benchmarks/bench_sdk_log.py [--calls 1000000] [--metrics 4]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients/python/src"))

import isoflop  # noqa: E402

TOKEN = "test-token"


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "clients/python/tests/fake_server.py"), "--count-only"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        raise SystemExit(f"fake server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000.0


def time_calls(fn: object, calls: int, n_metrics: int) -> list[int]:
    """Per-call nanoseconds of fn(metrics, step) with a fresh dict per call, built outside the timed region."""
    clock = time.perf_counter_ns
    call = fn
    names = [f"metric_{k}" for k in range(n_metrics)]
    out = [0] * calls
    for i in range(calls):
        metrics = {name: i * 0.5 for name in names}
        t0 = clock()
        call(metrics, i)  # type: ignore[operator]
        out[i] = clock() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--metrics", type=int, default=4)
    parser.add_argument("--throughput-calls", type=int, default=500_000)
    args = parser.parse_args()

    proc, url = start_server()
    try:
        sink: list[object] = []

        def baseline(metrics: dict[str, float], step: int) -> None:
            sink.append(metrics)

        gc.collect()
        base = sorted(time_calls(baseline, args.calls, args.metrics))
        sink.clear()

        run = isoflop.init(team="team-a", name="bench-latency", base_url=url, token=TOKEN)
        gc.collect()
        started = time.perf_counter()
        logged = sorted(time_calls(run.log, args.calls, args.metrics))
        loop_s = time.perf_counter() - started
        t0 = time.perf_counter()
        run.finish()
        finish_s = time.perf_counter() - t0
        stats = run.stats()
        assert stats["points_sent"] == args.calls * args.metrics, stats

        print(f"per-call cost over {args.calls:,} calls x {args.metrics} metrics (us, caller's thread):")
        print("                        p50     p90     p99   p99.9     max    mean")
        for label, ns in (("list.append(dict)", base), ("run.log(dict, step)", logged)):
            print(
                f"  {label:<20} {percentile(ns, 0.5):6.2f}  {percentile(ns, 0.9):6.2f}  {percentile(ns, 0.99):6.2f}"
                f"  {percentile(ns, 0.999):6.2f}  {ns[-1] / 1000:6.0f}  {statistics.fmean(ns) / 1000:6.2f}"
            )
        print(
            f"  the logging loop took {loop_s:.2f} s; finish() then waited {finish_s:.2f} s; "
            f"{stats['batches']} requests, {stats['retries']} retries"
        )

        n = args.throughput_calls
        names = [f"metric_{k}" for k in range(args.metrics)]
        run = isoflop.init(team="team-a", name="bench-throughput", base_url=url, token=TOKEN)
        started = time.perf_counter()
        for i in range(n):
            run.log({name: i * 0.5 for name in names}, step=i)
        run.finish()
        elapsed = time.perf_counter() - started
        acked = run.stats()["points_sent"]
        served = sum(s["n_points"] for s in isoflop.Client(url, TOKEN).get_run(run.id or 0).get("series", []))
        assert acked == served == n * args.metrics, (acked, served)
        rate = served / elapsed
        print(f"throughput: {served:,} points acknowledged in {elapsed:.2f} s = {rate:,.0f} points/s")

        p50, p99 = percentile(logged, 0.5), percentile(logged, 0.99)
        print(
            f"RESULT log_call_us_p50={p50:.2f} log_call_us_p99={p99:.2f} fake_server_points_per_s={rate:.0f} "
            f"baseline_append_us_p50={percentile(base, 0.5):.2f} baseline_append_us_p99={percentile(base, 0.99):.2f}"
        )
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
