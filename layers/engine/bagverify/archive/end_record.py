"""Where the central directory is, from the end records: and if it can't be, why not.

stdlib zipfile answers every failure here with "File is not a zip file", and quietly
shifts every member when the end record says the directory starts later than it can
(it takes that for data prepended to the archive). This module tells the cases apart
first, from the same records zipfile then reads:

- nothing like a ZIP at all → NOT_A_ZIP;
- a ZIP cut short: it begins with a local header but its end record is gone, its comment
  is cut, or its directory ends after where the end record sits (bytes are missing before
  it, e.g. the head of the object is gone) → TRUNCATED;
- one part of a split (multi-volume) archive: the other parts are missing → TRUNCATED.

Reads only the archive's last 64 KiB + 22 bytes (S3RangedFile's first GET already holds
them) and its first 4.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from bagverify.archive.errors import ArchiveFault
from bagverify.archive.source import ArchiveSource
from bagverify.verdict import Kind

_END = b"PK\x05\x06"
_END_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_END = b"PK\x06\x06"
_ZIP64_END_SIZE = 56
_MAX_COMMENT = 0xFFFF
# How a ZIP begins: a local file header, or the marker of a split/spanned archive's first part.
_ZIP_STARTS = (b"PK\x03\x04", b"PK\x07\x08", b"PK00")


@dataclass(frozen=True)
class CentralDirectory:
    """The central directory's place, as the end records give it (after any prepended data)."""

    offset: int
    size: int
    entries: int
    archive_size: int
    # Bytes before the archive proper (a self-extractor's stub): what zipfile calls "concat", added to
    # every offset the directory states.
    prepended: int = 0


def locate_central_directory(fileobj: ArchiveSource) -> CentralDirectory:
    """The central directory, or ArchiveFault NOT_A_ZIP / TRUNCATED saying why there is none."""
    archive_size = fileobj.seek(0, 2)
    if archive_size == 0:
        raise ArchiveFault(Kind.NOT_A_ZIP, "the file is empty")
    tail_start = max(0, archive_size - _END_SIZE - _MAX_COMMENT)
    tail = _read_at(fileobj, tail_start, archive_size - tail_start)
    # The last signature whose 22 bytes fit, as zipfile chooses it.
    end = tail.rfind(_END, 0, len(tail) - _END_SIZE + len(_END))
    if end < 0:
        head = _read_at(fileobj, 0, 4)
        if head.startswith(_ZIP_STARTS):
            raise ArchiveFault(
                Kind.TRUNCATED,
                f"the archive is cut short: it begins like a ZIP but its {archive_size:,} bytes hold no "
                "end of central directory record",
            )
        raise ArchiveFault(Kind.NOT_A_ZIP, f"not a ZIP archive (begins with {head!r})")

    (_, disk, cd_disk, _, entries, cd_size, cd_offset, comment_length) = struct.unpack(
        "<4s4H2LH", tail[end : end + _END_SIZE]
    )
    end_position = tail_start + end
    if end_position + _END_SIZE + comment_length > archive_size:
        raise ArchiveFault(
            Kind.TRUNCATED,
            f"the archive is cut short: its comment should be {comment_length:,} bytes, "
            f"{archive_size - end_position - _END_SIZE:,} are there",
        )
    directory_end = end_position
    locator = _read_at(fileobj, end_position - _ZIP64_LOCATOR_SIZE, _ZIP64_LOCATOR_SIZE)
    if end_position >= _ZIP64_LOCATOR_SIZE and locator.startswith(_ZIP64_LOCATOR):
        _, zip64_disk, _, disks = struct.unpack("<4sLQL", locator)
        if zip64_disk != 0 or disks > 1:
            raise _split(disks)
        # zipfile expects the ZIP64 end record right before its locator (no extensible data).
        directory_end = end_position - _ZIP64_LOCATOR_SIZE - _ZIP64_END_SIZE
        record = _read_at(fileobj, directory_end, _ZIP64_END_SIZE) if directory_end >= 0 else b""
        if not record.startswith(_ZIP64_END):
            raise ArchiveFault(
                Kind.CORRUPT_DIRECTORY,
                "the ZIP64 end of central directory record is not where its locator is",
            )
        (_, _, _, _, disk, cd_disk, _, entries, cd_size, cd_offset) = struct.unpack("<4sQ2H2L4Q", record)
    if disk != 0 or cd_disk != 0:
        raise _split(disk + 1)

    # Bytes before the directory's stated offset that aren't there: the archive lost them.
    missing = cd_offset + cd_size - directory_end
    if missing > 0:
        where = "past the end of the archive" if cd_offset >= archive_size else f"at offset {cd_offset:,}"
        raise ArchiveFault(
            Kind.TRUNCATED,
            f"the archive is cut short: its central directory is said to start {where}, but "
            f"{missing:,} bytes before it are missing",
        )
    return CentralDirectory(
        directory_end - cd_size, cd_size, entries, archive_size, directory_end - cd_size - cd_offset
    )


def _split(parts: int) -> ArchiveFault:
    return ArchiveFault(
        Kind.TRUNCATED,
        f"this is the last part of a split (multi-volume) archive of {parts} parts; the others are not here",
    )


def _read_at(fileobj: ArchiveSource, offset: int, length: int) -> bytes:
    if offset < 0 or length <= 0:
        return b""
    fileobj.seek(offset)
    data = b""
    while len(data) < length:  # a raw file object may return fewer bytes than asked
        block = fileobj.read(length - len(data))
        if not block:
            break
        data += block
    return data
