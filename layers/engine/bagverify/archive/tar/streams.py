"""The bytes of a tar, decompressed: which compression the content says it has, and a reader for it.

Detected from the first bytes (magic numbers), never from a key's suffix. Each decompressor is the
fastest well-kept one for its format, read through its own multi-member reader: ISA-L's gzip reader
(several gzip members, as pigz and `cat a.gz b.gz` write), the standard library's bz2 and lzma
(multi-stream too), and for Zstandard the standard library's own reader (`compression.zstd`, Python
3.14; before it its backport `backports.zstd`) across frames. (The `zstandard` package's stream
reader returns a cut-short stream's bytes as if they were all: it cannot tell truncation.) Every
read returns at most what was asked, so memory stays bounded whatever a stream inflates to; each
reader checks its format's own checks (gzip's CRC-32 and ISIZE, xz's and Zstandard's checksums)
and its faults become `StreamFault`s.
"""

from __future__ import annotations

import bz2
import enum
import lzma
import zlib
from typing import Any, Protocol, cast

from isal import isal_zlib

from bagverify.archive.source import ArchiveSource
from bagverify.archive.tar.headers import BLOCK, looks_like_tar


class Compression(enum.StrEnum):
    NONE = "none"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    ZSTD = "zstd"


MAGIC = {
    Compression.GZIP: b"\x1f\x8b",
    Compression.BZIP2: b"BZh",
    Compression.XZ: b"\xfd7zXZ\x00",
    Compression.ZSTD: b"\x28\xb5\x2f\xfd",
}
# MIME types, as BagIt Profiles' Accept-Serialization names serializations.
MIME_TYPES = {
    Compression.NONE: "application/x-tar",
    Compression.GZIP: "application/gzip",
    Compression.BZIP2: "application/x-bzip2",
    Compression.XZ: "application/x-xz",
    Compression.ZSTD: "application/zstd",
}


class StreamFault(Exception):
    """The compressed stream is corrupt (`truncated` False) or ends before its end (True)."""

    def __init__(self, message: str, *, truncated: bool) -> None:
        super().__init__(message)
        self.truncated = truncated


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def detect_compression(head: bytes) -> Compression | None:
    """The compression `head` (the first bytes of the object) starts with; None for none known."""
    for compression, magic in MAGIC.items():
        if head.startswith(magic):
            return compression
    return None


# A ZIP's end of central directory record without a comment (APPNOTE 4.3.16).
_END_RECORD_SIZE = 22


def tar_compression(fileobj: ArchiveSource) -> Compression | None:
    """The compression of the tar `fileobj` holds (NONE for a plain tar), or None when it is no tar
    (a ZIP, or neither: the ZIP reader names what it is). Decided from the content, not a name."""
    # Most ZIPs end with their end record (no comment): told from the tail, which S3RangedFile
    # holds already, without waiting for the first part (which planning does not need).
    size = fileobj.seek(0, 2)
    if size >= _END_RECORD_SIZE:
        fileobj.seek(size - _END_RECORD_SIZE)
        if fileobj.read(4) == b"PK\x05\x06":
            return None
    fileobj.seek(0)
    head = fileobj.read(BLOCK)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return None
    compression = detect_compression(head)
    if compression is not None:
        return compression
    return Compression.NONE if looks_like_tar(head) else None


def open_decompressed(source: ArchiveSource, compression: Compression) -> Readable:
    """A reader of `source`'s bytes from offset 0, decompressed; its `read` raises StreamFault."""
    source.seek(0)
    if compression is Compression.NONE:
        return source
    return _Checked(_reader(source, compression), compression)


def _reader(source: Any, compression: Compression) -> Readable:
    if compression is Compression.GZIP:
        from isal import igzip  # only for gzipped tars (~4 ms of a cold start otherwise)

        return cast(Readable, igzip.IGzipFile(fileobj=source, mode="rb"))  # type: ignore[no-untyped-call]
    if compression is Compression.BZIP2:
        return bz2.BZ2File(source)
    if compression is Compression.XZ:
        return lzma.LZMAFile(source, format=lzma.FORMAT_XZ)
    # Only for Zstandard archives: the others never load it.
    try:
        from compression.zstd import ZstdFile
    except ImportError:
        from backports.zstd import ZstdFile
    return ZstdFile(source)  # type: ignore[no-any-return]


# What the readers raise for a corrupt stream (isal's error is its own class, untyped).
_CORRUPT: tuple[type[BaseException], ...] = (
    OSError,
    zlib.error,
    lzma.LZMAError,
    ValueError,
    cast(type[BaseException], isal_zlib.error),
)


class _Checked:
    """The decompressing reader, its exceptions turned into StreamFault (source errors pass through)."""

    def __init__(self, reader: Readable, compression: Compression) -> None:
        self._reader = reader
        self._compression = compression

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._reader.read(size)
        except EOFError as error:
            raise StreamFault(
                f"the {self._compression} stream ends before its end: {error}", truncated=True
            ) from error
        except _CORRUPT as error:
            raise StreamFault(
                f"the {self._compression} stream is corrupt: {error}", truncated=False
            ) from error
        except Exception as error:  # zstandard.ZstdError, without importing zstandard for the others
            if type(error).__name__ == "ZstdError":
                raise StreamFault(
                    f"the {self._compression} stream is corrupt: {error}", truncated=False
                ) from error
            raise
