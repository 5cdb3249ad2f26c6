"""The parser sandbox: a child process under CPU, memory, output and wall-clock budgets, JSON back."""

from __future__ import annotations

import os
import time
import zlib

import pytest

from ingestion.parsers.papers import parse_pdf
from ingestion.parsers.records import ParseError
from ingestion.parsers.sandbox import Limits, run_in_child

HERE = "tests.ingestion.parsers.test_sandbox"
pytestmark = pytest.mark.timeout(60)


# Targets run in the child; they take (data, *, filename, **options) like the parsers.
def echo(data: bytes, *, filename: str, extra: int = 0) -> dict[str, object]:
    return {"size": len(data), "filename": filename, "extra": extra}


def burn(data: bytes, *, filename: str) -> None:
    x = 0
    while True:
        x += 1


def sleep(data: bytes, *, filename: str) -> None:
    time.sleep(120)


def hog(data: bytes, *, filename: str) -> int:
    return len(bytearray(2 * 1024 * 1024 * 1024))


def refuse(data: bytes, *, filename: str) -> None:
    raise ParseError("bad header", filename=filename, line=7)


def die(data: bytes, *, filename: str) -> None:
    os._exit(3)


def shout(data: bytes, *, filename: str) -> str:
    return "x" * (4 * 1024 * 1024)


def test_result_comes_back_as_json():
    assert run_in_child(f"{HERE}:echo", b"abc", filename="f.bin", options={"extra": 2}) == {
        "size": 3,
        "filename": "f.bin",
        "extra": 2,
    }


def test_cpu_budget_stops_a_busy_loop():
    start = time.monotonic()
    with pytest.raises(ParseError, match=r"exceeded the CPU budget of 1 s") as info:
        run_in_child(f"{HERE}:burn", b"", filename="slow.pdf", limits=Limits(cpu_seconds=1, wall_seconds=30))
    assert info.value.filename == "slow.pdf"
    assert time.monotonic() - start < 15


def test_wall_clock_budget_stops_a_sleeper():
    start = time.monotonic()
    with pytest.raises(ParseError, match="exceeded the time budget of 1 s"):
        run_in_child(f"{HERE}:sleep", b"", filename="s", limits=Limits(wall_seconds=1))
    assert time.monotonic() - start < 10


def test_memory_budget_is_a_parse_error():
    with pytest.raises(ParseError, match="exceeded the memory budget of 256 MiB"):
        run_in_child(f"{HERE}:hog", b"", filename="m", limits=Limits(memory_bytes=256 * 1024 * 1024))


def test_output_budget():
    with pytest.raises(ParseError, match="exceeded the output budget"):
        run_in_child(f"{HERE}:shout", b"", filename="o", limits=Limits(output_bytes=1024 * 1024))


def test_parse_error_in_the_child_keeps_reason_and_line():
    with pytest.raises(ParseError) as info:
        run_in_child(f"{HERE}:refuse", b"", filename="r.bib")
    assert (info.value.reason, info.value.line, info.value.filename) == ("bad header", 7, "r.bib")


def test_child_dying_without_an_answer():
    with pytest.raises(ParseError, match="failed in the sandbox"):
        run_in_child(f"{HERE}:die", b"", filename="d")


def _flate_bomb_pdf(operators: int) -> bytes:
    """A small PDF whose one page's compressed content stream expands to millions of text operators."""
    content = zlib.compress(b"BT /F1 9 Tf 0 0 Td (ab) Tj ET\n" * operators, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length "
        + str(len(content)).encode()
        + b" /Filter /FlateDecode >>\nstream\n"
        + content
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_pathological_pdf_fails_cleanly_within_its_cpu_budget():
    data = _flate_bomb_pdf(2_000_000)
    assert len(data) < 200_000  # small on disk, ~60 MB of operators once inflated
    start = time.monotonic()
    with pytest.raises(ParseError, match=r"PDF parsing exceeded the (CPU|memory) budget") as info:
        parse_pdf(data, filename="bomb.pdf", limits=Limits(cpu_seconds=2, wall_seconds=30))
    assert info.value.filename == "bomb.pdf"
    assert time.monotonic() - start < 20


def test_ordinary_pdf_parses_within_the_default_budget(fixture_bytes):
    paper = parse_pdf(fixture_bytes("papers/chinchilla.pdf"), filename="c.pdf")
    assert paper.title == "Training Compute-Optimal Large Language Models"
