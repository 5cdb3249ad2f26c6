"""Study authoring on PostgreSQL: what each filter field selects, editor-only services that never reach another
team's runs, the points preview, stale-and-refit on edits (the study's spec, a run's final loss), the data
migration of stored lookups, and the live status the study page polls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from analytics.models import Fit, Study
from analytics.studies import points as study_points
from analytics.studies import selectors as study_selectors
from analytics.studies import services as study_services
from analytics.studies.authoring import Condition, SpecError, StudySpec, conditions_from_data
from analytics.studies.registry import spec_from_data
from core.leases import lease_held
from core.roles import Role
from tests.conftest import wait_for
from tracker.accounts import services as account_services
from tracker.models import Hardware, MetricSeries, Model, RunTag, TrainingRun
from tracker.runs import services as run_services

pytestmark = pytest.mark.django_db

SIZES = (1e7, 3e7, 1e8, 3e8, 1e9, 3e9)


def _law_runs(team: Any, prefix: str = "pl-", sizes: tuple[float, ...] = SIZES) -> list[TrainingRun]:
    return [
        TrainingRun.objects.create(
            team=team, name=f"{prefix}{i}", parameters=n, tokens=20 * n, final_loss=1.8 + 400 * n**-0.3
        )
        for i, n in enumerate(sizes)
    ]


def _spec(name: str = "N law", **kw: Any) -> StudySpec:
    data: dict[str, Any] = {
        "name": name,
        "kind": "power_law",
        "selection": {"filter": [["name", "startswith", "pl-"]]},
        "options": {"variable": "N"},
    }
    data.update(kw)
    return spec_from_data(data)


# --- the whitelist on the database -----------------------------------------------------------------------


def _names(team: Any, *conditions: list[Any]) -> set[str]:
    parsed = conditions_from_data([list(c) for c in conditions])
    return set(study_points.filter_runs(team_id=team.pk, conditions=parsed).values_list("name", flat=True))


def test_each_filter_field_selects_exactly_the_matching_runs_of_the_team(team_a: Any, team_b: Any) -> None:
    h100 = Hardware.objects.create(name="H100-SXM5-80GB")
    a100 = Hardware.objects.create(name="A100-80GB")
    llama = Model.objects.create(name="LLaMA 7B", family="llama")
    pythia = Model.objects.create(name="Pythia 1B", family="pythia")

    def run(team: Any, name: str, **kw: Any) -> TrainingRun:
        return TrainingRun.objects.create(team=team, name=name, **kw)

    small = run(team_a, "iso-small", external_id="sweep:1", status="finished", precision="bf16", model=llama,
                hardware=h100, parameters=1e8, tokens=2e9, final_loss=3.1)  # fmt: skip
    big = run(team_a, "iso-big", external_id="sweep:2", status="running", precision="fp8", model=pythia,
              hardware=a100, parameters=1e9, tokens=2e10, final_loss=2.4)  # fmt: skip
    run(team_a, "Other", external_id="other:1", status="failed", parameters=None, tokens=None)
    # Another team's runs look the same; no condition ever reaches them.
    run(team_b, "iso-small", external_id="sweep:1", status="finished", precision="bf16", model=llama,
        hardware=h100, parameters=1e8, tokens=2e9, final_loss=3.1)  # fmt: skip
    RunTag.objects.create(run=small, name="baseline")
    RunTag.objects.create(run=big, name="lr sweep")
    TrainingRun.objects.filter(pk=big.pk).update(created_at=datetime(2025, 2, 10, 12, tzinfo=UTC))
    TrainingRun.objects.filter(pk=small.pk).update(created_at=datetime(2025, 1, 31, 23, tzinfo=UTC))

    assert _names(team_a, ["name", "contains", "ISO"]) == {"iso-small", "iso-big"}
    assert _names(team_a, ["name", "startswith", "iso-b"]) == {"iso-big"}
    assert _names(team_a, ["name", "startswith", "ISO"]) == set()  # case-sensitive, as the form says
    assert _names(team_a, ["name", "is", "Other"]) == {"Other"}
    assert _names(team_a, ["external_id", "startswith", "sweep:"]) == {"iso-small", "iso-big"}
    assert _names(team_a, ["tag", "has", "Baseline"]) == {"iso-small"}
    assert _names(team_a, ["status", "is", "running, failed"]) == {"iso-big", "Other"}
    assert _names(team_a, ["precision", "is", "bf16"]) == {"iso-small"}
    assert _names(team_a, ["model", "is", "llama 7b"]) == {"iso-small"}
    assert _names(team_a, ["model_family", "is", "PYTHIA, gpt"]) == {"iso-big"}
    assert _names(team_a, ["hardware", "is", "a100-80gb"]) == {"iso-big"}
    assert _names(team_a, ["parameters", "gte", "1B"]) == {"iso-big"}
    assert _names(team_a, ["parameters", "lte", "100M"]) == {"iso-small"}
    assert _names(team_a, ["tokens", "gte", "2e9"], ["tokens", "lte", "1e10"]) == {"iso-small"}
    assert _names(team_a, ["flops", "gte", 6 * 1e9 * 2e10]) == {"iso-big"}  # C = 6ND, computed per run
    assert _names(team_a, ["flops", "lte", "1.2e18"]) == {"iso-small"}
    assert _names(team_a, ["final_loss", "lte", 2.5]) == {"iso-big"}
    assert _names(team_a, ["final_loss", "gte", 3]) == {"iso-small"}
    # Stored dates are whole days in the site's time zone (UTC), both ends inclusive.
    assert _names(team_a, ["created", "after", "2025-02-01"], ["name", "contains", "iso"]) == {"iso-big"}
    assert _names(team_a, ["created", "before", "2025-01-31"]) == {"iso-small"}
    assert _names(team_a, ["created", "after", "2025-01-31"], ["created", "before", "2025-02-10"]) == {
        "iso-small",
        "iso-big",
    }
    # All conditions together (AND).
    assert _names(team_a, ["name", "contains", "iso"], ["status", "is", "finished"]) == {"iso-small"}


def test_an_empty_selection_selects_nothing_not_the_whole_team(team_a: Any) -> None:
    _law_runs(team_a)
    study = study_services.study_create(team=team_a, name="empty", kind="power_law")
    assert list(study_points.study_runs(study)) == []
    fit = study_services.study_refit(study_id=study.pk)
    assert fit.status == Fit.Status.FAILED  # nothing to fit, said by the fitter; no run was read
    assert fit.goodness == {}


# --- permissions and team scoping ----------------------------------------------------------------------


def test_viewers_and_other_teams_cannot_author_and_nothing_is_stored(
    make_user: Any, team_a: Any, team_b: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _law_runs(team_a)
    viewer = make_user(Role.VIEWER, team_a)
    outsider = make_user(Role.EDITOR, team_b)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        for user in (viewer, outsider):
            with pytest.raises(PermissionDenied, match="editor role in team Lab A"):
                study_services.study_author(user=user, team=team_a, spec=_spec())
            with pytest.raises(PermissionDenied):
                study_services.study_preview(user=user, team=team_a, spec=_spec())
    assert callbacks == []
    assert not Study.objects.exists()

    editor = make_user(Role.EDITOR, team_a)
    study = study_services.study_author(user=editor, team=team_a, spec=_spec())
    for user in (viewer, outsider):
        with pytest.raises(PermissionDenied):
            study_services.study_update(user=user, study=study, spec=_spec(name="renamed"))
        with pytest.raises(PermissionDenied):
            study_services.study_delete(user=user, study=study)
        with pytest.raises(PermissionDenied):
            study_services.study_runs_add(user=user, study=study, run_ids=[1])
    study.refresh_from_db()
    assert study.name == "N law" and Study.objects.count() == 1


def test_explicit_ids_of_another_teams_runs_are_refused(make_user: Any, team_a: Any, team_b: Any) -> None:
    mine = _law_runs(team_a)
    theirs = _law_runs(team_b, prefix="b-")
    # Even an editor of both teams cannot put team B's runs into a team A study.
    editor = make_user(Role.EDITOR, team_a)
    account_services.membership_set(team=team_b, user=editor, role=Role.EDITOR)
    ids = [mine[0].pk, theirs[0].pk, theirs[1].pk]
    spec = _spec(selection={"run_ids": ids})
    for call in (
        lambda: study_services.study_author(user=editor, team=team_a, spec=spec),
        lambda: study_services.study_preview(user=editor, team=team_a, spec=spec),
    ):
        with pytest.raises(SpecError) as caught:
            call()
        assert caught.value.field == "selection.run_ids"
        assert caught.value.message == (
            f"not runs of team Lab A: {theirs[0].pk}, {theirs[1].pk} (a study uses its own team's runs)"
        )
    assert not Study.objects.exists()
    study = study_services.study_author(
        user=editor, team=team_a, spec=_spec(selection={"run_ids": [mine[0].pk]})
    )
    with pytest.raises(SpecError):
        study_services.study_runs_add(user=editor, study=study, run_ids=[theirs[2].pk])
    with pytest.raises(SpecError):
        study_services.study_update(user=editor, study=study, spec=spec)
    assert list(study.runs.values_list("pk", flat=True)) == [mine[0].pk]


def test_a_name_is_unique_per_team(make_user: Any, team_a: Any, team_b: Any) -> None:
    editor = make_user(Role.EDITOR, team_a)
    first = study_services.study_author(user=editor, team=team_a, spec=_spec())
    with pytest.raises(SpecError, match="team Lab A already has a study named 'N law'"):
        study_services.study_author(user=editor, team=team_a, spec=_spec())
    other = study_services.study_author(user=editor, team=team_a, spec=_spec(name="other"))
    with pytest.raises(SpecError, match="already has a study named 'N law'"):
        study_services.study_update(user=editor, study=other, spec=_spec())
    assert Study.objects.filter(team=team_a).count() == 2
    assert study_services.study_update(user=editor, study=first, spec=_spec()).pk == first.pk  # own name


# --- author, update, delete ----------------------------------------------------------------------------


def test_author_stores_the_spec_and_queues_its_first_fit(
    make_user: Any, team_a: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _law_runs(team_a)
    editor = make_user(Role.EDITOR, team_a)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        study = study_services.study_author(user=editor, team=team_a, spec=_spec())
    assert len(callbacks) == 1
    assert study.refit_requested_at is not None
    assert study.run_filter == [{"field": "name", "op": "startswith", "value": "pl-"}]
    assert (study.kind, study.target_metric, study.options) == (
        "power_law",
        "final_loss",
        {"variable": "N", "n_bootstrap": 100, "seed": 0},
    )
    assert study_selectors.study_spec(study) == _spec()
    fit = study_services.study_refit(study_id=study.pk)
    assert fit.status == Fit.Status.CURRENT and fit.goodness["n_points"] == 6
    assert fit.params["a"] == pytest.approx(0.3, rel=1e-7)
    study.refresh_from_db()
    assert study.refit_requested_at is None


def test_editing_the_spec_stales_the_fit_and_refits_a_rename_does_not(
    make_user: Any, team_a: Any, django_capture_on_commit_callbacks: Any
) -> None:
    runs = _law_runs(team_a)
    _law_runs(team_a, prefix="pl-big-", sizes=(1e10,))
    editor = make_user(Role.EDITOR, team_a)
    study = study_services.study_author(user=editor, team=team_a, spec=_spec())
    v1 = study_services.study_refit(study_id=study.pk)
    assert v1.goodness["n_points"] == 7

    # Only the six small runs, by id: the fit is stale at once, and one refit is queued.
    by_id = _spec(selection={"run_ids": [r.pk for r in runs]})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        study = study_services.study_update(user=editor, study=study, spec=by_id)
    assert len(callbacks) == 1
    v1.refresh_from_db()
    assert v1.status == Fit.Status.STALE
    assert study.run_filter == [] and study.runs.count() == 6
    v2 = study_services.study_refit(study_id=study.pk)
    assert (v2.version, v2.status, v2.goodness["n_points"]) == (2, Fit.Status.CURRENT, 6)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        renamed = _spec(name="renamed", selection={"run_ids": [r.pk for r in runs]})
        study_services.study_update(user=editor, study=study, spec=renamed)
    assert callbacks == []
    v2.refresh_from_db()
    assert v2.status == Fit.Status.CURRENT

    # Back to the first spec: the refit brings v1 back (same inputs), no new version.
    study_services.study_update(user=editor, study=study, spec=_spec())
    again = study_services.study_refit(study_id=study.pk)
    assert (again.pk, again.status) == (v1.pk, Fit.Status.CURRENT)
    assert Fit.objects.filter(study=study).count() == 2


def test_delete_takes_the_fits_and_leaves_the_runs(make_user: Any, team_a: Any) -> None:
    _law_runs(team_a)
    editor = make_user(Role.EDITOR, team_a)
    study = study_services.study_author(user=editor, team=team_a, spec=_spec())
    study_services.study_refit(study_id=study.pk)
    study_services.study_delete(user=editor, study=study)
    assert not Study.objects.exists() and not Fit.objects.exists()
    assert TrainingRun.objects.filter(team=team_a).count() == 6


def test_runs_add_grows_an_id_selection_and_refuses_a_filter_study(make_user: Any, team_a: Any) -> None:
    runs = _law_runs(team_a)
    editor = make_user(Role.EDITOR, team_a)
    by_id = study_services.study_author(
        user=editor, team=team_a, spec=_spec(name="ids", selection={"run_ids": [runs[0].pk, runs[1].pk]})
    )
    study_services.study_runs_add(user=editor, study=by_id, run_ids=[runs[1].pk, runs[4].pk])
    assert sorted(by_id.runs.values_list("pk", flat=True)) == [runs[0].pk, runs[1].pk, runs[4].pk]
    by_filter = study_services.study_author(user=editor, team=team_a, spec=_spec())
    with pytest.raises(SpecError, match="selects its runs by a filter"):
        study_services.study_runs_add(user=editor, study=by_filter, run_ids=[runs[0].pk])
    assert by_filter.runs.count() == 0


# --- preview -------------------------------------------------------------------------------------------


def test_preview_shows_the_points_and_why_runs_are_left_out_storing_nothing(
    make_user: Any, team_a: Any, team_b: Any, django_capture_on_commit_callbacks: Any
) -> None:
    good = _law_runs(team_a, sizes=(1e8, 1e9))
    no_n = TrainingRun.objects.create(team=team_a, name="pl-no-n", tokens=2e9, final_loss=3.0)
    no_loss = TrainingRun.objects.create(team=team_a, name="pl-no-loss", parameters=2e8, tokens=4e9)
    nan = TrainingRun.objects.create(
        team=team_a, name="pl-nan", parameters=5e8, tokens=1e10, final_loss=float("nan")
    )
    _law_runs(team_b, sizes=(1e8,))  # team B's "pl-0" is never a point of a team A study
    editor = make_user(Role.EDITOR, team_a)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        preview = study_services.study_preview(user=editor, team=team_a, spec=_spec())
    assert callbacks == [] and not Study.objects.exists() and not Fit.objects.exists()
    assert (preview.n_selected, preview.n_included, preview.n_excluded, preview.n_blocking) == (5, 2, 3, 1)
    assert preview.needs == ("n", "loss") and preview.columns == ["n", "d", "loss"]
    assert preview.target_label == "final loss"
    rows = {r.run_name: r for r in preview.rows}
    assert [r.run_id for r in preview.rows] == sorted(r.pk for r in [*good, no_n, no_loss, nan])
    assert rows["pl-0"].values == {"n": 1e8, "d": 2e9, "loss": pytest.approx(1.8 + 400 * 1e8**-0.3)}
    assert rows["pl-0"].included and rows["pl-0"].reason == ""
    assert (rows["pl-no-n"].included, rows["pl-no-n"].reason) == (False, "no N (parameters)")
    assert rows["pl-no-loss"].reason == "no final loss"
    assert (rows["pl-nan"].blocks, rows["pl-nan"].reason) == (
        True,
        "final loss is NaN: the fit stops on this run",
    )
    assert preview.blocking == [f"run 'pl-nan' (id {nan.pk}): final loss is NaN"]
    # The fit says the same once saved.
    study = study_services.study_author(user=editor, team=team_a, spec=_spec())
    failed = study_services.study_refit(study_id=study.pk)
    assert failed.status == Fit.Status.FAILED and "run 'pl-nan'" in failed.error_message

    # D as the variable: the run without N is now usable, the one without D would not be.
    by_d = study_services.study_preview(
        user=editor,
        team=team_a,
        spec=_spec(name="d", options={"variable": "D"}, selection={"run_ids": [no_n.pk, good[0].pk]}),
    )
    assert by_d.needs == ("d", "loss") and by_d.n_included == 2
    # A metric series as the target: its last value, and runs without the series are left out.
    MetricSeries.objects.create(run=good[0], name="val/loss", last_value=2.75)
    by_series = study_services.study_preview(user=editor, team=team_a, spec=_spec(target_metric="val/loss"))
    rows = {r.run_name: r for r in by_series.rows}
    assert by_series.target_label == "val/loss (last value)"
    assert rows["pl-0"].values["loss"] == 2.75 and rows["pl-0"].included
    assert rows["pl-1"].reason == "no val/loss (last value)"
    figures = study_selectors.preview_figures(preview)
    assert [t["name"] for t in figures[0]["data"]] == ["fitted"]  # the others have no N or no usable loss
    assert figures[0]["data"][0]["x"] == [1e8, 1e9]
    assert figures[0]["layout"]["xaxis"]["type"] == "log"
    # Chinchilla needs D too: a run with N and a loss but no D is drawn, marked as left out.
    TrainingRun.objects.create(team=team_a, name="pl-no-d", parameters=3e8, final_loss=3.2)
    chinchilla = study_services.study_preview(
        user=editor, team=team_a, spec=_spec(kind="chinchilla", options={})
    )
    assert {r.run_name: r.reason for r in chinchilla.rows}["pl-no-d"] == "no D (tokens)"
    (figure,) = study_selectors.preview_figures(chinchilla)
    assert [(t["name"], t["text"]) for t in figure["data"]] == [
        ("fitted", ["pl-0", "pl-1"]),
        ("left out", ["pl-no-d"]),
    ]


def test_preview_of_a_synthetic_study_uses_its_own_points(make_user: Any, team_a: Any) -> None:
    for i, r in enumerate((0.0, 0.25, 0.5)):
        TrainingRun.objects.create(
            team=team_a,
            name=f"syn-{i}",
            parameters=1e9,
            synthetic_share=r,
            config={"benchmarks": {"MMLU": 50.0 + i}},
        )
    TrainingRun.objects.create(
        team=team_a, name="syn-no-r", parameters=1e9, config={"benchmarks": {"MMLU": 40.0}}
    )
    editor = make_user(Role.EDITOR, team_a)
    spec = spec_from_data(
        {
            "name": "syn",
            "kind": "synthetic_ratio",
            "selection": {"filter": [["name", "startswith", "syn-"]]},
            "target_metric": "benchmark:MMLU",
            "options": {"minimize": "false"},
        }
    )
    preview = study_services.study_preview(user=editor, team=team_a, spec=spec)
    assert preview.columns == ["n", "r", "loss"] and preview.target_label == "MMLU score"
    assert [(r.run_name, r.values["r"], r.values["loss"], r.reason) for r in preview.rows] == [
        ("syn-0", 0.0, 50.0, ""),
        ("syn-1", 0.25, 51.0, ""),
        ("syn-2", 0.5, 52.0, ""),
        ("syn-no-r", None, 40.0, "no synthetic share"),
    ]
    assert study_selectors.preview_figures(preview)[0]["layout"]["xaxis"]["type"] == "linear"


def test_target_choices_come_from_the_selected_runs(team_a: Any, team_b: Any) -> None:
    runs = _law_runs(team_a, sizes=(1e8, 1e9, 1e10))
    for run in runs[:2]:
        MetricSeries.objects.create(run=run, name="val/loss", last_value=2.0)
    MetricSeries.objects.create(run=runs[0], name="train/loss", last_value=2.1)
    TrainingRun.objects.filter(pk=runs[0].pk).update(config={"benchmarks": {"MMLU": 60.1, "GSM8k": 30}})
    other = TrainingRun.objects.create(team=team_b, name="pl-x")
    MetricSeries.objects.create(run=other, name="secret/metric", last_value=1.0)
    choices = study_selectors.target_choices(
        team_id=team_a.pk, conditions=(Condition("name", "startswith", "pl-"),)
    )
    assert choices == [
        ("final_loss", "final loss (3 of 3 runs)"),
        ("val/loss", "val/loss, last value (2 of 3 runs)"),
        ("train/loss", "train/loss, last value (1 of 3 runs)"),
        ("benchmark:GSM8k", "GSM8k score, from the run config (1 of 3 runs)"),
        ("benchmark:MMLU", "MMLU score, from the run config (1 of 3 runs)"),
    ]
    # Another team's run ids add nothing.
    assert study_selectors.target_choices(team_id=team_a.pk, run_ids=[other.pk]) == [
        ("final_loss", "final loss (0 of 0 runs)")
    ]


# --- a run's final loss feeds the studies ----------------------------------------------------------------


def test_an_editors_final_loss_stales_and_refits_the_studies_using_the_run(
    make_user: Any, team_a: Any, django_capture_on_commit_callbacks: Any
) -> None:
    runs = _law_runs(team_a)
    _law_runs(team_a, prefix="other-")
    editor = make_user(Role.EDITOR, team_a)

    def author(name: str, selection: dict[str, Any], target: str = "final_loss") -> Study:
        spec = _spec(name=name, selection=selection, target_metric=target)
        return study_services.study_author(user=editor, team=team_a, spec=spec)

    by_id = author("by id", {"run_ids": [r.pk for r in runs]})
    by_filter = author("by filter", {"filter": [["name", "startswith", "pl-"]]})
    by_loss = author(
        "by loss range", {"filter": [["name", "startswith", "other-"], ["final_loss", "lte", 3.5]]}
    )
    unrelated = author("unrelated", {"filter": [["name", "startswith", "other-"]]})
    fits = {s.pk: study_services.study_refit(study_id=s.pk) for s in (by_id, by_filter, by_loss, unrelated)}
    Study.objects.update(refit_requested_at=None)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run_services.run_final_loss_enter(actor=editor, run=runs[2], value=2.5, note="held-out eval")
        run_services.run_final_loss_enter(actor=editor, run=runs[2], value=2.5, note="same value again")
    assert len(callbacks) == 1  # the second edit changed nothing
    affected = study_services.studies_refit_for_runs(run_ids=[runs[2].pk])
    assert affected == [by_id.pk, by_filter.pk, by_loss.pk]
    statuses = dict(Fit.objects.values_list("study_id", "status"))
    assert statuses == {
        by_id.pk: "stale",
        by_filter.pk: "stale",
        by_loss.pk: "stale",
        unrelated.pk: "current",
    }
    assert set(Study.objects.filter(refit_requested_at__isnull=False).values_list("pk", flat=True)) == set(
        affected
    )

    # The refit fits the editor's value: the study reads TrainingRun.final_loss, provenance "entered".
    refit = study_services.study_refit(study_id=by_id.pk)
    assert refit.version == 2
    point = next(p for p in refit.residuals if p["run_id"] == runs[2].pk)
    assert point["observed"] == 2.5
    runs[2].refresh_from_db()
    assert runs[2].final_loss_provenance == "entered"
    assert fits[unrelated.pk].pk == Fit.objects.get(study=unrelated).pk

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run_services.run_final_loss_clear(actor=editor, run=runs[2])
    assert len(callbacks) == 1  # cleared (no curves to recompute from): one publish, not two
    viewer = make_user(Role.VIEWER, team_a)
    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(PermissionDenied):
        run_services.run_final_loss_enter(actor=viewer, run=runs[3], value=9.0)
    assert callbacks == []


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_refits_a_study_after_a_final_loss_edit(
    celery_worker_process: Any, make_user: Any, team_a: Any
) -> None:
    runs = _law_runs(team_a)
    editor = make_user(Role.EDITOR, team_a)
    study = study_services.study_create(
        team=team_a, name="N law", kind="power_law", runs=runs, options={"variable": "N"}
    )
    v1 = study_services.study_refit(study_id=study.pk)
    with transaction.atomic():
        run_services.run_final_loss_enter(actor=editor, run=runs[0], value=9.5)
    v2 = wait_for(lambda: Fit.objects.filter(study=study, version=2, status="current").first(), timeout=60)
    v1.refresh_from_db()
    assert v1.status == Fit.Status.STALE
    assert next(p for p in v2.residuals if p["run_id"] == runs[0].pk)["observed"] == 9.5
    wait_for(lambda: Study.objects.filter(pk=study.pk, refit_requested_at__isnull=True).exists(), timeout=30)


# --- live status ---------------------------------------------------------------------------------------


def test_status_says_queued_running_then_idle_with_the_fit(make_user: Any, team_a: Any) -> None:
    _law_runs(team_a)
    editor = make_user(Role.EDITOR, team_a)
    study = study_services.study_author(user=editor, team=team_a, spec=_spec())
    status = study_selectors.study_status(study)
    assert (status["state"], status["fit"]) == ("queued", None) and status["waited_s"] >= 0
    with lease_held(Study, study.pk):
        assert study_selectors.study_status(study)["state"] == "running"
    fit = study_services.study_refit(study_id=study.pk)
    study.refresh_from_db()
    status = study_selectors.study_status(study)
    assert status["state"] == "idle" and status["waited_s"] is None
    assert status["fit"] == {
        "id": fit.pk,
        "version": 1,
        "status": "current",
        "status_label": "Current",
        "error": "",
        "n_points": 6,
        "created_at": fit.created_at.isoformat(),
    }


# --- the data migration --------------------------------------------------------------------------------

BEFORE = [("analytics", "0004_study_refit_requested_at")]


def _migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_migration_turns_stored_lookups_into_conditions() -> None:
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        _migrate(BEFORE)
        old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        team = old.get_model("tracker", "Team").objects.create(name="m", slug="m")
        old_study = old.get_model("analytics", "Study")
        demo = old_study.objects.create(
            team=team, name="demo", kind="power_law", run_filter={"external_id__startswith": "datablations:"}
        )
        mixed = old_study.objects.create(
            team=team,
            name="mixed",
            kind="power_law",
            run_filter={"name__startswith": "iso-", "status": "finished", "parameters__gte": 1e8},
        )
        bad = old_study.objects.create(
            team=team, name="bad", kind="power_law", run_filter={"team__name": "B"}
        )
        _migrate(leaves)
        stored = dict(Study.objects.values_list("pk", "run_filter"))
        assert stored[demo.pk] == [{"field": "external_id", "op": "startswith", "value": "datablations:"}]
        assert set(conditions_from_data(stored[mixed.pk])) == {  # jsonb keeps no key order
            Condition("name", "startswith", "iso-"),
            Condition("status", "is", ("finished",)),
            Condition("parameters", "gte", 1e8),
        }
        with pytest.raises(study_points.StudySelectionError, match="'team__name' is not a filter field"):
            study_points.study_runs(Study.objects.get(pk=bad.pk))
        # And back: the lookups the old code understood.
        _migrate(BEFORE)
        back = dict(old_study.objects.values_list("pk", "run_filter"))
        assert back[mixed.pk] == {"name__startswith": "iso-", "status": "finished", "parameters__gte": 1e8}
    finally:
        _migrate(leaves)
