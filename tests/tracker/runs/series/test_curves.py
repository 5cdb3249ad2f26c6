"""Curve data on real PostgreSQL: M4 over decoded chunks equals the numpy reference, spikes survive, N of M."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from core.roles import Role
from tracker.models import MetricSeries, TrainingRun
from tracker.runs.series import reads
from tracker.runs.series.copy import SeriesPoints, points_insert_new, points_upsert
from tracker.runs.series.downsample import m4_downsample

pytestmark = pytest.mark.django_db


def make_series(
    run: TrainingRun, name: str, steps: np.ndarray, values: np.ndarray, wall=None
) -> MetricSeries:
    series = MetricSeries.objects.create(run=run, name=name)
    pts = SeriesPoints.from_lists(series_id=series.pk, steps=steps, values=values, wall_times=wall or ())
    with transaction.atomic():
        points_insert_new(batches=[pts])
    series.refresh_from_db()
    return series


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


@pytest.fixture
def run_a(team_a):
    return TrainingRun.objects.create(team=team_a, name="run-a")


@pytest.fixture
def spiky(run_a):
    rng = np.random.default_rng(3)
    steps = np.arange(20_000, dtype=np.int64) * 5 + 100
    values = 3.0 - steps / 1e5 + rng.normal(0, 0.01, steps.size)
    spikes = np.sort(rng.choice(steps.size, 10, replace=False))
    values[spikes] += np.where(np.arange(10) % 2 == 0, 40.0, -40.0)
    series = make_series(run_a, "loss", steps, values)
    return series, steps, values, steps[spikes]


@pytest.fixture
def viewer_client(make_user):
    client = Client()
    client.force_login(make_user(Role.VIEWER))
    return client


def data_url(series: MetricSeries) -> str:
    return reverse("runs:series-data", args=[series.run_id, series.pk])


def test_database_is_postgres():
    # The chunk queries and the CSV's float text are PostgreSQL's; the suite runs against the real server.
    assert connection.vendor == "postgresql"


def test_sql_m4_equals_numpy_reference_full_and_zoomed(spiky):
    series, steps, values, _ = spiky
    for x0, x1, points in [(None, None, 2000), (1234, 55_555, 400), (100, 100_095, 8), (7, 99_999, 1000)]:
        window = reads.series_window(series=series, x0=x0, x1=x1, points=points)
        lo = int(steps[0]) if x0 is None else x0
        hi = int(steps[-1]) if x1 is None else x1
        ref_s, ref_v = m4_downsample(steps, values, points // 4, x0=lo, x1=hi)
        assert window.steps == ref_s.tolist()
        assert window.values == ref_v.tolist()
        assert window.total == int(((steps >= lo) & (steps <= hi)).sum())


def test_data_endpoint_keeps_spikes_and_counts(spiky, viewer_client):
    series, _steps, _, spike_steps = spiky
    body = viewer_client.get(data_url(series)).json()
    assert body["total"] == 20_000
    assert body["shown"] == len(body["steps"]) <= 2000
    assert set(spike_steps.tolist()) <= set(body["steps"])
    assert body["x0"] == 100 and body["x1"] == 100 + 19_999 * 5
    by_step = dict(zip(body["steps"], body["values"], strict=True))
    assert sum(1 for s in spike_steps if abs(by_step[int(s)]) > 30) == 10


def test_zoom_window_is_rebucketed_and_in_range(spiky, viewer_client):
    series, steps, _values, _ = spiky
    body = viewer_client.get(data_url(series), {"x0": 40_000, "x1": 60_000, "points": 400}).json()
    in_range = (steps >= 40_000) & (steps <= 60_000)
    assert body["total"] == int(in_range.sum()) == 4001
    assert min(body["steps"]) >= 40_000 and max(body["steps"]) <= 60_000
    assert body["steps"][0] == 40_000 and body["steps"][-1] == 60_000
    assert 300 < body["shown"] <= 400


def test_small_window_is_returned_raw(spiky, viewer_client):
    series, steps, values, _ = spiky
    body = viewer_client.get(data_url(series), {"x0": 1000, "x1": 1049}).json()
    expected = steps[(steps >= 1000) & (steps <= 1049)]
    assert body["steps"] == expected.tolist() and body["shown"] == body["total"] == 10
    assert body["values"] == values[(steps >= 1000) & (steps <= 1049)].tolist()


def test_empty_range_is_an_empty_answer(spiky, viewer_client):
    series, *_ = spiky
    body = viewer_client.get(data_url(series), {"x0": 10**9, "x1": 10**9 + 10}).json()
    assert body == {"steps": [], "values": [], "shown": 0, "total": 0, "x0": 10**9, "x1": 10**9 + 10}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"x0": "abc"}, "x0 must be an integer step"),
        ({"x0": "10", "x1": "5"}, "x1 (5) must not be smaller than x0 (10)"),
        ({"points": "3"}, "points must be between 8 and 20000"),
        ({"points": "1e9"}, "points must be an integer"),
    ],
)
def test_bad_parameters_are_400_with_reason(spiky, viewer_client, params, message):
    series, *_ = spiky
    response = viewer_client.get(data_url(series), params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_data_query_count_is_pinned(spiky, viewer_client, django_assert_num_queries):
    series, *_ = spiky
    # session, user, run, series, the chunks overlapping the window (the M4 runs on them in NumPy)
    with django_assert_num_queries(5):
        assert viewer_client.get(data_url(series), {"x0": 100, "x1": 90_000}).status_code == 200
    # a window that fits in `points` is the same single chunk fetch, shown raw
    with django_assert_num_queries(5):
        assert viewer_client.get(data_url(series), {"x0": 100, "x1": 200}).status_code == 200


def test_full_view_is_served_from_cache_until_series_changes(spiky, viewer_client, django_assert_num_queries):
    series, *_ = spiky
    first = viewer_client.get(data_url(series)).json()
    with django_assert_num_queries(4):  # session, user, run, series: the curve itself comes from the cache
        assert viewer_client.get(data_url(series)).json() == first
    with transaction.atomic():
        points_upsert(batches=[SeriesPoints.from_lists(series_id=series.pk, steps=[200_000], values=[99.0])])
    after = viewer_client.get(data_url(series)).json()
    assert after["total"] == 20_001 and after["steps"][-1] == 200_000 and after["values"][-1] == 99.0


def test_csv_export_is_full_resolution_and_exact(run_a, viewer_client):
    series = make_series(
        run_a, "grad norm", np.array([1, 2, 10]), np.array([0.5, 2.25, 1e-7]), wall=[1700000000.5, None, 3.0]
    )
    response = viewer_client.get(reverse("runs:series-csv", args=[run_a.pk, series.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="run-a-grad-norm.csv"'
    body = b"".join(response.streaming_content).decode()
    assert body == "step,value,wall_time\n1,0.5,1700000000.5\n2,2.25,\n10,1e-07,3\n"


def test_csv_export_of_large_series_has_every_row(spiky, viewer_client):
    series, steps, values, _ = spiky
    response = viewer_client.get(reverse("runs:series-csv", args=[series.run_id, series.pk]))
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 20_001
    got = np.array([[float(x) for x in line.split(",")[:2]] for line in lines[1:]])
    np.testing.assert_array_equal(got[:, 0], steps)
    np.testing.assert_array_equal(got[:, 1], values)


def test_other_team_gets_404_for_data_and_csv(spiky, make_user, team_b):
    series, *_ = spiky
    outsider = Client()
    outsider.force_login(make_user(Role.ADMIN, team=team_b))
    assert outsider.get(data_url(series)).status_code == 404
    response = outsider.get(reverse("runs:series-csv", args=[series.run_id, series.pk]))
    assert response.status_code == 404
    assert b"step,value" not in response.content


def test_series_of_another_run_is_404(spiky, team_a, viewer_client):
    series, *_ = spiky
    other = TrainingRun.objects.create(team=team_a, name="run-other")
    assert viewer_client.get(reverse("runs:series-data", args=[other.pk, series.pk])).status_code == 404
    assert viewer_client.get(reverse("runs:series-csv", args=[other.pk, series.pk])).status_code == 404
