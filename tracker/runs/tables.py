"""The runs table: its columns (a whitelist: what may be shown, sorted and exported) and its cells.

Cells carry the short text people read ("1.3B") and the exact stored value (title attribute, CSV export).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tracker.runs.numbers import exact, human_count, human_float, human_sci


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    title: str  # header tooltip: what the column is
    sort: str | None  # the (annotated) queryset field it sorts by; None: not sortable
    numeric: bool
    default: bool  # shown when the URL names no columns
    value: Callable[[Any], Any]  # the exact value from an (annotated) run
    text: Callable[[Any], str]  # the short text people read

    def cell(self, run: Any) -> dict[str, Any]:
        raw = self.value(run)
        return {
            "key": self.key,
            "text": self.text(raw),
            "title": exact(raw) if self.numeric and raw is not None else "",
            "numeric": self.numeric,
        }


def _name(obj: Any) -> str:
    return obj.name if obj is not None else ""


def _text(value: Any) -> str:
    return "\u2013" if value in (None, "") else str(value)


def _date(run: Any) -> Any:
    return run.started_at or run.created_at


def _hardware(run: Any) -> str:
    if run.hardware is None:
        return ""
    return f"{run.hardware.name} \u00d7 {run.gpu_count}" if run.gpu_count else run.hardware.name


COLUMNS: dict[str, Column] = {
    c.key: c
    for c in [
        Column("name", "Run", "run name", "name_lower", False, True, lambda r: r.name, _text),
        Column("team", "Team", "owning team", "team__name", False, False, lambda r: _name(r.team), _text),
        Column(
            "status",
            "Status",
            "running, finished, failed, imported",
            "status",
            False,
            True,
            lambda r: r.status,
            _text,
        ),
        Column(
            "model", "Model", "catalog model", "model__name", False, True, lambda r: _name(r.model), _text
        ),
        Column("n", "N", "parameters", "parameters", True, True, lambda r: r.parameters, human_count),
        Column("d", "D", "tokens seen", "tokens", True, True, lambda r: r.tokens, human_count),
        Column(
            "flops", "C", "training FLOPs ≈ 6·N·D", "flops", True, True, lambda r: r.training_flops, human_sci
        ),
        Column(
            "loss",
            "Final loss",
            "final loss (rule on the run page)",
            "final_loss",
            True,
            True,
            lambda r: r.final_loss,
            human_float,
        ),
        Column(
            "u", "U", "unique tokens", "unique_tokens", True, False, lambda r: r.unique_tokens, human_count
        ),
        Column(
            "r",
            "Synthetic",
            "share of synthetic tokens",
            "synthetic_share",
            True,
            False,
            lambda r: r.synthetic_share,
            human_float,
        ),
        Column(
            "hardware",
            "Hardware",
            "accelerator and count",
            "hardware__name",
            False,
            True,
            _hardware,
            _text,
        ),
        Column(
            "precision",
            "Precision",
            "training precision",
            "precision",
            False,
            False,
            lambda r: r.precision,
            _text,
        ),
        Column(
            "gpu_hours", "GPU h", "GPU hours", "gpu_hours", True, False, lambda r: r.gpu_hours, human_count
        ),
        Column("energy", "kWh", "energy", "energy_kwh", True, False, lambda r: r.energy_kwh, human_count),
        Column("tags", "Tags", "labels on the run", None, False, True, lambda r: r.tags.all(), _text),
        Column(
            "date",
            "Date",
            "started (or imported)",
            "date",
            False,
            True,
            _date,
            lambda d: d.strftime("%Y-%m-%d") if d else "\u2013",
        ),
        Column(
            "external_id",
            "Sender id",
            "id at the sender (W&B, cluster)",
            "external_id",
            False,
            False,
            lambda r: r.external_id,
            _text,
        ),
    ]
}
DEFAULT_COLUMNS = tuple(k for k, c in COLUMNS.items() if c.default)
ALWAYS_SHOWN = ("name",)


def export_value(value: Any) -> Any:
    """The exact value for a CSV cell; text that a spreadsheet would run as a formula is neutralised."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float):
        return exact(value)
    if not isinstance(value, str) and hasattr(value, "__iter__"):
        value = " ".join(str(v) for v in value)
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text
