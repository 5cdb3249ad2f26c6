"""TensorBoard event files (TFRecord framing of ``Event`` protos).

Error policy: the whole file is rejected (ParseError with record number and byte offset) on any framing
problem -- truncated record, bad length CRC, bad data CRC, undecodable proto -- so a half-written file is
never half-imported. Non-finite scalars (a NaN loss) are skipped and reported as RowError, with the record
number in ``line``.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from ingestion.parsers.points import SeriesAcc, finish_record
from ingestion.parsers.records import ParseError, RowError, RunLogRecord

MAX_RECORD_BYTES = 64 * 1024 * 1024


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _make_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def looks_like_tfrecord(data: bytes) -> bool:
    """True when the first record header carries a valid masked CRC of its length."""
    if len(data) < 16:
        return False
    (length,) = struct.unpack_from("<Q", data, 0)
    (crc,) = struct.unpack_from("<I", data, 8)
    return bool(masked_crc(data[:8]) == crc and length <= len(data))


# --- batched CRC32C --------------------------------------------------------------------------------
# A byte-at-a-time CRC in Python runs at well under 1 MB/s. CRCs are linear, so every record is cut into
# 64-byte chunks (left-padded with zeros, which do not change a zero-initialised CRC), all chunks of the
# file are run through the table together with NumPy, and each record's chunk CRCs are combined with a
# precomputed "shift by 64 zero bytes" operator. The 0xFFFFFFFF initial value is added back per length.
_CHUNK = 64


def _shift_one(state: int) -> int:
    return _TABLE[state & 0xFF] ^ (state >> 8)


def _shift_tables(count: int) -> tuple[list[int], list[int], list[int], list[int]]:
    images = []
    for bit in range(32):
        state = 1 << bit
        for _ in range(count):
            state = _shift_one(state)
        images.append(state)
    tables = []
    for byte_index in range(4):
        table = []
        for b in range(256):
            acc = 0
            for k in range(8):
                if b >> k & 1:
                    acc ^= images[8 * byte_index + k]
            table.append(acc)
        tables.append(table)
    return tables[0], tables[1], tables[2], tables[3]


_S0, _S1, _S2, _S3 = _shift_tables(_CHUNK)


def _shift_chunk(state: int) -> int:
    return _S0[state & 0xFF] ^ _S1[(state >> 8) & 0xFF] ^ _S2[(state >> 16) & 0xFF] ^ _S3[state >> 24]


_INIT_TERM: dict[int, int] = {}


def _init_term(length: int) -> int:
    """The contribution of the 0xFFFFFFFF initial register after ``length`` bytes."""
    term = _INIT_TERM.get(length)
    if term is None:
        state = 0xFFFFFFFF
        for _ in range(length // _CHUNK):
            state = _shift_chunk(state)
        for _ in range(length % _CHUNK):
            state = _shift_one(state)
        if len(_INIT_TERM) < 100_000:
            _INIT_TERM[length] = state
        term = state
    return term


def crc32c_many(payloads: list[bytes]) -> list[int]:
    """CRC32C of each payload, computed together (same results as ``crc32c``)."""
    if not payloads:
        return []
    padded = []
    counts = []
    for payload in payloads:
        pad = -len(payload) % _CHUNK
        padded.append(b"\0" * pad)
        padded.append(payload)
        counts.append((len(payload) + pad) // _CHUNK)
    matrix = np.frombuffer(b"".join(padded), dtype=np.uint8).reshape(-1, _CHUNK)
    table = np.array(_TABLE, dtype=np.uint32)
    state = np.zeros(matrix.shape[0], dtype=np.uint32)
    for j in range(_CHUNK):
        state = table[(state ^ matrix[:, j]) & 0xFF] ^ (state >> 8)
    chunk_crcs = state.tolist()
    out = []
    position = 0
    for payload, count in zip(payloads, counts):
        acc = 0
        for r in chunk_crcs[position : position + count]:
            acc = _shift_chunk(acc) ^ r
        position += count
        out.append(acc ^ _init_term(len(payload)) ^ 0xFFFFFFFF)
    return out


def _mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def iter_records(data: bytes, *, filename: str) -> list[tuple[int, int, bytes]]:
    """All records as (number, byte offset, payload); every CRC is checked before any record is returned."""
    frames: list[tuple[int, int, bytes, int, bytes, int]] = []
    offset = 0
    size = len(data)
    failure: ParseError | None = None
    while offset < size:
        index = len(frames) + 1
        if size - offset < 12:
            failure = ParseError(
                f"truncated record {index} header at byte offset {offset}", filename=filename
            )
            break
        header = data[offset : offset + 8]
        (length,) = struct.unpack_from("<Q", data, offset)
        (length_crc,) = struct.unpack_from("<I", data, offset + 8)
        if length > MAX_RECORD_BYTES:
            if _mask(crc32c(header)) != length_crc:
                failure = ParseError(
                    f"bad length CRC in record {index} at byte offset {offset}", filename=filename
                )
            else:
                failure = ParseError(
                    f"record {index} at byte offset {offset} is too large ({length} bytes)", filename=filename
                )
            break
        end = offset + 12 + length
        if end + 4 > size:
            if _mask(crc32c(header)) != length_crc:
                failure = ParseError(
                    f"bad length CRC in record {index} at byte offset {offset}", filename=filename
                )
            else:
                failure = ParseError(f"truncated record {index} at byte offset {offset}", filename=filename)
            break
        (data_crc,) = struct.unpack_from("<I", data, end)
        frames.append((index, offset, header, length_crc, data[offset + 12 : end], data_crc))
        offset = end + 4
    crcs = crc32c_many([f[2] for f in frames] + [f[4] for f in frames])
    n = len(frames)
    for i, (index, at, _header, length_crc, _payload, data_crc) in enumerate(frames):
        if _mask(crcs[i]) != length_crc:
            raise ParseError(f"bad length CRC in record {index} at byte offset {at}", filename=filename)
        if _mask(crcs[n + i]) != data_crc:
            raise ParseError(f"bad data CRC in record {index} at byte offset {at}", filename=filename)
    if failure is not None:
        raise failure
    return [(f[0], f[1], f[4]) for f in frames]


def _tensor_scalar(tensor: Any) -> float | None:
    if tensor.tensor_shape.dim and any(d.size != 1 for d in tensor.tensor_shape.dim):
        return None
    for field in ("float_val", "double_val", "half_val", "int_val", "int64_val"):
        values = getattr(tensor, field)
        if len(values) == 1:
            return float(values[0])
    content = tensor.tensor_content
    # DataType enum: 1 float, 2 double, 3 int32, 9 int64
    fmt = {1: "<f", 2: "<d", 3: "<i", 9: "<q"}.get(tensor.dtype)
    if fmt and len(content) == struct.calcsize(fmt):
        return float(struct.unpack(fmt, content)[0])
    return None


def parse_tensorboard(data: bytes, *, filename: str) -> RunLogRecord:
    from tensorboardX.proto import event_pb2

    accs: dict[tuple[str, str], SeriesAcc] = {}
    errors: list[RowError] = []
    records = iter_records(data, filename=filename)  # validates all framing before any record is used
    for index, offset, payload in records:
        event = event_pb2.Event()
        try:
            event.ParseFromString(payload)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise ParseError(
                f"record {index} at byte offset {offset} is not an Event proto: {exc}", filename=filename
            ) from None
        if not event.HasField("summary"):
            continue
        step = int(event.step)
        if step < 0:
            if len(errors) < 1000:
                errors.append(RowError(index, f"negative step {step}"))
            continue
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                v = float(value.simple_value)
            elif kind == "tensor":
                scalar = _tensor_scalar(value.tensor)
                if scalar is None:
                    continue
                v = scalar
            else:
                continue
            tag = value.tag or "unnamed"
            if v - v != 0.0:
                if len(errors) < 1000:
                    errors.append(RowError(index, f"non-finite value {v!r} for {tag!r} at step {step}"))
                continue
            acc = accs.get(("", tag))
            if acc is None:
                acc = accs["", tag] = SeriesAcc(tag)
            acc.add(step, v, float(event.wall_time), index)
    return finish_record(accs.values(), errors, "tensorboard", filename)
