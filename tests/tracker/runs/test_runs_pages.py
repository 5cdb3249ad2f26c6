"""Run detail and comparison pages: curves embedded with "N of M points shown", empty states, errors, scope."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from core.roles import Role
from tests.tracker.runs.series.test_curves import make_series
from tracker.models import MetricSeries, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


@pytest.fixture
def client_a(make_user):
    client = Client()
    client.force_login(make_user(Role.VIEWER))
    return client


@pytest.fixture
def two_runs(team_a):
    steps = np.arange(0, 6000, 2)
    runs = []
    for i, name in enumerate(["small", "large"]):
        run = TrainingRun.objects.create(team=team_a, name=name)
        make_series(run, "loss", steps, 3.0 - i - steps / 1e4)
        make_series(run, "lr", steps[:10], np.full(10, 1e-3))
        runs.append(run)
    return runs


def embedded(content: bytes, element_id: str):
    html = content.decode()
    start = html.index(f'id="{element_id}" type="application/json">') + len(
        f'id="{element_id}" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_run_detail_embeds_downsampled_curve(two_runs, client_a):
    run = two_runs[0]
    loss = run.series.get(name="loss")
    response = client_a.get(reverse("runs:detail", args=[run.pk]), {"series": loss.pk})
    assert response.status_code == 200
    data = embedded(response.content, "curve-data")
    assert data["total"] == 3000 and data["shown"] == len(data["steps"]) <= 2000
    assert f"{data['shown']} of 3000 points shown".encode() in response.content
    assert reverse("runs:series-csv", args=[run.pk, loss.pk]).encode() in response.content
    assert b"plotly/plotly.min.js" in response.content and b"js/curves.js" in response.content


def test_run_detail_defaults_to_first_series_raw_when_short(two_runs, client_a):
    run = two_runs[0]
    response = client_a.get(reverse("runs:detail", args=[run.pk]))
    data = embedded(response.content, "curve-data")
    # series are ordered by name: "loss" comes first
    assert data["total"] == 3000
    lr = run.series.get(name="lr")
    data = embedded(
        client_a.get(reverse("runs:detail", args=[run.pk]), {"series": lr.pk}).content, "curve-data"
    )
    assert data["steps"] == list(range(0, 20, 2)) and data["values"] == [1e-3] * 10
    assert data["shown"] == data["total"] == 10


def test_run_detail_query_count_is_pinned(two_runs, client_a, django_assert_num_queries):
    run = two_runs[0]
    # session, user, run, series list, the chunks of the curve (M4 in NumPy on them)
    with django_assert_num_queries(5):
        assert client_a.get(reverse("runs:detail", args=[run.pk])).status_code == 200


def test_run_without_series_explains_itself(team_a, client_a):
    run = TrainingRun.objects.create(team=team_a, name="bare")
    response = client_a.get(reverse("runs:detail", args=[run.pk]))
    assert response.status_code == 200
    assert b"This run has no metric series yet" in response.content
    assert b'id="curve-data"' not in response.content


def test_series_without_points_explains_itself(team_a, client_a):
    run = TrainingRun.objects.create(team=team_a, name="pending")
    MetricSeries.objects.create(run=run, name="loss")
    response = client_a.get(reverse("runs:detail", args=[run.pk]))
    assert "has no points yet" in response.content.decode()


def test_unknown_series_param_is_404_with_message(two_runs, client_a):
    response = client_a.get(reverse("runs:detail", args=[two_runs[0].pk]), {"series": "nope"})
    assert response.status_code == 404
    assert b"This run has no metric series with id" in response.content
    assert b"Traceback" not in response.content


def test_compare_overlays_same_metric(two_runs, client_a):
    ids = ",".join(str(r.pk) for r in two_runs)
    response = client_a.get(reverse("runs:compare"), {"ids": ids, "metric": "loss"})
    assert response.status_code == 200
    traces = embedded(response.content, "compare-data")
    assert [t["name"] for t in traces] == ["small", "large"]
    assert all(len(t["steps"]) <= 2000 for t in traces)
    assert traces[0]["values"][0] == 3.0 and traces[1]["values"][0] == 2.0
    assert response.content.count(b"of 3000 points shown") == 2


def test_compare_with_metric_missing_says_so(two_runs, team_a, client_a):
    other = TrainingRun.objects.create(team=team_a, name="no-metrics")
    ids = f"{two_runs[0].pk},{other.pk}"
    response = client_a.get(reverse("runs:compare"), {"ids": ids, "metric": "lr"})
    assert response.status_code == 200
    assert [t["name"] for t in embedded(response.content, "compare-data")] == [two_runs[0].name]
    assert "no metric “lr”" in response.content.decode()


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ("", "ids is required"),
        ("1,x", "ids must be comma-separated run ids"),
        (",".join(map(str, range(1, 20))), "at most 12"),
    ],
)
def test_compare_bad_ids_are_400(client_a, ids, message):
    response = client_a.get(reverse("runs:compare"), {"ids": ids})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert b'id="compare-data"' not in response.content


def test_compare_with_another_teams_run_is_404(two_runs, make_user, team_b):
    foreign = TrainingRun.objects.create(team=team_b, name="secret-run")
    make_series(foreign, "loss", np.arange(5), np.arange(5.0))
    client = Client()
    client.force_login(make_user(Role.VIEWER))
    response = client.get(reverse("runs:compare"), {"ids": f"{two_runs[0].pk},{foreign.pk}"})
    assert response.status_code == 404
    assert b"secret-run" not in response.content


def test_run_list_offers_comparison(two_runs, client_a):
    response = client_a.get(reverse("runs:list"))
    assert response.content.count(b'class="compare-pick"') == 2
    assert reverse("runs:compare").encode() in response.content
