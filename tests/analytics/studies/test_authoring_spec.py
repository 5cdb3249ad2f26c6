"""Study specs (pure, no database): every whitelisted filter field, refused operators, values and lookups, the
options each kind declares, the HTML form's fields, and the lookups stored before the whitelist."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from analytics.studies import authoring
from analytics.studies.authoring import (
    FIELDS,
    Condition,
    OptionSpec,
    SpecError,
    StudySpec,
    conditions_from_data,
    conditions_from_lookups,
    data_from_form,
    spec_from_data,
)
from analytics.studies.registry import KIND_OPTIONS, KINDS
from tracker.runs.models import Precision, TrainingRun
from tracker.runs.selectors import tag_normalise

KINDS_SCHEMA = KIND_OPTIONS


def _spec(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Loss vs N",
        "kind": "power_law",
        "selection": {"filter": [{"field": "name", "op": "startswith", "value": "pl-"}]},
        "target_metric": "final_loss",
        "options": {"variable": "N"},
    }
    data.update(changes)
    return data


def _refused(data: Any) -> SpecError:
    with pytest.raises(SpecError) as caught:
        spec_from_data(data, kinds=KINDS_SCHEMA)
    return caught.value


def _cond(field: str, op: str, value: Any) -> Condition:
    (c,) = conditions_from_data([{"field": field, "op": op, "value": value}])
    return c


def test_a_full_spec_round_trips() -> None:
    spec = spec_from_data(_spec(), kinds=KINDS_SCHEMA)
    assert spec == StudySpec(
        name="Loss vs N",
        kind="power_law",
        conditions=(Condition("name", "startswith", "pl-"),),
        target_metric="final_loss",
        options={"variable": "N", "n_bootstrap": 100, "seed": 0},
    )
    assert spec.selection == "filter"
    assert spec_from_data(spec.as_data(), kinds=KINDS_SCHEMA) == spec
    by_ids = spec_from_data(_spec(selection={"run_ids": [3, "5", 3]}), kinds=KINDS_SCHEMA)
    assert (by_ids.run_ids, by_ids.conditions, by_ids.selection) == ((3, 5), (), "runs")
    assert spec_from_data(by_ids.as_data(), kinds=KINDS_SCHEMA) == by_ids


@pytest.mark.parametrize(
    ("field", "op", "value", "stored"),
    [
        ("name", "contains", " sweep ", "sweep"),
        ("name", "startswith", "iso-", "iso-"),
        ("name", "is", "run 1", "run 1"),
        ("external_id", "startswith", "datablations:", "datablations:"),
        ("tag", "has", "  Base  Line ", "base line"),
        ("status", "is", "finished, Running", ("finished", "running")),
        ("status", "is", ["failed"], ("failed",)),
        ("precision", "is", "bf16", ("bf16",)),
        ("model", "is", "Chinchilla 70B, LLaMA 7B", ("Chinchilla 70B", "LLaMA 7B")),
        ("model_family", "is", ["llama"], ("llama",)),
        ("hardware", "is", "H100-SXM5-80GB", ("H100-SXM5-80GB",)),
        ("parameters", "gte", "1.3B", 1.3e9),
        ("parameters", "lte", 7e9, 7e9),
        ("tokens", "gte", "250M", 2.5e8),
        ("tokens", "lte", "1,000", 1000.0),
        ("flops", "gte", "1e21", 1e21),
        ("flops", "lte", 6e23, 6e23),
        ("final_loss", "gte", "2.5", 2.5),
        ("final_loss", "lte", 3, 3.0),
        ("created", "after", "2025-01-31", date(2025, 1, 31)),
        ("created", "before", "2025-02-01", date(2025, 2, 1)),
    ],
)
def test_every_whitelisted_field_and_operator(field: str, op: str, value: Any, stored: Any) -> None:
    c = _cond(field, op, value)
    assert (c.field, c.op, c.value) == (field, op, stored)
    assert conditions_from_data([c.as_data()]) == (c,)  # the stored form reads back the same
    assert c.describe().startswith(FIELDS[field].label)


def test_the_whitelist_has_an_example_for_every_field_and_is_what_the_form_offers() -> None:
    assert set(FIELDS) == {
        "name", "external_id", "tag", "status", "precision", "model", "model_family", "hardware",
        "parameters", "tokens", "flops", "final_loss", "created",
    }  # fmt: skip
    for name, spec in FIELDS.items():
        assert spec.example, name
        for op in spec.ops:
            assert _cond(name, op, spec.example).field == name


def test_statuses_precisions_and_tags_follow_the_run_model() -> None:
    assert tuple(TrainingRun.Status.values) == authoring.STATUSES
    assert set(authoring.PRECISIONS) == {p for p in Precision.values if p}
    for raw in ("Baseline", " lr  sweep 3 ", "a/b:c+d-e.f_g"):
        assert authoring.tag_normalise(raw, "t") == tag_normalise(raw)
    for bad in ("", "-x", "x" * 65, "nul\x00"):
        with pytest.raises(ValueError):
            tag_normalise(bad)
        with pytest.raises(SpecError):
            authoring.tag_normalise(bad, "t")


@pytest.mark.parametrize(
    ("condition", "where", "says"),
    [
        (
            {"field": "team__slug", "op": "is", "value": "lab-b"},
            "[0].field",
            "'team__slug' is not a filter field",
        ),
        ({"field": "team", "op": "is", "value": "1"}, "[0].field", "'team' is not a filter field"),
        (
            {"field": "user__password__startswith", "op": "is", "value": "p"},
            "[0].field",
            "not a filter field",
        ),
        ({"field": "config__secret", "op": "is", "value": "x"}, "[0].field", "not a filter field"),
        ({"field": "name", "op": "regex", "value": ".*"}, "[0].op", "'regex' is not an operator for name"),
        ({"field": "name", "op": "icontains", "value": "x"}, "[0].op", "use contains, startswith, is"),
        ({"field": "parameters", "op": "gt", "value": 1}, "[0].op", "use gte, lte"),
        ({"field": "status", "op": "is", "value": "done"}, "[0].value", "'done' is not a status"),
        ({"field": "precision", "op": "is", "value": "fp64"}, "[0].value", "'fp64' is not a precision"),
        ({"field": "parameters", "op": "gte", "value": "lots"}, "[0].value", "'lots' is not a number"),
        ({"field": "parameters", "op": "gte", "value": -1}, "[0].value", "must be >= 0"),
        ({"field": "tokens", "op": "gte", "value": float("nan")}, "[0].value", "finite"),
        ({"field": "flops", "op": "lte", "value": "1e400"}, "[0].value", "not a finite number"),
        ({"field": "final_loss", "op": "gte", "value": True}, "[0].value", "must be a number"),
        (
            {"field": "created", "op": "after", "value": "31/01/2025"},
            "[0].value",
            "is not a date (YYYY-MM-DD)",
        ),
        ({"field": "name", "op": "contains", "value": "  "}, "[0].value", "must not be empty"),
        ({"field": "name", "op": "contains", "value": "a\x00b"}, "[0].value", "control characters"),
        ({"field": "name", "op": "contains", "value": "x" * 201}, "[0].value", "at most 200 characters"),
        ({"field": "name", "op": "contains", "value": {"$ne": 1}}, "[0].value", "must be text"),
        ({"field": "tag", "op": "has", "value": "-bad"}, "[0].value", "is not a tag"),
        ({"field": "model", "op": "is", "value": ["x"] * 21}, "[0].value", "at most 20 values"),
        ({"field": "name", "op": "is"}, "[0].value", "missing"),
        ({"field": "name", "op": "is", "value": "x", "lookup": "y"}, "[0]", "unknown keys ['lookup']"),
        (["name", "is"], "[0]", "a condition is [field, op, value]"),
        ("name__startswith=x", "[0]", "a condition is an object"),
    ],
)
def test_refused_conditions_name_the_place_and_the_reason(condition: Any, where: str, says: str) -> None:
    error = _refused(_spec(selection={"filter": [condition]}))
    assert error.field == f"selection.filter{where}"
    assert says in error.message


def test_orm_lookups_as_a_filter_are_refused_not_interpreted() -> None:
    for lookups in (
        {"team__slug": "lab-b"},
        {"user__password__startswith": "pbkdf2"},
        {"name__startswith": "x"},
    ):
        error = _refused(_spec(selection={"filter": lookups}))
        assert error.field == "selection.filter"
        assert "not ORM lookups" in error.message
    # A spec's own keys are a whitelist too: an extra "team" or "run_filter" is not silently used.
    error = _refused(_spec(team="lab-b", run_filter={"team__slug": "lab-b"}))
    assert error.errors["team"].startswith("unknown field") and "run_filter" in error.errors


def test_an_empty_range_is_refused() -> None:
    error = _refused(
        _spec(
            selection={
                "filter": [
                    ["parameters", "gte", "1B"],
                    ["parameters", "lte", "100M"],
                    ["tokens", "lte", "1T"],
                ]
            }
        )
    )
    assert error.field == "selection.filter[1].value"
    assert "range of N (parameters) is empty" in error.message
    error = _refused(
        _spec(selection={"filter": [["created", "after", "2025-03-01"], ["created", "before", "2025-02-01"]]})
    )
    assert error.field == "selection.filter[1].value"


def test_selection_must_be_one_of_ids_or_filter() -> None:
    assert "not both" in _refused(_spec(selection={"run_ids": [1], "filter": [["name", "is", "x"]]})).message
    assert "no runs chosen" in _refused(_spec(selection={"run_ids": [], "filter": []})).message
    assert "missing" in _refused(_spec(selection=None)).message
    assert "unknown keys ['where']" in _refused(_spec(selection={"where": "1=1"})).message
    assert (
        "at most 20 conditions" in _refused(_spec(selection={"filter": [["name", "is", "x"]] * 21})).message
    )
    for bad in ([0], [-3], ["7; DROP TABLE"], [True], [2**63], "1, two"):
        error = _refused(_spec(selection={"run_ids": bad}))
        assert error.field == "selection.run_ids" and "whole numbers from 1" in error.message, bad
    assert spec_from_data(_spec(selection={"run_ids": "4, 5 6"}), kinds=KINDS_SCHEMA).run_ids == (4, 5, 6)


def test_name_kind_and_target_are_checked_and_every_error_is_reported() -> None:
    error = _refused(
        {
            "name": " ",
            "kind": "linear_regression",
            "selection": {"filter": [["team__slug", "is", "x"]]},
            "target_metric": "benchmark:",
        }
    )
    assert error.errors == {
        "name": "must not be empty",
        "kind": "'linear_regression' is not a study kind; the kinds are " + ", ".join(KINDS),
        "selection.filter[0].field": "'team__slug' is not a filter field; the fields are "
        + ", ".join(FIELDS),
        "target_metric": "benchmark: needs a benchmark name (benchmark:MMLU)",
    }
    assert error.field == "name"
    assert "at most 200" in _refused(_spec(name="n" * 201)).message
    assert "control characters" in _refused(_spec(target_metric="val/\nloss")).message
    assert spec_from_data(_spec(target_metric=" val/loss "), kinds=KINDS_SCHEMA).target_metric == "val/loss"
    assert spec_from_data(_spec(target_metric=None), kinds=KINDS_SCHEMA).target_metric == "final_loss"
    assert "must be an object" in _refused(["not", "a", "spec"]).message


def test_every_kind_declares_options_with_defaults_filled_in() -> None:
    assert set(KIND_OPTIONS) == set(KINDS)
    options = {
        kind: spec_from_data(_spec(kind=kind, options={}), kinds=KINDS_SCHEMA).options
        for kind in KINDS
        if kind != "data_constrained"
    }
    assert options == {
        "chinchilla": {"n_bootstrap": 100, "seed": 0, "plan_compute": 1e22},
        "power_law": {"variable": "N", "n_bootstrap": 100, "seed": 0},
        "isoflop": {"window": 2, "budget_tolerance": 0.05, "n_bootstrap": 1000, "seed": 0},
        "synthetic_ratio": {"n_bootstrap": 100, "seed": 0, "minimize": True},
        "kaplan": {"n_bootstrap": 100, "seed": 0},
        "precision": {"n_bootstrap": 100, "seed": 0},
        "downstream": {"n_bootstrap": 100, "seed": 0},
        "test_time": {"n_bootstrap": 100, "seed": 0},
        "diffusion_ar": {},
    }
    base = {"a": 6.255414, "b": 7.3049974, "e": 0.6254804, "alpha": 0.3526596, "beta": "0.3526596"}
    spec = spec_from_data(_spec(kind="data_constrained", options={"base": base}), kinds=KINDS_SCHEMA)
    assert spec.options == {"base": {**base, "beta": 0.3526596}}
    error = _refused(_spec(kind="data_constrained", options={}))
    assert error.field == "options.base" and "required for kind data_constrained" in error.message


@pytest.mark.parametrize(
    ("kind", "options", "where", "says"),
    [
        ("power_law", {"variable": "X"}, "options.variable", "must be one of N, D, C"),
        ("power_law", {"window": 2}, "options", "unknown options ['window'] for kind power_law"),
        ("power_law", {"__class__": 1}, "options", "unknown options"),
        ("chinchilla", {"n_bootstrap": 1}, "options.n_bootstrap", "between 2 and 2000"),
        ("chinchilla", {"n_bootstrap": 10**6}, "options.n_bootstrap", "between 2 and 2000"),
        ("chinchilla", {"n_bootstrap": "ten"}, "options.n_bootstrap", "whole number"),
        ("chinchilla", {"n_bootstrap": 2.5}, "options.n_bootstrap", "whole number"),
        ("chinchilla", {"seed": True}, "options.seed", "whole number"),
        ("isoflop", {"window": 0}, "options.window", "between 1 and 20"),
        ("synthetic_ratio", {"minimize": "maybe"}, "options.minimize", "true or false"),
        ("synthetic_ratio", {"models": ["gp_rbf", "svm"]}, "options.models", "'svm' is not one"),
        ("synthetic_ratio", {"models": []}, "options.models", "must be a non-empty subset"),
        ("data_constrained", {"base": {"a": 1}}, "options.base", "missing b, e, alpha, beta"),
        ("data_constrained", {"base": [1, 2]}, "options.base", "must be an object"),
        (
            "data_constrained",
            {"base": {"a": 1, "b": 1, "e": 1, "alpha": 1, "beta": -1}},
            "options.base.beta",
            "must be > 0",
        ),
        ("chinchilla", ["n_bootstrap"], "options", "must be an object"),
    ],
)
def test_options_are_checked_against_the_kinds_declaration(
    kind: str, options: Any, where: str, says: str
) -> None:
    error = _refused(_spec(kind=kind, options=options))
    assert error.field == where and says in error.message


def test_option_specs_refuse_unknown_types() -> None:
    with pytest.raises(ValueError, match="unknown type 'dict'"):
        OptionSpec("x", "dict", "x")


def test_form_fields_become_spec_data() -> None:
    form = {
        "name": ["IsoFLOP sweep"],
        "kind": ["isoflop"],
        "selection": ["filter"],
        "run_ids": ["1, 2"],  # ignored: the filter is chosen
        "cond": ["name:startswith", "", "parameters:gte", ""],
        "cond_value": ["iso-", "", "100M", ""],
        "target_metric": ["val/loss"],
        "opt-isoflop-window": ["3"],
        "opt-power_law-variable": ["D"],  # another kind's option: ignored
    }
    data = data_from_form(lambda k: form.get(k, []), kinds=KINDS_SCHEMA)
    spec = spec_from_data(data, kinds=KINDS_SCHEMA)
    assert spec == StudySpec(
        name="IsoFLOP sweep",
        kind="isoflop",
        conditions=(Condition("name", "startswith", "iso-"), Condition("parameters", "gte", 1e8)),
        target_metric="val/loss",
        options={"window": 3, "budget_tolerance": 0.05, "n_bootstrap": 1000, "seed": 0},
    )
    form.update({"selection": ["runs"], "kind": ["data_constrained"]})
    for k, v in zip(("a", "b", "e", "alpha", "beta"), ("6.2", "7.3", "0.62", "0.35", "0.35"), strict=True):
        form[f"opt-data_constrained-base-{k}"] = [v]
    spec = spec_from_data(data_from_form(lambda k: form.get(k, []), kinds=KINDS_SCHEMA), kinds=KINDS_SCHEMA)
    assert spec.run_ids == (1, 2) and spec.conditions == ()
    assert spec.options == {"base": {"a": 6.2, "b": 7.3, "e": 0.62, "alpha": 0.35, "beta": 0.35}}
    # A forged "field:op" from the form is refused like any other.
    form.update({"selection": ["filter"], "cond": ["team__slug:is"], "cond_value": ["lab-b"]})
    error = _refused(data_from_form(lambda k: form.get(k, []), kinds=KINDS_SCHEMA))
    assert error.field == "selection.filter[0].field"
    # A value typed without choosing a field is not silently dropped.
    form.update({"cond": [""], "cond_value": ["iso-"]})
    error = _refused(data_from_form(lambda k: form.get(k, []), kinds=KINDS_SCHEMA))
    assert error.field == "selection.filter[0].field" and "choose a field" in error.message


def test_old_lookups_convert_to_conditions_and_others_are_refused() -> None:
    assert conditions_from_lookups(
        {
            "external_id__startswith": "porian:",
            "status": "finished",
            "model__family": "llama",
            "tokens__lte": 1e9,
        }
    ) == (
        Condition("external_id", "startswith", "porian:"),
        Condition("status", "is", ("finished",)),
        Condition("model_family", "is", ("llama",)),
        Condition("tokens", "lte", 1e9),
    )
    for bad in ({"team__slug": "lab-b"}, {"name__regex": ".*"}, {"runs__team__name": "x"}):
        with pytest.raises(SpecError, match="is not an allowed filter"):
            conditions_from_lookups(bad)
