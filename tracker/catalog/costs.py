"""Training cost, energy and CO2 estimates (pure: numbers in, numbers out; no Django).

cost   = GPU hours x the $/GPU-hour in force on the release date (or a what-if override)
energy = GPU hours x power per GPU (W) x PUE / 1000                      -> kWh
CO2    = energy x grid intensity (kg CO2 / kWh) / 1000                    -> tonnes
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

DEFAULT_PUE = 1.1
DEFAULT_GRID_KG_PER_KWH = 0.4

# Plausible bounds for user-entered what-if values: outside them the input is almost surely a typo.
PUE_RANGE = (1.0, 3.0)
GRID_RANGE = (0.0, 2.0)
PRICE_RANGE = (0.0, 1000.0)

# Emission facts arrive in grams (Hugging Face `co2_eq_emissions`), kilograms or tonnes.
_TONNES_PER_UNIT = {
    "g": 1e-6,
    "gco2eq": 1e-6,
    "kg": 1e-3,
    "kgco2eq": 1e-3,
    "t": 1.0,
    "tco2eq": 1.0,
    "tonnes": 1.0,
    "tco2": 1.0,
}


@dataclass(frozen=True)
class PricePoint:
    usd_per_gpu_hour: float
    valid_from: date
    provider: str = ""


@dataclass(frozen=True)
class CostEstimate:
    usd: float | None
    usd_per_gpu_hour: float | None
    price_basis: str  # human-readable: which price and date were used, or why there is none
    energy_kwh: float | None
    power_watts: float | None
    co2_tonnes: float | None


def price_in_force(prices: Iterable[PricePoint], on: date | None) -> PricePoint | None:
    """The price with the latest valid_from on or before `on`; with no date, the latest price overall.

    Several providers on the same day: the cheapest wins, so the estimate is a lower bound and deterministic.
    """
    candidates = [p for p in prices if on is None or p.valid_from <= on]
    if not candidates:
        return None
    latest = max(p.valid_from for p in candidates)
    return min(
        (p for p in candidates if p.valid_from == latest), key=lambda p: (p.usd_per_gpu_hour, p.provider)
    )


def training_cost_usd(*, gpu_hours: float, usd_per_gpu_hour: float) -> float:
    return gpu_hours * usd_per_gpu_hour


def energy_kwh(*, gpu_hours: float, power_watts: float, pue: float = DEFAULT_PUE) -> float:
    return gpu_hours * power_watts * pue / 1000.0


def co2_tonnes(*, kwh: float, grid_kg_per_kwh: float = DEFAULT_GRID_KG_PER_KWH) -> float:
    return kwh * grid_kg_per_kwh / 1000.0


def emissions_in_tonnes(value: float, unit: str) -> float | None:
    """A reported emission in tonnes CO2eq, or None when the unit is unknown (never guess a scale)."""
    factor = _TONNES_PER_UNIT.get(unit.strip().lower().replace(" ", "").replace("₂", "2"))
    return None if factor is None else value * factor


def parse_bounded(name: str, raw: str, low: float, high: float) -> float:
    """A user-entered number within [low, high]; ValueError naming the parameter and the reason otherwise."""
    try:
        value = float(raw.strip().lstrip("$"))
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name}: {raw!r} is outside {low:g}..{high:g}")
    return value


def estimate(
    *,
    gpu_hours: float | None,
    release_date: date | None,
    prices: Iterable[PricePoint],
    power_watts: float | None,
    what_if_usd_per_gpu_hour: float | None = None,
    pue: float = DEFAULT_PUE,
    grid_kg_per_kwh: float = DEFAULT_GRID_KG_PER_KWH,
) -> CostEstimate:
    """Everything the cost page shows for one model; missing inputs give None plus a reason, never 0."""
    rate: float | None
    if what_if_usd_per_gpu_hour is not None:
        rate, basis = what_if_usd_per_gpu_hour, f"what-if ${what_if_usd_per_gpu_hour:g}/GPU h"
    else:
        price = price_in_force(prices, release_date)
        if price is None:
            rate, basis = None, "no price"
            if release_date is not None:
                basis = f"no price in force on {release_date.isoformat()}"
        else:
            rate = price.usd_per_gpu_hour
            when = release_date.isoformat() if release_date else "latest (release date unknown)"
            provider = f", {price.provider}" if price.provider else ""
            basis = f"${rate:g}/GPU h from {price.valid_from.isoformat()}{provider}; in force on {when}"
    if gpu_hours is None:
        return CostEstimate(None, rate, "no GPU hours known", None, power_watts, None)
    usd = training_cost_usd(gpu_hours=gpu_hours, usd_per_gpu_hour=rate) if rate is not None else None
    kwh = energy_kwh(gpu_hours=gpu_hours, power_watts=power_watts, pue=pue) if power_watts else None
    tonnes = co2_tonnes(kwh=kwh, grid_kg_per_kwh=grid_kg_per_kwh) if kwh is not None else None
    return CostEstimate(usd, rate, basis, kwh, power_watts, tonnes)


# ---- one row per training ---------------------------------------------------------------------------------

SAME_TRAINING_RELATIVE = 1e-6  # GPU hours equal to this: the same reported number, not a coincidence


@dataclass(frozen=True)
class TrainingIdentity:
    """What tells two catalog rows apart as trainings: the model's name key and its training numbers."""

    id: int
    key: str  # tracker.catalog.names.model_key of the model's name
    gpu_hours: float | None
    parameters: float | None = None
    hardware_id: int | None = None


def _same_number(a: float | None, b: float | None, rel: float) -> bool:
    return a is not None and b is not None and abs(a - b) <= rel * max(abs(a), abs(b))


def same_training(a: TrainingIdentity, b: TrainingIdentity) -> bool:
    """One training seen twice: the same model under two spellings (same key), or the same GPU-hours fact
    stored on two entries (equal GPU hours and parameters, hardware not contradicting)."""
    if a.key and a.key == b.key:
        return True
    hardware_agrees = a.hardware_id is None or b.hardware_id is None or a.hardware_id == b.hardware_id
    return (
        _same_number(a.gpu_hours, b.gpu_hours, SAME_TRAINING_RELATIVE)
        and _same_number(a.parameters, b.parameters, 0.02)
        and hardware_agrees
    )


def one_per_training(items: Iterable[TrainingIdentity]) -> dict[int, list[int]]:
    """Kept id -> ids of the rows that are the same training (first in the given order is kept).

    Candidates are looked up by name key and by GPU hours (6 significant digits), so this stays linear.
    """
    kept: dict[int, list[int]] = {}
    heads: dict[int, TrainingIdentity] = {}
    by_key: dict[str, TrainingIdentity] = {}
    by_hours: dict[str, list[TrainingIdentity]] = {}
    for item in items:
        hours = f"{item.gpu_hours:.6g}" if item.gpu_hours is not None else ""
        candidates = [by_key[item.key]] if item.key in by_key else []
        candidates += by_hours.get(hours, []) if hours else []
        head = next((h for h in candidates if same_training(h, item)), None)
        if head is not None:
            kept[head.id].append(item.id)
            continue
        kept[item.id] = []
        heads[item.id] = item
        if item.key:
            by_key.setdefault(item.key, item)
        if hours:
            by_hours.setdefault(hours, []).append(item)
    _family_totals_fold(kept, heads)
    return kept


FAMILY_TOTAL_RELATIVE = 0.01


def _family_totals_fold(kept: dict[int, list[int]], items: dict[int, TrainingIdentity]) -> None:
    """A family's entry whose GPU hours are the sum of its sizes' ("Llama 3.1": 39.3M = 1.46M + 7.0M +
    30.84M, the card's cumulative figure) is those trainings again: it goes with the largest size."""
    heads = sorted((items[i] for i in kept if i in items and items[i].key), key=lambda h: h.key)
    keys = [h.key for h in heads]
    for family in list(heads):
        if family.gpu_hours is None or family.id not in kept:
            continue
        # Keys sorted: the entries whose key extends this one ("llama 3 1" -> "llama 3 1 8 b") are one run.
        prefix = family.key + " "
        lo = bisect.bisect_left(keys, prefix)
        hi = bisect.bisect_left(keys, family.key + "!")  # "!" sorts right after " "
        members = [h for h in heads[lo:hi] if h.id in kept]
        hours = [h.gpu_hours for h in members if h.gpu_hours is not None]
        if len(hours) >= 2 and _same_number(sum(hours), family.gpu_hours, FAMILY_TOTAL_RELATIVE):
            largest = max(members, key=lambda h: h.gpu_hours or 0.0)
            kept[largest.id] += [family.id, *kept.pop(family.id)]
