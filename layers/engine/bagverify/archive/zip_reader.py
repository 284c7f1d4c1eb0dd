"""The ZIP layer: the central directory by stdlib `zipfile`, each member's bytes by this module.

Members are listed from the central directory (sizes, CRCs and offsets come from there,
so data descriptors don't matter; ZIP64 is zipfile's) and read in local-header offset
order by the caller, so a ranged reader below sees one forward sweep through the archive.

Member data is read here rather than by `ZipFile.open`: that lets each compression method
have a decoder with bounded output (`decoders`, including Deflate64, which zipfile lacks),
and lets every fault become an `ArchiveFault` of a specific kind naming the member. The
CRC-32 and the size the directory gives are checked for every member.
"""

from __future__ import annotations

import contextlib
import itertools
import struct
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from isal import isal_zlib

from bagverify.archive.decoders import DECODERS, CorruptData, method_name
from bagverify.archive.end_record import locate_central_directory
from bagverify.archive.errors import ArchiveFault
from bagverify.verdict import Kind

CHUNK_SIZE = 1024 * 1024

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_FLAG_ENCRYPTED = 0x1
_FLAG_PATCHED_DATA = 0x20
_FLAG_STRONG_ENCRYPTION = 0x40
_FLAG_UTF8 = 0x800
# Hosts (APPNOTE 4.4.2) whose file names can't hold a backslash, so one is a separator:
# MS-DOS/Windows FAT (Explorer, .NET, PowerShell's Compress-Archive), NTFS, VFAT.
_WINDOWS_HOSTS = {0, 11, 14}
# What zipfile raises for a central directory it can't read.
_DIRECTORY_ERRORS = (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError, struct.error)


@dataclass(frozen=True)
class Member:
    """One file entry of the archive, as the central directory describes it."""

    name: str
    size: int
    compressed_size: int
    header_offset: int
    info: zipfile.ZipInfo
    # Where the next entry's local header (or the central directory) begins: this member's
    # data must end by then, else entries overlap (a zip bomb's trick) or the directory lies.
    next_offset: int | None = None


@dataclass(frozen=True)
class ArchiveNotice:
    """Something about an entry worth a warning, not a fault (the bag stays valid)."""

    kind: Kind
    message: str
    name: str | None = None


class ZipReader:
    """The entries of the ZIP readable from `fileobj`, and each member's bytes.

    Raises ArchiveFault (NOT_A_ZIP, TRUNCATED, CORRUPT_DIRECTORY) when there is no readable
    central directory; `iter_chunks` raises it for a member that can't be read.
    """

    def __init__(self, fileobj: BinaryIO) -> None:
        self._file = fileobj
        directory = locate_central_directory(fileobj)
        try:
            infos = zipfile.ZipFile(fileobj).infolist()
        except _DIRECTORY_ERRORS as error:
            raise ArchiveFault(
                Kind.CORRUPT_DIRECTORY, f"the central directory is unreadable: {error}"
            ) from error

        names = [_entry_name(info) for info in infos]
        self.entry_names = names
        self.notices: list[ArchiveNotice] = []
        backslashed = [info.filename for info in infos if _backslashed(info)]
        if backslashed:
            # One warning for the archive: it is how its zipper works, not something about one file.
            self.notices.append(
                ArchiveNotice(
                    Kind.NON_STANDARD_PATH,
                    f"{len(backslashed):,} entries separate folders with backslashes, not the slashes "
                    f"APPNOTE 4.4.17 requires (e.g. {backslashed[0]!r}); read as slashes, as unzip does",
                )
            )
        # Each entry's data ends where the next local header (by offset) or the directory begins.
        offsets = sorted({info.header_offset for info in infos} | {directory.offset})
        following = dict(itertools.pairwise(offsets))
        shared = Counter(info.header_offset for info in infos)
        self.members = sorted(
            (
                Member(
                    name,
                    info.file_size,
                    info.compress_size,
                    info.header_offset,
                    info,
                    # Two entries with one local header overlap entirely: nothing may follow.
                    info.header_offset
                    if shared[info.header_offset] > 1
                    else following.get(info.header_offset, directory.offset),
                )
                for name, info in zip(names, infos, strict=True)
                if not name.endswith("/")
            ),
            key=lambda member: member.header_offset,
        )

    def duplicate_names(self) -> list[str]:
        seen: set[str] = set()
        duplicates: list[str] = []
        for name in self.entry_names:
            if name in seen and name not in duplicates:
                duplicates.append(name)
            seen.add(name)
        return duplicates

    def iter_chunks(self, member: Member, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The member's uncompressed bytes; its size and CRC-32 are checked after the last chunk."""
        info, name = member.info, member.name
        if info.flag_bits & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION):
            how = "traditional PKWARE encryption"
            if info.compress_type == 99:
                how = "WinZip AES"
            elif info.flag_bits & _FLAG_STRONG_ENCRYPTION:
                how = "PKWARE strong encryption"
            raise ArchiveFault(Kind.ENCRYPTED_MEMBER, f"{name} is encrypted ({how})", name)
        decoder = DECODERS.get(info.compress_type)
        if decoder is None:
            raise ArchiveFault(
                Kind.UNSUPPORTED_COMPRESSION,
                f"{name}: compression method {method_name(info.compress_type)} is not supported",
                name,
            )
        if info.flag_bits & _FLAG_PATCHED_DATA:
            raise ArchiveFault(
                Kind.UNSUPPORTED_COMPRESSION,
                f"{name}: PKWARE patched data (flag bit 5) is not supported",
                name,
            )

        start = self._data_offset(member)
        if member.next_offset is not None and start + member.compressed_size > member.next_offset:
            raise ArchiveFault(
                Kind.CORRUPT_MEMBER,
                f"{name}: its {member.compressed_size:,} bytes of data run into the next entry or the "
                f"central directory at offset {member.next_offset:,} (overlapping entries)",
                name,
            )
        crc, produced = 0, 0
        try:
            for piece in decoder(self._blocks(member, start), chunk_size, member.size):
                produced += len(piece)
                if produced > member.size:
                    raise ArchiveFault(
                        Kind.CORRUPT_MEMBER,
                        f"{name}: decompresses to more than the {member.size:,} bytes the directory says",
                        name,
                    )
                crc = isal_zlib.crc32(piece, crc)  # ISA-L: several times zlib's speed
                yield piece
        except CorruptData as error:
            raise ArchiveFault(
                Kind.CORRUPT_MEMBER,
                f"{name}: its {method_name(info.compress_type)} data is corrupt ({error})",
                name,
            ) from error
        if produced != member.size:
            raise ArchiveFault(
                Kind.CORRUPT_MEMBER,
                f"{name}: decompresses to {produced:,} bytes, the directory says {member.size:,}",
                name,
            )
        if crc != info.CRC:
            raise ArchiveFault(
                Kind.CORRUPT_MEMBER,
                f"{name}: CRC-32 is {crc:08x}, the directory says {info.CRC:08x}",
                name,
            )

    # -- reading ---------------------------------------------------------------

    def _data_offset(self, member: Member) -> int:
        """Where the member's data begins, after its local header (checked against the directory)."""
        header = self._read_at(member.header_offset, _LOCAL_HEADER.size)
        if len(header) < _LOCAL_HEADER.size or not header.startswith(_LOCAL_SIGNATURE):
            raise ArchiveFault(
                Kind.CORRUPT_MEMBER,
                f"{member.name}: no local header at offset {member.header_offset:,}",
                member.name,
            )
        fields = _LOCAL_HEADER.unpack(header)
        method, name_length, extra_length = int(fields[3]), int(fields[9]), int(fields[10])
        local_name, directory_name = (
            self._read_at(member.header_offset + _LOCAL_HEADER.size, name_length),
            _raw_name(member.info),
        )
        if local_name != directory_name:
            raise ArchiveFault(
                Kind.CORRUPT_MEMBER,
                f"{member.name}: its local header names {local_name!r}, the directory {directory_name!r}",
                member.name,
            )
        if method != member.info.compress_type:
            raise ArchiveFault(
                Kind.CORRUPT_MEMBER,
                f"{member.name}: its local header says compression method {method}, "
                f"the directory {member.info.compress_type}",
                member.name,
            )
        return member.header_offset + _LOCAL_HEADER.size + name_length + extra_length

    def _blocks(self, member: Member, start: int) -> Iterable[bytes]:
        """The member's compressed bytes, in blocks of at most CHUNK_SIZE."""
        position, left = start, member.compressed_size
        while left > 0:
            # Seek every time: another reader of the same file object may have moved it.
            self._file.seek(position)
            block = self._file.read(min(CHUNK_SIZE, left))
            if not block:
                raise ArchiveFault(
                    Kind.TRUNCATED,
                    f"{member.name}: the archive ends {left:,} bytes before this member's data does",
                    member.name,
                )
            position += len(block)
            left -= len(block)
            yield block

    def _read_at(self, offset: int, length: int) -> bytes:
        self._file.seek(offset)
        data = b""
        while len(data) < length:  # a raw file object may return fewer bytes than asked
            block = self._file.read(length - len(data))
            if not block:
                break
            data += block
        return data


def _entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as unzip and 7-Zip would extract it (but for a NUL: the whole name, unsafe)."""
    name = info.filename
    if "\x00" in info.orig_filename and name == info.orig_filename.split("\x00", 1)[0]:
        # zipfile (as unzip) cuts a name at its first NUL; kept whole, it is reported as an unsafe name.
        name = info.orig_filename
    if not info.flag_bits & _FLAG_UTF8 and name == info.orig_filename:
        # No UTF-8 flag and no Unicode Path extra field: zipfile decoded the name as cp437.
        # Info-ZIP in a UTF-8 locale writes UTF-8 names without the flag; unzip and 7-Zip read
        # a name that is valid UTF-8 as UTF-8, and so does bagverify (cp437 text that happens
        # to be valid UTF-8 needs unlikely pairs like "├╝").
        with contextlib.suppress(UnicodeError):
            name = name.encode("cp437").decode("utf-8")
    if _backslashed(info):
        # .NET Framework 4.5 and PowerShell 5.1's Compress-Archive separate folders with
        # backslashes; no Windows file name can hold one, so unzip and 7-Zip take it for a
        # separator, and so does bagverify.
        name = name.replace("\\", "/")
    return name


def _backslashed(info: zipfile.ZipInfo) -> bool:
    return info.create_system in _WINDOWS_HOSTS and "\\" in info.filename


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    """The name's bytes as the central directory holds them (zipfile keeps only the decoded text)."""
    return info.orig_filename.encode("utf-8" if info.flag_bits & _FLAG_UTF8 else "cp437")
