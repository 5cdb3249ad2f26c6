from __future__ import annotations

import pytest

from ingestion.parsers.dispatch import parse_document
from ingestion.parsers.records import ParseError, RowError
from ingestion.parsers.tensorboard import masked_crc, parse_tensorboard

TB = "runlogs/events.out.tfevents.1700000000.fixture"


def test_tensorboard_scalars(fixture_bytes):
    doc = parse_document("events.out.tfevents.1700000000.host", fixture_bytes(TB))
    assert doc.fmt == "tensorboard"
    series = {s.name: s for s in doc.run_log.series}
    loss = series["train/loss"]
    assert loss.steps == list(range(0, 100, 10))
    assert loss.values[0] == 4.0
    assert loss.values[5] == 3.0
    assert loss.wall_times[1] == 1_700_000_010.0
    assert series["eval/loss"].steps == [50, 90]
    assert series["eval/loss"].values == [3.5, 3.25]
    assert doc.row_errors == [RowError(24, "non-finite value nan for 'train/loss' at step 100")]


def test_crc32c_known_vector():
    from ingestion.parsers.tensorboard import crc32c

    assert crc32c(b"123456789") == 0xE3069283
    assert masked_crc(b"") == 0xA282EAD8


def test_truncated_tensorboard_rejected_whole(fixture_bytes):
    data = fixture_bytes(TB)
    with pytest.raises(ParseError, match=r"truncated record \d+ at byte offset \d+"):
        parse_tensorboard(data[:-7], filename="events.out.tfevents.x")


def test_corrupt_tensorboard_crc(fixture_bytes):
    data = bytearray(fixture_bytes(TB))
    data[-10] ^= 0xFF
    with pytest.raises(ParseError, match=r"bad data CRC in record 24 at byte offset"):
        parse_tensorboard(bytes(data), filename="events.out.tfevents.x")


def test_tensorboard_name_with_other_content_is_rejected():
    with pytest.raises(ParseError, match="TensorBoard"):
        parse_document("events.out.tfevents.123.host", b"step,loss\n1,2\n")


def test_nvidia_smi_power(fixture_bytes):
    doc = parse_document("gpu.csv", fixture_bytes("runlogs/nvidia_smi.csv"))
    assert doc.fmt == "nvidia_smi"
    power = doc.run_log.power
    # GPU 0: 600 -> 700 -> 600 W over 1 h = 0.65 kWh; GPU 1: 500 -> 700 W over 1 h (N/A skipped) = 0.6 kWh
    assert power.energy_kwh == pytest.approx(1.25)
    assert power.gpu_hours == pytest.approx(2.0)
    assert power.gpu_count == 2
    assert power.mean_power_w == pytest.approx(625.0)
    assert power.samples == 5
    assert power.gpu_name == "NVIDIA H100 80GB HBM3"
    assert doc.row_errors == [RowError(5, "bad power.draw '[N/A]'")]


def test_nvidia_smi_single_sample_rejected():
    data = b"timestamp, index, name, power.draw [W]\n2024/07/01 12:00:00.000, 0, H100, 600.00 W\n"
    with pytest.raises(ParseError, match="two timed samples"):
        parse_document("gpu.csv", data)


def test_batched_crc_matches_bytewise():
    import random

    from ingestion.parsers.tensorboard import crc32c, crc32c_many

    rng = random.Random(7)
    payloads = [bytes(rng.randrange(256) for _ in range(n)) for n in (0, 1, 63, 64, 65, 127, 128, 1000, 4097)]
    assert crc32c_many(payloads) == [crc32c(p) for p in payloads]


def test_bad_length_crc_reports_first_record(fixture_bytes):
    data = bytearray(fixture_bytes(TB))
    data[8] ^= 0x01  # the first record's length CRC
    with pytest.raises(ParseError, match=r"bad length CRC in record 1 at byte offset 0"):
        parse_tensorboard(bytes(data), filename="events.out.tfevents.x")


def test_tensorboard_negative_step_is_a_row_error(tmp_path):
    from tensorboardX import SummaryWriter

    from ingestion.parsers.dispatch import parse_document
    from ingestion.parsers.records import RowError

    writer = SummaryWriter(str(tmp_path))
    writer.add_scalar("loss", 2.0, global_step=-5)
    writer.add_scalar("loss", 1.5, global_step=3)
    writer.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    doc = parse_document(path.name, path.read_bytes())
    assert doc.run_log.series[0].steps == [3]
    assert [e.reason for e in doc.row_errors] == ["negative step -5"]
    assert isinstance(doc.row_errors[0], RowError)
