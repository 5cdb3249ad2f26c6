"""Plausibility warnings for fitted scaling laws (pure): structured {code, message, severity}.

A warning says that a fit ran but one of its numbers should not be trusted as is. Each check is a pure
function returning a list (empty when the check passes), so a study kind can combine them and a page can
show them.

Codes:
  tokens_per_parameter   D_opt / N_opt at a budget outside [1, 1000] (Chinchilla: ~20; Hoffmann et al. 2022)
  exponent_out_of_range  a fitted exponent outside the span of published fits (`PUBLISHED`, with sources)
  extrapolation          a prediction at a compute budget far (> 10x) beyond the data's compute range
  repeated_data          runs that repeat data (D > U) in a fit whose law assumes fresh tokens
  too_few_distinct       too few distinct sizes, budgets or points to identify the law
  at_bound               an optimum sitting on a search bound or a grid edge
  wide_interval          an interval spanning more than an order of magnitude
  not_identified         an interval left open by the data (profile never crosses its threshold)
  skipped_budgets        IsoFLOP budgets without a usable optimum, with the reason per budget
  window_sensitive       the IsoFLOP exponent moves more with the window than its own interval is wide
  local_optima           several optima the data cannot tell apart
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from analytics.fitting.intervals import Interval

Severity = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class FitWarning:
    code: str
    message: str
    severity: Severity = "warning"

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "severity": self.severity}


@dataclass(frozen=True)
class PublishedRange:
    """The span of published values of one quantity; a fit outside [low, high] is flagged."""

    low: float
    high: float
    sources: str


# Spans of published fits, widened to a plausible band (values outside are not impossible, but suspicious).
PUBLISHED: dict[str, PublishedRange] = {
    # L = E + A/N^alpha + B/D^beta: Hoffmann et al. 2022 (alpha 0.34, beta 0.28), Besiroglu et al. 2024
    # (Epoch replication: 0.35, 0.37), Muennighoff et al. 2023 (0.353, 0.353).
    "alpha": PublishedRange(
        0.15, 0.6, "alpha 0.34 (Hoffmann 2022), 0.35 (Besiroglu 2024), 0.35 (Muennighoff 2023)"
    ),
    "beta": PublishedRange(
        0.15, 0.6, "beta 0.28 (Hoffmann 2022), 0.37 (Besiroglu 2024), 0.35 (Muennighoff 2023)"
    ),
    # N_opt ~ C^a: 0.46-0.50 (Hoffmann 2022 approaches 1-3), 0.497 (Porian 2024 corrected), 0.524 (DeepSeek
    # LLM 2024), 0.73 (Kaplan 2020).
    "a": PublishedRange(
        0.4, 0.8, "a 0.46-0.50 (Hoffmann 2022), 0.50 (Porian 2024), 0.52 (DeepSeek 2024), 0.73 (Kaplan 2020)"
    ),
    # Kaplan et al. 2020 joint law L(N, D): alpha_N 0.076, alpha_D 0.095 (0.103 in the joint fit).
    "alpha_N": PublishedRange(0.03, 0.2, "alpha_N 0.076 (Kaplan 2020)"),
    "alpha_D": PublishedRange(0.03, 0.25, "alpha_D 0.095, 0.103 joint (Kaplan 2020)"),
    # Single-variable L = c + k x^-a: with an offset the N/D exponents are Chinchilla-like (~0.3); without an
    # offset Kaplan's 0.05-0.1; the compute exponent is alpha*beta/(alpha+beta) ~ 0.15.
    "power_law": PublishedRange(
        0.03, 1.0, "0.05-0.1 without offset (Kaplan 2020), ~0.3 with (Hoffmann 2022)"
    ),
    # Data-constrained half-lives: R_D* 15.4 (Muennighoff 2023), ~15 AR vs ~500 diffusion (Prabhudesai 2025);
    # R_N* 5.3 (Muennighoff 2023).
    "rd_star": PublishedRange(
        1.0, 5000.0, "R_D* 15.4 (Muennighoff 2023); ~15 AR, ~500 diffusion (Prabhudesai 2025)"
    ),
    "rn_star": PublishedRange(0.5, 5000.0, "R_N* 5.3 (Muennighoff 2023)"),
    # Training compute of notable models: ~4-5x/year since 2010 (Sevilla et al. 2022: doubling 5.7 months in
    # the deep-learning era, ~10 months for large-scale models; Epoch 2024: 4-5x/year).
    "growth_per_year": PublishedRange(
        1.5, 10.0, "4.2x/year, doubling 5.7 months (Sevilla 2022); 4-5x/year (Epoch 2024)"
    ),
}

TOKENS_PER_PARAMETER = (1.0, 1000.0)
EXTRAPOLATION_FACTOR = 10.0


def check_tokens_per_parameter(
    n_opt: float, d_opt: float, *, compute: float, bounds: tuple[float, float] = TOKENS_PER_PARAMETER
) -> list[FitWarning]:
    ratio = d_opt / n_opt
    lo, hi = bounds
    if math.isfinite(ratio) and lo <= ratio <= hi:
        return []
    return [
        FitWarning(
            "tokens_per_parameter",
            f"the optimum at {compute:.3g} FLOPs has {ratio:.3g} tokens per parameter, "
            f"outside [{lo:g}, {hi:g}] (Chinchilla: ~20, Hoffmann et al. 2022); check the runs "
            f"(repeated data, mislabelled N or D) before planning with it",
        )
    ]


def check_exponent(name: str, value: float, *, key: str | None = None) -> list[FitWarning]:
    rng = PUBLISHED[key or name]
    if math.isfinite(value) and rng.low <= value <= rng.high:
        return []
    return [
        FitWarning(
            "exponent_out_of_range",
            f"{name} = {value:.4g} is outside the plausible range [{rng.low:g}, {rng.high:g}] around "
            f"published fits: {rng.sources}",
        )
    ]


def check_extrapolation(
    target_compute: float, data_compute: ArrayLike, *, factor: float = EXTRAPOLATION_FACTOR
) -> list[FitWarning]:
    c = np.asarray(data_compute, dtype=np.float64)
    c = c[np.isfinite(c) & (c > 0)]
    if c.size == 0 or not math.isfinite(target_compute):
        return []
    lo, hi = float(c.min()), float(c.max())
    if target_compute > hi * factor:
        return [
            FitWarning(
                "extrapolation",
                f"{target_compute:.3g} FLOPs is {target_compute / hi:.3g}x the largest compute in the data "
                f"({hi:.3g}); beyond {factor:g}x the fitted law is an extrapolation",
            )
        ]
    if target_compute < lo / factor:
        return [
            FitWarning(
                "extrapolation",
                f"{target_compute:.3g} FLOPs is {lo / target_compute:.3g}x below the smallest compute in the "
                f"data ({lo:.3g})",
                "info",
            )
        ]
    return []


def check_repeated_data(
    d: ArrayLike, u: ArrayLike, *, rtol: float = 1e-9, excluded: bool = False
) -> list[FitWarning]:
    d_ = np.asarray(d, dtype=np.float64)
    u_ = np.asarray(u, dtype=np.float64)
    rep = np.flatnonzero(d_ > u_ * (1 + rtol))
    if rep.size == 0:
        return []
    epochs = float(np.max(d_[rep] / u_[rep]))
    if excluded:
        return [
            FitWarning(
                "repeated_data",
                f"{rep.size} run(s) repeat data (D > U, up to {epochs:.3g} epochs); they were left out of "
                f"this fit, whose law assumes every token is fresh",
                "info",
            )
        ]
    return [
        FitWarning(
            "repeated_data",
            f"{rep.size} of {d_.size} runs repeat data (D > U, up to {epochs:.3g} epochs) but the law counts "
            f"every token as fresh: repeated tokens are worth less (Muennighoff et al. 2023), which biases "
            f"the data exponent and the compute-optimal allocation; fit single-epoch runs only, or use the "
            f"data-constrained law",
        )
    ]


def check_distinct(name: str, values: ArrayLike, minimum: int, *, what: str) -> list[FitWarning]:
    distinct = int(np.unique(np.asarray(values, dtype=np.float64)).size)
    if distinct >= minimum:
        return []
    return [
        FitWarning(
            "too_few_distinct",
            f"{what}: only {distinct} distinct {name} (at least {minimum} recommended to identify it and "
            f"check the fit)",
        )
    ]


def check_at_bound(
    name: str, value: float, low: float, high: float, *, rtol: float = 1e-3
) -> list[FitWarning]:
    span = abs(high - low) if math.isfinite(high - low) else max(abs(low), abs(high), 1.0)
    if not math.isfinite(value) or value <= low + rtol * span or value >= high - rtol * span:
        return [
            FitWarning(
                "at_bound",
                f"{name} = {value:.4g} sits on the edge of its search range [{low:.4g}, {high:.4g}]: the "
                f"optimum may lie outside",
            )
        ]
    return []


def check_interval(name: str, interval: Interval, *, max_orders: float = 1.0) -> list[FitWarning]:
    if not interval.bounded:
        side = (
            "above and below"
            if not math.isfinite(interval.low) and not math.isfinite(interval.high)
            else ("above" if not math.isfinite(interval.high) else "below")
        )
        return [
            FitWarning(
                "not_identified",
                f"{name} is not identified {side} by these runs: {interval.level:.0%} interval "
                f"[{interval.low:.4g}, {interval.high:.4g}] ({interval.method})",
            )
        ]
    orders = interval.orders_of_magnitude()
    if orders > max_orders and math.isfinite(orders):
        return [
            FitWarning(
                "wide_interval",
                f"{name}: the {interval.level:.0%} interval [{interval.low:.4g}, {interval.high:.4g}] spans "
                f"{orders:.2g} orders of magnitude",
            )
        ]
    return []


def combine(*groups: Iterable[FitWarning]) -> list[FitWarning]:
    """Concatenate, dropping exact duplicates, keeping order."""
    seen: set[tuple[str, str]] = set()
    out: list[FitWarning] = []
    for group in groups:
        for w in group:
            key = (w.code, w.message)
            if key not in seen:
                seen.add(key)
                out.append(w)
    return out


def codes(warnings: Sequence[FitWarning]) -> set[str]:
    return {w.code for w in warnings}
