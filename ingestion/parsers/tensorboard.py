"""TensorBoard event files (TFRecord framing of ``Event`` protos).

Error policy: the whole file is rejected (ParseError with record number and byte offset) on any framing
problem -- truncated record, bad length CRC, bad data CRC, undecodable proto -- so a half-written file is
never half-imported. Non-finite scalars (a NaN loss) are skipped and reported as RowError, with the record
number in ``line``.
"""

from __future__ import annotations

import struct

from google.protobuf.message import DecodeError

from ingestion.parsers.records import ParseError, RowError, RunLogRecord
from ingestion.parsers.runlogs import _Acc, _finish

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
    return masked_crc(data[:8]) == crc and length <= len(data)


def iter_records(data: bytes, *, filename: str):
    offset = 0
    index = 0
    size = len(data)
    while offset < size:
        index += 1
        if size - offset < 12:
            raise ParseError(f"truncated record {index} header at byte offset {offset}", filename=filename)
        header = data[offset : offset + 8]
        (length,) = struct.unpack_from("<Q", data, offset)
        (length_crc,) = struct.unpack_from("<I", data, offset + 8)
        if masked_crc(header) != length_crc:
            raise ParseError(f"bad length CRC in record {index} at byte offset {offset}", filename=filename)
        if length > MAX_RECORD_BYTES:
            raise ParseError(
                f"record {index} at byte offset {offset} is too large ({length} bytes)", filename=filename
            )
        start = offset + 12
        end = start + length
        if end + 4 > size:
            raise ParseError(f"truncated record {index} at byte offset {offset}", filename=filename)
        payload = data[start:end]
        (data_crc,) = struct.unpack_from("<I", data, end)
        if masked_crc(payload) != data_crc:
            raise ParseError(f"bad data CRC in record {index} at byte offset {offset}", filename=filename)
        yield index, offset, payload
        offset = end + 4


def _tensor_scalar(tensor) -> float | None:
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

    accs: dict[tuple[str, str], _Acc] = {}
    errors: list[RowError] = []
    records = list(iter_records(data, filename=filename))  # validate all framing before using any of it
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
                acc = accs["", tag] = _Acc(tag)
            acc.add(step, v, float(event.wall_time), index)
    return _finish(accs.values(), errors, "tensorboard", filename)
