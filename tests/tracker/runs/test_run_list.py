"""The runs list: server-side filter, search, sort, pages, columns, numbers for people, exports, selection."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.http import QueryDict
from django.test import Client
from django.urls import reverse

from core.roles import Role
from tracker.models import Hardware, Model, RunTag, TrainingRun
from tracker.runs.selectors import RunFilter, RunFilterError, run_page, runs_filtered

pytestmark = pytest.mark.django_db


def make_run(team, name, **fields):
    tags = fields.pop("tags", [])
    run = TrainingRun.objects.create(team=team, name=name, **fields)
    for tag in tags:
        RunTag.objects.create(run=run, name=tag)
    return run


@pytest.fixture
def lab(team_a, team_b):
    h100 = Hardware.objects.create(name="H100-SXM5-80GB")
    a100 = Hardware.objects.create(name="A100-40GB")
    llama = Model.objects.create(name="Llama 3.1 8B")
    runs = {
        "tiny": make_run(
            team_a,
            "tiny-125m",
            parameters=124_439_808.0,
            tokens=2.5e9,
            final_loss=3.41,
            status="finished",
            hardware=a100,
            tags=["baseline"],
            started_at=datetime(2024, 3, 1, tzinfo=UTC),
        ),
        "mid": make_run(
            team_a,
            "mid-1b3",
            parameters=7979498622.008407,
            tokens=1.26e12,
            final_loss=2.51,
            status="running",
            hardware=h100,
            gpu_count=64,
            model=llama,
            tags=["baseline", "lr-sweep"],
            started_at=datetime(2024, 6, 15, tzinfo=UTC),
            notes="diverged at 40k, restarted with lower lr",
        ),
        "big": make_run(
            team_a,
            "big-7b",
            parameters=7e9,
            tokens=None,
            final_loss=None,
            status="failed",
            hardware=h100,
            tags=["lr-sweep"],
            started_at=datetime(2024, 9, 30, tzinfo=UTC),
        ),
        "imported": make_run(
            team_a, "=HYPERLINK(evil)", parameters=None, tokens=3e11, external_id="wandb:abc"
        ),
    }
    runs["foreign"] = make_run(team_b, "foreign-secret", parameters=1e9, tokens=1e10, tags=["baseline"])
    return runs


@pytest.fixture
def viewer(make_user):
    client = Client()
    client.force_login(make_user(Role.VIEWER, username="vera"))
    return client


@pytest.fixture
def editor(make_user):
    client = Client()
    client.force_login(make_user(Role.EDITOR, username="eddie"))
    return client


def names(user, query: str) -> list[str]:
    return [r.name for r in runs_filtered(user=user, run_filter=RunFilter.from_query(QueryDict(query)))]


@pytest.fixture
def user_a(make_user):
    return make_user(Role.VIEWER, username="ann")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["=HYPERLINK(evil)", "big-7b", "mid-1b3", "tiny-125m"]),  # newest first (imported today)
        ("q=lower+lr", ["mid-1b3"]),  # notes
        ("q=llama", ["mid-1b3"]),  # model name
        ("q=sweep", ["big-7b", "mid-1b3"]),  # tag
        ("q=wandb:abc", ["=HYPERLINK(evil)"]),  # sender id
        ("q=H100+7b", ["big-7b"]),  # every term must match
        ("name=MID", ["mid-1b3"]),
        ("tag=baseline&tag=lr-sweep", ["mid-1b3"]),  # all tags
        ("tag=Baseline", ["mid-1b3", "tiny-125m"]),
        ("status=running&status=failed", ["big-7b", "mid-1b3"]),  # any status
        ("model=llama+3.1+8b", ["mid-1b3"]),
        ("hardware=h100-sxm5-80gb&sort=name", ["big-7b", "mid-1b3"]),
        ("n_min=1B", ["big-7b", "mid-1b3"]),
        ("n_min=1B&n_max=7.5e9", ["big-7b"]),
        ("d_min=100B&sort=d", ["=HYPERLINK(evil)", "mid-1b3"]),
        ("c_min=1e22", ["mid-1b3"]),  # 6 * 7.98e9 * 1.26e12 = 6.0e22
        ("c_max=1e20", ["tiny-125m"]),
        ("loss_max=3", ["mid-1b3"]),
        ("after=2024-06-15&before=2024-09-30", ["big-7b", "mid-1b3"]),
        ("before=2024-06-14", ["tiny-125m"]),
    ],
)
def test_filters_and_search(lab, user_a, query, expected):
    assert names(user_a, query) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["=HYPERLINK(evil)", "big-7b", "mid-1b3", "tiny-125m"]),
        ("-name", ["tiny-125m", "mid-1b3", "big-7b", "=HYPERLINK(evil)"]),
        ("n", ["tiny-125m", "big-7b", "mid-1b3", "=HYPERLINK(evil)"]),  # missing values always last
        ("-n", ["mid-1b3", "big-7b", "tiny-125m", "=HYPERLINK(evil)"]),
        ("flops", ["tiny-125m", "mid-1b3", "=HYPERLINK(evil)", "big-7b"]),
        ("loss", ["mid-1b3", "tiny-125m", "=HYPERLINK(evil)", "big-7b"]),
        ("-loss", ["tiny-125m", "mid-1b3", "=HYPERLINK(evil)", "big-7b"]),
        ("hardware", ["tiny-125m", "big-7b", "mid-1b3", "=HYPERLINK(evil)"]),  # ties: newest id first
        ("status", ["big-7b", "tiny-125m", "=HYPERLINK(evil)", "mid-1b3"]),
    ],
)
def test_sort_on_any_column_missing_last(lab, user_a, sort, expected):
    assert names(user_a, f"sort={sort}") == expected


def test_every_bad_parameter_is_reported_at_once():
    query = QueryDict(
        "n_min=lots&d_max=1e&sort=team__memberships__user&page=0&per_page=7&status=exploded"
        "&after=yesterday&tag=%21%21&cols=name,secret&parameters__gt=1"
    )
    with pytest.raises(RunFilterError) as info:
        RunFilter.from_query(query)
    errors = info.value.errors
    assert set(errors) == {
        "n_min",
        "sort",
        "page",
        "per_page",
        "status",
        "after",
        "tag",
        "cols",
        "parameters__gt",
    } | ({"d_max"} if "d_max" in errors else set())
    assert "'lots' is not a number (examples: 1.3B, 7e9, 250M, 1.4T)" in errors["n_min"]
    assert "is not a sortable column" in errors["sort"]
    assert errors["parameters__gt"].startswith("unknown parameter")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"n_min": "abc"}, "n_min"),
        ({"n_min": "5B", "n_max": "1B"}, "must not be smaller than n_min"),
        ({"sort": "password"}, "is not a sortable column"),
        ({"sort": "-tags"}, "is not a sortable column"),
        ({"page": "two"}, "is not a whole number"),
        ({"per_page": "100000"}, "one of 25, 50, 100, 200"),
        ({"after": "2024-13-01"}, "is not a date (YYYY-MM-DD)"),
        ({"status": "exploded"}, "is not a status"),
        ({"cols": "name,password"}, "is not a column"),
        ({"team__memberships__role": "admin"}, "unknown parameter"),
        ({"q": "x" * 300}, "at most 200 characters"),
    ],
)
def test_bad_values_answer_400_with_the_page_explaining(lab, viewer, query, message):
    response = viewer.get(reverse("runs:list"), query)
    assert response.status_code == 400
    body = response.content.decode()
    assert "This view could not be shown" in body and message in body
    assert 'id="runs-table"' not in body and "Traceback" not in body


def test_page_shows_numbers_for_people_with_exact_values_on_hover(lab, viewer):
    response = viewer.get(reverse("runs:list"), {"sort": "name"})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'title="7979498622.008407">7.98B</td>' in body
    assert 'title="1260000000000">1.26T</td>' in body
    assert 'title="6.032500958238355e+22">6.03e22</td>' in body
    assert "7979498622.008407<" not in body  # never the raw float as text
    assert "foreign-secret" not in body  # another team's run
    assert "1\u20134 of 4 runs" in body


def test_pages_and_columns(lab, viewer, team_a):
    for i in range(60):
        make_run(team_a, f"sweep-{i:02d}", parameters=1e8 + i)
    response = viewer.get(reverse("runs:list"), {"sort": "name", "per_page": "25", "page": "3"})
    page = response.context["page"]
    assert (page.count, page.num_pages, page.page) == (64, 3, 3)
    assert [r.name for r in page.runs][:2] == ["sweep-47", "sweep-48"] and len(page.runs) == 14
    assert "51\u201364 of 64 runs" in response.content.decode()
    # A page past the end shows the last one (a shared link may outlive some runs).
    assert viewer.get(reverse("runs:list"), {"page": "99", "per_page": "25"}).context["page"].page == 3
    # Columns: chosen ones only, name always, in the table's order; repeated col= works without JavaScript.
    page = viewer.get(reverse("runs:list"), {"cols": "loss,n"}).context["page"]
    assert [c["key"] for c in page.columns] == ["name", "n", "loss"]
    page = viewer.get(reverse("runs:list") + "?col=tags&col=date").context["page"]
    assert [c["key"] for c in page.columns] == ["name", "tags", "date"]


def test_view_state_is_in_the_url(lab, viewer):
    query = {
        "q": "sweep",
        "tag": "lr-sweep",
        "n_min": "1B",
        "sort": "-n",
        "cols": "n,d,loss",
        "per_page": "25",
    }
    response = viewer.get(reverse("runs:list"), query)
    run_filter = response.context["run_filter"]
    assert (
        run_filter.url_query()
        == "?q=sweep&tag=lr-sweep&n_min=1e%2B09&sort=-n&cols=name%2Cn%2Cd%2Closs&per_page=25"
    )
    again = viewer.get(reverse("runs:list") + run_filter.url_query())
    assert [r.name for r in again.context["page"].runs] == [r.name for r in response.context["page"].runs]
    body = response.content.decode()
    # Sort links keep the filter; the active column flips direction.
    assert (
        'href="/runs/?q=sweep&amp;tag=lr-sweep&amp;n_min=1e%2B09&amp;sort=n&amp;cols=name%2Cn%2Cd%2Closs&amp;per_page=25"'
        in body
    )
    chips = [c["label"] for c in response.context["chips"]]
    assert chips == ["search \u201csweep\u201d", "tag = lr-sweep", "N \u2265 1B"]


def test_export_has_exact_values_every_page_and_no_formulas(lab, viewer):
    response = viewer.get(reverse("runs:export"), {"sort": "name", "per_page": "25"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, body = rows[0], rows[1:]
    assert [r[header.index("name")] for r in body] == ["'=HYPERLINK(evil)", "big-7b", "mid-1b3", "tiny-125m"]
    mid = body[2]
    assert mid[header.index("n")] == "7979498622.008407" and mid[header.index("d")] == "1260000000000"
    assert mid[header.index("tags")] == "baseline lr-sweep"
    assert viewer.get(reverse("runs:export"), {"n_min": "x"}).status_code == 400


def test_selection_hands_off_ids(lab, viewer):
    ids = [lab["tiny"].pk, lab["mid"].pk, lab["foreign"].pk]
    url = reverse("runs:selection")
    r = viewer.post(url, {"id": ids, "action": "compare"})
    assert r.status_code == 302 and r["Location"] == f"/runs/compare/?ids={ids[0]}%2C{ids[1]}"
    r = viewer.post(url, {"id": ids, "action": "report"})
    assert r["Location"] == f"{reverse('reports:list')}?scope=run_set&run_ids={ids[0]}%2C{ids[1]}"
    r = viewer.post(url, {"id": ids[:2], "action": "study"})
    assert r["Location"] == f"{reverse('studies:list')}?runs={ids[0]}%2C{ids[1]}"
    r = viewer.post(url, {"id": [], "action": "compare", "next": "/runs/?q=x"})
    assert r["Location"] == "/runs/?q=x"
    r = viewer.post(url, {"id": ids[:1], "action": "compare", "next": "https://evil.example/"})
    assert r["Location"].startswith("/runs/compare/")
    r = viewer.post(url, {"id": ids[:1], "action": "explode"})
    assert r.status_code == 400


def test_bulk_tagging_needs_the_editor_role(lab, viewer, editor):
    ids = [lab["tiny"].pk, lab["big"].pk]
    r = viewer.post(reverse("runs:selection"), {"id": ids, "action": "tag", "tag": "ablation"})
    assert r.status_code == 403 and not RunTag.objects.filter(name="ablation").exists()
    r = editor.post(reverse("runs:selection"), {"id": ids, "action": "tag", "tag": "Ablation "})
    assert r.status_code == 302
    assert sorted(RunTag.objects.filter(name="ablation").values_list("run__name", flat=True)) == [
        "big-7b",
        "tiny-125m",
    ]
    editor.post(reverse("runs:selection"), {"id": ids, "action": "untag", "tag": "ablation"})
    assert not RunTag.objects.filter(name="ablation").exists()
    r = editor.post(reverse("runs:selection"), {"id": ids, "action": "tag", "tag": "no way!"}, follow=True)
    assert "is not a tag" in r.content.decode()


def test_run_page_rows_are_the_filtered_page(lab, user_a):
    page = run_page(user=user_a, run_filter=RunFilter.from_query(QueryDict("cols=n,tags&sort=name")))
    assert [[c["text"] for c in row["cells"]][:2] for row in page.rows] == [
        ["=HYPERLINK(evil)", "\u2013"],
        ["big-7b", "7B"],
        ["mid-1b3", "7.98B"],
        ["tiny-125m", "124M"],
    ]
    tags = page.rows[2]["cells"][2]["tags"]
    assert [t["name"] for t in tags] == ["baseline", "lr-sweep"]
    assert tags[0]["url"] == "?tag=baseline&sort=name&cols=name%2Cn%2Ctags"


def test_runs_page_query_count_is_pinned(team_a, viewer, django_assert_max_num_queries):
    hw = Hardware.objects.create(name="H100")
    model = Model.objects.create(name="m")
    for i in range(120):
        make_run(
            team_a,
            f"r{i}",
            parameters=1e9 + i,
            tokens=2e10,
            hardware=hw,
            model=model,
            tags=["a", f"t{i % 3}"],
        )
    # session, user, 4 facets, count, page rows (team, model, hardware joined), page tags, editable teams
    with django_assert_max_num_queries(10):
        response = viewer.get(reverse("runs:list"), {"tag": "a", "sort": "-n", "per_page": "100"})
    assert response.status_code == 200 and len(response.context["page"].runs) == 100
