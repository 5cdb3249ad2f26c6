"""Metric panels for the run and compare pages: which metrics, which x-axis, and each curve's first window.

Every curve is read through `series.reads.series_window`, M4-downsampled in PostgreSQL to at most
`params.points` (<= `curves.MAX_POINTS`) points per series; the page re-fetches a window per curve on zoom.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.urls import reverse

from tracker.runs.curves import (
    ELAPSED_SERIES,
    SAMPLE_COUNTERS,
    TIMESTAMP_SERIES,
    TOKEN_COUNTERS,
    X_MODES,
    CurveParamError,
    CurveParams,
    StepMap,
    sequence_length,
    tokens_per_step_from_config,
)
from tracker.runs.metrics import COUNTER, TRAIN_LOSS, metric_group, metrics_ordered, normalise
from tracker.runs.models import MetricSeries, TrainingRun
from tracker.runs.numbers import human_count
from tracker.runs.series.reads import series_window

MAP_POINTS = 1000  # points of a counter series read to map steps to tokens or time
SMOOTH_UNITS = 1000  # the EMA decays per 1/1000 of a series' step range (see _base_step)


def _leaf(name: str) -> str:
    return normalise(name).rsplit("/", 1)[-1]


def _table_map(
    series: MetricSeries, *, mode: str, label: str, how: str, scale: float = 1.0
) -> StepMap | None:
    window = series_window(series=series, points=MAP_POINTS)
    steps = [float(s) for s, v in zip(window.steps, window.values, strict=True) if v is not None]
    xs = [float(v) * scale for v in window.values if v is not None]
    return StepMap.from_table(mode=mode, steps=steps, xs=xs, label=label, how=how)


def run_step_maps(run: TrainingRun, series: Sequence[MetricSeries]) -> dict[str, StepMap]:
    """The x-axes this run can be drawn against besides step (see `curves` for the rules and their order)."""
    maps: dict[str, StepMap] = {}
    with_points = [s for s in series if s.n_points > 1]
    by_leaf = {_leaf(s.name): s for s in with_points}
    tokens: StepMap | None = None
    from_config = tokens_per_step_from_config(run.config)
    if from_config:
        per_step, how = from_config
        tokens = StepMap.linear(
            mode="tokens",
            slope=per_step,
            label="tokens",
            how=f"tokens = step \u00d7 {human_count(per_step)} ({how})",
        )
    if tokens is None:
        counter = next((by_leaf[n] for n in TOKEN_COUNTERS if n in by_leaf), None)
        if counter is not None:
            tokens = _table_map(
                counter, mode="tokens", label="tokens", how=f"tokens from the logged “{counter.name}”"
            )
    if tokens is None:
        samples = next((by_leaf[n] for n in SAMPLE_COUNTERS if n in by_leaf), None)
        seq = sequence_length(run.config)
        if samples is not None and seq is not None:
            tokens = _table_map(
                samples,
                mode="tokens",
                label="tokens",
                how=f"tokens = logged “{samples.name}” \u00d7 {seq[0]} {seq[1]:,.0f}",
                scale=seq[1],
            )
    if tokens is None and run.tokens:
        loss = next((s for s in with_points if metric_group(s.name) == TRAIN_LOSS), None)
        last_step = max((s.max_step or 0 for s in ([loss] if loss else with_points)), default=0)
        if last_step > 0:
            tokens = StepMap.linear(
                mode="tokens",
                slope=run.tokens / last_step,
                label="≈ tokens",
                how=f"≈ tokens = step \u00d7 D / last step ({human_count(run.tokens)} / {last_step:,}); "
                "assumes a constant batch",
            )
    if tokens is not None:
        maps["tokens"] = tokens
        if run.parameters:
            maps["flops"] = tokens.scaled(
                6.0 * run.parameters,
                mode="flops",
                label=X_MODES["flops"],
                how=f"FLOPs = 6 \u00d7 N ({human_count(run.parameters)}) \u00d7 tokens; {tokens.how}",
            )
    elapsed = next((by_leaf[n] for n in ELAPSED_SERIES if n in by_leaf), None)
    if elapsed is not None:
        time_map = _table_map(
            elapsed,
            mode="time",
            label=X_MODES["time"],
            how=f"from the logged “{elapsed.name}” (s)",
            scale=1 / 3600,
        )
        if time_map is not None:
            maps["time"] = time_map
    else:
        stamp = next((by_leaf[n] for n in TIMESTAMP_SERIES if n in by_leaf), None)
        if stamp is not None:
            time_map = _table_map(
                stamp,
                mode="time",
                label=X_MODES["time"],
                how=f"from the logged “{stamp.name}”",
                scale=1 / 3600,
            )
            if time_map is not None:
                start = time_map.xs[0]
                maps["time"] = replace(time_map, xs=tuple(x - start for x in time_map.xs))
    return maps


@dataclass
class Curves:
    params: CurveParams
    metrics: list[str]  # every metric with points, in the documented order
    chosen: list[str]
    modes: dict[str, str]  # x modes every run can be drawn against -> axis label
    notices: list[str] = field(default_factory=list)
    panels: list[dict[str, Any]] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)


def _default_metrics(metrics: list[str], n: int) -> list[str]:
    plain = [m for m in metrics if metric_group(m) != COUNTER]
    return (plain or metrics)[:n]


def _window_steps(
    step_map: StepMap | None, x0: float | None, x1: float | None
) -> tuple[int | None, int | None]:
    if step_map is None:
        lo, hi = x0, x1
    else:
        lo = step_map.to_step(x0) if x0 is not None else None
        hi = step_map.to_step(x1) if x1 is not None else None
    # Steps are stored as int64: a window reaching past that range covers every step on that side.
    return (
        _clamp_step(math.floor(lo)) if lo is not None else None,
        _clamp_step(math.ceil(hi)) if hi is not None else None,
    )


STEP_MIN, STEP_MAX = -(2**63), 2**63 - 1


def _clamp_step(step: int) -> int:
    return min(max(step, STEP_MIN), STEP_MAX)


def curves_build(
    *,
    runs: Sequence[TrainingRun],
    series_by_run: dict[int, list[MetricSeries]],
    params: CurveParams,
    default_panels: int,
) -> Curves:
    """Panels (one per metric) of curves (one per run), each window read for the URL's x-range."""
    metrics = metrics_ordered(s.name for run in runs for s in series_by_run.get(run.pk, []) if s.n_points)
    unknown = [m for m in params.metrics if m not in metrics]
    if unknown:
        raise CurveParamError(
            f"m: no metric named {unknown[0][:80]!r} here (metrics: {', '.join(metrics[:20])})"
        )
    chosen = list(params.metrics) or _default_metrics(metrics, default_panels)
    maps = {run.pk: run_step_maps(run, series_by_run.get(run.pk, [])) for run in runs}
    modes = {"step": X_MODES["step"]}
    for mode in ("tokens", "flops", "time"):
        if runs and all(mode in maps[run.pk] for run in runs):
            labels = {maps[run.pk][mode].label for run in runs}
            modes[mode] = labels.pop() if len(labels) == 1 else X_MODES[mode]
    notices = []
    if params.x not in modes:
        missing = [run.name for run in runs if params.x not in maps[run.pk]]
        notices.append(
            f"x = {params.x} is not available for {', '.join(missing[:5])}: drawn against step instead "
            "(tokens need tokens_per_step or batch size and sequence length in the config, a logged token "
            "counter, or D; FLOPs also need N; time needs a logged time series)."
        )
        params = replace(params, x="step", x0=None, x1=None)
    curves = Curves(params=params, metrics=metrics, chosen=chosen, modes=modes, notices=notices)
    for metric in chosen:
        traces = []
        missing_runs = []
        for run in runs:
            series = next((s for s in series_by_run.get(run.pk, []) if s.name == metric), None)
            if series is None or not series.n_points:
                missing_runs.append(run.name)
                continue
            step_map = maps[run.pk].get(params.x) if params.x != "step" else None
            x0, x1 = _window_steps(step_map, params.x0, params.x1)
            if x0 is not None and x1 is not None and x1 < x0:
                x1 = x0
            window = series_window(series=series, x0=x0, x1=x1, points=params.points)
            traces.append(
                {
                    "run": run.pk,
                    "label": run.name,
                    "series": series.pk,
                    "url": reverse("runs:series-data", args=[run.pk, series.pk]),
                    "csv": reverse("runs:series-csv", args=[run.pk, series.pk]),
                    "base": _base_step(series),
                    "steps": window.steps,
                    "values": window.values,
                    "shown": window.shown,
                    "total": window.total,
                    "n_points": series.n_points,
                }
            )
        curves.panels.append(
            {"metric": metric, "traces": traces, "missing": missing_runs, "count": _count_text(traces)}
        )
    curves.payload = {
        "params": params.as_dict(),
        "modes": modes,
        "maps": {str(pk): {m: sm.as_dict() for m, sm in run_maps.items()} for pk, run_maps in maps.items()},
        "panels": curves.panels,
    }
    return curves


def _base_step(series: MetricSeries) -> float:
    """The EMA's unit of decay, in steps: a thousandth of the series' step range (or its raw step interval
    when it has fewer than 1,000 points). Smoothing s then averages over about 1/(1-s) thousandths of the
    run at any zoom and whatever the logging frequency, as TensorBoard's slider does on its 1,000 samples."""
    if series.n_points > 1 and series.min_step is not None and series.max_step is not None:
        span = series.max_step - series.min_step
        return max(span / (series.n_points - 1), span / SMOOTH_UNITS, 1e-9)
    return 1.0


def _count_text(traces: list[dict[str, Any]]) -> str:
    """ "1,854 of 8,000 points shown", or in a comparison: "1,854-1,874 of 8,000 points shown per run"."""
    if not traces:
        return ""
    shown = sorted(t["shown"] for t in traces)
    totals = sorted(t["total"] for t in traces)
    if len(traces) == 1:
        return f"{shown[0]:,} of {totals[0]:,} points shown"

    def span(v: list[int]) -> str:
        return f"{v[0]:,}" if v[0] == v[-1] else f"{v[0]:,}\u2013{v[-1]:,}"

    return f"{span(shown)} of {span(totals)} points shown per run"
