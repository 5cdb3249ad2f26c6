"""The chunk and cell codec is pure: every float comes back with the same 64 bits, compact on real logs."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.runs.series import codec
from tracker.runs.series.downsample import m4_cells

SPECIALS = np.array(
    [
        0.0,
        -0.0,
        np.nan,
        -np.nan,
        np.inf,
        -np.inf,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        2.0**53,
        2.0**53 + 2,
        -(2.0**53) - 2,
        9007199254740991.0,
        0.1 + 0.2,
        1e-300,
        1e22,
        1e23,
        123456.789,
        -3.5,
    ]
)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and bool((a.view(np.int64) == b.view(np.int64)).all())


def roundtrip(steps, values, walls):
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    walls = np.asarray(walls, dtype=np.float64)
    s, v, w = codec.chunk_decode(codec.chunk_encode(steps, values, walls))
    assert (s == steps).all() and s.dtype == np.int64
    assert same_bits(v, values)
    assert np.isnan(w).tolist() == np.isnan(walls).tolist() and same_bits(
        w[~np.isnan(w)], walls[~np.isnan(walls)]
    )


def test_special_values_round_trip_bit_exact_including_nan_payloads_and_negative_zero():
    payload_nan = np.array([0x7FF8_0000_0000_1234], dtype=np.int64).view(np.float64)
    values = np.r_[SPECIALS, payload_nan]
    roundtrip(np.arange(values.size) * 3 - 7, values, np.full(values.size, np.nan))
    # as a chunk of mostly decimals, the specials are exceptions inside an ALP stream
    mixed = np.r_[np.round(np.linspace(1, 2, 500), 4), values]
    roundtrip(np.arange(mixed.size), mixed, np.where(np.arange(mixed.size) % 3 == 0, np.nan, mixed))


@pytest.mark.parametrize("seed", range(5))
def test_random_bit_patterns_and_extreme_steps_round_trip(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, codec.CHUNK_POINTS + 1))
    values = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64).view(np.float64)
    steps = np.sort(
        rng.choice(np.r_[rng.integers(-(2**62), 2**62, n * 2), -(2**63), 2**63 - 1], n, replace=False)
    )
    walls = np.where(rng.random(n) < 0.5, np.nan, rng.integers(0, 2**63 - 1, n).view(np.float64))
    roundtrip(steps, values, walls)


@pytest.mark.parametrize("digits", [2, 4, 6, 8, 12, 15, 17])
def test_decimal_values_of_any_precision_round_trip(digits):
    rng = np.random.default_rng(digits)
    values = np.array(
        [float(f"{x:.{digits}g}") for x in 10.0 ** rng.uniform(-8, 8, 3000) * rng.choice([-1, 1], 3000)]
    )
    roundtrip(np.arange(values.size), values, 1.7e9 + np.arange(values.size) * 0.25)


def test_empty_and_single_point_chunks():
    roundtrip([], [], [])
    roundtrip([42], [2.5], [np.nan])
    roundtrip([-1], [np.nan], [1.5])


def test_a_realistic_log_compresses_below_three_bytes_per_point():
    """loss printed with 6 decimals, lr in %.4e, wall times in ms: what a training log holds."""
    rng = np.random.default_rng(1)
    steps = np.arange(codec.CHUNK_POINTS, dtype=np.int64) * 10 + 50_000
    loss = np.array([float(f"{x:.6f}") for x in 2 + 8 / np.sqrt(steps + 1) + rng.normal(0, 0.01, steps.size)])
    lr = np.array([float(f"{x:.4e}") for x in 3e-4 * (1 + np.cos(steps / 1e6))])
    walls = np.round(1.7e9 + steps * 0.31 + rng.uniform(0, 0.05, steps.size), 3)
    loss_bytes = len(codec.chunk_encode(steps, loss, walls)) / steps.size
    lr_bytes = len(codec.chunk_encode(steps, lr, np.full(steps.size, np.nan))) / steps.size
    assert loss_bytes < 4.0 and lr_bytes < 0.5, (loss_bytes, lr_bytes)
    # full-precision doubles (no decimal structure) stay below their 8 raw bytes
    noise = 2 + rng.normal(0, 0.01, steps.size)
    assert len(codec.chunk_encode(steps, noise, np.full(steps.size, np.nan))) / steps.size < 7.5


def test_cells_round_trip():
    rng = np.random.default_rng(3)
    steps = np.sort(rng.choice(10**6, 50_000, replace=False)).astype(np.int64)
    values = np.round(rng.normal(3, 1, steps.size), 3)
    values[[5, 500]] = np.nan
    for shift in (0, 5, 11):
        cells = m4_cells(steps, values, shift=shift)
        back = codec.cells_decode(codec.cells_encode(cells, shift=shift), shift=shift)
        for field in cells.__dataclass_fields__:
            assert same_bits(
                getattr(back, field).astype(np.float64), getattr(cells, field).astype(np.float64)
            ), field


def test_foreign_blobs_are_refused():
    cells_blob = codec.cells_encode(m4_cells(np.arange(10), np.arange(10.0), shift=1), shift=1)
    with pytest.raises(codec.CodecError, match="not a metric chunk"):
        codec.chunk_decode(cells_blob)
    chunk = codec.chunk_encode(np.arange(3), np.ones(3), np.full(3, np.nan))
    with pytest.raises(codec.CodecError, match="not a rollup block"):
        codec.cells_decode(chunk, shift=0)
