"""Input checks shared by the fitters: degenerate input is refused loudly, never fitted silently."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray


class FitError(ValueError):
    """The data cannot support the requested fit; the message says which point and why."""


def positive_array(
    name: str, values: ArrayLike, *, labels: Sequence[str] | None = None
) -> NDArray[np.float64]:
    """A 1-d float array with every entry finite and > 0, or a FitError naming the first bad point."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise FitError(f"{name}: not numeric ({exc})") from exc
    if arr.ndim != 1:
        raise FitError(f"{name}: expected a 1-d array, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
    if bad.size:
        i = int(bad[0])
        where = labels[i] if labels is not None and i < len(labels) else f"point {i}"
        reason = "is NaN" if np.isnan(arr[i]) else ("is infinite" if np.isinf(arr[i]) else "must be > 0")
        raise FitError(f"{name} at {where} {reason} (value {arr[i]!r}); {bad.size} bad value(s) in total")
    return arr


def same_length(**arrays: NDArray[np.float64]) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise FitError(f"arrays differ in length: {lengths}")
    return next(iter(lengths.values()))


def require_points(n: int, minimum: int, what: str) -> None:
    if n < minimum:
        raise FitError(f"{what} needs at least {minimum} points, got {n}")


def require_distinct(name: str, values: NDArray[np.float64], minimum: int, what: str) -> None:
    distinct = np.unique(values).size
    if distinct < minimum:
        raise FitError(
            f"{what} needs at least {minimum} distinct values of {name}, got {distinct} "
            f"(e.g. only one model size cannot identify a size exponent)"
        )
