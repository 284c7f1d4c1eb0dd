"""Each member's bytes, read from its local header on: decoded, and checked against the directory.

The central directory is `member_index`'s; this module reads what one entry points at. Member data
is read here rather than by `zipfile.ZipFile.open`: that lets each compression method have a
decoder with bounded output (`decoders`, including Deflate64, which zipfile lacks), and lets every
fault become an `ArchiveFault` of a specific kind naming the member. The CRC-32 and the size the
directory gives are checked for every member, and its local header must name the same file with
the same method.

Two ways to read a member, with the same checks and the same faults:

* `iter_chunks`: a stream of uncompressed chunks of at most CHUNK_SIZE, for members of any size;
* `read_small`: the whole member at once, for members whose data and output both fit in
  SMALL_MEMBER_BYTES. A bag of 20,000 files of a few KB spends most of its time per member, not
  per byte: one read of the header, one of the data and one decoder call, with no generator
  between them, costs a fraction of the streaming path's (measured: see `bench/`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from isal import isal_zlib

from bagverify.archive.decoders import DECODERS, DEFLATED, STORED, CorruptData, inflate_whole, method_name
from bagverify.archive.errors import ArchiveFault
from bagverify.archive.source import ArchiveSource
from bagverify.verdict import Kind

CHUNK_SIZE = 1024 * 1024
# Members read whole by `read_small`: compressed and uncompressed size both at most this.
SMALL_MEMBER_BYTES = 256 * 1024
# Bytes `read_small` reads past a local header's name, for its extra field, with the data.
_EXTRA_ROOM = 64

# Local file header (APPNOTE 4.3.7): signature, version needed, flags, method, time, date, CRC-32,
# compressed and uncompressed sizes, name and extra field lengths; the indices read, named as
# zipfile names them (_FH_*).
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_FH_COMPRESSION_METHOD = 3
_FH_FILENAME_LENGTH = 9
_FH_EXTRA_FIELD_LENGTH = 10
_FLAG_ENCRYPTED = 0x1
_FLAG_PATCHED_DATA = 0x20
_FLAG_STRONG_ENCRYPTION = 0x40
_AES = 99  # WinZip AES (APPNOTE 4.4.5)


class Member(NamedTuple):
    """One file entry of the archive, as the central directory describes it.

    A NamedTuple, not a frozen dataclass: one is made per member scanned, and a frozen dataclass
    takes ~3.6 µs to build (its __init__ sets each field through object.__setattr__), ~1 µs here.
    """

    name: str  # as unzip and 7-Zip would extract it (see member_index)
    size: int
    compressed_size: int
    header_offset: int
    # Where the next entry's local header (or the central directory) begins: this member's
    # data must end by then, else entries overlap (a zip bomb's trick) or the directory lies.
    next_offset: int
    crc: int
    flags: int
    method: int
    raw_name: bytes  # the name's bytes in the directory, which the local header must repeat


class MemberReader:
    """Reads members from `fileobj`, the archive their `header_offset`s point into.

    Raises ArchiveFault for a member that can't be read (encrypted, unsupported method, corrupt,
    truncated, overlapping another); a failing source's own errors pass through unchanged.
    """

    def __init__(self, fileobj: ArchiveSource) -> None:
        self._file = fileobj

    def iter_chunks(self, member: Member, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The member's uncompressed bytes; its size and CRC-32 are checked after the last chunk."""
        decoder = DECODERS[_method_readable(member)]
        start = self._data_offset(member)
        crc, produced = 0, 0
        try:
            for piece in decoder(self._blocks(member, start), chunk_size, member.size):
                produced += len(piece)
                if produced > member.size:
                    raise _too_long(member)
                crc = isal_zlib.crc32(piece, crc)  # ISA-L: several times zlib's speed
                yield piece
        except CorruptData as error:
            raise _undecodable(member, error) from error
        _check_size_and_crc(member, produced, crc)

    def read_small(self, member: Member) -> bytes:
        """The whole member, for one with both sizes at most SMALL_MEMBER_BYTES; checked as `iter_chunks`."""
        assert member.size <= SMALL_MEMBER_BYTES and member.compressed_size <= SMALL_MEMBER_BYTES
        method = _method_readable(member)
        if method not in (STORED, DEFLATED):  # rare in bags: the streaming decoder, joined
            return b"".join(self.iter_chunks(member))
        # Header, name, extra field and data in one read: the extra field's length is known only from
        # the header, so room for a usual one is read along (Info-ZIP's are 28 bytes, ZIP64's 20),
        # but never past the next entry: a ranged reader would take that for a read ahead and let go
        # of the part the next member's header is in.
        size = member.compressed_size
        name_end = _LOCAL_HEADER.size + len(member.raw_name)
        room = min(name_end + _EXTRA_ROOM + size, member.next_offset - member.header_offset)
        head = self._read_at(member.header_offset, max(name_end, room))
        start = self._data_offset(member, head)
        at = start - member.header_offset
        data = head[at : at + size]
        if len(data) < size:  # a longer extra field, or the archive ends inside the data
            data += self._read_at(start + len(data), size - len(data))
            if len(data) < size:
                raise _truncated(member, size - len(data))
        if method == DEFLATED:
            try:
                # At most one byte more than the directory's size: enough to tell it lied.
                data = inflate_whole(data, member.size + 1)
            except CorruptData as error:
                raise _undecodable(member, error) from error
            if len(data) > member.size:
                raise _too_long(member)
        _check_size_and_crc(member, len(data), isal_zlib.crc32(data))
        return data

    # -- reading ---------------------------------------------------------------

    def _data_offset(self, member: Member, header: bytes | None = None) -> int:
        """Where the member's data begins, after its local header (checked against the directory).

        `header`: the archive's bytes from the local header on, if the caller has read them. The
        header and the name the directory gives are read at once: the local header's name has to be
        the same bytes anyway, so a different length is caught by the comparison.
        """
        raw_name = member.raw_name
        name_end = _LOCAL_HEADER.size + len(raw_name)
        if header is None:
            header = self._read_at(member.header_offset, name_end)
        if len(header) < _LOCAL_HEADER.size or not header.startswith(_LOCAL_SIGNATURE):
            raise _corrupt(member, f"no local header at offset {member.header_offset:,}")
        fields = _LOCAL_HEADER.unpack_from(header)
        method = int(fields[_FH_COMPRESSION_METHOD])
        name_length, extra_length = int(fields[_FH_FILENAME_LENGTH]), int(fields[_FH_EXTRA_FIELD_LENGTH])
        if name_length != len(raw_name) or header[_LOCAL_HEADER.size : name_end] != raw_name:
            local_name = self._read_at(member.header_offset + _LOCAL_HEADER.size, name_length)
            raise _corrupt(member, f"its local header names {local_name!r}, the directory {raw_name!r}")
        if method != member.method:
            raise _corrupt(
                member, f"its local header says compression method {method}, the directory {member.method}"
            )
        start = member.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        if start + member.compressed_size > member.next_offset:
            raise _corrupt(
                member,
                f"its {member.compressed_size:,} bytes of data run into the next entry or the central "
                f"directory at offset {member.next_offset:,} (overlapping entries)",
            )
        return start

    def _blocks(self, member: Member, start: int) -> Iterable[bytes]:
        """The member's compressed bytes, in blocks of at most CHUNK_SIZE."""
        position, left = start, member.compressed_size
        while left > 0:
            # Seek every time: another reader of the same file object may have moved it.
            self._file.seek(position)
            block = self._file.read(min(CHUNK_SIZE, left))
            if not block:
                raise _truncated(member, left)
            position += len(block)
            left -= len(block)
            yield block

    def _read_at(self, offset: int, length: int) -> bytes:
        self._file.seek(offset)
        data = self._file.read(length)
        while len(data) < length:  # a raw file object may return fewer bytes than asked
            block = self._file.read(length - len(data))
            if not block:
                break
            data += block
        return data


def _method_readable(member: Member) -> int:
    """The member's compression method, once it is known to be one bagverify can decode."""
    name, flags, method = member.name, member.flags, member.method
    if flags & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION):
        how = "traditional PKWARE encryption"
        if method == _AES:
            how = "WinZip AES"
        elif flags & _FLAG_STRONG_ENCRYPTION:
            how = "PKWARE strong encryption"
        raise ArchiveFault(Kind.ENCRYPTED_MEMBER, f"{name} is encrypted ({how})", name)
    if method not in DECODERS:
        raise ArchiveFault(
            Kind.UNSUPPORTED_COMPRESSION,
            f"{name}: compression method {method_name(method)} is not supported",
            name,
        )
    if flags & _FLAG_PATCHED_DATA:
        raise ArchiveFault(
            Kind.UNSUPPORTED_COMPRESSION, f"{name}: PKWARE patched data (flag bit 5) is not supported", name
        )
    return method


def _check_size_and_crc(member: Member, produced: int, crc: int) -> None:
    if produced != member.size:
        raise _corrupt(member, f"decompresses to {produced:,} bytes, the directory says {member.size:,}")
    if crc != member.crc:
        raise _corrupt(member, f"CRC-32 is {crc:08x}, the directory says {member.crc:08x}")


def _too_long(member: Member) -> ArchiveFault:
    return _corrupt(member, f"decompresses to more than the {member.size:,} bytes the directory says")


def _undecodable(member: Member, error: CorruptData) -> ArchiveFault:
    return _corrupt(member, f"its {method_name(member.method)} data is corrupt ({error})")


def _corrupt(member: Member, what: str) -> ArchiveFault:
    """A corrupt member, named, and `what` is wrong with it."""
    return ArchiveFault(Kind.CORRUPT_MEMBER, f"{member.name}: {what}", member.name)


def _truncated(member: Member, left: int) -> ArchiveFault:
    return ArchiveFault(
        Kind.TRUNCATED,
        f"{member.name}: the archive ends {left:,} bytes before this member's data does",
        member.name,
    )
