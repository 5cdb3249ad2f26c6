"""Safe unpacking of uploaded archives (.zip, .tar, .tar.gz/.tgz), streaming and counting real bytes.

Rejected with ParseError (the whole archive): absolute or ``..`` member paths, links and devices, too
many members, more uncompressed bytes than allowed (counted while reading, headers are not trusted),
compression ratio bombs, and archives nested more than one level deep.
"""

from __future__ import annotations

import io
import lzma
import posixpath
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO

from ingestion.parsers.records import ParseError

_DECOMPRESS_ERRORS = (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error, lzma.LZMAError)
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
_CHUNK = 1 << 16
# Small members compress poorly or too well without meaning anything; judge the ratio beyond this size.
_RATIO_GRACE = 1 << 20


def _is_tar(data: bytes) -> bool:
    return len(data) > 262 and data[257:262] == b"ustar"


def is_archive(filename: str, data: bytes) -> bool:
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06" or _is_tar(data):
        return True
    if data[:2] == b"\x1f\x8b":
        import gzip

        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                head = gz.read(512)
        except (OSError, EOFError, zlib.error):
            return False
        return _is_tar(head)
    return False


def safe_member_name(name: str, *, filename: str) -> str:
    raw = name.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":") or "\x00" in raw:
        raise ParseError(f"archive member has an absolute path: {name[:200]!r}", filename=filename)
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ParseError(f"archive member escapes the archive (zip-slip): {name[:200]!r}", filename=filename)
    if not parts:
        raise ParseError(f"archive member has an empty name: {name[:200]!r}", filename=filename)
    return posixpath.join(*parts)


class _Budget:
    def __init__(self, filename: str, max_members: int, max_total_bytes: int, max_ratio: float) -> None:
        self.filename = filename
        self.max_members = max_members
        self.max_total = max_total_bytes
        self.max_ratio = max_ratio
        self.members = 0
        self.total = 0

    def member(self) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise ParseError(f"archive has more than {self.max_members} members", filename=self.filename)

    def read(self, stream: IO[bytes], compressed: int, name: str) -> bytes:
        out = bytearray()
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            out += chunk
            self.total += len(chunk)
            if self.total > self.max_total:
                raise ParseError(
                    f"archive expands to more than {self.max_total} bytes (at member {name!r})",
                    filename=self.filename,
                )
            if len(out) > _RATIO_GRACE and len(out) > self.max_ratio * max(compressed, 1):
                raise ParseError(
                    f"member {name!r} compression ratio exceeds {self.max_ratio:g} (zip bomb?)",
                    filename=self.filename,
                )
        return bytes(out)


def _iter_zip(data: bytes, budget: _Budget, filename: str) -> Iterator[tuple[str, bytes]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (*_DECOMPRESS_ERRORS, NotImplementedError) as exc:
        raise ParseError(f"bad zip archive: {exc}", filename=filename) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > budget.max_members:
            raise ParseError(f"archive has more than {budget.max_members} members", filename=filename)
        for info in infos:
            name = safe_member_name(info.filename, filename=filename)
            mode = (info.external_attr >> 16) & 0o170000
            if mode == 0o120000:
                raise ParseError(f"archive member {name!r} is a symlink", filename=filename)
            if mode not in (0, 0o100000, 0o040000):
                raise ParseError(f"archive member {name!r} is not a regular file", filename=filename)
            if info.is_dir():
                continue
            budget.member()
            try:
                with zf.open(info) as stream:
                    content = budget.read(stream, info.compress_size, name)
            except ParseError:
                raise
            except (*_DECOMPRESS_ERRORS, NotImplementedError, RuntimeError) as exc:
                raise ParseError(f"cannot read member {name!r}: {exc}", filename=filename) from None
            yield name, content


def _iter_tar(data: bytes, budget: _Budget, filename: str) -> Iterator[tuple[str, bytes]]:
    try:
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r|*")  # noqa: SIM115 -- closed by the with below
    except (tarfile.TarError, *_DECOMPRESS_ERRORS) as exc:
        raise ParseError(f"bad tar archive: {exc}", filename=filename) from None
    try:
        with tf:
            for member in tf:
                name = safe_member_name(member.name, filename=filename)
                if member.issym() or member.islnk():
                    raise ParseError(f"archive member {name!r} is a link", filename=filename)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise ParseError(
                        f"archive member {name!r} is a device or special file", filename=filename
                    )
                budget.member()
                stream = tf.extractfile(member)
                if stream is None:
                    continue
                # tar members are stored uncompressed; the ratio that matters is against the whole upload.
                content = budget.read(stream, max(len(data), 1), name)
                if budget.total > _RATIO_GRACE and budget.total > budget.max_ratio * len(data):
                    raise ParseError(
                        f"archive compression ratio exceeds {budget.max_ratio:g}", filename=filename
                    )
                yield name, content
    except ParseError:
        raise
    except (tarfile.TarError, *_DECOMPRESS_ERRORS) as exc:
        raise ParseError(f"bad tar archive: {exc}", filename=filename) from None


def _iter_any(data: bytes, budget: _Budget, filename: str) -> Iterator[tuple[str, bytes]]:
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _iter_zip(data, budget, filename)
    return _iter_tar(data, budget, filename)


def iter_archive_members(
    filename: str,
    data: bytes,
    *,
    max_members: int = 10_000,
    max_total_bytes: int = 1 << 30,
    max_ratio: float = 200.0,
) -> Iterator[tuple[str, bytes]]:
    """Yield ``(safe relative name, bytes)`` for every regular file; one nested archive level is unpacked
    in place (its members are named ``inner.zip/member``)."""
    if not is_archive(filename, data):
        raise ParseError("not a zip or tar archive", filename=filename)
    budget = _Budget(filename, max_members, max_total_bytes, max_ratio)
    for name, content in _iter_any(data, budget, filename):
        if is_archive(name, content):
            for inner_name, inner in _iter_any(content, budget, f"{filename}/{name}"):
                if is_archive(inner_name, inner):
                    raise ParseError(
                        f"archive nested more than one level deep ({name}/{inner_name})", filename=filename
                    )
                yield f"{name}/{inner_name}", inner
        else:
            yield name, content
