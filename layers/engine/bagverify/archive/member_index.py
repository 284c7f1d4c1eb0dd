"""The central directory as a compact index: every entry's fields in parallel arrays, sorted by offset.

stdlib zipfile builds one `ZipInfo` per entry, ~550 bytes and ~5 µs each: a 1,000,000-entry
directory costs ~0.5 GB before anything else is done. This module parses the directory records
itself with `struct` into arrays of fixed-width numbers plus one list of names: ~45 bytes per entry
besides its name. It reads what zipfile reads and refuses what zipfile refuses (then
CORRUPT_DIRECTORY): the record signature, ZIP64 extra fields, Info-ZIP Unicode Path fields (0x7075,
as Python 3.12 reads them), the version needed to extract. Entries are named as unzip and 7-Zip
extract them (UTF-8 names without the flag, Windows backslashes), and each member's data must end
where the next local header or the directory begins (`next_offsets`). tests/unit/zipfile_listing.py
lists archives through zipfile by the same rules; the tests hold this index to it.

`member(position)` makes the `Member` that `member_reader.MemberReader` reads, one entry at a
time. `encode` serializes the index
as fixed-width records plus a names blob, so a shard can fetch the records of its own positions
by one ranged GET and the names by another (`decode_slice`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import operator
import struct
import sys
import zlib
from array import array
from dataclasses import dataclass, field
from typing import Any

from bagverify.archive.end_record import locate_central_directory
from bagverify.archive.errors import ArchiveFault
from bagverify.archive.member_reader import Member
from bagverify.archive.source import ArchiveSource
from bagverify.verdict import Kind

# zipfile's structCentralDir: signature, versions/system, flags, method, time, date, CRC, sizes,
# name/extra/comment lengths, disk, attributes, local header offset.
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_CENTRAL_SIGNATURE = b"PK\x01\x02"
# Byte offsets of the fields read within a record's fixed part (APPNOTE 4.3.12), named as zipfile
# names their indices in structCentralDir (_CD_*).
_CD_CREATE_SYSTEM = 5
_CD_EXTRACT_VERSION = 6
_CD_FLAG_BITS = 8
_CD_COMPRESS_TYPE = 10
_CD_CRC = 16
_CD_COMPRESSED_SIZE = 20
_CD_UNCOMPRESSED_SIZE = 24
_CD_FILENAME_LENGTH = 28  # then the extra field's and the comment's lengths (_LENGTHS)
_CD_EXTRA_FIELD_LENGTH = 30
_CD_LOCAL_HEADER_OFFSET = 42
_CD_FIXED = _CENTRAL.size  # 46: the name follows
# A 32-bit size or offset saturated so: the ZIP64 extra field holds the value (APPNOTE 4.5.3).
_SATURATED_32 = 0xFFFF_FFFF
_SATURATED_64 = 0xFFFF_FFFF_FFFF_FFFF
_MAX_EXTRACT_VERSION = 63  # zipfile.MAX_EXTRACT_VERSION
_FLAG_UTF8 = 0x800
# Hosts (APPNOTE 4.4.2) whose file names can't hold a backslash, so one is a separator:
# MS-DOS/Windows FAT (Explorer, .NET, PowerShell's Compress-Archive), NTFS, VFAT.
_WINDOWS_HOSTS = {0, 11, 14}
_ZIP64_EXTRA = 0x0001
_UNICODE_PATH_EXTRA = 0x7075
_EXTRA_HEADER = struct.Struct("<HH")
_LENGTHS = struct.Struct("<3H")  # name, extra and comment lengths, at _CD_FILENAME_LENGTH of a record
_U64 = struct.Struct("<Q")
_UNICODE_PATH = struct.Struct("<BL")  # version, CRC-32 of the name it replaces

_MAGIC = b"BAGVERIFY-INDEX-1\n"
# One entry: offset, next offset, compressed size, size, names-blob start, CRC-32, name length (UTF-8),
# raw name length (0: the raw name is the UTF-8 name), flags, method, host system, caller's mark.
RECORD = struct.Struct("<QQQQQIIIHHBB")


@dataclass(frozen=True)
class ArchiveNotice:
    """Something about the archive's entries worth a warning, not a fault (the bag stays valid)."""

    kind: Kind
    message: str
    name: str | None = None


class _Unreadable(Exception):
    """What zipfile would raise for this directory (BadZipFile, NotImplementedError, UnicodeDecodeError)."""


@dataclass
class MemberIndex:
    """The entries at positions [first, first + len) of the archive's entries sorted by local-header offset.

    Sorting is stable: entries sharing an offset keep their directory order.
    """

    archive_size: int
    directory_offset: int
    directory_size: int
    first: int
    offsets: array[int]
    next_offsets: array[int]
    compressed_sizes: array[int]
    sizes: array[int]
    crcs: array[int]
    flags: array[int]
    methods: array[int]
    systems: array[int]
    # Entry names as unzip extracts them (Member.name); directories end with "/".
    names: list[str]
    # The name's bytes in the directory, where they are not names[i] in UTF-8 (by index into the arrays).
    raw_overrides: dict[int, bytes] = field(default_factory=dict)
    # Whole-archive findings, only on an index of all entries: duplicated names in directory order,
    # and warnings.
    duplicate_names: list[str] = field(default_factory=list)
    notices: list[ArchiveNotice] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def positions(self) -> range:
        return range(self.first, self.first + len(self.names))

    def name(self, position: int) -> str:
        return self.names[position - self.first]

    def raw_name(self, position: int) -> bytes:
        i = position - self.first
        raw = self.raw_overrides.get(i)
        return raw if raw is not None else self.names[i].encode("utf-8")

    def member(self, position: int) -> Member:
        """The Member at `position`, for MemberReader."""
        i = position - self.first
        return Member(
            self.names[i],
            self.sizes[i],
            self.compressed_sizes[i],
            self.offsets[i],
            self.next_offsets[i],
            self.crcs[i],
            self.flags[i],
            self.methods[i],
            self.raw_name(position),
        )

    # -- serialized form, for shards ---------------------------------------------------------

    def encode(self, marks: array[int] | None = None) -> EncodedIndex:
        """The index as bytes: a header, one RECORD per position, then the names blob.

        `marks` (one byte per position, the caller's meaning) is stored in each record.
        """
        names_blob: bytes | bytearray
        if not self.raw_overrides:
            names_blob, name_starts, records = self._encode_columns(marks)
        else:
            names_blob, name_starts, records = self._encode_records(marks)
        header = json.dumps(
            {
                "archive_size": self.archive_size,
                "directory_offset": self.directory_offset,
                "directory_size": self.directory_size,
                "entries": len(self),
                "record_size": RECORD.size,
            }
        ).encode()
        prefix = _MAGIC + struct.pack("<Q", len(header)) + header
        records_at = len(prefix)
        names_at = records_at + len(records)
        data = bytearray(prefix)
        data += records
        del records
        data += names_blob
        return EncodedIndex(data, records_at, names_at, name_starts)

    def _encode_columns(self, marks: array[int] | None) -> tuple[bytes, array[int], bytearray]:
        """Every name as it is in the directory: records written a field at a time, for all at once."""
        count = len(self)
        names_blob = "".join(self.names).encode("utf-8")
        if len(names_blob) == sum(map(len, self.names)):  # all ASCII
            lengths = array("I", map(len, self.names))
        else:
            lengths = array("I", [len(name.encode("utf-8")) for name in self.names])
        name_starts = array("Q", itertools.accumulate(lengths, initial=0))
        records = bytearray(RECORD.size * count)
        fields: list[tuple[str, Any]] = [
            ("Q", self.offsets),
            ("Q", self.next_offsets),
            ("Q", self.compressed_sizes),
            ("Q", self.sizes),
            ("Q", name_starts[:count]),
            ("I", self.crcs),
            ("I", lengths),
            ("I", bytes(4 * count)),
            ("H", self.flags),
            ("H", self.methods),
            ("B", self.systems),
            ("B", marks if marks is not None else bytes(count)),
        ]
        at = 0
        for typecode, values in fields:
            width = struct.calcsize(typecode)
            column = array(typecode, values)
            if sys.byteorder == "big":
                column.byteswap()
            raw = column.tobytes()
            for k in range(width):
                records[at + k :: RECORD.size] = raw[k::width]
            at += width
        assert at == RECORD.size
        return names_blob, name_starts, records

    def _encode_records(self, marks: array[int] | None) -> tuple[bytearray, array[int], bytearray]:
        """Names whose directory bytes differ from their UTF-8: a record at a time."""
        names_blob = bytearray()
        name_starts = array("Q")
        records = bytearray(RECORD.size * len(self))
        for i, name in enumerate(self.names):
            start = len(names_blob)
            name_starts.append(start)
            encoded = name.encode("utf-8")
            names_blob += encoded
            raw = self.raw_overrides.get(i)
            if raw is not None:
                names_blob += raw
            RECORD.pack_into(
                records,
                i * RECORD.size,
                self.offsets[i],
                self.next_offsets[i],
                self.compressed_sizes[i],
                self.sizes[i],
                start,
                self.crcs[i],
                len(encoded),
                0 if raw is None else len(raw),
                self.flags[i],
                self.methods[i],
                self.systems[i],
                marks[i] if marks is not None else 0,
            )
        name_starts.append(len(names_blob))
        return names_blob, name_starts, records

    @classmethod
    def decode_slice(
        cls, first: int, records: bytes, names: bytes, names_base: int, *, archive_size: int = 0
    ) -> tuple[MemberIndex, array[int]]:
        """Positions [first, first + len(records) / RECORD.size) from their records and their part of
        the names blob (which starts at blob offset `names_base`); returns the index and the marks."""
        index = cls(
            archive_size,
            0,
            0,
            first,
            array("Q"),
            array("Q"),
            array("Q"),
            array("Q"),
            array("I"),
            array("H"),
            array("H"),
            array("B"),
            [],
        )
        marks = array("B")
        view = memoryview(names)
        for i, fields in enumerate(RECORD.iter_unpack(records)):
            (offset, following, compressed, size, start, crc, name_length, raw_length, flags) = fields[:9]
            method, system, mark = fields[9:]
            at = start - names_base
            index.names.append(str(view[at : at + name_length], "utf-8"))
            if raw_length:
                index.raw_overrides[i] = bytes(view[at + name_length : at + name_length + raw_length])
            index.offsets.append(offset)
            index.next_offsets.append(following)
            index.compressed_sizes.append(compressed)
            index.sizes.append(size)
            index.crcs.append(crc)
            index.flags.append(flags)
            index.methods.append(method)
            index.systems.append(system)
            marks.append(mark)
        return index, marks


@dataclass
class EncodedIndex:
    """A serialized MemberIndex, and where each position's record and name lie in it."""

    data: bytearray
    records_at: int
    names_at: int
    name_starts: array[int]  # per position, into the names blob; one more at the end

    def record_range(self, start: int, stop: int) -> tuple[int, int]:
        """Bytes [a, b) of `data` holding the records of positions [start, stop)."""
        return self.records_at + start * RECORD.size, self.records_at + stop * RECORD.size

    def name_range(self, start: int, stop: int) -> tuple[int, int]:
        """Bytes [a, b) of `data` holding the names of positions [start, stop)."""
        return self.names_at + self.name_starts[start], self.names_at + self.name_starts[stop]


def read_member_index(fileobj: ArchiveSource) -> MemberIndex:
    """The archive's entries, or ArchiveFault (NOT_A_ZIP, TRUNCATED, CORRUPT_DIRECTORY) saying why not.

    Reads the end records and then the whole directory in one read (S3RangedFile: the tail GET,
    and for a directory larger than the tail one more GET).
    """
    directory = locate_central_directory(fileobj)
    fileobj.seek(directory.offset)
    data = fileobj.read(directory.size) if directory.size else b""
    while len(data) < directory.size:  # a raw file object may return fewer bytes than asked
        block = fileobj.read(directory.size - len(data))
        if not block:
            break
        data += block
    try:
        return _parse(data, directory.size, directory.offset, directory.prepended, directory.archive_size)
    except _Unreadable as error:
        raise ArchiveFault(Kind.CORRUPT_DIRECTORY, f"the central directory is unreadable: {error}") from error


@dataclass
class _Fields:
    """The directory's fixed-width fields, one array per field, in directory order."""

    systems: array[int]
    extract_versions: array[int]
    flags: array[int]
    methods: array[int]
    crcs: array[int]
    compressed_sizes: array[int]
    sizes: array[int]
    name_lengths: array[int]
    extra_lengths: array[int]
    offsets: array[int]


def _parse(data: bytes, size: int, directory_offset: int, prepended: int, archive_size: int) -> MemberIndex:
    """The directory's records, field by field for all records at once where that is possible.

    A Python loop costs ~1 µs per operation per entry, so the one loop over every record only
    finds where each starts; the fixed-width fields are then cut out of all records together
    (`_fixed_fields`), and only the entries that need it go through the per-entry rules: names that
    are not plain ASCII, extra fields, ZIP64 values. The phases, in order: record starts, fixed
    fields, names, extra fields, names as unzip extracts them, duplicates, order by offset.
    """
    starts = _record_starts(data, size)
    fields = _fixed_fields(data, starts)
    raws = [
        data[at + _CD_FIXED : at + _CD_FIXED + length]
        for at, length in zip(starts, fields.name_lengths, strict=True)
    ]
    # The name of every entry as zipfile decodes it (ASCII names: the same in UTF-8 and cp437).
    names = _decode_names(raws, fields.flags)
    if fields.extract_versions and max(fields.extract_versions) > _MAX_EXTRACT_VERSION:
        raise _Unreadable(f"zip file version {max(fields.extract_versions) / 10:.1f}")
    unicode_names = _read_extras(data, starts, fields, raws)
    offsets = fields.offsets
    if prepended:
        offsets = array("Q", [offset + prepended for offset in offsets])
    del starts
    names, raw_overrides, notices = _extracted_names(raws, names, fields, unicode_names)
    del raws
    duplicates = _duplicates(names)
    order = _offset_order(offsets)
    if order is not None:  # sorted by local-header offset, ties in directory order

        def by_offset(values: array[int]) -> array[int]:
            return array(values.typecode, [values[i] for i in order])

        offsets = by_offset(offsets)
        fields.compressed_sizes, fields.sizes = by_offset(fields.compressed_sizes), by_offset(fields.sizes)
        fields.crcs, fields.flags = by_offset(fields.crcs), by_offset(fields.flags)
        fields.methods, fields.systems = by_offset(fields.methods), by_offset(fields.systems)
        names = [names[i] for i in order]
        where = {old: new for new, old in enumerate(order) if old in raw_overrides}
        raw_overrides = {where[old]: raw for old, raw in raw_overrides.items()}
    return MemberIndex(
        archive_size,
        directory_offset,
        size,
        0,
        offsets,
        _next_offsets(offsets, directory_offset),
        fields.compressed_sizes,
        fields.sizes,
        fields.crcs,
        fields.flags,
        fields.methods,
        fields.systems,
        names,
        raw_overrides,
        duplicates,
        notices,
    )


def _fixed_fields(data: bytes, starts: array[int]) -> _Fields:
    """Every record's fixed fields, each cut out of all records at once; signatures checked."""
    count = len(starts)
    # Every record's fixed 46 bytes end to end; each field is then one strided copy of them.
    fixed = memoryview(_gather(data, starts, 0, _CD_FIXED))

    def column(typecode: str, at: int, width: int) -> array[int]:
        return _column(fixed, count, typecode, at, width)

    signatures = bytearray(4 * count)
    for k in range(4):
        signatures[k::4] = fixed[k::_CD_FIXED].tobytes()
    if signatures != _CENTRAL_SIGNATURE * count:
        raise _Unreadable("Bad magic number for central directory")
    del signatures
    fields = _Fields(
        systems=column("B", _CD_CREATE_SYSTEM, 1),
        extract_versions=column("B", _CD_EXTRACT_VERSION, 1),
        flags=column("H", _CD_FLAG_BITS, 2),
        methods=column("H", _CD_COMPRESS_TYPE, 2),
        crcs=column("I", _CD_CRC, 4),
        compressed_sizes=array("Q", column("I", _CD_COMPRESSED_SIZE, 4)),
        sizes=array("Q", column("I", _CD_UNCOMPRESSED_SIZE, 4)),
        name_lengths=column("H", _CD_FILENAME_LENGTH, 2),
        extra_lengths=column("H", _CD_EXTRA_FIELD_LENGTH, 2),
        offsets=array("Q", column("I", _CD_LOCAL_HEADER_OFFSET, 4)),
    )
    fixed.release()
    return fields


def _read_extras(data: bytes, starts: array[int], fields: _Fields, raws: list[bytes]) -> dict[int, str]:
    """Extra fields, walked as ZipInfo._decodeExtra (3.12) walks them: a field running past the
    extra is an unreadable directory; ZIP64 fields give the sizes and offset saturated in the
    record (set in `fields`); Unicode Path fields (0x7075) name the entry when they match its name's
    CRC: those names are returned, by entry."""
    sizes, compressed_sizes, offsets = fields.sizes, fields.compressed_sizes, fields.offsets
    header = _EXTRA_HEADER.unpack_from
    u64 = _U64.unpack_from
    length = len(data)
    unicode_fields: list[tuple[int, int, int]] = []
    for i in _walk_extras(data, starts, fields):
        position = starts[i] + _CD_FIXED + fields.name_lengths[i]
        end = min(position + fields.extra_lengths[i], length)
        while position + _EXTRA_HEADER.size <= end:
            kind, field_length = header(data, position)
            body = position + _EXTRA_HEADER.size
            position = body + field_length
            if position > end:
                raise _Unreadable(f"Corrupt extra field {kind:04x} (size={field_length})")
            if kind == _ZIP64_EXTRA:
                if sizes[i] in (_SATURATED_32, _SATURATED_64):
                    if body + 8 > position:
                        raise _Unreadable("Corrupt zip64 extra field. File size not found.")
                    sizes[i] = u64(data, body)[0]
                    body += 8
                if compressed_sizes[i] == _SATURATED_32:
                    if body + 8 > position:
                        raise _Unreadable("Corrupt zip64 extra field. Compress size not found.")
                    compressed_sizes[i] = u64(data, body)[0]
                    body += 8
                if offsets[i] == _SATURATED_32:
                    if body + 8 > position:
                        raise _Unreadable("Corrupt zip64 extra field. Header offset not found.")
                    offsets[i] = u64(data, body)[0]
            elif kind == _UNICODE_PATH_EXTRA:
                unicode_fields.append((i, body, position))
    unicode_names: dict[int, str] = {}
    for i, body, end in unicode_fields:
        if end - body < _UNICODE_PATH.size:
            raise _Unreadable("Corrupt unicode path extra field (0x7075)")
        version, name_crc = _UNICODE_PATH.unpack_from(data, body)
        if version == 1 and name_crc == zlib.crc32(raws[i]):
            try:
                unicode_name = data[body + _UNICODE_PATH.size : end].decode("utf-8")
            except UnicodeDecodeError as error:
                raise _Unreadable("Corrupt unicode path extra field (0x7075): invalid utf-8 bytes") from error
            if unicode_name:
                unicode_names[i] = unicode_name
    return unicode_names


def _extracted_names(
    raws: list[bytes], names: list[str], fields: _Fields, unicode_names: dict[int, str]
) -> tuple[list[str], dict[int, bytes], list[ArchiveNotice]]:
    """Each entry's name as unzip extracts it (the rules of `_entry_name`), the raw bytes of the names
    that differ from their UTF-8, and the warnings about names (Windows backslashes)."""
    raw_overrides: dict[int, bytes] = {}
    backslashed: list[str] = []
    if unicode_names or not _plain(b"".join(raws)):
        for i, raw in enumerate(raws):
            if i in unicode_names or not _plain(raw):
                name, filename = _entry_name(raw, names[i], fields.flags[i], unicode_names.get(i))
                if fields.systems[i] in _WINDOWS_HOSTS and "\\" in filename:
                    backslashed.append(filename)
                    name = name.replace("\\", "/")
                names[i] = name
                if name.encode("utf-8") != raw:
                    raw_overrides[i] = raw
    notices = []
    if backslashed:
        # One warning for the archive: it is how its zipper works, not something about one file.
        notices.append(
            ArchiveNotice(
                Kind.NON_STANDARD_PATH,
                f"{len(backslashed):,} entries separate folders with backslashes, not the slashes "
                f"APPNOTE 4.4.17 requires (e.g. {backslashed[0]!r}); read as slashes, as unzip does",
            )
        )
    return names, raw_overrides, notices


def _offset_order(offsets: array[int]) -> list[int] | None:
    """The entries' order by local-header offset (stable), or None when they are in it already."""
    if all(map(operator.le, offsets, itertools.islice(offsets, 1, None))):
        return None
    return sorted(range(len(offsets)), key=offsets.__getitem__)


def _record_starts(data: bytes, size: int) -> array[int]:
    """Where each record begins: as zipfile walks them, by the directory's stated size."""
    starts = array("Q")
    add = starts.append
    lengths = _LENGTHS.unpack_from
    length = len(data)
    position = 0
    while position < size:
        if position + _CENTRAL.size > length:
            raise _Unreadable("Truncated central directory")
        add(position)
        name_length, extra_length, comment_length = lengths(data, position + _CD_FILENAME_LENGTH)
        position += _CENTRAL.size + name_length + extra_length + comment_length
    return starts


def _walk_extras(data: bytes, starts: array[int], fields: _Fields) -> list[int]:
    """The entries whose extra fields need walking one by one; the others are done here, together.

    Done together: an extra that is one field, wholly there, of a kind that changes nothing
    (timestamps, Unix ids...), or a ZIP64 field holding just the local header offset, the record's
    being saturated: what zippers write for every entry past 4 GiB.
    """
    name_lengths, extra_lengths = fields.name_lengths, fields.extra_lengths
    sizes, compressed_sizes, offsets = fields.sizes, fields.compressed_sizes, fields.offsets
    length = len(data)
    head = _EXTRA_HEADER.size
    # Where the first extra field's body begins, past the record, its name and the field's header.
    body_at = _CD_FIXED + head
    # Extras of at least one field header, whose header is in the data (else: walked, and refused).
    walk = [i for i, extra_length in enumerate(extra_lengths) if 0 < extra_length < head]
    with_extra = [
        i
        for i, extra_length in enumerate(extra_lengths)
        if extra_length >= head and starts[i] + body_at + name_lengths[i] <= length
    ]
    walk += [
        i
        for i, extra_length in enumerate(extra_lengths)
        if extra_length >= head and starts[i] + body_at + name_lengths[i] > length
    ]
    if not with_extra:
        return walk
    at = [starts[i] + _CD_FIXED + name_lengths[i] for i in with_extra]
    heads = array("H", b"".join([data[a : a + head] for a in at]))
    del at
    if sys.byteorder == "big":
        heads.byteswap()
    u64 = _U64.unpack_from
    for i, kind, field_length in zip(with_extra, heads[0::2], heads[1::2], strict=True):
        body = starts[i] + body_at + name_lengths[i]
        if field_length + head != extra_lengths[i] or body + field_length > length:
            walk.append(i)
        elif kind == _ZIP64_EXTRA:
            if (
                offsets[i] == _SATURATED_32
                and field_length >= 8
                and sizes[i] != _SATURATED_32
                and compressed_sizes[i] != _SATURATED_32
            ):
                offsets[i] = u64(data, body)[0]
            else:
                walk.append(i)
        elif kind == _UNICODE_PATH_EXTRA:
            walk.append(i)
    return sorted(walk)  # in directory order, so the first fault zipfile would meet is the one named


def _gather(data: bytes, starts: array[int], at: int, width: int) -> bytes:
    """Bytes [at, at + width) of every record, end to end."""
    return b"".join([data[start + at : start + at + width] for start in starts])


def _column(fixed: memoryview, count: int, typecode: str, at: int, width: int) -> array[int]:
    """Bytes [at, at + width) of each of `count` fixed 46-byte records, as numbers (little-endian)."""
    out = bytearray(width * count)
    for k in range(width):
        out[k::width] = fixed[at + k :: _CD_FIXED].tobytes()
    values = array(typecode, out)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def _plain(raw: bytes) -> bool:
    """ASCII without NUL or backslash: its name is its bytes, whatever the flags and the host."""
    return raw.isascii() and b"\x00" not in raw and b"\\" not in raw


def _decode_names(raws: list[bytes], flags_of: array[int]) -> list[str]:
    """zipfile's decoding of each name: UTF-8 when flagged (else an unreadable directory), cp437 otherwise."""
    blob = b"".join(raws)
    if blob.isascii():
        return [raw.decode("ascii") for raw in raws]
    names = []
    for raw, flags in zip(raws, flags_of, strict=True):
        if raw.isascii():
            names.append(raw.decode("ascii"))
        elif flags & _FLAG_UTF8:
            try:
                names.append(raw.decode("utf-8"))
            except UnicodeDecodeError as error:
                raise _Unreadable(str(error)) from error
        else:
            names.append(raw.decode("cp437"))
    return names


def _entry_name(raw: bytes, text: str, flags: int, unicode_name: str | None) -> tuple[str, str]:
    """(the name unzip gives the entry, zipfile's `filename`) from its bytes and zipfile's decoding."""
    filename = _sanitized(unicode_name) if unicode_name else _sanitized(text)
    name = filename
    if "\x00" in text and name == text.split("\x00", 1)[0]:
        name = text  # whole, even past a NUL (then an unsafe name)
    if not flags & _FLAG_UTF8 and name == text and not raw.isascii():
        # No UTF-8 flag and no Unicode Path field: Info-ZIP's UTF-8 names read as unzip reads them.
        with contextlib.suppress(UnicodeDecodeError):
            name = raw.decode("utf-8")
    return name, filename


def _sanitized(name: str) -> str:
    """zipfile's _sanitize_filename on POSIX: the name ends at its first NUL."""
    nul = name.find("\x00")
    return name if nul < 0 else name[:nul]


def _duplicates(names: list[str]) -> list[str]:
    """Names given to more than one entry, in the order their second entry appears."""
    if len(set(names)) == len(names):
        return []
    seen: set[str] = set()
    duplicates: dict[str, None] = {}
    for name in names:
        if name in seen:
            duplicates.setdefault(name)
        else:
            seen.add(name)
    return list(duplicates)


def _next_offsets(offsets: array[int], directory_offset: int) -> array[int]:
    """Where each entry's data must end: the next local header by offset, or the directory.

    Entries sharing one local header overlap entirely, so nothing may follow theirs.
    """
    count = len(offsets)
    if (
        count
        and offsets[-1] < directory_offset
        and all(map(operator.lt, offsets, itertools.islice(offsets, 1, None)))
    ):
        # Distinct offsets, all before the directory (every archive but a broken one): the next one.
        following = array("Q", offsets[1:])
        following.append(directory_offset)
        return following
    following = array("Q", bytes(8 * count))
    start = 0
    while start < count:
        offset = offsets[start]
        stop = start + 1
        while stop < count and offsets[stop] == offset:
            stop += 1
        if stop - start > 1:
            end = offset
        else:
            candidates = [offsets[stop]] if stop < count else []
            if directory_offset > offset:
                candidates.append(directory_offset)
            end = min(candidates) if candidates else directory_offset
        for i in range(start, stop):
            following[i] = end
        start = stop
    return following
