"""Compressed metric chunks and rollup cells: pure NumPy + zstd, every float bit-exact after a round trip.

A chunk holds up to `CHUNK_POINTS` consecutive points of one series as one zstd frame:

    header   "IFC" version(u8) flags(u8: 1 = wall times present) n(u32)
    steps    int stream
    values   float stream
    walls    float stream (only with flag 1; NaN = no wall time)

Int stream: mode(u8: 0 delta, 1 frame of reference) width(u8: bytes per value, 0..8) base(i64), then the
zigzagged deltas (or offsets from the minimum) in `width` bytes each, byte-shuffled (all first bytes, then
all second bytes, ...), so the constant high bytes of small numbers compress to almost nothing.

Float stream ("ALP", Afroozeh et al., SIGMOD 2024): a logged metric is almost always a short decimal
(`2.345678`, `3e-4`) parsed into the nearest double. For a decimal exponent e such a value v is exactly
`m / 10**e` with an integer m = rint(v * 10**e): IEEE division of two exactly representable numbers is
correctly rounded, and so is parsing the decimal string, so both give the same double. The stream stores
e(i8) and the integers m as an int stream; values for which `m / 10**e` does not give back the same 64 bits
(NaN, inf, -0.0, full-precision noise, |m| >= 2**53) are exceptions stored verbatim with their positions.
When most values are exceptions the stream is "raw" (e = -1): the 64-bit patterns byte-shuffled.

Rollup cells (M4 summaries of aligned step cells) are stored the same way, one block of cells per frame.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import zstandard

from tracker.runs.series.downsample import Cells, m4_groups

CHUNK_POINTS = 4096
VERSION = 1
_MAGIC = b"IFC"
_CELLS_MAGIC = b"IFR"
_HEADER = struct.Struct("<3sBBI")
_INT_HEADER = struct.Struct("<BBq")
_FLOAT_HEADER = struct.Struct("<bI")
_FLAG_WALL = 1
_MODE_DELTA, _MODE_FOR = 0, 1
_RAW = -1
MAX_EXPONENT = 18  # 10**e is exact in binary64 up to e = 22; m must stay below 2**53
_M_LIMIT = float(2**53)
_POW10 = np.array([10.0**e for e in range(MAX_EXPONENT + 1)])
# Bits one value costs per decimal digit of m, and one exception (8-byte value + position), for choosing e.
_BITS_PER_DIGIT = 3.33
_BITS_PER_EXCEPTION = 80.0
_SAMPLE = 64  # values per chunk sampled to choose its exponent
_LEVEL = 1

_compressor = zstandard.ZstdCompressor(level=_LEVEL)
_decompressor = zstandard.ZstdDecompressor()


class CodecError(ValueError):
    """A stored blob that cannot be decoded (wrong magic, version or length)."""


# ---------------------------------------------------------------------------------------------- ints


def _width(max_value: int) -> int:
    if max_value == 0:
        return 0
    for width in (1, 2, 4):
        if max_value < 1 << (8 * width):
            return width
    return 8


_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _ints_encode(a: np.ndarray) -> bytes:
    """An int64 array as an int stream (see the module docstring)."""
    n = a.size
    if n == 0:
        return _INT_HEADER.pack(_MODE_FOR, 0, 0)
    # Deltas and offsets wrap modulo 2**64 in NumPy, and decoding wraps the same way: exact for any int64.
    d = np.diff(a)
    zz = ((d << 1) ^ (d >> 63)).view(np.uint64)
    dmax = int(zz.max()) if zz.size else 0
    base = int(a.min())
    off = (a - np.int64(base)).view(np.uint64)
    omax = int(off.max())
    if dmax <= omax:
        mode, first, payload, top = _MODE_DELTA, int(a[0]), zz, dmax
    else:
        mode, first, payload, top = _MODE_FOR, base, off, omax
    width = _width(top)
    head = _INT_HEADER.pack(mode, width, first)
    if width == 0:
        return head
    shuffled = payload.astype(_UINT[width]).view(np.uint8).reshape(-1, width).T
    return head + shuffled.tobytes()


def _ints_decode(buf: memoryview, pos: int, n: int) -> tuple[np.ndarray, int]:
    mode, width, first = _INT_HEADER.unpack_from(buf, pos)
    pos += _INT_HEADER.size
    if n == 0:
        return np.empty(0, dtype=np.int64), pos
    count = n - 1 if mode == _MODE_DELTA else n
    if width == 0:
        payload = np.zeros(count, dtype=np.uint64)
    else:
        raw = np.frombuffer(buf, dtype=np.uint8, count=count * width, offset=pos)
        pos += count * width
        payload = raw.reshape(width, count).T.copy().view(_UINT[width]).ravel().astype(np.uint64)
    if mode == _MODE_FOR:
        return payload.view(np.int64) + np.int64(first), pos
    d = (payload >> np.uint64(1)).view(np.int64) ^ -(payload & np.uint64(1)).view(np.int64)
    out = np.empty(n, dtype=np.int64)
    out[0] = first
    np.cumsum(d, out=out[1:])
    out[1:] += np.int64(first)
    return out, pos


# -------------------------------------------------------------------------------------------- floats


def _exponent_for(v: np.ndarray) -> int:
    """The decimal exponent that stores this sample most compactly (-1: keep the raw bits)."""
    bits = v.view(np.int64)
    need = np.full(v.size, MAX_EXPONENT + 1)
    pending = np.arange(v.size)
    with np.errstate(invalid="ignore", over="ignore"):
        for e in range(MAX_EXPONENT + 1):
            x = v[pending]
            m = np.rint(x * _POW10[e]) + 0.0  # + 0.0: an integer has no sign of zero
            ok = (np.abs(m) < _M_LIMIT) & ((m / _POW10[e]).view(np.int64) == bits[pending])
            need[pending[ok]] = e
            pending = pending[~ok]
            if pending.size == 0:
                break
    counts = np.bincount(need, minlength=MAX_EXPONENT + 2)
    fits = np.cumsum(counts)[: MAX_EXPONENT + 1]
    # Cost estimate per candidate e: digits grow with e, every value that does not fit is an exception.
    cost = fits * (_BITS_PER_DIGIT * np.arange(MAX_EXPONENT + 1)) + (v.size - fits) * _BITS_PER_EXCEPTION
    e = int(np.argmin(cost))
    # Mostly full-precision doubles: a raw stream costs no more and decodes faster.
    return e if fits[e] * 2 >= v.size else _RAW


def _floats_encode(v: np.ndarray) -> bytes:
    n = v.size
    if n == 0:
        return _FLOAT_HEADER.pack(0, 0)
    # A spread sample (a multiplicative hash of the index), not every k-th value: a regular stride can
    # land on the round steps of a periodic series (every 64th wall time a whole second, say).
    sample = v if n <= _SAMPLE else v[(np.arange(_SAMPLE) * 2654435761) % n]
    e = _exponent_for(np.ascontiguousarray(sample))
    if e != _RAW:
        with np.errstate(invalid="ignore", over="ignore"):
            m = np.rint(v * _POW10[e]) + 0.0
            ok = (np.abs(m) < _M_LIMIT) & ((m / _POW10[e]).view(np.int64) == v.view(np.int64))
        exc = np.flatnonzero(~ok)
        if exc.size * 2 <= n:
            mi = np.zeros(n, dtype=np.int64)
            mi[ok] = m[ok].astype(np.int64)
            if exc.size:
                # An exception's slot repeats its predecessor, so deltas around it stay small.
                keep = np.where(ok, np.arange(n), 0)
                np.maximum.accumulate(keep, out=keep)
                mi = mi[keep]
            return (
                _FLOAT_HEADER.pack(e, exc.size)
                + _ints_encode(mi)
                + _ints_encode(exc.astype(np.int64))
                + v[exc].tobytes()
            )
    shuffled = v.view(np.uint8).reshape(-1, 8).T
    return _FLOAT_HEADER.pack(_RAW, 0) + shuffled.tobytes()


def _floats_decode(buf: memoryview, pos: int, n: int) -> tuple[np.ndarray, int]:
    e, n_exc = _FLOAT_HEADER.unpack_from(buf, pos)
    pos += _FLOAT_HEADER.size
    if n == 0:
        return np.empty(0, dtype=np.float64), pos
    if e == _RAW:
        raw = np.frombuffer(buf, dtype=np.uint8, count=8 * n, offset=pos)
        return raw.reshape(8, n).T.copy().view(np.float64).ravel(), pos + 8 * n
    m, pos = _ints_decode(buf, pos, n)
    v = m.astype(np.float64)
    if e:
        v /= _POW10[e]
    if n_exc:
        idx, pos = _ints_decode(buf, pos, n_exc)
        v[idx] = np.frombuffer(buf, dtype=np.float64, count=n_exc, offset=pos)
        pos += 8 * n_exc
    else:
        _, pos = _ints_decode(buf, pos, 0)
    return v, pos


# -------------------------------------------------------------------------------------------- chunks


@dataclass(frozen=True, slots=True)
class ChunkSummary:
    """What a chunk row carries next to its blob: enough for series summaries and chunk-level M4."""

    first_step: int
    last_step: int
    n_points: int
    first_value: float
    last_value: float
    min_step: int
    min_value: float
    max_step: int
    max_value: float


def chunk_encode(steps: np.ndarray, values: np.ndarray, wall_times: np.ndarray) -> bytes:
    """One chunk blob; steps int64 strictly increasing, values and wall times float64 (NaN = no time)."""
    n = steps.size
    has_wall = not np.isnan(wall_times).all()
    parts = [
        _HEADER.pack(_MAGIC, VERSION, _FLAG_WALL if has_wall else 0, n),
        _ints_encode(steps),
        _floats_encode(values),
    ]
    if has_wall:
        parts.append(_floats_encode(wall_times))
    return _compressor.compress(b"".join(parts))


def chunk_decode(blob: bytes | memoryview) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, values, wall times) of one chunk blob."""
    buf = memoryview(_decompressor.decompress(blob))
    magic, version, flags, n = _HEADER.unpack_from(buf, 0)
    if magic != _MAGIC or version != VERSION:
        raise CodecError(f"not a metric chunk (magic {magic!r}, version {version})")
    pos = _HEADER.size
    steps, pos = _ints_decode(buf, pos, n)
    values, pos = _floats_decode(buf, pos, n)
    if flags & _FLAG_WALL:
        walls, pos = _floats_decode(buf, pos, n)
    else:
        walls = np.full(n, np.nan)
    if pos != len(buf):
        raise CodecError(f"metric chunk has {len(buf) - pos} trailing bytes")
    return steps, values, walls


def chunks_decode(blobs: Sequence[bytes | memoryview]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points of several chunks (in the order given), concatenated."""
    if not blobs:
        empty = np.empty(0)
        return empty.astype(np.int64), empty, empty
    parts = [chunk_decode(b) for b in blobs]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def chunk_bounds(n: int, size: int = CHUNK_POINTS) -> list[tuple[int, int]]:
    """[start, stop) index ranges cutting n sorted points into chunks of `size` (the last one shorter)."""
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def chunk_summaries(
    steps: np.ndarray, values: np.ndarray, bounds: Sequence[tuple[int, int]]
) -> list[ChunkSummary]:
    """Per chunk: count, first/last point and the lowest/highest value with its step (M4 rules)."""
    if not bounds:
        return []
    starts = np.array([lo for lo, _ in bounds], dtype=np.int64)
    cells = m4_groups(steps, values, starts, cell=np.arange(starts.size, dtype=np.int64))
    return [
        ChunkSummary(
            first_step=int(cells.first_step[i]),
            last_step=int(cells.last_step[i]),
            n_points=int(cells.n[i]),
            first_value=float(cells.first_value[i]),
            last_value=float(cells.last_value[i]),
            min_step=int(cells.min_step[i]),
            min_value=float(cells.min_value[i]),
            max_step=int(cells.max_step[i]),
            max_value=float(cells.max_value[i]),
        )
        for i in range(len(bounds))
    ]


# --------------------------------------------------------------------------------------------- cells


def cells_encode(cells: Cells, *, shift: int) -> bytes:
    """A block of M4 cells of one level: cell ids, counts, the four points as offsets into their cell."""
    origin = cells.cell << shift
    parts = [
        _HEADER.pack(_CELLS_MAGIC, VERSION, 0, cells.cell.size),
        _ints_encode(cells.cell),
        _ints_encode(cells.n),
        _ints_encode(cells.first_step - origin),
        _ints_encode(cells.last_step - origin),
        _ints_encode(cells.min_step - origin),
        _ints_encode(cells.max_step - origin),
        _floats_encode(cells.first_value),
        _floats_encode(cells.last_value),
        _floats_encode(cells.min_value),
        _floats_encode(cells.max_value),
    ]
    return _compressor.compress(b"".join(parts))


def cells_decode(blob: bytes | memoryview, *, shift: int) -> Cells:
    buf = memoryview(_decompressor.decompress(blob))
    magic, version, _flags, n = _HEADER.unpack_from(buf, 0)
    if magic != _CELLS_MAGIC or version != VERSION:
        raise CodecError(f"not a rollup block (magic {magic!r}, version {version})")
    pos = _HEADER.size
    ints = []
    for _ in range(6):
        a, pos = _ints_decode(buf, pos, n)
        ints.append(a)
    floats = []
    for _ in range(4):
        f, pos = _floats_decode(buf, pos, n)
        floats.append(f)
    if pos != len(buf):
        raise CodecError(f"rollup block has {len(buf) - pos} trailing bytes")
    cell, count, first, last, lo, hi = ints
    origin = cell << shift
    return Cells(
        cell=cell,
        n=count,
        first_step=first + origin,
        first_value=floats[0],
        last_step=last + origin,
        last_value=floats[1],
        min_step=lo + origin,
        min_value=floats[2],
        max_step=hi + origin,
        max_value=floats[3],
    )
