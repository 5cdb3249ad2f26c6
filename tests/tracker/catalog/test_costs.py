"""Cost, energy and CO2 arithmetic against the published Llama 3.1 and DeepSeek-V3 numbers (no database)."""

from __future__ import annotations

from datetime import date

import pytest

from tracker.catalog import costs
from tracker.catalog.costs import PricePoint

H800_PRICES = [PricePoint(2.0, date(2024, 12, 26), "DeepSeek-V3 report")]


# Epoch AI's energy constants, written out from their source so that the expected values below do not come
# from the code under test: Cottier et al. 2024 (arXiv:2405.21015), github.com/epoch-research/training-cost-trends
# energy.py: chip_to_server_power (H100: DGX H100 10.2 kW for 8 GPUs of 700 W; A100: DGX A100 6.5 kW for 8 x
# 400 W; other GPUs 1.8), server_TDP_fraction (GPU 0.75, TPU 0.43), power_usage_effectiveness (1.1 for
# hyperscalers such as Meta, 1.25 otherwise).
DGX_H100_KW, DGX_A100_KW, GPUS_PER_DGX = 10.2, 6.5, 8
EPOCH_GPU_FRACTION, EPOCH_TPU_FRACTION, EPOCH_PUE_META = 0.75, 0.43, 1.1


def test_deepseek_v3_cost_is_the_reported_5_576m_usd():
    est = costs.estimate(
        gpu_hours=2.788e6, release_date=date(2024, 12, 26), prices=H800_PRICES, power_watts=700.0
    )
    assert est.usd == pytest.approx(5.576e6, rel=1e-12)
    assert est.usd_per_gpu_hour == 2.0
    assert est.price_rule == "market"
    assert est.price_basis == (
        "$2/GPU h from 2024-12-26, DeepSeek-V3 report; the only vendor price in force on 2024-12-26"
    )


def test_llama_405b_energy_follows_epochs_formula():
    """30.84M H100-hours (Llama 3.1 card): Epoch's server power per GPU is the DGX H100's 10.2 kW / 8."""
    hours = 30.84e6
    server_kw_per_gpu = DGX_H100_KW / GPUS_PER_DGX  # 1.275 kW: chip TDP x server multiplier
    expected_kwh = hours * server_kw_per_gpu * EPOCH_GPU_FRACTION * EPOCH_PUE_META
    assert expected_kwh == pytest.approx(32.44e6, rel=1e-3)  # 32.4 GWh, vs 21.6 GWh at bare TDP
    power = costs.power_assumptions(chip_watts=700.0, hardware_name="H100-80GB", pue=1.1)
    assert power.server_multiplier == pytest.approx(server_kw_per_gpu / 0.7, rel=1e-12)
    assert costs.energy_kwh(gpu_hours=hours, power=power) == pytest.approx(expected_kwh, rel=1e-12)
    # The gap: TDP x PUE alone was 0.73x Epoch's energy for the same chip-hours.
    assert hours * 0.7 * 1.1 / expected_kwh == pytest.approx(0.732, abs=1e-3)
    assert power.describe() == "700 W TDP x 1.82 server x 0.75 average x PUE 1.1 = 1,052 W per GPU"
    est = costs.estimate(
        gpu_hours=hours, release_date=None, prices=[], power_watts=700.0, hardware_name="H100-80GB"
    )
    assert est.energy_kwh == pytest.approx(expected_kwh, rel=1e-12)  # DEFAULT_PUE is Epoch's 1.1
    assert est.co2_tonnes == pytest.approx(expected_kwh * 0.4 / 1000, rel=1e-12)
    assert costs.co2_tonnes(kwh=expected_kwh, grid_kg_per_kwh=0.0) == 0.0


@pytest.mark.parametrize(
    ("hardware", "chip_watts", "server_multiplier", "fraction"),
    [
        ("A100-40GB", 400.0, DGX_A100_KW / GPUS_PER_DGX / 0.4, EPOCH_GPU_FRACTION),
        ("H800", 700.0, 1.8, EPOCH_GPU_FRACTION),  # Epoch matches "H100" by name only; others get 1.8
        ("TPU v3", 450.0, 660 / 450, EPOCH_TPU_FRACTION),  # Jouppi et al. 2021 Table 1: system 660 W
        ("TPU v4", 373.0, 1.56, EPOCH_TPU_FRACTION),
    ],
)
def test_server_multiplier_and_average_power_by_hardware(hardware, chip_watts, server_multiplier, fraction):
    power = costs.power_assumptions(chip_watts=chip_watts, hardware_name=hardware, pue=1.25)
    assert power.server_multiplier == pytest.approx(server_multiplier, rel=1e-2)
    assert power.average_power_fraction == fraction
    expected = 1000.0 * chip_watts * server_multiplier * fraction * 1.25 / 1000
    assert costs.energy_kwh(gpu_hours=1000.0, power=power) == pytest.approx(expected, rel=1e-2)


def test_price_in_force_is_latest_on_or_before_the_date():
    prices = [
        PricePoint(4.0, date(2023, 1, 1)),
        PricePoint(3.0, date(2024, 1, 1)),
        PricePoint(2.0, date(2025, 1, 1)),
    ]
    assert costs.price_in_force(prices, date(2024, 7, 23)).usd_per_gpu_hour == 3.0
    assert costs.price_in_force(prices, date(2024, 1, 1)).usd_per_gpu_hour == 3.0  # valid_from is inclusive
    assert costs.price_in_force(prices, date(2022, 12, 31)) is None
    assert costs.price_in_force(prices, None).usd_per_gpu_hour == 2.0
    same_day = [PricePoint(2.5, date(2024, 1, 1), "b"), PricePoint(2.1, date(2024, 1, 1), "a")]
    assert costs.price_in_force(same_day, date(2024, 6, 1)).provider == "a"


H100_PRICES = [  # data/reference/gpu_prices.csv
    PricePoint(1.99, date(2023, 6, 15), "Lambda"),
    PricePoint(12.29, date(2023, 7, 27), "AWS"),
    PricePoint(2.69, date(2024, 4, 3), "TensorDock"),
    PricePoint(2.25, date(2024, 12, 15), "Voltage Park"),
]


def test_market_rule_takes_the_cheapest_vendor_price_in_force_at_release():
    llama = costs.market_price(H100_PRICES, date(2024, 7, 23))
    assert (llama.usd_per_gpu_hour, llama.rule) == (1.99, "market")
    assert (
        llama.basis
        == "$1.99/GPU h from 2023-06-15, Lambda; cheapest of 3 vendor prices in force on 2024-07-23 (dated 1.1 years before)"
    )
    # A vendor's later price replaces its earlier one: Lambda at $3 from 2024-05-01 makes TensorDock cheapest.
    raised = costs.market_price(
        [*H100_PRICES, PricePoint(3.0, date(2024, 5, 1), "Lambda")], date(2024, 7, 23)
    )
    assert raised.usd_per_gpu_hour == 2.69 and "TensorDock" in raised.basis
    # Voltage Park's price dated after the release is not used.
    assert costs.market_price(H100_PRICES, date(2024, 12, 14)).usd_per_gpu_hour == 1.99
    # A price used more than a year after its date says how old it is (plan-a-run prices today's run).
    today = costs.market_price(H100_PRICES, date(2026, 12, 1))
    assert today.basis == (
        "$1.99/GPU h from 2023-06-15, Lambda; cheapest of 4 vendor prices in force on 2026-12-01 "
        "(dated 3.5 years before)"
    )


def test_market_rule_without_a_price_dated_before_release_says_which_later_price_it_used():
    early = costs.market_price(H100_PRICES, date(2023, 1, 1))
    assert early.usd_per_gpu_hour == 1.99
    assert early.basis == (
        "$1.99/GPU h from 2023-06-15, Lambda: no price is dated on or before 2023-01-01, so the earliest later "
        "price is used (after release; likely below the price then)"
    )
    undated = costs.market_price(H100_PRICES, None)
    assert undated.usd_per_gpu_hour == 1.99 and undated.basis.endswith("latest (release date unknown)")
    none = costs.market_price([], date(2024, 1, 1))
    assert (none.usd_per_gpu_hour, none.rule, none.basis) == (
        None,
        "none",
        "no price recorded for this hardware",
    )


def test_stated_rule_uses_the_papers_price_and_falls_back_to_market_saying_so():
    stated = costs.StatedPrice(2.0, "DeepSeek-V3 report, Table 1")
    dsv3 = costs.choose_price(rule="stated", prices=H100_PRICES, on=date(2024, 12, 26), stated=stated)
    assert (dsv3.usd_per_gpu_hour, dsv3.rule) == (2.0, "stated")
    assert dsv3.basis == "$2/GPU h stated in DeepSeek-V3 report, Table 1"
    market = costs.choose_price(rule="market", prices=H100_PRICES, on=date(2024, 12, 26), stated=stated)
    assert (market.usd_per_gpu_hour, market.rule) == (1.99, "market")  # the stated price is ignored
    llama = costs.choose_price(rule="stated", prices=H100_PRICES, on=date(2024, 7, 23))
    assert (llama.usd_per_gpu_hour, llama.rule) == (1.99, "market")
    assert llama.basis.startswith("no stated price, market rule instead: $1.99/GPU h from 2023-06-15, Lambda")
    with pytest.raises(ValueError, match="price rule 'cheapest' is not one of market, stated"):
        costs.choose_price(rule="cheapest", prices=H100_PRICES, on=None)


def test_no_price_means_no_cost_not_zero():
    est = costs.estimate(gpu_hours=30.84e6, release_date=date(2024, 7, 23), prices=[], power_watts=None)
    assert est.usd is None and est.usd_per_gpu_hour is None
    assert est.price_basis == "no price recorded for this hardware" and est.price_rule == "none"
    assert est.energy_kwh is None and est.co2_tonnes is None and est.power is None


def test_what_if_price_overrides_both_rules():
    for rule in costs.PRICE_RULES:
        est = costs.estimate(
            gpu_hours=2.788e6,
            release_date=date(2024, 12, 26),
            prices=H800_PRICES,
            power_watts=700.0,
            hardware_name="H800",
            price_rule=rule,
            stated_price=costs.StatedPrice(2.0, "report"),
            what_if_usd_per_gpu_hour=3.5,
            pue=1.2,
            grid_kg_per_kwh=0.1,
        )
        assert est.usd == pytest.approx(9.758e6, rel=1e-12)
        assert (est.price_basis, est.price_rule) == ("what-if $3.5/GPU h", "what-if")
        kwh = 2.788e6 * 0.7 * 1.8 * EPOCH_GPU_FRACTION * 1.2
        assert est.energy_kwh == pytest.approx(kwh, rel=1e-12)
        assert est.co2_tonnes == pytest.approx(kwh * 0.1 / 1000, rel=1e-12)


def test_unknown_gpu_hours_gives_no_numbers():
    est = costs.estimate(gpu_hours=None, release_date=None, prices=H800_PRICES, power_watts=700.0)
    assert (est.usd, est.energy_kwh, est.co2_tonnes) == (None, None, None)
    assert est.price_basis == "no GPU hours known"


@pytest.mark.parametrize(
    ("value", "unit", "tonnes"),
    [(8930.0, "tCO2eq", 8930.0), (1.5e6, "g", 1.5), (2500.0, "kg", 2.5), (3.0, "t CO₂eq", 3.0)],
)
def test_reported_emissions_are_converted_to_tonnes(value, unit, tonnes):
    assert costs.emissions_in_tonnes(value, unit) == pytest.approx(tonnes)


def test_unknown_emission_unit_is_not_guessed():
    assert costs.emissions_in_tonnes(5.0, "lbs") is None


def test_parse_bounded_names_the_parameter_and_reason():
    assert costs.parse_bounded("pue", " 1.25 ", 1.0, 3.0) == 1.25
    assert costs.parse_bounded("price", "$2.5", 0.0, 1000.0) == 2.5
    with pytest.raises(ValueError, match=r"pue: 'abc' is not a number"):
        costs.parse_bounded("pue", "abc", 1.0, 3.0)
    with pytest.raises(ValueError, match=r"pue: '0.5' is outside 1..3"):
        costs.parse_bounded("pue", "0.5", 1.0, 3.0)
    with pytest.raises(ValueError, match="outside"):
        costs.parse_bounded("grid", "nan", 0.0, 2.0)
