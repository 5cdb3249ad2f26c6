"""CSV text of metric points, byte for byte what PostgreSQL's `COPY ... TO STDOUT (FORMAT csv)` printed.

PostgreSQL prints a float8 with the shortest digits that read back to the same double (Ryu), as Python's
`repr` does, but lays them out differently: no ".0" on integral values, scientific notation from a
decimal exponent of 15 up (Python: 16), and `NaN` / `Infinity` / `-Infinity`. Above 2**53 the two
disagree on digits now and then (PostgreSQL's Ryu does not take a shortest candidate that lies exactly on
the rounding boundary, Python's dtoa does), so the caller may pass `exact`, which asks PostgreSQL itself
for those values. The tests compare with PostgreSQL's own output over every range of doubles.

Speed: a logged value is a short decimal, so its shortest digits are those of the integer m = v * 10**e
for the smallest e that gives v back (the codec's argument, `codec` module docstring): when |m| < 2**49 the
product is off by less than 1/8, so rint() finds the one decimal with e digits that rounds to v, and no
shorter one exists. Those digits are laid out with NumPy (fixed columns, padding masked out, one boolean
compress per batch); every other value goes through `repr`. Pure: no Django.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# Formats floats exactly as the database does (one query for all of them); used for |v| >= 2**53.
ExactFormatter = Callable[[Sequence[float]], Sequence[str]]
_BIG = float(2**53)
_SPECIAL = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}

# "0000".."9999" as one uint32 each: a group of four digits is written with one gather.
_DIGITS4 = np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode(), dtype=np.uint32)
_POW10_U64 = np.array([10**k for k in range(20)], dtype=np.uint64)
_POW10_I64 = np.array([10**k for k in range(19)], dtype=np.int64)
_POW10_F = np.array([10.0**k for k in range(19)])
_FAST_LIMIT = float(2**49)
_MAX_E = 18
_MINUS, _DOT, _E, _COMMA, _NEWLINE = (ord(c) for c in "-.e,\n")

Tokens = tuple[np.ndarray, np.ndarray]  # (uint8 matrix n x width, bool mask of the cells that are text)


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


# ------------------------------------------------------------------------------------------ layout


def _ndigits(u: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative uint64 values (1 for 0)."""
    return np.searchsorted(_POW10_U64[1:], u, side="right").astype(np.int64) + 1


def _digit_matrix(u: np.ndarray, width: int) -> np.ndarray:
    """Right-aligned, zero-padded decimal digits (ASCII) of uint64 values below 10**width."""
    groups = -(-width // 4) if width else 0
    out = np.empty((u.size, groups), dtype=np.uint32)
    q = u
    for g in range(groups):
        q, r = np.divmod(q, np.uint64(10_000))
        out[:, groups - 1 - g] = _DIGITS4[r.astype(np.intp)]
    return out.view(np.uint8)[:, groups * 4 - width :]


def _const(n: int, char: int, present: np.ndarray | bool) -> Tokens:
    mask = np.broadcast_to(np.asarray(present, dtype=bool), (n,)).reshape(n, 1)
    return np.full((n, 1), char, dtype=np.uint8), mask


def _hstack(parts: list[Tokens]) -> Tokens:
    return np.hstack([p[0] for p in parts]), np.hstack([p[1] for p in parts])


def _right_digits(u: np.ndarray, shown: np.ndarray) -> Tokens:
    """Digits of u right-aligned, showing the last `shown` of them (leading zeros where shown > digits)."""
    width = int(shown.max()) if u.size else 0
    cols = np.arange(width)
    return _digit_matrix(u, width), cols[None, :] >= (width - shown)[:, None]


def _left_digits(u: np.ndarray, count: np.ndarray, width: int) -> Tokens:
    """The `count` digits of u (< 10**count) left-aligned in `width` cells (u scaled by 10**(width-count))."""
    scaled = u * _POW10_U64[width - count]
    cols = np.arange(width)
    return _digit_matrix(scaled, width), cols[None, :] < count[:, None]


def int_tokens(a: np.ndarray) -> Tokens:
    """int64 values as decimal text."""
    neg = a < 0
    u = np.where(neg, (~a.view(np.uint64)) + np.uint64(1), a.view(np.uint64))  # |a|, also for -2**63
    return _hstack([_const(a.size, _MINUS, neg), _right_digits(u, _ndigits(u))])


def _fixed(neg: np.ndarray, u: np.ndarray, e: np.ndarray) -> Tokens:
    """[-]int[.frac] with e fractional digits (u = |m|, the value is m / 10**e)."""
    n = u.size
    p = _POW10_U64[e]
    ip, fp = u // p, u % p
    width = int(e.max()) if n else 0
    return _hstack(
        [
            _const(n, _MINUS, neg),
            _right_digits(ip, _ndigits(ip)),
            _const(n, _DOT, e > 0),
            _left_digits(fp, e, width),
        ]
    )


def _scientific(neg: np.ndarray, u: np.ndarray, digits: np.ndarray, exp10: np.ndarray) -> Tokens:
    """[-]d[.ddd]e-XX for small values (decimal exponent below -4)."""
    n = u.size
    rest_count = digits - 1
    p = _POW10_U64[rest_count]
    first, rest = u // p, u % p
    exp_abs = (-exp10).astype(np.uint64)
    return _hstack(
        [
            _const(n, _MINUS, neg),
            _right_digits(first, np.ones(n, dtype=np.int64)),
            _const(n, _DOT, rest_count > 0),
            _left_digits(rest, rest_count, int(rest_count.max()) if n else 0),
            _const(n, _E, True),
            _const(n, _MINUS, True),
            _right_digits(exp_abs, np.maximum(2, _ndigits(exp_abs))),
        ]
    )


def _repr_tokens(values: np.ndarray, exact: ExactFormatter | None) -> Tokens:
    # repr of a whole list runs the shortest-repr loop in C; splitting it is one more C pass.
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
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    buf = np.frombuffer("".join(tokens).encode(), dtype=np.uint8)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    # "3.0" -> "3": only repr's own fixed-notation tokens end in ".0" (the rewritten ones never do).
    ends = starts + lengths
    dot_zero = (
        (lengths >= 2) & (buf[np.maximum(ends - 1, 0)] == ord("0")) & (buf[np.maximum(ends - 2, 0)] == _DOT)
    )
    lengths = lengths - 2 * dot_zero
    width = int(lengths.max())
    cols = np.arange(width)
    idx = np.minimum(starts[:, None] + cols[None, :], buf.size - 1)
    return buf[idx], cols[None, :] < lengths[:, None]


def _short_decimals(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per value the smallest e (or -1) with m = rint(v * 10**e), |m| < 2**49, m / 10**e == v; and m."""
    n = values.size
    e = np.full(n, -1, dtype=np.int64)
    m = np.zeros(n, dtype=np.int64)
    bits = values.view(np.int64)
    with np.errstate(invalid="ignore", over="ignore"):
        pending = np.flatnonzero(np.abs(values) < _FAST_LIMIT)  # also drops NaN and inf
        for k in range(_MAX_E + 1):
            if pending.size == 0:
                break
            x = values[pending]
            mk = np.rint(x * _POW10_F[k]) + 0.0  # + 0.0: -0.0 is not an integer's sign, so it never fits
            small = np.abs(mk) < _FAST_LIMIT
            ok = small & ((mk / _POW10_F[k]).view(np.int64) == bits[pending])
            e[pending[ok]] = k
            m[pending[ok]] = mk[ok].astype(np.int64)
            pending = pending[~ok & small]  # a larger e only makes m larger
    return e, m


def float_tokens(
    values: np.ndarray, *, exact: ExactFormatter | None = None, blank: np.ndarray | None = None
) -> Tokens:
    """float64 values as PostgreSQL prints them; `blank` marks values to print as an empty field (NULL)."""
    n = values.size
    e, m = _short_decimals(values)
    if blank is not None:
        e[blank] = -2
    fast = e >= 0
    u = np.abs(m).astype(np.uint64)
    digits = _ndigits(u)
    exp10 = digits - 1 - e
    sci = fast & (exp10 < -4) & (u > 0)
    fixed = fast & ~sci
    slow = e == -1
    parts: list[tuple[np.ndarray, Tokens]] = []
    if fixed.any():
        parts.append((fixed, _fixed(m[fixed] < 0, u[fixed], e[fixed])))
    if sci.any():
        parts.append((sci, _scientific(m[sci] < 0, u[sci], digits[sci], exp10[sci])))
    if slow.any():
        parts.append((slow, _repr_tokens(values[slow], exact)))
    width = max((p[1][0].shape[1] for p in parts), default=0)
    mat = np.zeros((n, width), dtype=np.uint8)
    mask = np.zeros((n, width), dtype=bool)
    for rows, (part_mat, part_mask) in parts:
        mat[rows, : part_mat.shape[1]] = part_mat
        mask[rows, : part_mask.shape[1]] = part_mask
    return mat, mask


def csv_rows(
    steps: np.ndarray, values: np.ndarray, wall_times: np.ndarray, *, exact: ExactFormatter | None = None
) -> bytes:
    """Rows `step,value,wall_time\\n`; a NaN wall time is an empty field (a NULL in the old table)."""
    n = steps.size
    if n == 0:
        return b""
    no_wall = np.isnan(wall_times)
    columns = [
        int_tokens(steps),
        _const(n, _COMMA, True),
        float_tokens(values, exact=exact),
        _const(n, _COMMA, True),
    ]
    if not no_wall.all():
        columns.append(float_tokens(wall_times, exact=exact, blank=no_wall))
    columns.append(_const(n, _NEWLINE, True))
    mat, mask = _hstack(columns)
    return mat[mask].tobytes()
