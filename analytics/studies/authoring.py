"""What an editor (page or API) may ask a study to be: `spec_from_data(data, kinds=)` -> `StudySpec`.

Pure (no Django). A study selects its runs either by explicit run ids or by a filter: a list of conditions
(field, op, value) over the whitelisted fields in `FIELDS`. Users never name an ORM lookup; the queryset is
built from these conditions by `analytics.studies.points`, which maps each field to a fixed column.
Options are checked against the `OptionSpec`s the study kind declares (`StudyKind.options`).

    {"name": "Loss vs N", "kind": "power_law",
     "selection": {"filter": [{"field": "name", "op": "startswith", "value": "pl-"},
                              {"field": "parameters", "op": "gte", "value": "100M"}]},
     "target_metric": "final_loss", "options": {"variable": "N"}}

Bad input raises `SpecError(field, message)`: `field` is where (``selection.filter[1].value``), `errors`
has every problem found, each message says what is wrong and what would be accepted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tracker.runs.numbers import human_count, human_float, human_sci, parse_quantity

MAX_NAME = 200
MAX_TEXT = 200
MAX_CONDITIONS = 20
MAX_VALUES = 20  # per "is" condition (statuses, model names...)
MAX_RUN_IDS = 2000
MAX_OPTIONS_JSON = 10_000  # characters of the options object as JSON
INT64_MAX = 2**63 - 1
FINAL_LOSS = "final_loss"
BENCHMARK_PREFIX = "benchmark:"
SPEC_KEYS = ("name", "kind", "selection", "target_metric", "options")

# TrainingRun.Status and Precision values (tests check they match the model's choices).
STATUSES = ("running", "finished", "failed", "imported")
PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8", "int4")
# The runs page's tag rule (tracker.runs.selectors.tag_normalise; tests check they agree).
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9 ._:/+\-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SpecError(ValueError):
    """A study spec that cannot be stored. `field` names where (dotted path), `errors` every problem found."""

    def __init__(self, field: str, message: str, errors: Mapping[str, str] | None = None) -> None:
        self.field = field
        self.message = message
        self.errors: dict[str, str] = dict(errors) if errors else {field: message}
        super().__init__(f"{field}: {message}")


# --- the filter whitelist -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """A run field a filter may use: its label, its operators (op -> words) and the type of its value.

    Value types: text (non-empty, one line), tag (normalised like run tags), choice (one or more of
    `choices`), names (one or more names, matched case-insensitively), number (>= 0; 1.3B, 7e9 accepted),
    date (YYYY-MM-DD, inclusive)."""

    label: str
    ops: Mapping[str, str]
    value: str
    choices: tuple[str, ...] = ()
    example: str = ""


RANGE_OPS = {"gte": "≥", "lte": "≤"}
FIELDS: dict[str, FieldSpec] = {
    "name": FieldSpec(
        "name",
        {"contains": "contains", "startswith": "starts with (case-sensitive)", "is": "is exactly"},
        "text",
        example="iso-",
    ),
    "external_id": FieldSpec(
        "sender id", {"startswith": "starts with (case-sensitive)"}, "text", example="datablations:"
    ),
    "tag": FieldSpec("tag", {"has": "has tag"}, "tag", example="baseline"),
    "status": FieldSpec("status", {"is": "is (one of)"}, "choice", STATUSES, example="finished"),
    "precision": FieldSpec("precision", {"is": "is (one of)"}, "choice", PRECISIONS, example="bf16"),
    "model": FieldSpec("model", {"is": "is (one of)"}, "names", example="Chinchilla 70B"),
    "model_family": FieldSpec("model family", {"is": "is (one of)"}, "names", example="llama"),
    "hardware": FieldSpec("hardware", {"is": "is (one of)"}, "names", example="H100-SXM5-80GB"),
    "parameters": FieldSpec("N (parameters)", RANGE_OPS, "number", example="1.3B"),
    "tokens": FieldSpec("D (tokens)", RANGE_OPS, "number", example="26B"),
    "flops": FieldSpec("C = 6ND (FLOPs)", RANGE_OPS, "number", example="1e21"),
    "final_loss": FieldSpec("final loss", RANGE_OPS, "number", example="2.5"),
    "created": FieldSpec(
        "stored", {"after": "on or after", "before": "on or before"}, "date", example="2025-01-31"
    ),
}


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str | float | date | tuple[str, ...]

    def as_data(self) -> dict[str, Any]:
        value: Any = self.value
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        return {"field": self.field, "op": self.op, "value": value}

    def describe(self) -> str:
        """In words, for pages: 'name starts with (case-sensitive) “iso-”', 'N (parameters) ≥ 1.3B'."""
        spec = FIELDS[self.field]
        words = spec.ops[self.op]
        value = self.value
        if isinstance(value, tuple):
            shown = " or ".join(f"“{v}”" for v in value)
        elif isinstance(value, date):
            shown = value.isoformat()
        elif isinstance(value, float):
            if self.field == "flops":
                shown = human_sci(value)
            elif self.field == "final_loss":
                shown = human_float(value)
            else:
                shown = human_count(value)
        else:
            shown = f"“{value}”"
        return f"{spec.label} {words} {shown}"


def _text(raw: Any, where: str, *, what: str = "text") -> str:
    if not isinstance(raw, str):
        raise SpecError(where, f"must be {what} (a string), got {type(raw).__name__}")
    text = raw.strip()
    if not text:
        raise SpecError(where, "must not be empty")
    if len(text) > MAX_TEXT:
        raise SpecError(where, f"at most {MAX_TEXT} characters (got {len(text)})")
    if _CONTROL.search(text):
        raise SpecError(where, "must not contain control characters (NUL, newlines, tabs)")
    return text


def tag_normalise(raw: str, where: str) -> str:
    tag = " ".join(raw.strip().lower().split())
    if not TAG_RE.match(tag):
        raise SpecError(
            where,
            f"{raw[:40]!r} is not a tag: 1-64 characters, letters, digits, space and . _ : / + - "
            "(starting with a letter or digit)",
        )
    return tag


def _value_list(raw: Any, where: str) -> list[str]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise SpecError(where, f"must be a string or a list of strings, got {type(raw).__name__}")
    values = [_text(v, where) for v in items if not (isinstance(v, str) and not v.strip())]
    if not values:
        raise SpecError(where, "must name at least one value")
    if len(values) > MAX_VALUES:
        raise SpecError(where, f"at most {MAX_VALUES} values (got {len(values)})")
    return list(dict.fromkeys(values))


def _number(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise SpecError(where, f"must be a number (1.3B, 7e9, 2.5), got {type(raw).__name__}")
    if isinstance(raw, str):
        try:
            value = parse_quantity(raw.strip())
        except ValueError as exc:
            raise SpecError(where, str(exc)) from None
    else:
        value = float(raw)
    if not math.isfinite(value):
        raise SpecError(where, f"must be a finite number, got {raw!r}")
    if value < 0:
        raise SpecError(where, f"must be >= 0, got {raw!r}")
    return value


def _date(raw: Any, where: str) -> date:
    if not isinstance(raw, str):
        raise SpecError(where, f"must be a date YYYY-MM-DD (a string), got {type(raw).__name__}")
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise SpecError(where, f"{raw[:40]!r} is not a date (YYYY-MM-DD)") from None


def condition_from_data(raw: Any, where: str) -> Condition:
    """One condition: {"field": .., "op": .., "value": ..} or [field, op, value]."""
    if isinstance(raw, list | tuple):
        if len(raw) != 3:
            raise SpecError(where, f"a condition is [field, op, value], got {len(raw)} items")
        raw = {"field": raw[0], "op": raw[1], "value": raw[2]}
    if not isinstance(raw, Mapping):
        raise SpecError(where, f"a condition is an object {{field, op, value}}, got {type(raw).__name__}")
    extra = sorted(str(k)[:40] for k in set(raw) - {"field", "op", "value"})
    if extra:
        raise SpecError(where, f"unknown keys {extra}; a condition has field, op and value")
    name = raw.get("field")
    spec = FIELDS.get(name) if isinstance(name, str) else None
    if name is None or name == "":
        raise SpecError(f"{where}.field", f"choose a field: {', '.join(FIELDS)}")
    if spec is None:
        raise SpecError(
            f"{where}.field", f"{str(name)[:60]!r} is not a filter field; the fields are {', '.join(FIELDS)}"
        )
    assert isinstance(name, str)
    op = raw.get("op")
    if not isinstance(op, str) or op not in spec.ops:
        raise SpecError(
            f"{where}.op", f"{str(op)[:40]!r} is not an operator for {name}; use {', '.join(spec.ops)}"
        )
    at = f"{where}.value"
    if "value" not in raw:
        raise SpecError(at, "missing")
    value_raw = raw["value"]
    value: str | float | date | tuple[str, ...]
    if spec.value == "text":
        value = _text(value_raw, at)
    elif spec.value == "tag":
        value = tag_normalise(_text(value_raw, at), at)
    elif spec.value == "choice":
        values = [v.lower() for v in _value_list(value_raw, at)]
        bad = [v for v in values if v not in spec.choices]
        if bad:
            raise SpecError(at, f"{bad[0][:40]!r} is not a {spec.label} ({', '.join(spec.choices)})")
        value = tuple(values)
    elif spec.value == "names":
        value = tuple(_value_list(value_raw, at))
    elif spec.value == "number":
        value = _number(value_raw, at)
    else:
        value = _date(value_raw, at)
    return Condition(name, op, value)


def conditions_from_data(raw: Any, where: str = "selection.filter") -> tuple[Condition, ...]:
    """A filter: a list of conditions, all of which a run must meet."""
    if isinstance(raw, Mapping):
        keys = sorted(str(k)[:40] for k in raw)
        raise SpecError(
            where,
            f"a filter is a list of {{field, op, value}} conditions, not ORM lookups (got keys {keys}); "
            f"the fields are {', '.join(FIELDS)}",
        )
    if not isinstance(raw, list | tuple):
        raise SpecError(where, f"must be a list of conditions, got {type(raw).__name__}")
    if len(raw) > MAX_CONDITIONS:
        raise SpecError(where, f"at most {MAX_CONDITIONS} conditions (got {len(raw)})")
    conditions = tuple(condition_from_data(item, f"{where}[{i}]") for i, item in enumerate(raw))
    _check_ranges(conditions, where)
    return conditions


def _check_ranges(conditions: Sequence[Condition], where: str) -> None:
    """A range whose upper bound is below its lower bound selects nothing: say so instead."""
    for name in {c.field for c in conditions}:
        lows = [c.value for c in conditions if c.field == name and c.op in ("gte", "after")]
        highs = [
            (i, c.value) for i, c in enumerate(conditions) if c.field == name and c.op in ("lte", "before")
        ]
        for i, high in highs:
            if any(_less(high, low) for low in lows):
                raise SpecError(
                    f"{where}[{i}].value",
                    f"the range of {FIELDS[name].label} is empty: this upper bound is below a lower bound",
                )


def _less(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a < b
    if isinstance(a, date) and isinstance(b, date):
        return a < b
    return False


# Lookups stored before conditions existed (admin JSON, demo data) and the condition each one means.
LEGACY_LOOKUPS: dict[str, tuple[str, str]] = {
    "name": ("name", "is"),
    "name__startswith": ("name", "startswith"),
    "name__icontains": ("name", "contains"),
    "external_id__startswith": ("external_id", "startswith"),
    "status": ("status", "is"),
    "precision": ("precision", "is"),
    "model__family": ("model_family", "is"),
    "parameters__gte": ("parameters", "gte"),
    "parameters__lte": ("parameters", "lte"),
    "tokens__gte": ("tokens", "gte"),
    "tokens__lte": ("tokens", "lte"),
}


def conditions_from_lookups(lookups: Mapping[str, Any], where: str = "run_filter") -> tuple[Condition, ...]:
    """The old `{"name__startswith": "pl-"}` form, for the few lookups that had a meaning; others refused."""
    raw = []
    for key, value in lookups.items():
        if key not in LEGACY_LOOKUPS:
            raise SpecError(
                where,
                f"{str(key)[:60]!r} is not an allowed filter; old-style lookups accepted: "
                f"{', '.join(LEGACY_LOOKUPS)} (new studies use {{field, op, value}} conditions)",
            )
        name, op = LEGACY_LOOKUPS[key]
        raw.append({"field": name, "op": op, "value": value})
    return conditions_from_data(raw, where)


# --- options each study kind declares ------------------------------------------------------------------


@dataclass(frozen=True)
class OptionSpec:
    """One option of a study kind. Types: int, float (bounded by lo/hi), bool, choice (one of `choices`),
    choices (a non-empty subset of `choices`), params (an object of the numeric `keys`, each > 0)."""

    name: str
    type: str
    label: str
    default: Any = None  # None: no default (required options must be given)
    required: bool = False
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    help: str = ""

    def __post_init__(self) -> None:
        if self.type not in ("int", "float", "bool", "choice", "choices", "params"):
            raise ValueError(f"option {self.name}: unknown type {self.type!r}")


def _bool(raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return raw.strip().lower() in ("true", "yes", "on", "1")
    raise SpecError(where, f"must be true or false, got {str(raw)[:40]!r}")


def _bounded(value: float, opt: OptionSpec, where: str) -> None:
    if (opt.lo is not None and value < opt.lo) or (opt.hi is not None and value > opt.hi):
        raise SpecError(where, f"must be between {opt.lo:g} and {opt.hi:g}, got {value:g}")


def option_value(opt: OptionSpec, raw: Any, where: str) -> Any:
    if opt.type == "int":
        if isinstance(raw, str) and re.fullmatch(r"\s*[-+]?\d{1,19}\s*", raw):
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise SpecError(where, f"must be a whole number, got {str(raw)[:40]!r}")
        _bounded(raw, opt, where)
        return raw
    if opt.type == "float":
        if isinstance(raw, str):
            try:
                raw = float(raw.strip())
            except ValueError:
                raise SpecError(where, f"must be a number, got {raw[:40]!r}") from None
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise SpecError(where, f"must be a finite number, got {str(raw)[:40]!r}")
        _bounded(float(raw), opt, where)
        return float(raw)
    if opt.type == "bool":
        return _bool(raw, where)
    if opt.type == "choice":
        if not isinstance(raw, str) or raw.strip() not in opt.choices:
            raise SpecError(where, f"must be one of {', '.join(opt.choices)}, got {str(raw)[:40]!r}")
        return raw.strip()
    if opt.type == "choices":
        items = [v.strip() for v in raw.split(",")] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise SpecError(where, f"must be a list of names from {', '.join(opt.choices)}")
        items = [v for v in items if v]
        bad = [v for v in items if v not in opt.choices]
        if bad or not items:
            raise SpecError(
                where,
                f"must be a non-empty subset of {', '.join(opt.choices)}"
                + (f"; {bad[0][:40]!r} is not one" if bad else ""),
            )
        return list(dict.fromkeys(items))
    # params: an object of named positive numbers (a base law's coefficients)
    if not isinstance(raw, Mapping):
        raise SpecError(where, f"must be an object with {', '.join(opt.keys)}, got {type(raw).__name__}")
    extra = sorted(str(k)[:40] for k in set(raw) - set(opt.keys))
    missing = [k for k in opt.keys if k not in raw or (isinstance(raw[k], str) and not raw[k].strip())]
    if extra or missing:
        raise SpecError(
            where,
            f"must have exactly {', '.join(opt.keys)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(extra)}" if extra else ""),
        )
    out = {}
    for key in opt.keys:
        value = raw[key]
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise SpecError(f"{where}.{key}", f"must be a number, got {value[:40]!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise SpecError(f"{where}.{key}", f"must be a finite number, got {str(value)[:40]!r}")
        if value <= 0:
            raise SpecError(f"{where}.{key}", f"must be > 0, got {value:g}")
        out[key] = float(value)
    return out


def options_from_data(
    raw: Any, schema: Sequence[OptionSpec], kind: str, where: str = "options"
) -> dict[str, Any]:
    """The kind's options, checked; defaults filled in so the stored options say what the fit used."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SpecError(where, f"must be an object, got {type(raw).__name__}")
    known = {o.name: o for o in schema}
    extra = sorted(str(k)[:40] for k in set(raw) - set(known))
    if extra:
        allowed = ", ".join(known) if known else "none"
        raise SpecError(where, f"unknown options {extra} for kind {kind}; its options: {allowed}")
    out: dict[str, Any] = {}
    for opt in schema:
        value = raw.get(opt.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if opt.required:
                what = f": {opt.help}" if opt.help else f" ({opt.label})"
                raise SpecError(f"{where}.{opt.name}", f"required for kind {kind}{what}")
            if opt.default is not None:
                out[opt.name] = opt.default
            continue
        out[opt.name] = option_value(opt, value, f"{where}.{opt.name}")
    if len(json.dumps(out)) > MAX_OPTIONS_JSON:
        raise SpecError(where, f"at most {MAX_OPTIONS_JSON} characters as JSON")
    return out


# --- the spec ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudySpec:
    """A study as an editor describes it: exactly one of `run_ids` (explicit) or `conditions` (filter)."""

    name: str
    kind: str
    run_ids: tuple[int, ...] = ()
    conditions: tuple[Condition, ...] = ()
    target_metric: str = FINAL_LOSS
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def selection(self) -> str:
        return "runs" if self.run_ids else "filter"

    def filter_data(self) -> list[dict[str, Any]]:
        """The stored form of the filter (Study.run_filter)."""
        return [c.as_data() for c in self.conditions]

    def as_data(self) -> dict[str, Any]:
        """What `spec_from_data` reads back into an equal spec."""
        selection: dict[str, Any] = (
            {"run_ids": list(self.run_ids)} if self.run_ids else {"filter": self.filter_data()}
        )
        return {
            "name": self.name,
            "kind": self.kind,
            "selection": selection,
            "target_metric": self.target_metric,
            "options": dict(self.options),
        }


def run_ids_from_data(raw: Any, where: str = "selection.run_ids") -> tuple[int, ...]:
    """Run ids: a list of whole numbers, or text like "12, 15 16"."""
    items: Any = raw.replace(",", " ").split() if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise SpecError(where, f"must be a list of run ids, got {type(raw).__name__}")
    ids: list[int] = []
    for item in items:
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item.strip())
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= INT64_MAX:
            raise SpecError(where, f"run ids are whole numbers from 1, got {str(item)[:40]!r}")
        ids.append(item)
    ids = list(dict.fromkeys(ids))
    if len(ids) > MAX_RUN_IDS:
        raise SpecError(where, f"at most {MAX_RUN_IDS} runs (got {len(ids)})")
    return tuple(ids)


def target_from_data(raw: Any, where: str = "target_metric") -> str:
    """final_loss, benchmark:<name> (a score in the run's config) or the name of a metric series."""
    if raw is None:
        return FINAL_LOSS
    target = _text(raw, where)
    if target.startswith(BENCHMARK_PREFIX) and not target.removeprefix(BENCHMARK_PREFIX).strip():
        raise SpecError(where, "benchmark: needs a benchmark name (benchmark:MMLU)")
    return target


def spec_from_data(data: Any, *, kinds: Mapping[str, Sequence[OptionSpec]]) -> StudySpec:
    """Check a spec (JSON from the API, or the form's fields gathered by `data_from_form`).

    `kinds` maps each study kind to the options it declares (`analytics.studies.registry.KIND_OPTIONS`).
    Every problem is collected; the first is `SpecError.field` / `.message`, all are in `.errors`."""
    if not isinstance(data, Mapping):
        raise SpecError("spec", f"must be an object, got {type(data).__name__}")
    errors: dict[str, str] = {}
    for key in sorted(str(k)[:40] for k in set(data) - set(SPEC_KEYS)):
        errors[key] = f"unknown field; a study spec has {', '.join(SPEC_KEYS)}"
    name, target, options = "", FINAL_LOSS, {}
    run_ids: tuple[int, ...] = ()
    conditions: tuple[Condition, ...] = ()
    try:
        name = _name(data.get("name"))
    except SpecError as exc:
        errors.update(exc.errors)
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        errors["kind"] = f"{str(kind)[:40]!r} is not a study kind; the kinds are {', '.join(kinds)}"
    try:
        run_ids, conditions = _selection(data.get("selection"))
    except SpecError as exc:
        errors.update(exc.errors)
    try:
        target = target_from_data(data.get("target_metric"))
    except SpecError as exc:
        errors.update(exc.errors)
    if isinstance(kind, str) and kind in kinds:
        try:
            options = options_from_data(data.get("options"), kinds[kind], kind)
        except SpecError as exc:
            errors.update(exc.errors)
    if errors or not isinstance(kind, str):
        first = next(iter(errors))
        raise SpecError(first, errors[first], errors)
    return StudySpec(
        name=name, kind=kind, run_ids=run_ids, conditions=conditions, target_metric=target, options=options
    )


def _name(raw: Any) -> str:
    if raw is None:
        raise SpecError("name", "missing: give the study a name")
    if not isinstance(raw, str):
        raise SpecError("name", f"must be text, got {type(raw).__name__}")
    text = raw.strip()
    if not text:
        raise SpecError("name", "must not be empty")
    if len(text) > MAX_NAME:
        raise SpecError("name", f"at most {MAX_NAME} characters (got {len(text)})")
    if _CONTROL.search(text):
        raise SpecError("name", "must not contain control characters")
    return text


def _selection(raw: Any) -> tuple[tuple[int, ...], tuple[Condition, ...]]:
    where = "selection"
    if not isinstance(raw, Mapping):
        raise SpecError(
            where, 'missing: choose runs by id ({"run_ids": [..]}) or by a filter ({"filter": [..]})'
        )
    extra = sorted(str(k)[:40] for k in set(raw) - {"run_ids", "filter"})
    if extra:
        raise SpecError(where, f"unknown keys {extra}; a selection has run_ids or filter")
    has_ids = bool(raw.get("run_ids"))
    has_filter = bool(raw.get("filter"))
    if has_ids and has_filter:
        raise SpecError(where, "choose runs either by id or by a filter, not both")
    if has_ids:
        return run_ids_from_data(raw["run_ids"]), ()
    if has_filter or isinstance(raw.get("filter"), Mapping):
        return (), conditions_from_data(raw["filter"])
    raise SpecError(where, "no runs chosen: give run ids, or at least one filter condition")


# --- the HTML form --------------------------------------------------------------------------------------


def data_from_form(get: Any, *, kinds: Mapping[str, Sequence[OptionSpec]]) -> dict[str, Any]:
    """The study form's fields as spec data. `get(key)` returns the list of values sent for `key`.

    Filter rows are `cond` ("field:op") with `cond_value`; empty rows are skipped. Options are
    `opt-<kind>-<name>` (params: `opt-<kind>-<name>-<key>`), read for the chosen kind only."""

    def one(key: str) -> str:
        values = get(key)
        return values[-1] if values else ""

    data: dict[str, Any] = {"name": one("name"), "kind": one("kind") or None}
    if one("target_metric").strip():
        data["target_metric"] = one("target_metric")
    if one("selection") == "runs":
        data["selection"] = {"run_ids": one("run_ids")}
    else:
        rows = []
        for choice, value in zip(get("cond"), get("cond_value"), strict=False):
            if not choice.strip() and not value.strip():
                continue  # an empty row of the form
            name, _, op = choice.partition(":")
            rows.append({"field": name, "op": op, "value": value})
        data["selection"] = {"filter": rows}
    kind = data["kind"]
    options: dict[str, Any] = {}
    for opt in kinds.get(kind, ()) if isinstance(kind, str) else ():
        key = f"opt-{kind}-{opt.name}"
        if opt.type == "params":
            parts = {k: one(f"{key}-{k}") for k in opt.keys}
            if any(v.strip() for v in parts.values()):
                options[opt.name] = parts
        elif opt.type == "choices":
            picked = [v for v in get(key) if v.strip()]
            if picked:
                options[opt.name] = picked
        elif one(key).strip():
            options[opt.name] = one(key)
    data["options"] = options
    return data
