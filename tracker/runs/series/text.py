"""CSV text of metric points, byte for byte what PostgreSQL's `COPY ... TO STDOUT (FORMAT csv)` printed.

PostgreSQL prints a float8 with the shortest digits that read back to the same double (Ryu), as Python's
`repr` does, but lays them out differently: no ".0" on integral values, scientific notation from a
decimal exponent of 15 up (Python: 16), and `NaN` / `Infinity` / `-Infinity`. Above 2**53 the two
disagree on digits now and then (PostgreSQL's Ryu does not take a shortest candidate that lies exactly on
the rounding boundary, Python's dtoa does), so the caller may pass `exact`, which asks PostgreSQL itself
for those values; the tests compare with PostgreSQL's own output over every range of doubles. Pure: no
Django.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

# Formats floats exactly as the database does (one query for all of them); used for |v| >= 2**53.
ExactFormatter = Callable[[Sequence[float]], Sequence[str]]
_BIG = float(2**53)

_TRAILING_ZERO = re.compile(r"\.0(?=[,\n])")
_SPECIAL = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def pg_float_text(value: float) -> str:
    """One float8 as PostgreSQL's float8out prints it (extra_float_digits = 1, the default since 12)."""
    text = repr(value)
    if text in _SPECIAL:
        return _SPECIAL[text]
    mantissa, _, exponent = text.partition("e")
    sign = ""
    if mantissa.startswith("-"):
        sign, mantissa = "-", mantissa[1:]
    if exponent:
        return f"{sign}{mantissa}e{exponent}"
    int_part, _, frac = mantissa.partition(".")
    frac = frac.rstrip("0")
    if len(int_part) == 16:
        # 1e15 <= |v| < 1e16: Python writes it out, PostgreSQL switches to d.ddde+15.
        digits = (int_part + frac).rstrip("0")
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e+15"
    return sign + int_part + ("." + frac if frac else "")


def _floats_tokens(values: np.ndarray, exact: ExactFormatter | None) -> list[str]:
    # repr of a whole list runs the shortest-repr loop in C; splitting it is one more C pass.
    if values.size == 0:
        return []
    tokens = repr(values.tolist())[1:-1].split(", ")
    magnitude = np.abs(values)
    odd = ~np.isfinite(values) | (magnitude >= 1e15)
    if odd.any():
        big = np.isfinite(values) & (magnitude >= _BIG)
        if exact is not None and big.any():
            where = np.flatnonzero(big)
            for i, text in zip(where.tolist(), exact(values[where].tolist()), strict=True):
                tokens[i] = text
            odd &= ~big
        for i in np.flatnonzero(odd).tolist():
            tokens[i] = pg_float_text(float(values[i]))
    return tokens


def csv_rows(
    steps: np.ndarray, values: np.ndarray, wall_times: np.ndarray, *, exact: ExactFormatter | None = None
) -> bytes:
    """Rows `step,value,wall_time\\n`; a NaN wall time is an empty field (a NULL in the old table)."""
    if steps.size == 0:
        return b""
    step_tokens = repr(steps.tolist())[1:-1].split(", ")
    value_tokens = _floats_tokens(values, exact)
    no_wall = np.isnan(wall_times)
    if no_wall.all():
        body = ",\n".join(map(",".join, zip(step_tokens, value_tokens, strict=True))) + ",\n"
    else:
        wall_tokens = _floats_tokens(np.where(no_wall, 0.0, wall_times), exact)
        if no_wall.any():
            for i in np.flatnonzero(no_wall).tolist():
                wall_tokens[i] = ""
        body = "\n".join(map(",".join, zip(step_tokens, value_tokens, wall_tokens, strict=True))) + "\n"
    # Integral values: "3.0" -> "3" (special values and the 1e15 range were already rewritten above).
    return _TRAILING_ZERO.sub("", body).encode()
