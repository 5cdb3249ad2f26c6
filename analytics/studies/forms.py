"""The study form's state: what each field shows (from a stored spec, or from what the editor sent), and the
widgets of every kind's options. The form is plain HTML (it works without JavaScript);
`authoring.data_from_form` reads it back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from analytics.studies.authoring import FIELDS, FINAL_LOSS, OptionSpec, StudySpec
from tracker.runs.numbers import DASH, exact, human_count, human_float, human_sci

BLANK_ROWS = 2  # empty filter rows under the given ones (JavaScript adds more on demand)
NAMES_SHOWN = 12  # run names listed under explicit run ids


@dataclass
class FormState:
    name: str = ""
    kind: str = ""
    selection: str = "filter"  # "runs" (explicit ids) or "filter"
    run_ids: str = ""
    target_metric: str = FINAL_LOSS
    conditions: list[tuple[str, str]] = field(default_factory=list)  # ("field:op", value as typed)
    options: dict[str, Any] = field(default_factory=dict)  # form key -> value (str, or list for choices)

    @property
    def rows(self) -> list[tuple[str, str]]:
        return [*self.conditions, *[("", "")] * BLANK_ROWS]


def condition_choices() -> list[dict[str, str]]:
    """The filter rows' choices: "field:op" with words and an example value (the input's placeholder)."""
    return [
        {"value": f"{name}:{op}", "label": f"{spec.label} {words}", "example": spec.example}
        for name, spec in FIELDS.items()
        for op, words in spec.ops.items()
    ]


def _text(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    return str(value)


def state_from_spec(spec: StudySpec, kinds: Mapping[str, Sequence[OptionSpec]]) -> FormState:
    state = FormState(
        name=spec.name,
        kind=spec.kind,
        selection="runs" if spec.run_ids else "filter",
        run_ids=", ".join(map(str, spec.run_ids)),
        target_metric=spec.target_metric,
        conditions=[(f"{c.field}:{c.op}", _text(c.value)) for c in spec.conditions],
    )
    for opt in kinds.get(spec.kind, ()):
        key = f"opt-{spec.kind}-{opt.name}"
        value = spec.options.get(opt.name)
        if value is None:
            continue
        if opt.type == "params" and isinstance(value, Mapping):
            for k in opt.keys:
                state.options[f"{key}-{k}"] = _text(value.get(k, ""))
        elif opt.type == "choices":
            state.options[key] = [str(v) for v in value] if isinstance(value, list) else []
        else:
            state.options[key] = _text(value)
    return state


def state_from_post(get: Callable[[str], list[str]], kinds: Mapping[str, Sequence[OptionSpec]]) -> FormState:
    """What the editor sent, shown again as typed (after a preview or a refusal)."""

    def one(key: str) -> str:
        values = get(key)
        return values[-1] if values else ""

    state = FormState(
        name=one("name"),
        kind=one("kind"),
        selection="runs" if one("selection") == "runs" else "filter",
        run_ids=one("run_ids"),
        target_metric=one("target_metric"),
        conditions=[
            (c, v) for c, v in zip(get("cond"), get("cond_value"), strict=False) if c.strip() or v.strip()
        ],
    )
    for kind, options in kinds.items():
        for opt in options:
            key = f"opt-{kind}-{opt.name}"
            if opt.type == "params":
                for k in opt.keys:
                    state.options[f"{key}-{k}"] = one(f"{key}-{k}")
            elif opt.type == "choices":
                state.options[key] = get(key)
            else:
                state.options[key] = one(key)
    return state


def option_widgets(
    kinds: Mapping[str, Sequence[OptionSpec]], labels: Mapping[str, str], state: FormState
) -> list[dict[str, Any]]:
    """Per kind, its options as widgets with the value to show (the state's, else the default)."""
    out = []
    for kind, options in kinds.items():
        widgets = []
        for opt in options:
            key = f"opt-{kind}-{opt.name}"
            widget: dict[str, Any] = {"opt": opt, "key": key, "required": opt.required}
            if opt.type == "params":
                widget["parts"] = [
                    {"key": f"{key}-{k}", "label": k, "value": state.options.get(f"{key}-{k}", "")}
                    for k in opt.keys
                ]
            elif opt.type == "choices":
                picked = state.options.get(key) or list(opt.choices)
                widget["choices"] = [(c, c in picked) for c in opt.choices]
            else:
                value = state.options.get(key)
                default = _text(opt.default) if opt.default is not None else ""
                widget["value"] = value if value not in (None, "") else default
                if opt.type == "bool":
                    widget["choices"] = [("true", "yes"), ("false", "no")]
                elif opt.type == "choice":
                    widget["choices"] = [(c, c) for c in opt.choices]
            widgets.append(widget)
        out.append({"kind": kind, "label": labels.get(kind, kind), "widgets": widgets})
    return out


def error_label(key: str, kinds: Mapping[str, Sequence[OptionSpec]]) -> str:
    """Where a SpecError points, in the form's words: "selection.filter[1].value" -> "Condition 2"."""
    fixed = {
        "spec": "Study",
        "name": "Name",
        "kind": "Kind",
        "runs": "Runs",
        "selection": "Runs",
        "selection.run_ids": "Run ids",
        "selection.filter": "Conditions",
        "target_metric": "Target",
        "options": "Options",
    }
    if key in fixed:
        return fixed[key]
    if key.startswith("selection.filter["):
        index = key.removeprefix("selection.filter[").split("]", 1)[0]
        return f"Condition {int(index) + 1}" if index.isdigit() else "Conditions"
    if key.startswith("options."):
        name, _, part = key.removeprefix("options.").partition(".")
        label = next((o.label for opts in kinds.values() for o in opts if o.name == name), name)
        return f"Option “{label}”" + (f" ({part})" if part else "")
    return key


def number_cell(attr: str, value: float | None) -> dict[str, str]:
    """A preview cell: short for reading (1.3B, 3.6e21, 2.346), the stored value on hover."""
    if value is None:
        return {"text": DASH, "title": ""}
    if attr in ("n", "d", "u"):
        text = human_count(value)
    elif attr == "budget":
        text = human_sci(value)
    else:
        text = human_float(value)
    return {"text": text, "title": exact(value)}


def value_text(value: Any) -> str:
    """An option's value for the study page: {"a": 6.25, ...} -> "a 6.25, ...", True -> "yes"."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int) and abs(value) >= 10**7:
        # jsonb prints large numbers without an exponent, so a stored 2.8e22 reads back as an int
        return f"{float(value):.6g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {value_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value)
    return str(value)


def interval_text(iv: Mapping[str, Any] | None) -> str:
    """A stored interval's bounds: "0.31 to 0.37"; an open side (null) reads "unbounded"."""
    if not iv:
        return ""
    low, high = iv.get("low"), iv.get("high")
    if low is None and high is None:
        return "not bounded by the data"
    left = f"{low:.4g}" if isinstance(low, int | float) else "-inf (unbounded)"
    right = f"{high:.4g}" if isinstance(high, int | float) else "inf (not identified above)"
    return f"{left} to {right}"


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per parameter or interval of `fit_summary`: name, value (short and exact), interval text,
    whether the interval is open (a side the data do not bound) or spans more than an order of magnitude."""
    params: Mapping[str, Any] = summary.get("params", {})
    intervals: Mapping[str, Any] = summary.get("intervals", {})
    rows = []
    # jsonb keeps keys by length, not as written: list them alphabetically (a kind's groups stay together)
    for name in sorted([*params, *(k for k in intervals if k not in params)], key=str.lower):
        iv: Mapping[str, Any] = intervals.get(name) or {}
        value = params.get(name, iv.get("estimate"))
        rows.append(
            {
                "name": name,
                "value": value_text(value),
                "exact": str(value),
                "interval": interval_text(iv),
                "open": bool(iv) and not iv.get("bounded", True),
                "wide": float(iv.get("orders") or 0.0) > 1.0,
            }
        )
    return rows


def derived_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Derived quantities at each budget (N_opt, D_opt, tokens per parameter...) with their intervals."""
    out = []
    for block in summary.get("derived", []):
        values = block.get("values", {})
        out.append(
            {
                "compute": block.get("compute"),
                "label": block.get("label", ""),
                "rows": [
                    (name, value_text(iv.get("estimate")), interval_text(iv)) for name, iv in values.items()
                ],
            }
        )
    return out
