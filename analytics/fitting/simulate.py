"""Synthetic runs generated from published scaling laws, for recovery tests, demos and benchmarks (pure).

Every generator is seeded and returns plain arrays. Noise is multiplicative on the loss (log-normal with
sd `noise`), the way seed-to-seed scatter of a final loss behaves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from analytics.fitting.chinchilla import ChinchillaParams
from analytics.fitting.data_constrained import predict_loss

FloatArray = NDArray[np.float64]

# Hoffmann et al. 2022, Approach 3 (eq. 10, rounded as published): E=1.69, A=406.4, B=410.7, alpha=0.34,
# beta=0.28. Its compute-optimal exponent is a = beta / (alpha + beta) = 0.4516.
HOFFMANN_A3 = ChinchillaParams(a=math.log(406.4), b=math.log(410.7), e=math.log(1.69), alpha=0.34, beta=0.28)
# Muennighoff et al. 2023, base law refitted on C4 (datablations utils/parametric_fit.ipynb).
MUENNIGHOFF_C4 = ChinchillaParams(a=6.255414, b=7.3049974, e=0.6254804, alpha=0.3526596, beta=0.3526596)
# Hoffmann et al. 2022, Figure 3: nine IsoFLOP budgets from 6e18 to 3e21 FLOPs.
CHINCHILLA_BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)


@dataclass(frozen=True)
class IsoflopSweep:
    compute: FloatArray  # each run's own 6 N D (jittered around the nominal budget)
    nominal: FloatArray  # the budget the run was planned for
    n: FloatArray
    d: FloatArray
    loss: FloatArray


def isoflop_sweep(
    law: ChinchillaParams = HOFFMANN_A3,
    budgets: Sequence[float] = CHINCHILLA_BUDGETS,
    *,
    sizes_per_budget: int = 9,
    half_width: float = math.log(6.0),
    centre: Literal["tokens_per_parameter", "optimum"] = "tokens_per_parameter",
    tokens_per_parameter: float = 20.0,
    noise: float = 0.003,
    compute_jitter: float = 0.03,
    replicates: int = 1,
    seed: int = 0,
) -> IsoflopSweep:
    """An IsoFLOP sweep. Per budget, sizes are log-spaced over +-`half_width` (in ln N) around a centre:
    the `tokens_per_parameter` heuristic N = sqrt(C / (6 * tpp)) (how sweeps are planned before the law is
    known) or the law's own optimum. Each run's D = C / (6 N) times a uniform jitter of +-`compute_jitter`
    (rounded steps and batch sizes), so its compute 6 N D differs from the nominal budget; the loss is the
    law at the run's own (N, D) with noise. `replicates` runs (seeds) per size."""
    rng = np.random.default_rng(seed)
    cs, noms, ns, ds, ls = [], [], [], [], []
    for c in budgets:
        if centre == "optimum":
            n_c = float(law.compute_optimal(c)[0])
        else:
            n_c = math.sqrt(c / (6.0 * tokens_per_parameter))
        n = np.repeat(n_c * np.exp(np.linspace(-half_width, half_width, sizes_per_budget)), replicates)
        d = c / (6.0 * n) * np.exp(rng.uniform(-compute_jitter, compute_jitter, n.size))
        loss = law.predict(n, d) * np.exp(rng.normal(0.0, noise, n.size))
        cs.append(6.0 * n * d)
        noms.append(np.full(n.size, c))
        ns.append(n)
        ds.append(d)
        ls.append(loss)
    return IsoflopSweep(*(np.concatenate(x) for x in (cs, noms, ns, ds, ls)))


def loss_surface_runs(
    law: ChinchillaParams = HOFFMANN_A3,
    *,
    n_runs: int = 300,
    n_range: tuple[float, float] = (4e7, 4e9),
    tokens_per_parameter: tuple[float, float] = (2.0, 200.0),
    noise: float = 0.01,
    seed: int = 0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Runs scattered over (N, D/N), log-uniform, with the law's loss times noise: (N, D, loss)."""
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(math.log(n_range[0]), math.log(n_range[1]), n_runs))
    tpp = np.exp(rng.uniform(math.log(tokens_per_parameter[0]), math.log(tokens_per_parameter[1]), n_runs))
    d = n * tpp
    return n, d, law.predict(n, d) * np.exp(rng.normal(0.0, noise, n_runs))


def data_constrained_runs(
    base: ChinchillaParams = MUENNIGHOFF_C4,
    *,
    rd_star: float,
    rn_star: float,
    sizes: Sequence[float] = (1e8, 3e8, 1e9),
    unique: Sequence[float] = (1e8, 1e9, 1e10),
    epochs: Sequence[float] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    noise: float = 0.005,
    seed: int = 0,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Every (N, U, epochs) combination, D = U * epochs, loss from Muennighoff et al.'s data-constrained law
    with the given R_D*, R_N* and noise: (N, D, U, loss)."""
    rng = np.random.default_rng(seed)
    grid = np.array([(n, u, e) for n in sizes for u in unique for e in epochs], dtype=np.float64)
    n, u, ep = grid.T
    d = u * ep
    loss = predict_loss(base, rd_star, rn_star, n, d, u) * np.exp(rng.normal(0.0, noise, n.size))
    return n, d, u, loss
