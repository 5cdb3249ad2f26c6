"""Training cost, energy and CO2 estimates (pure: numbers in, numbers out; no Django).

cost   = GPU hours x a $/GPU-hour chosen by an explicit price rule (PRICE_RULES) or a what-if override
energy = GPU hours x chip TDP x server multiplier x average power fraction x PUE / 1000   -> kWh
CO2    = energy x grid intensity (kg CO2 / kWh) / 1000                                    -> tonnes

Energy follows Epoch AI's method (EPOCH_ENERGY_SOURCE): the chip's TDP is scaled up to the whole server's
power per chip (CPUs, memory, networking: `server_multiplier`), down to the average draw while training
(`average_power_fraction` of server TDP), and up by the data centre's PUE. DEFAULT_PUE is the one PUE default
for every page (costs, model detail, plan-a-run).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

EPOCH_ENERGY_SOURCE = (
    "Epoch AI: Cottier et al. 2024, 'The rising costs of training frontier AI models' (arXiv:2405.21015); "
    "constants from github.com/epoch-research/training-cost-trends energy.py"
)
# Epoch uses PUE 1.1 for hyperscalers (Google, Meta, Microsoft, Amazon; Meta reports 1.09 for 2022 builds)
# and 1.25 for other organizations. One default, used by every page; the costs page lets a user change it.
DEFAULT_PUE = 1.1
EPOCH_PUE_OTHER_ORGANIZATIONS = 1.25
DEFAULT_GRID_KG_PER_KWH = 0.4

# Average power while training as a fraction of server TDP (Epoch: GPUs 0.75, from the DGX H100 SuperPOD
# design guide, an H100 measurement and Barroso et al.'s 75% of peak; TPUs 0.43, Patterson et al. 2021).
GPU_AVERAGE_POWER_FRACTION = 0.75
TPU_AVERAGE_POWER_FRACTION = 0.43

# Server power per chip / chip TDP (Epoch's chip_to_server_power), matched on the hardware name in this order.
SERVER_MULTIPLIERS: tuple[tuple[str, float, str], ...] = (
    ("TPU v1", 2.93, "TPU v1 system 220 W / chip 75 W"),
    ("TPU v2", 1.64, "TPU v2 system 460 W / chip 280 W"),
    ("TPU v3", 1.47, "TPU v3 system 660 W / chip 450 W"),
    ("TPU", 1.56, "mean of TPU v2, v3, v4i system/chip ratios"),
    ("H100", 10.2 / 8 / 0.7, "DGX H100: 10.2 kW / 8 GPUs / 700 W"),
    ("A100", 6.5 / 8 / 0.4, "DGX A100: 6.5 kW / 8 GPUs / 400 W"),
    ("V100", ((10 / 16) / 0.3 + (1.5 / 4) / 0.3) / 2, "mean of DGX-2 and DGX Station V100 ratios"),
)
DEFAULT_SERVER_MULTIPLIER = (1.8, "Epoch's average over NVIDIA DGX servers (no server-specific ratio)")

# Plausible bounds for user-entered what-if values: outside them the input is almost surely a typo.
PUE_RANGE = (1.0, 3.0)
GRID_RANGE = (0.0, 2.0)
PRICE_RANGE = (0.0, 1000.0)

# Which $/GPU-hour a cost uses. "market": each vendor's price in force on the release date (the latest dated
# on or before it; release is the closest date to training the catalog has), then the cheapest vendor, so the
# estimate is a lower bound. "stated": the price the paper or model card states, else the market rule.
PRICE_RULES: dict[str, str] = {
    "market": "cheapest vendor price in force at release",
    "stated": "price stated in the paper or model card",
}
DEFAULT_PRICE_RULE = "market"
# A market price older than this on the date it is used for is flagged as such in the basis.
STALE_PRICE_DAYS = 365

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
class StatedPrice:
    usd_per_gpu_hour: float
    source: str  # where it is stated: document and location


@dataclass(frozen=True)
class PriceChoice:
    usd_per_gpu_hour: float | None
    rule: str  # the rule that gave the price: market, stated, what-if, or none
    basis: str  # human-readable: which price, from when and whom, and why


@dataclass(frozen=True)
class PowerAssumptions:
    """Everything behind an energy number, so that pages and reports can state it."""

    chip_watts: float
    chip_watts_basis: str  # "hardware TDP" or the model fact it came from
    server_multiplier: float
    server_multiplier_basis: str
    average_power_fraction: float
    pue: float
    method: str = EPOCH_ENERGY_SOURCE

    @property
    def facility_watts_per_chip(self) -> float:
        return self.chip_watts * self.server_multiplier * self.average_power_fraction * self.pue

    def describe(self) -> str:
        return (
            f"{self.chip_watts:g} W {self.chip_watts_basis} x {self.server_multiplier:.3g} server "
            f"x {self.average_power_fraction:g} average x PUE {self.pue:g} "
            f"= {self.facility_watts_per_chip:,.0f} W per GPU"
        )


@dataclass(frozen=True)
class CostEstimate:
    usd: float | None
    usd_per_gpu_hour: float | None
    price_basis: str  # human-readable: which price and date were used, or why there is none
    energy_kwh: float | None
    power_watts: float | None  # chip TDP (or the model's stated power per GPU)
    co2_tonnes: float | None
    price_rule: str = ""  # the rule that gave the price (PriceChoice.rule)
    power: PowerAssumptions | None = None


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


def _cheapest(prices: Iterable[PricePoint]) -> PricePoint:
    return min(prices, key=lambda p: (p.usd_per_gpu_hour, p.valid_from, p.provider))


def _described(p: PricePoint) -> str:
    return f"${p.usd_per_gpu_hour:g}/GPU h from {p.valid_from.isoformat()}" + (
        f", {p.provider}" if p.provider else ""
    )


def market_price(prices: Iterable[PricePoint], on: date | None) -> PriceChoice:
    """The cheapest vendor price in force on `on`: per provider the latest price dated on or before it.

    Fallbacks, each said in the basis: no date -> the cheapest of the vendors' latest prices; no price dated
    on or before `on` -> the earliest later price (cheapest that day), flagged as dated after the release.
    """
    prices = list(prices)
    if not prices:
        return PriceChoice(None, "none", "no price recorded for this hardware")
    usable = [p for p in prices if on is None or p.valid_from <= on]
    if not usable:
        first = min(p.valid_from for p in prices)
        later = _cheapest(p for p in prices if p.valid_from == first)
        assert on is not None  # every price is usable when there is no date
        return PriceChoice(
            later.usd_per_gpu_hour,
            "market",
            f"{_described(later)}: no price is dated on or before {on.isoformat()}, "
            "so the earliest later price is used (after release; likely below the price then)",
        )
    by_provider: dict[str, PricePoint] = {}
    for p in sorted(usable, key=lambda p: p.valid_from):
        by_provider[p.provider] = p  # the latest per provider wins
    best = _cheapest(by_provider.values())
    n = len(by_provider)
    vendors = f"cheapest of {n} vendor prices" if n > 1 else "the only vendor price"
    when = f"in force on {on.isoformat()}" if on else "latest (release date unknown)"
    age = (on - best.valid_from).days if on else 0
    stale = f" (dated {age / 365.25:.1f} years before)" if age > STALE_PRICE_DAYS else ""
    return PriceChoice(best.usd_per_gpu_hour, "market", f"{_described(best)}; {vendors} {when}{stale}")


def choose_price(
    *,
    rule: str,
    prices: Iterable[PricePoint],
    on: date | None,
    stated: StatedPrice | None = None,
    what_if_usd_per_gpu_hour: float | None = None,
) -> PriceChoice:
    """The $/GPU-hour under `rule` (PRICE_RULES); a what-if override beats both rules."""
    if rule not in PRICE_RULES:
        raise ValueError(f"price rule {rule!r} is not one of {', '.join(PRICE_RULES)}")
    if what_if_usd_per_gpu_hour is not None:
        return PriceChoice(
            what_if_usd_per_gpu_hour, "what-if", f"what-if ${what_if_usd_per_gpu_hour:g}/GPU h"
        )
    if rule == "stated":
        if stated is not None:
            return PriceChoice(
                stated.usd_per_gpu_hour,
                "stated",
                f"${stated.usd_per_gpu_hour:g}/GPU h stated in {stated.source}",
            )
        market = market_price(prices, on)
        return PriceChoice(
            market.usd_per_gpu_hour, market.rule, f"no stated price, market rule instead: {market.basis}"
        )
    return market_price(prices, on)


def server_multiplier(hardware_name: str) -> tuple[float, str]:
    """Epoch's server power per chip over chip TDP for this hardware, and where the ratio comes from."""
    for key, value, basis in SERVER_MULTIPLIERS:
        if key.lower() in hardware_name.lower():
            return value, basis
    return DEFAULT_SERVER_MULTIPLIER


def average_power_fraction(hardware_name: str) -> float:
    return TPU_AVERAGE_POWER_FRACTION if "tpu" in hardware_name.lower() else GPU_AVERAGE_POWER_FRACTION


def power_assumptions(
    *,
    chip_watts: float,
    hardware_name: str,
    pue: float = DEFAULT_PUE,
    chip_watts_basis: str = "TDP",
) -> PowerAssumptions:
    multiplier, basis = server_multiplier(hardware_name)
    return PowerAssumptions(
        chip_watts=chip_watts,
        chip_watts_basis=chip_watts_basis,
        server_multiplier=multiplier,
        server_multiplier_basis=basis,
        average_power_fraction=average_power_fraction(hardware_name),
        pue=pue,
    )


def training_cost_usd(*, gpu_hours: float, usd_per_gpu_hour: float) -> float:
    return gpu_hours * usd_per_gpu_hour


def energy_kwh(*, gpu_hours: float, power: PowerAssumptions) -> float:
    """Facility energy of `gpu_hours` chip-hours by Epoch's method."""
    return gpu_hours * power.facility_watts_per_chip / 1000.0


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
    hardware_name: str = "",
    power_basis: str = "TDP",
    price_rule: str = DEFAULT_PRICE_RULE,
    stated_price: StatedPrice | None = None,
    what_if_usd_per_gpu_hour: float | None = None,
    pue: float = DEFAULT_PUE,
    grid_kg_per_kwh: float = DEFAULT_GRID_KG_PER_KWH,
) -> CostEstimate:
    """Everything the cost page shows for one model; missing inputs give None plus a reason, never 0."""
    choice = choose_price(
        rule=price_rule,
        prices=prices,
        on=release_date,
        stated=stated_price,
        what_if_usd_per_gpu_hour=what_if_usd_per_gpu_hour,
    )
    power = (
        power_assumptions(
            chip_watts=power_watts, hardware_name=hardware_name, pue=pue, chip_watts_basis=power_basis
        )
        if power_watts
        else None
    )
    rate = choice.usd_per_gpu_hour
    if gpu_hours is None:
        return CostEstimate(None, rate, "no GPU hours known", None, power_watts, None, choice.rule, power)
    usd = training_cost_usd(gpu_hours=gpu_hours, usd_per_gpu_hour=rate) if rate is not None else None
    kwh = energy_kwh(gpu_hours=gpu_hours, power=power) if power is not None else None
    tonnes = co2_tonnes(kwh=kwh, grid_kg_per_kwh=grid_kg_per_kwh) if kwh is not None else None
    return CostEstimate(usd, rate, choice.basis, kwh, power_watts, tonnes, choice.rule, power)


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
