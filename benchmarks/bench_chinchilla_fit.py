"""Chinchilla Approach 3 on the 182 datablations runs: batched analytic-gradient fit vs the plain scipy loop.

Baseline: `scipy.optimize.minimize(objective, start, method="L-BFGS-B")` (finite-difference gradients) for
each of the 4,500 published starts, keeping the best. On a 2-core machine that takes over an hour, so by
default the baseline is timed on a random subset of starts and extrapolated linearly to 4,500 (said in the
output); the optimum is compared with the best baseline end point, restarted with the same method until it
stops improving (the default ftol leaves it ~1e-9 relative short of the optimum).
`--full-baseline` runs every start.

    .venv/bin/python benchmarks/bench_chinchilla_fit.py [--baseline-starts 60] [--full-baseline]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.fitting.chinchilla import ChinchillaApproach3, chinchilla_grid, objective, polish  # noqa: E402


def load() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with open(ROOT / "data/reference/datablations_c4_runs_parametric_fit.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    n = np.array([float(r["N_params"]) for r in rows])
    d = np.array([float(r["D_tokens_total"]) for r in rows])
    loss = np.array([float(r["val_loss"]) for r in rows])
    return n, d, loss


def baseline_from(
    start: np.ndarray, ln: np.ndarray, ld: np.ndarray, ll: np.ndarray
) -> tuple[float, np.ndarray]:
    res = minimize(objective, start, args=(ln, ld, ll), method="L-BFGS-B")
    return float(res.fun), res.x


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline-starts", type=int, default=60)
    parser.add_argument("--full-baseline", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    n, d, loss = load()
    ln, ld, ll = np.log(n), np.log(d), np.log(loss)
    grid = chinchilla_grid()
    print(f"data: datablations_c4_runs_parametric_fit.csv, {n.size} points; grid: {grid.shape[0]} starts")

    t0 = time.perf_counter()
    est = ChinchillaApproach3().fit(n, d, loss)
    fast_s = time.perf_counter() - t0
    print(f"fast (batched L-BFGS screen + polish): {fast_s:.2f} s, objective {est.objective_:.15e}")
    print(f"  params {est.params_.to_dict()}")

    if args.full_baseline:
        idx = np.arange(grid.shape[0])
    else:
        rng = np.random.default_rng(args.seed)
        idx = rng.choice(grid.shape[0], size=args.baseline_starts, replace=False)
    t0 = time.perf_counter()
    sub_best, sub_x = float("inf"), grid[0]
    for i in idx:
        f, x = baseline_from(grid[i], ln, ld, ll)
        if f < sub_best:
            sub_best, sub_x = f, x
    sub_s = time.perf_counter() - t0
    per_start = sub_s / idx.size
    baseline_s = per_start * grid.shape[0]
    label = "measured" if args.full_baseline else f"extrapolated from {idx.size} random starts"
    print(f"baseline (scipy L-BFGS-B, finite differences): {sub_s:.2f} s for {idx.size} starts")
    print(f"  {per_start:.3f} s/start -> {baseline_s:.1f} s for 4,500 starts ({label})")
    print(f"  best objective over the timed starts: {sub_best:.15e}")

    # The finite-difference baseline stops at scipy's default ftol (2.2e-9 relative), so its best value sits
    # slightly above the optimum; restarting it from its own end point (same method) shows where it converges.
    f_ref, x_ref = sub_best, sub_x
    for _ in range(10):
        f_new, x_new = baseline_from(x_ref, ln, ld, ll)
        if f_new >= f_ref:
            break
        f_ref, x_ref = f_new, x_new
    rel_raw = (est.objective_ - sub_best) / sub_best
    rel = (est.objective_ - f_ref) / f_ref
    print(f"relative objective difference vs best timed baseline start: {rel_raw:+.3e}")
    print(f"baseline restarted from its own best end point until no improvement: {f_ref:.15e}")
    print(f"relative objective difference vs restarted baseline: {rel:+.3e}")
    print(
        f"max |param difference| vs restarted baseline: {np.max(np.abs(est.params_.as_array() - x_ref)):.3e}"
    )
    # Same basin, same optimum: the baseline's end point polished with the analytic gradient lands on ours.
    x_pol, f_pol = polish(sub_x, ln, ld, ll)
    print(f"baseline best end point polished with the analytic gradient: {f_pol:.15e}")
    print(f"  relative difference vs fast: {(est.objective_ - f_pol) / f_pol:+.3e}")
    print(f"  max |param difference| vs fast: {np.max(np.abs(est.params_.as_array() - x_pol)):.3e}")
    ratio = fast_s / baseline_s
    print(f"time ratio fast / baseline: {ratio:.4f}  (target <= 0.25)")
    # One-sided: the fast fit may be lower than the finite-difference baseline (which stops ~2e-9 short), never
    # higher by more than 1e-9 relative.
    ok = ratio <= 0.25 and rel <= 1e-9 and abs(est.objective_ - f_pol) <= 1e-9 * f_pol
    print("RESULT:", "PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
