"""MLflow's client logging the SDK benchmark's points (run by `bench_sdk_ingest.py --mlflow`, in a Python that
has `mlflow` installed; not imported by the app).

The same loop as the Isoflop side: `--metrics` metrics per step, values `step * 0.001 + k`. Two ways, MLflow's
best for each use:
- `--api async` (default, what a training loop calls): `mlflow.log_metrics(..., step=..., synchronous=False)`
  per step (MLflow batches these in a background thread), then `mlflow.end_run()`, which waits until every
  point is stored;
- `--api batch` (bulk import): `MlflowClient.log_batch` with the server's maximum of 1,000 metrics per call.
Prints one line `MLFLOW api=<api> points=<n> seconds=<s> stored=<n>`; `stored` is counted back from the
tracking server.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", required=True)
    parser.add_argument("--points", type=int, required=True)
    parser.add_argument("--metrics", type=int, default=4)
    parser.add_argument("--api", choices=["async", "batch"], default="async")
    args = parser.parse_args()
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(args.uri)
    mlflow.set_experiment("isoflop-bench")
    names = [f"metric_{k}" for k in range(args.metrics)]
    calls = args.points // args.metrics
    run = mlflow.start_run(run_name="bench")
    client = MlflowClient(args.uri)
    t0 = time.perf_counter()
    if args.api == "async":
        for step in range(calls):
            metrics = {n: step * 0.001 + k for k, n in enumerate(names)}
            mlflow.log_metrics(metrics, step=step, synchronous=False)
    else:
        pending: list[Metric] = []
        for step in range(calls):
            now = int(time.time() * 1000)
            pending.extend(Metric(n, step * 0.001 + k, now, step) for k, n in enumerate(names))
            if len(pending) >= 1000:
                client.log_batch(run.info.run_id, metrics=pending[:1000])
                pending = pending[1000:]
        if pending:
            client.log_batch(run.info.run_id, metrics=pending)
    mlflow.end_run()
    seconds = time.perf_counter() - t0
    stored = sum(len(client.get_metric_history(run.info.run_id, n)) for n in names)
    print(
        f"MLFLOW api={args.api} points={calls * args.metrics} seconds={seconds:.3f} stored={stored}",
        flush=True,
    )


if __name__ == "__main__":
    main()
