"""Cost, energy and CO2 arithmetic against the published Llama 3.1 and DeepSeek-V3 numbers (no database)."""

from __future__ import annotations

from datetime import date

import pytest

from tracker.catalog import costs
from tracker.catalog.costs import PricePoint

H800_PRICES = [PricePoint(2.0, date(2024, 12, 26), "DeepSeek-V3 report")]


def test_deepseek_v3_cost_is_the_reported_5_576m_usd():
    est = costs.estimate(
        gpu_hours=2.788e6, release_date=date(2024, 12, 26), prices=H800_PRICES, power_watts=700.0
    )
    assert est.usd == pytest.approx(5.576e6, rel=1e-12)
    assert est.usd_per_gpu_hour == 2.0
    assert est.price_basis == "$2/GPU h from 2024-12-26, DeepSeek-V3 report; in force on 2024-12-26"


def test_llama_405b_energy_is_21_6_gwh_before_pue_and_co2_follows_grid_intensity():
    kwh = costs.energy_kwh(gpu_hours=30.84e6, power_watts=700.0, pue=1.0)
    assert kwh == pytest.approx(21.588e6, rel=1e-12)  # 21.6 GWh
    with_pue = costs.energy_kwh(gpu_hours=30.84e6, power_watts=700.0)
    assert with_pue == pytest.approx(21.588e6 * 1.1, rel=1e-12)
    assert costs.co2_tonnes(kwh=with_pue) == pytest.approx(21.588e6 * 1.1 * 0.4 / 1000, rel=1e-12)
    assert costs.co2_tonnes(kwh=kwh, grid_kg_per_kwh=0.0) == 0.0


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


def test_no_price_means_no_cost_not_zero():
    est = costs.estimate(
        gpu_hours=30.84e6, release_date=date(2024, 7, 23), prices=H800_PRICES, power_watts=None
    )
    assert est.usd is None and est.usd_per_gpu_hour is None
    assert est.price_basis == "no price in force on 2024-07-23"
    assert est.energy_kwh is None and est.co2_tonnes is None


def test_what_if_price_overrides_the_dated_price():
    est = costs.estimate(
        gpu_hours=2.788e6,
        release_date=date(2024, 12, 26),
        prices=H800_PRICES,
        power_watts=700.0,
        what_if_usd_per_gpu_hour=3.5,
        pue=1.2,
        grid_kg_per_kwh=0.1,
    )
    assert est.usd == pytest.approx(9.758e6, rel=1e-12)
    assert est.price_basis == "what-if $3.5/GPU h"
    assert est.energy_kwh == pytest.approx(2.788e6 * 700 * 1.2 / 1000, rel=1e-12)
    assert est.co2_tonnes == pytest.approx(2.788e6 * 700 * 1.2 / 1000 * 0.1 / 1000, rel=1e-12)


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
