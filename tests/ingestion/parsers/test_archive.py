from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from ingestion.parsers.archive import is_archive, iter_archive_members
from ingestion.parsers.dispatch import parse_document
from ingestion.parsers.records import ParseError


def _zip(members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w:gz", extra=None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if extra is not None:
            tf.addfile(extra)
    return buf.getvalue()


def test_zip_members_and_mlflow_dispatch(fixture_bytes):
    mlflow = fixture_bytes("runlogs/mlruns/0/3f2a9c1b/metrics/train/loss")
    data = _zip(
        {"./logs/wide.csv": fixture_bytes("runlogs/wide.csv"), "mlruns/0/3f2a9c1b/metrics/train/loss": mlflow}
    )
    assert is_archive("upload.zip", data)
    members = dict(iter_archive_members("upload.zip", data))
    assert list(members) == ["logs/wide.csv", "mlruns/0/3f2a9c1b/metrics/train/loss"]
    doc = parse_document(
        "mlruns/0/3f2a9c1b/metrics/train/loss", members["mlruns/0/3f2a9c1b/metrics/train/loss"]
    )
    assert (doc.fmt, doc.run_log.series[0].name) == ("mlflow", "train/loss")


def test_tar_gz_members():
    data = _tar({"a/b.csv": b"step,loss\n1,2\n"})
    assert is_archive("x.tgz", data)
    assert list(iter_archive_members("x.tgz", data)) == [("a/b.csv", b"step,loss\n1,2\n")]


def test_nested_archive_one_level_is_unpacked_two_levels_rejected():
    inner = _zip({"m.csv": b"step,loss\n1,2\n"})
    outer = _tar({"inner.zip": inner}, mode="w")
    assert list(iter_archive_members("o.tar", outer)) == [("inner.zip/m.csv", b"step,loss\n1,2\n")]
    deeper = _zip({"outer.zip": _zip({"inner.zip": inner})})
    with pytest.raises(ParseError, match="nested more than one level"):
        list(iter_archive_members("deep.zip", deeper))


@pytest.mark.parametrize(
    "name", ["../evil.csv", "a/../../evil.csv", "/etc/passwd", "C:/x.csv", "a\\..\\..\\x"]
)
def test_zip_slip_rejected(name):
    data = _zip({name: b"x"})
    with pytest.raises(ParseError, match=r"zip-slip|absolute"):
        list(iter_archive_members("evil.zip", data))


def test_tar_slip_rejected():
    with pytest.raises(ParseError, match="zip-slip"):
        list(iter_archive_members("evil.tgz", _tar({"../../x": b"x"})))


def test_zip_symlink_member_rejected():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16) | 0
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ParseError, match="symlink"):
        list(iter_archive_members("l.zip", buf.getvalue()))


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE])
def test_tar_links_and_devices_rejected(kind):
    info = tarfile.TarInfo("bad")
    info.type = kind
    info.linkname = "/etc/passwd"
    with pytest.raises(ParseError, match=r"link|device"):
        list(iter_archive_members("l.tar", _tar({}, mode="w", extra=info)))


def test_zip_bomb_ratio_rejected():
    bomb = _zip({"zeros.csv": b"0" * (20 << 20)})  # 20 MiB of one byte deflates ~1000:1
    assert len(bomb) < 100_000
    with pytest.raises(ParseError, match="compression ratio"):
        list(iter_archive_members("bomb.zip", bomb))


def test_total_uncompressed_cap_counts_real_bytes():
    data = _zip({"a.csv": b"1" * 5000, "b.csv": b"2" * 5000}, compression=zipfile.ZIP_STORED)
    with pytest.raises(ParseError, match="expands to more than 8000 bytes"):
        list(iter_archive_members("big.zip", data, max_total_bytes=8000))


def test_gzip_tar_bomb_rejected():
    bomb = _tar({"zeros.csv": b"0" * (20 << 20)})
    with pytest.raises(ParseError, match="compression ratio"):
        list(iter_archive_members("bomb.tgz", bomb))


def test_too_many_members():
    data = _zip({f"f{i}.csv": b"x" for i in range(11)})
    with pytest.raises(ParseError, match="more than 10 members"):
        list(iter_archive_members("many.zip", data, max_members=10))


def test_not_an_archive():
    assert not is_archive("x.zip", b"step,loss\n")
    with pytest.raises(ParseError, match="not a zip or tar"):
        list(iter_archive_members("x.zip", b"step,loss\n"))
