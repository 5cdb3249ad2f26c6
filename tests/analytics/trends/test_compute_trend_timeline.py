"""The compute trend on the timeline: Epoch's log-linear fit recovers a known growth rate, follows the
timeline's filters, and is drawn as a line with a band with its numbers under the plot."""

from __future__ import annotations

import json
import math
import re
from datetime import date, timedelta

import numpy as np
import pytest

from analytics.fitting.compute_trend import decimal_year
from analytics.trends.compute import BAND_POINTS, compute_trend, date_of
from tracker.catalog import services as catalog_services
from tracker.catalog.figures import ModelPoint
from tracker.models import Model

# Sevilla et al. 2022 ("Compute trends across three eras of machine learning"): ~4.2x per year in the
# deep-learning era, a doubling time of 12 * log10(2) / log10(4.2) = 5.8 months.
GROWTH = 4.2
DOUBLING_MONTHS = 12 * math.log10(2) / math.log10(GROWTH)


def _synthetic(seed: int, n: int, growth: float, *, start: int = 2012, years: int = 12, org: str = "Lab"):
    """Dated models whose compute grows `growth`x per year around 1e21 FLOP in 2018 (0.4 dex scatter)."""
    rng = np.random.default_rng(seed)
    base = date(start, 1, 1)
    days = np.sort(rng.integers(0, 365 * years, n))
    points = []
    for i, d in enumerate(days):
        released = base + timedelta(days=int(d))
        log_c = 21.0 + math.log10(growth) * (decimal_year(released) - 2018.0) + rng.normal(0.0, 0.4)
        tokens = 20 * math.sqrt(10**log_c / 120)  # 6 N D = C with D = 20 N
        points.append(ModelPoint(f"{org} m{i}", released, org, "", tokens / 20, None, tokens, 10**log_c))
    return points


def test_known_rate_is_recovered_within_its_interval():
    trend = compute_trend(_synthetic(0, 60, GROWTH))
    assert trend.fitted and trend.n_models == 60
    growth, doubling = trend.growth_per_year, trend.doubling_months
    assert growth.contains(GROWTH) and growth.low > 3.0 and growth.high < 6.0
    assert doubling.contains(DOUBLING_MONTHS)
    assert doubling.low < doubling.estimate < doubling.high
    assert re.fullmatch(
        r"\d\.\d\dx per year \(95% CI \d\.\d\d-\d\.\d\d\); doubling every \d\.\d months \(\d\.\d-\d\.\d\); "
        r"60 models, 2012-\d\d-\d\d to 2023-\d\d-\d\d",
        trend.summary(),
    ), trend.summary()
    line = trend.line
    assert len(line.x) == BAND_POINTS and line.label == f"trend {growth.estimate:.2f}x/year"
    assert all(lo < y < hi for lo, y, hi in zip(line.low, line.y, line.high, strict=True))
    # The line rises by the fitted factor per year: first to last point over the fitted span.
    span = decimal_year(date.fromisoformat(line.x[-1])) - decimal_year(date.fromisoformat(line.x[0]))
    assert line.y[-1] / line.y[0] == pytest.approx(growth.estimate**span, rel=0.01)


def test_coverage_of_the_growth_interval_is_near_nominal():
    hits = sum(
        compute_trend(_synthetic(seed, 25, GROWTH)).growth_per_year.contains(GROWTH) for seed in range(100)
    )
    assert 88 <= hits <= 100  # 95 expected


def test_frontier_selection_keeps_the_top_models_only():
    big = _synthetic(1, 30, GROWTH, org="Big")
    # Small models from 2019 on, when ~17 big ones 1e6x larger exist: never in the top 10 at release.
    small = [
        ModelPoint(f"small {i}", p.release_date, "Small", "", None, None, None, p.training_flops / 1e6)
        for i, p in enumerate(big)
        if p.release_date.year >= 2019
    ]
    everything = compute_trend(big + small)
    frontier = compute_trend(big + small, selection="frontier")
    assert everything.n_models == 30 + len(small) and frontier.n_models == 30
    assert frontier.growth_per_year.estimate == pytest.approx(compute_trend(big).growth_per_year.estimate)
    assert frontier.growth_per_year.contains(GROWTH)
    assert not everything.growth_per_year.contains(GROWTH)  # the small models drag the all-model fit
    with pytest.raises(ValueError, match="trend: 'top' is not one of all, frontier"):
        compute_trend(big, selection="top")


def test_too_few_models_or_dates_give_a_reason_not_a_line():
    same_day = [
        ModelPoint(f"m{i}", date(2024, 7, 23), "", "", None, None, None, 10.0 ** (24 + i)) for i in range(3)
    ]
    trend = compute_trend(same_day)
    assert not trend.fitted and trend.line is None
    assert (
        trend.reason
        == "no trend: 3 models with compute on 1 date(s); a trend needs at least 3 models on 2 or more dates"
    )
    assert compute_trend([]).summary().startswith("no trend: 0 models")


def test_date_of_inverts_decimal_year():
    for d in (date(2020, 1, 1), date(2020, 7, 2), date(2023, 12, 31), date(2024, 2, 29)):
        assert date_of(decimal_year(d)) == d


# ---- the page ---------------------------------------------------------------------------------------------


@pytest.fixture
def viewer_client(client, make_user):
    client.force_login(make_user("viewer"))
    return client


def _store(points):
    for p in points:
        Model.objects.create(
            name=p.name,
            organization=catalog_services.organization_get_or_create(name=p.organization),
            release_date=p.release_date,
            parameters=p.parameters,
            training_tokens=p.training_tokens,
        )


def _figure(response, fig_id):
    match = re.search(rf'<script id="{fig_id}" type="application/json">(.*?)</script>', response.text, re.S)
    return json.loads(match.group(1))


@pytest.mark.django_db
def test_timeline_draws_the_trend_with_a_band_and_states_its_numbers(viewer_client):
    _store(_synthetic(2, 40, GROWTH, org="Fast"))
    _store(_synthetic(3, 40, 2.0, org="Slow"))
    response = viewer_client.get("/catalog/timeline/", {"organization": "Fast"})
    assert response.status_code == 200
    trend = response.context["trend"]
    assert trend.n_models == 40 and trend.growth_per_year.contains(GROWTH)
    assert trend.summary() in response.text and "OLS" in response.text
    traces = _figure(response, "fig-compute")["data"]
    assert [t["name"] for t in traces] == [
        "Fast",
        "95% confidence band",
        "95% confidence band",
        trend.line.label,
    ]
    low, high, line = traces[1:]
    assert high["fill"] == "tonexty" and line["line"]["dash"] == "dash"
    assert all(lo < y < hi for lo, y, hi in zip(low["y"], line["y"], high["y"], strict=True))
    # The other organization's trend is its own; all models together give a rate in between.
    slow = viewer_client.get("/catalog/timeline/", {"organization": "Slow"}).context["trend"]
    assert slow.growth_per_year.contains(2.0) and not slow.growth_per_year.contains(GROWTH)
    both = viewer_client.get("/catalog/timeline/").context["trend"]
    assert both.n_models == 80
    # A date range narrows the fit to the models released in it.
    ranged = viewer_client.get(
        "/catalog/timeline/", {"organization": "Fast", "from": "2016", "to": "2019-12-31"}
    )
    in_range = [
        p
        for p in _synthetic(2, 40, GROWTH, org="Fast")
        if date(2016, 1, 1) <= p.release_date <= date(2019, 12, 31)
    ]
    assert ranged.context["trend"].n_models == len(in_range) == ranged.context["n_points"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "yesterday"}, "from: &#x27;yesterday&#x27; is not a date (use YYYY-MM-DD or a year)"),
        ({"to": "2024-13-01"}, "to: &#x27;2024-13-01&#x27; is not a date"),
        ({"from": "2024", "to": "2020"}, "from: 2024-01-01 is after to: 2020-12-31"),
        ({"trend": "top"}, "trend: &#x27;top&#x27; is not one of all, frontier"),
        ({"organization": "x" * 201}, "organization: at most 200 characters"),
    ],
)
def test_bad_timeline_filters_answer_400_with_the_reason(viewer_client, params, message):
    response = viewer_client.get("/catalog/timeline/", params)
    assert response.status_code == 400 and message in response.text


@pytest.mark.django_db
def test_timeline_without_enough_models_says_why_there_is_no_trend(viewer_client):
    _store(_synthetic(4, 2, GROWTH))
    response = viewer_client.get("/catalog/timeline/")
    assert response.status_code == 200 and response.context["trend"].line is None
    assert "no trend: 2 models with compute on 2 date(s)" in response.text
    assert len(_figure(response, "fig-compute")["data"]) == 1  # markers only
    assert "No model matches these filters." in viewer_client.get("/catalog/timeline/", {"from": "2030"}).text


@pytest.mark.django_db
def test_hostile_filter_values_never_give_a_server_error(viewer_client):
    _store(_synthetic(5, 5, GROWTH))
    hostile = ["", "\x00", "0000", "99999", "2025-13-45", "-1", "nan", "x" * 5000, "☃", "'; DROP TABLE x; --"]
    for value in hostile:
        for name in ("organization", "from", "to", "trend", "color"):
            status = viewer_client.get("/catalog/timeline/", {name: value}).status_code
            assert status in (200, 400), (name, value, status)
        assert viewer_client.get("/catalog/costs/", {"price_rule": value}).status_code in (200, 400), value


def test_a_falling_trend_says_so_and_carries_the_plausibility_warnings():
    """The demo catalog: Llama 3.1 8B/70B/405B on one day, then the smaller-compute DeepSeek-V3."""
    llama = [(name, 6 * n * 15e12) for name, n in (("8B", 8.03e9), ("70B", 70.6e9), ("405B", 405e9))]
    points = [ModelPoint(name, date(2024, 7, 23), "Meta", "", None, None, None, c) for name, c in llama]
    points.append(
        ModelPoint("DeepSeek-V3", date(2024, 12, 26), "DeepSeek", "", None, None, None, 6 * 37e9 * 14.8e12)
    )
    trend = compute_trend(points)
    assert trend.growth_per_year.estimate < 1 and math.isinf(trend.doubling_months.estimate)
    assert "; no doubling: the fitted trend does not rise (" in trend.summary()
    assert "2.61e+09" in trend.summary()  # an unusable upper bound is shown as such, not as 2608912383.73
    assert any("outside the plausible range" in w for w in trend.warnings)
    assert any("distinct publication years" in w for w in trend.warnings)
