"""Curve controls and x-axes for run pages, pure (no Django): parsed from the URL, turned back into it.

x-axes. Points are stored by step; another x is a monotone map step -> x, piecewise linear through a table
of (step, x) pairs and extended linearly past its ends. The page draws with the same map (curves.js) and
turns a zoomed x-range back into steps to re-fetch the window. Where a map comes from, in order:

- tokens: 1. `tokens_per_step` in the run config, or sequences per step x sequence length from the config
  (see `TOKENS_PER_STEP_KEYS`, `BATCH_KEYS`, `SEQ_KEYS`); 2. a logged counter series of tokens
  ("consumed tokens", "tokens", "num input tokens seen"), or of samples ("consumed samples") x the sequence
  length; 3. D / last step of the run's loss (assumes a constant batch; the axis says "≈").
- FLOPs: 6 x N x tokens, when N is known.
- time: a logged elapsed-time series ("_runtime", "runtime", "elapsed", "time", "wall time") or a
  timestamp series (minus its first value), in hours.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

X_MODES: dict[str, str] = {
    "step": "step",
    "tokens": "tokens",
    "flops": "training FLOPs (6·N·tokens)",
    "time": "wall time (h)",
}
DEFAULT_POINTS = 2000
MAX_POINTS = 4000  # per series and request: the page never ships more (M4 on the server)
MIN_POINTS = 8
MAX_PANELS = 12
SMOOTH_MAX = 0.999
TRANSIENT_SHARE = 0.02  # ytrim: the y-range skips the first 2% of the x-range ...
TRIM_PERCENTILES = (1.0, 99.0)  # ... and spans the 1st-99th percentile of the rest

TOKENS_PER_STEP_KEYS = ("tokens_per_step", "tokens_per_iteration", "tokens_per_batch", "batch_size_tokens")
# Sequences per optimizer step. A per-device batch is multiplied by gradient accumulation and device count.
BATCH_KEYS = ("global_batch_size", "total_batch_size", "train_batch_size", "effective_batch_size")
PER_DEVICE_BATCH_KEYS = ("per_device_train_batch_size", "micro_batch_size", "batch_size")
ACCUM_KEYS = ("gradient_accumulation_steps", "grad_accum_steps", "gradient_accumulation")
DEVICE_KEYS = ("world_size", "num_gpus", "n_gpus", "data_parallel_size")
SEQ_KEYS = (
    "seq_length",
    "seq_len",
    "sequence_length",
    "max_seq_length",
    "max_seq_len",
    "block_size",
    "context_length",
    "n_ctx",
    "encoder_seq_length",
)
TOKEN_COUNTERS = ("consumed tokens", "tokens", "num input tokens seen", "tokens seen", "total tokens")
SAMPLE_COUNTERS = ("consumed samples", "samples", "consumed train samples")
ELAPSED_SERIES = ("runtime", "elapsed", "elapsed time", "time", "wall time", "wall clock")
TIMESTAMP_SERIES = ("timestamp",)


class CurveParamError(ValueError):
    """A bad curve parameter; the message names it and is shown to the user as is."""


class QueryLike(Protocol):
    def getlist(self, key: str) -> list[str]: ...
    def keys(self) -> Any: ...


@dataclass(frozen=True)
class StepMap:
    """step -> x, monotone, piecewise linear through (steps[i], xs[i]), extended linearly past both ends."""

    mode: str
    label: str
    how: str  # provenance, shown under the plot: "tokens = step x 4.19M (global_batch_size x ...)"
    steps: tuple[float, ...]
    xs: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.steps) < 2 or len(self.steps) != len(self.xs):
            raise ValueError("a step map needs at least two (step, x) pairs")

    @classmethod
    def linear(cls, *, mode: str, slope: float, label: str, how: str) -> StepMap:
        return cls(mode=mode, label=label, how=how, steps=(0.0, 1.0), xs=(0.0, slope))

    @classmethod
    def from_table(
        cls, *, mode: str, steps: Sequence[float], xs: Sequence[float], label: str, how: str
    ) -> StepMap | None:
        """From logged (step, x) pairs: non-finite pairs dropped, x made non-decreasing (a counter never goes
        back; a restart's reset is bridged), one pair per step; None when fewer than two distinct steps."""
        pairs: list[tuple[float, float]] = []
        top = -math.inf
        for s, x in sorted(zip(steps, xs, strict=True)):
            if x is None or not (math.isfinite(s) and math.isfinite(x)):
                continue
            top = max(top, x)
            if pairs and pairs[-1][0] == s:
                pairs[-1] = (s, top)
            else:
                pairs.append((float(s), top))
        if len(pairs) < 2 or pairs[-1][1] <= pairs[0][1]:
            return None
        return cls(
            mode=mode, label=label, how=how, steps=tuple(p[0] for p in pairs), xs=tuple(p[1] for p in pairs)
        )

    def scaled(self, factor: float, *, mode: str, label: str, how: str) -> StepMap:
        return replace(self, mode=mode, label=label, how=how, xs=tuple(x * factor for x in self.xs))

    @staticmethod
    def _interp(at: float, src: Sequence[float], dst: Sequence[float]) -> float:
        i = bisect.bisect_right(src, at) - 1
        i = min(max(i, 0), len(src) - 2)
        s0, s1, d0, d1 = src[i], src[i + 1], dst[i], dst[i + 1]
        if s1 == s0:
            return d0
        return d0 + (at - s0) * (d1 - d0) / (s1 - s0)

    def to_x(self, step: float) -> float:
        return self._interp(step, self.steps, self.xs)

    def to_step(self, x: float) -> float:
        # xs may have flat stretches (no tokens counted for a while): the first step with that x.
        return self._interp(x, self.xs, self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "label": self.label, "how": self.how, "steps": self.steps, "xs": self.xs}


def _flatten(config: Mapping[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and depth < 3:
            flat.update(_flatten(value, f"{name}.", depth + 1))
        else:
            flat[name] = value
    return flat


def config_flat(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Nested config as dotted keys ("optimizer.lr"), three levels deep at most."""
    return _flatten(config or {})


def _positive(flat: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, float] | None:
    """The first key (matched on the last dotted component, shallowest first) with a positive number."""
    for wanted in keys:
        for name in sorted(flat, key=lambda k: k.count(".")):
            if name.rsplit(".", 1)[-1].lower() != wanted:
                continue
            value = flat[name]
            if isinstance(value, bool):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number) and number > 0:
                return name, number
    return None


def sequence_length(config: Mapping[str, Any] | None) -> tuple[str, float] | None:
    return _positive(config_flat(config), SEQ_KEYS)


def tokens_per_step_from_config(config: Mapping[str, Any] | None) -> tuple[float, str] | None:
    """(tokens per optimizer step, how it was found) from a run config, or None."""
    flat = config_flat(config)
    direct = _positive(flat, TOKENS_PER_STEP_KEYS)
    if direct:
        return direct[1], f"{direct[0]} {direct[1]:,.0f} from the run config"
    seq = _positive(flat, SEQ_KEYS)
    if seq is None:
        return None
    batch = _positive(flat, BATCH_KEYS)
    if batch:
        return batch[1] * seq[
            1
        ], f"{batch[0]} {batch[1]:,.0f} \u00d7 {seq[0]} {seq[1]:,.0f} from the run config"
    per_device = _positive(flat, PER_DEVICE_BATCH_KEYS)
    if per_device is None:
        return None
    accum = _positive(flat, ACCUM_KEYS)
    devices = _positive(flat, DEVICE_KEYS)
    factors = [per_device, *(f for f in (accum, devices) if f)]
    value = math.prod(f[1] for f in factors) * seq[1]
    how = " \u00d7 ".join(f"{name} {number:,.0f}" for name, number in [*factors, seq])
    return value, f"{how} from the run config"


@dataclass(frozen=True)
class CurveParams:
    """Everything a curve page's URL may say. Defaults are left out of `query_pairs()`."""

    metrics: tuple[str, ...] = ()
    x: str = "step"
    smooth: float = 0.0
    logx: bool = False
    logy: bool = False
    ytrim: bool = True
    x0: float | None = None
    x1: float | None = None
    points: int = DEFAULT_POINTS

    KEYS = ("m", "x", "smooth", "logx", "logy", "ytrim", "x0", "x1", "points")

    @classmethod
    def from_query(cls, query: QueryLike, *, allowed_extra: Sequence[str] = ()) -> CurveParams:
        unknown = sorted(set(query.keys()) - set(cls.KEYS) - set(allowed_extra))
        if unknown:
            raise CurveParamError(
                f"unknown parameter {unknown[0]!r}; this page understands: {', '.join(cls.KEYS)}"
            )

        def last(key: str) -> str:
            values = [v for v in query.getlist(key) if v != ""]
            return values[-1].strip() if values else ""

        metrics = tuple(dict.fromkeys(m.strip() for m in query.getlist("m") if m.strip()))
        if len(metrics) > MAX_PANELS:
            raise CurveParamError(f"m: at most {MAX_PANELS} metric panels, got {len(metrics)}")
        x = last("x") or "step"
        if x not in X_MODES:
            raise CurveParamError(f"x must be one of {', '.join(X_MODES)}, got {x[:40]!r}")
        smooth = _float(last("smooth"), "smooth", 0.0)
        if not 0.0 <= smooth <= SMOOTH_MAX:
            raise CurveParamError(f"smooth must be between 0 and {SMOOTH_MAX}, got {smooth}")
        x0 = _float(last("x0"), "x0", None)
        x1 = _float(last("x1"), "x1", None)
        if x0 is not None and x1 is not None and x1 <= x0:
            raise CurveParamError(f"x1 ({x1:g}) must be larger than x0 ({x0:g})")
        points_raw = last("points")
        try:
            points = int(points_raw) if points_raw else DEFAULT_POINTS
        except ValueError:
            raise CurveParamError(f"points must be an integer, got {points_raw[:40]!r}") from None
        if not MIN_POINTS <= points <= MAX_POINTS:
            raise CurveParamError(f"points must be between {MIN_POINTS} and {MAX_POINTS}, got {points}")
        return cls(
            metrics=metrics,
            x=x,
            smooth=smooth,
            logx=_bool(last("logx"), "logx", False),
            logy=_bool(last("logy"), "logy", False),
            ytrim=_bool(last("ytrim"), "ytrim", True),
            x0=x0,
            x1=x1,
            points=points,
        )

    def query_pairs(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = [("m", m) for m in self.metrics]
        if self.x != "step":
            pairs.append(("x", self.x))
        if self.smooth:
            pairs.append(("smooth", f"{self.smooth:g}"))
        for key, default in (("logx", False), ("logy", False), ("ytrim", True)):
            value = getattr(self, key)
            if value != default:
                pairs.append((key, "1" if value else "0"))
        for key in ("x0", "x1"):
            value = getattr(self, key)
            if value is not None:
                pairs.append((key, f"{value:.10g}"))
        if self.points != DEFAULT_POINTS:
            pairs.append(("points", str(self.points)))
        return pairs

    def as_dict(self) -> dict[str, Any]:
        return {
            "metrics": list(self.metrics),
            "x": self.x,
            "smooth": self.smooth,
            "logx": self.logx,
            "logy": self.logy,
            "ytrim": self.ytrim,
            "x0": self.x0,
            "x1": self.x1,
            "points": self.points,
            "transient": TRANSIENT_SHARE,
            "percentiles": list(TRIM_PERCENTILES),
        }


def _float(raw: str, name: str, default: float | None) -> Any:
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise CurveParamError(f"{name} must be a number, got {raw[:40]!r}") from None
    if not math.isfinite(value):
        raise CurveParamError(f"{name} must be a finite number, got {raw[:40]!r}")
    return value


_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"0", "false", "off", "no"}


def _bool(raw: str, name: str, default: bool) -> bool:
    if raw == "":
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise CurveParamError(f"{name} must be 1 or 0, got {raw[:40]!r}")
