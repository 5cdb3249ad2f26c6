"""Run detail and comparison pages: metric panels (order, x-axes, zoom from the URL, M4 cap), tags, notes,
final loss edits, config diff, empty states, errors, scope and pinned query counts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from core.roles import Role
from tests.tracker.runs.series.test_curves import make_series
from tracker.models import MetricSeries, RunTag, TrainingRun
from tracker.runs.curves import MAX_POINTS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


@pytest.fixture
def client_a(make_user):
    client = Client()
    client.force_login(make_user(Role.VIEWER, username="vic"))
    return client


@pytest.fixture
def editor_a(make_user):
    client = Client()
    client.force_login(make_user(Role.EDITOR, username="edna"))
    return client


MEGATRON = [
    "consumed samples",
    "elapsed time per iteration (ms)",
    "global batch size",
    "grad norm",
    "learning rate",
    "lm loss",
    "loss scale",
]


@pytest.fixture
def megatron_run(team_a):
    run = TrainingRun.objects.create(
        team=team_a,
        name="megatron-1b3",
        parameters=1.3e9,
        config={"seq_length": 2048, "global_batch_size": 512},
    )
    steps = np.arange(10, 6010, 10)
    for name in MEGATRON:
        values = steps * 512.0 if name == "consumed samples" else 2.0 + 9.0 / np.sqrt(steps)
        if name == "lm loss":
            values = values.copy()
            values[0] = 14.0  # the step-0 transient
        make_series(run, name, steps, values)
    return run


@pytest.fixture
def two_runs(team_a):
    steps = np.arange(0, 6000, 2)
    runs = []
    for i, name in enumerate(["small", "large"]):
        run = TrainingRun.objects.create(
            team=team_a,
            name=name,
            parameters=[1.25e8, 3.5e8][i],
            tokens=[2.5e9, 7e9][i],
            config={"lr": [1e-3, 6e-4][i], "optimizer": {"name": "adamw", "beta2": 0.95}, "seq_len": 1024},
        )
        make_series(run, "loss", steps, 3.0 - i - steps / 1e4)
        make_series(run, "lr", steps[:10], np.full(10, 1e-3))
        runs.append(run)
    return runs


def embedded(content: bytes, element_id: str):
    html = content.decode()
    marker = f'id="{element_id}" type="application/json">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])


def test_run_page_opens_on_loss_with_six_panels(megatron_run, client_a):
    response = client_a.get(reverse("runs:detail", args=[megatron_run.pk]))
    assert response.status_code == 200
    data = embedded(response.content, "curves-data")
    metrics = [p["metric"] for p in data["panels"]]
    assert metrics[0] == "lm loss" and "consumed samples" not in metrics and len(metrics) == 5
    assert metrics == [
        "lm loss",
        "grad norm",
        "learning rate",
        "elapsed time per iteration (ms)",
        "loss scale",
    ]
    first = data["panels"][0]["traces"][0]
    assert first["total"] == 600 and first["shown"] == 600 and first["values"][0] == 14.0
    assert b"plotly/plotly.min.js" in response.content and b"js/curves.js" in response.content
    # tokens from the config (512 x 2048 per step), FLOPs from N; no time series logged
    assert set(data["modes"]) == {"step", "tokens", "flops"}
    tokens = data["maps"][str(megatron_run.pk)]["tokens"]
    assert tokens["xs"][1] - tokens["xs"][0] == 512 * 2048
    assert "global_batch_size 512" in tokens["how"]


def test_panels_chosen_in_the_url(megatron_run, client_a):
    url = reverse("runs:detail", args=[megatron_run.pk])
    data = embedded(client_a.get(url, {"m": ["consumed samples", "lm loss"]}).content, "curves-data")
    assert [p["metric"] for p in data["panels"]] == ["consumed samples", "lm loss"]
    response = client_a.get(url, {"m": "val/loss"})
    assert response.status_code == 400 and "no metric named &#x27;val/loss&#x27;" in response.content.decode()


def test_zoom_in_the_url_reads_that_window(megatron_run, client_a):
    url = reverse("runs:detail", args=[megatron_run.pk])
    data = embedded(client_a.get(url, {"x0": "1000", "x1": "2000"}).content, "curves-data")
    steps = data["panels"][0]["traces"][0]["steps"]
    assert steps[0] == 1000 and steps[-1] == 2000 and len(steps) == 101
    # In tokens: the page's x-range is turned back into steps through the run's map.
    per_step = 512 * 2048
    data = embedded(
        client_a.get(url, {"x": "tokens", "x0": str(3000 * per_step), "x1": str(4000 * per_step)}).content,
        "curves-data",
    )
    steps = data["panels"][0]["traces"][0]["steps"]
    assert (steps[0], steps[-1]) == (3000, 4000)
    assert data["params"]["x"] == "tokens" and data["params"]["x0"] == 3000 * per_step


def test_x_axis_not_available_falls_back_to_step_and_says_why(two_runs, client_a):
    run = two_runs[0]
    response = client_a.get(reverse("runs:detail", args=[run.pk]), {"x": "time", "x0": "5", "x1": "9"})
    assert response.status_code == 200
    assert "x = time is not available for small" in response.content.decode()
    data = embedded(response.content, "curves-data")
    assert data["params"]["x"] == "step" and data["params"]["x0"] is None
    # D / last step is the last resort for tokens (assumes a constant batch, and says so)
    assert data["maps"][str(run.pk)]["tokens"]["label"] == "\u2248 tokens"


def test_time_axis_from_a_logged_runtime_series(team_a, client_a):
    run = TrainingRun.objects.create(team=team_a, name="wandb")
    steps = np.arange(0, 100)
    make_series(run, "train/loss", steps, 3.0 - steps / 100)
    make_series(run, "_runtime", steps, steps * 36.0)  # 36 s per step
    data = embedded(client_a.get(reverse("runs:detail", args=[run.pk]), {"x": "time"}).content, "curves-data")
    time_map = data["maps"][str(run.pk)]["time"]
    assert time_map["xs"][-1] == pytest.approx(99 * 36 / 3600) and data["params"]["x"] == "time"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"smooth": "2"}, "smooth must be between 0 and 0.999"),
        ({"x": "epochs"}, "x must be one of step, tokens, flops, time"),
        ({"points": "20000"}, f"points must be between 8 and {MAX_POINTS}"),
        ({"x0": "9", "x1": "1"}, "x1 (1) must be larger than x0 (9)"),
        ({"runs__team": "1"}, "unknown parameter"),
    ],
)
def test_bad_curve_parameters_are_400_with_reason(megatron_run, client_a, params, message):
    response = client_a.get(reverse("runs:detail", args=[megatron_run.pk]), params)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert b'id="curves-data"' not in response.content and b"Traceback" not in response.content


def test_no_request_ships_more_than_the_cap_per_series(team_a, client_a):
    run = TrainingRun.objects.create(team=team_a, name="long")
    steps = np.arange(50_000)
    series = make_series(run, "loss", steps, np.sin(steps / 50.0))
    data_url = reverse("runs:series-data", args=[run.pk, series.pk])
    body = client_a.get(data_url, {"points": "20000"}).json()
    assert body["total"] == 50_000 and 0 < body["shown"] <= MAX_POINTS == 4000
    data = embedded(
        client_a.get(reverse("runs:detail", args=[run.pk]), {"points": str(MAX_POINTS)}).content,
        "curves-data",
    )
    assert all(len(t["steps"]) <= MAX_POINTS for p in data["panels"] for t in p["traces"])


def test_legacy_series_param_and_empty_states(two_runs, team_a, client_a):
    run = two_runs[0]
    lr = run.series.get(name="lr")
    data = embedded(
        client_a.get(reverse("runs:detail", args=[run.pk]), {"series": lr.pk}).content, "curves-data"
    )
    assert data["panels"][0]["metric"] == "lr" and data["panels"][0]["traces"][0]["values"] == [1e-3] * 10
    response = client_a.get(reverse("runs:detail", args=[run.pk]), {"series": "nope"})
    assert response.status_code == 404 and b"This run has no metric series with id" in response.content
    bare = TrainingRun.objects.create(team=team_a, name="bare")
    response = client_a.get(reverse("runs:detail", args=[bare.pk]))
    assert (
        b"This run has no metric series yet" in response.content
        and b'id="curves-data"' not in response.content
    )
    pending = TrainingRun.objects.create(team=team_a, name="pending")
    MetricSeries.objects.create(run=pending, name="loss")
    assert "have no points yet" in client_a.get(reverse("runs:detail", args=[pending.pk])).content.decode()


def test_run_page_formats_numbers_and_shows_final_loss_provenance(two_runs, client_a):
    run = two_runs[1]
    run.final_loss, run.final_loss_source, run.final_loss_computed = 1.9876543, "computed", 1.9876543
    run.final_loss_rule = "mean of the last 20 points of loss (steps 5,960\u20135,998)"
    run.save()
    body = client_a.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert '<dd title="350000000">350M</dd>' in body and '<dd title="7000000000">7B</dd>' in body
    assert 'title="1.9876543" data-testid="final-loss-value">1.988</span>' in body
    assert "Computed when the log was stored: mean of the last 20 points of loss" in body
    assert 'id="final-loss-form"' not in body  # viewers read, editors edit


def test_editors_tag_note_and_set_final_loss_viewers_cannot(two_runs, client_a, editor_a):
    run = two_runs[0]
    tags_url = reverse("runs:tags", args=[run.pk])
    assert client_a.post(tags_url, {"tag": "baseline"}).status_code == 403
    assert client_a.post(reverse("runs:notes", args=[run.pk]), {"notes": "x"}).status_code == 403
    assert client_a.post(reverse("runs:final-loss", args=[run.pk]), {"value": "1"}).status_code == 403
    run.refresh_from_db()
    assert (RunTag.objects.count(), run.notes, run.final_loss) == (0, "", None)

    assert editor_a.post(tags_url, {"tag": " Baseline "}).status_code == 302
    editor_a.post(tags_url, {"tag": "lr-sweep"})
    editor_a.post(tags_url, {"tag": "lr-sweep"})  # twice is once
    assert list(run.tags.values_list("name", flat=True)) == ["baseline", "lr-sweep"]
    editor_a.post(tags_url, {"tag": "baseline", "action": "remove"})
    assert list(run.tags.values_list("name", flat=True)) == ["lr-sweep"]
    response = editor_a.post(tags_url, {"tag": "<script>"}, follow=True)
    assert "is not a tag" in response.content.decode() and run.tags.count() == 1

    editor_a.post(reverse("runs:notes", args=[run.pk]), {"notes": "restarted at 40k\r\nlower lr"})
    run.refresh_from_db()
    assert run.notes == "restarted at 40k\nlower lr" and run.notes_updated_by.username == "edna"
    assert "restarted at 40k" in client_a.get(reverse("runs:detail", args=[run.pk])).content.decode()

    fl_url = reverse("runs:final-loss", args=[run.pk])
    response = editor_a.post(fl_url, {"value": "abc"}, follow=True)
    assert "the final loss must be a number" in response.content.decode()
    editor_a.post(fl_url, {"value": "2.75", "note": "re-evaluated on held-out C4"})
    run.refresh_from_db()
    assert (run.final_loss, run.final_loss_provenance, run.final_loss_rule) == (
        2.75,
        "entered",
        "re-evaluated on held-out C4",
    )
    # Recompute keeps the editor's value and stores the rule's beside it; clear goes back to the rule.
    editor_a.post(fl_url, {"action": "recompute"})
    run.refresh_from_db()
    assert run.final_loss == 2.75 and run.final_loss_computed == pytest.approx(
        3.0 - np.arange(5960, 6000, 2).mean() / 1e4
    )
    editor_a.post(fl_url, {"action": "clear"})
    run.refresh_from_db()
    assert run.final_loss_provenance == "computed" and run.final_loss == run.final_loss_computed
    assert run.final_loss_rule == "mean of the last 20 points of loss (steps 5,960\u20135,998)"


def test_another_teams_run_is_404_for_every_verb(two_runs, make_user, team_b):
    foreign = TrainingRun.objects.create(team=team_b, name="secret-run")
    client = Client()
    client.force_login(make_user(Role.EDITOR, username="mallory"))
    assert client.get(reverse("runs:detail", args=[foreign.pk])).status_code == 404
    assert client.post(reverse("runs:tags", args=[foreign.pk]), {"tag": "x"}).status_code == 404
    assert client.post(reverse("runs:final-loss", args=[foreign.pk]), {"value": "1"}).status_code == 404
    assert not RunTag.objects.exists()


def test_run_detail_query_count_is_pinned(megatron_run, client_a, django_assert_max_num_queries):
    url = reverse("runs:detail", args=[megatron_run.pk])
    client_a.get(url)  # whole-curve windows are cached until the series changes
    # session, user, run, series, tags, studies (links), role; no query per panel once the windows are cached
    with django_assert_max_num_queries(7):
        assert client_a.get(url).status_code == 200
    cache.clear()
    # cold: each of the 5 panels reads its window raw (short series): one bounded range scan each
    with django_assert_max_num_queries(7 + 5):
        assert client_a.get(url).status_code == 200


def test_compare_overlays_panels_and_diffs_config(two_runs, client_a):
    ids = ",".join(str(r.pk) for r in two_runs)
    response = client_a.get(reverse("runs:compare"), {"ids": ids})
    assert response.status_code == 200
    data = embedded(response.content, "curves-data")
    assert [p["metric"] for p in data["panels"]] == ["loss", "lr"]
    loss = data["panels"][0]["traces"]
    assert [t["label"] for t in loss] == ["small", "large"]
    assert (
        loss[0]["values"][0] == 3.0
        and loss[1]["values"][0] == 2.0
        and all(len(t["steps"]) <= 2000 for t in loss)
    )
    diff = response.context["diff"]
    differ = {(row["group"], row["key"]): row["values"] for row in diff["differ"]}
    assert differ[("config", "lr")] == ["0.001", "0.0006"]
    assert differ[("run", "N (parameters)")] == ["125000000", "350000000"]
    same = {(row["group"], row["key"]) for row in diff["same"]}
    assert ("config", "optimizer.beta2") in same and ("config", "optimizer.name") in same
    assert 'id="diff-table"' in response.content.decode()


def test_compare_zoom_and_controls_in_the_url(two_runs, client_a):
    ids = ",".join(str(r.pk) for r in two_runs)
    response = client_a.get(
        reverse("runs:compare"), {"ids": ids, "m": "loss", "x0": "100", "x1": "199", "smooth": "0.5"}
    )
    data = embedded(response.content, "curves-data")
    for trace in data["panels"][0]["traces"]:
        assert trace["steps"][0] == 100 and trace["steps"][-1] == 198 and trace["total"] == 50
    assert data["params"]["smooth"] == 0.5


def test_compare_with_metric_missing_says_so(two_runs, team_a, client_a):
    other = TrainingRun.objects.create(team=team_a, name="no-metrics")
    response = client_a.get(reverse("runs:compare"), {"ids": f"{two_runs[0].pk},{other.pk}", "m": "lr"})
    assert response.status_code == 200
    assert [t["label"] for t in embedded(response.content, "curves-data")["panels"][0]["traces"]] == ["small"]
    assert "No \u201clr\u201d in no-metrics." in response.content.decode()


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
    assert b'id="curves-data"' not in response.content


def test_compare_with_another_teams_run_is_404(two_runs, make_user, team_b):
    foreign = TrainingRun.objects.create(team=team_b, name="secret-run")
    make_series(foreign, "loss", np.arange(5), np.arange(5.0))
    client = Client()
    client.force_login(make_user(Role.VIEWER))
    response = client.get(reverse("runs:compare"), {"ids": f"{two_runs[0].pk},{foreign.pk}"})
    assert response.status_code == 404
    assert b"secret-run" not in response.content


def test_compare_query_count_is_pinned(two_runs, client_a, django_assert_max_num_queries):
    url = reverse("runs:compare") + "?ids=" + ",".join(str(r.pk) for r in two_runs)
    client_a.get(url)
    # session, user, runs (team, model joined), series of all runs; windows cached
    with django_assert_max_num_queries(4):
        assert client_a.get(url).status_code == 200


def test_run_list_offers_selection(two_runs, client_a):
    response = client_a.get(reverse("runs:list"))
    assert response.content.count(b'class="run-pick"') == 2
    assert reverse("runs:selection").encode() in response.content
