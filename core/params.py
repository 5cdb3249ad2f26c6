"""Query-string numbers, checked: a step, an id or a price outside what PostgreSQL or the math can hold is
a clear 400 for the user, never an overflow deep in a query (a 500)."""

from __future__ import annotations

import math

INT64_MAX = 2**63 - 1


class ParamError(ValueError):
    """A query parameter the page or API cannot use; the message is shown to the user as is."""


def int_param(raw: str | None, name: str, *, lo: int = -INT64_MAX, hi: int = INT64_MAX) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    try:
        value = int(text)
    except ValueError:
        raise ParamError(f"{name} must be a whole number, got {text[:40]!r}") from None
    if not lo <= value <= hi:
        raise ParamError(f"{name} must be between {lo} and {hi}, got {text[:40]}")
    return value


def id_param(raw: str, name: str) -> int:
    """A database id: digits only, 1 .. 2**63-1."""
    text = raw.strip()
    if not text.isdigit() or not 1 <= int(text) <= INT64_MAX:
        raise ParamError(f"{name} must be ids (whole numbers from 1), got {text[:40]!r}")
    return int(text)


def float_param(raw: str | None, name: str, *, lo: float, hi: float) -> float | None:
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        raise ParamError(f"{name} must be a number, got {text[:40]!r}") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ParamError(f"{name} must be a number between {lo:g} and {hi:g}, got {text[:40]}")
    return value
