"""zipfile's listing of an archive, named as bagverify names entries: the reference for MemberIndex.

bagverify's engine parses the central directory itself (`archive.member_index`, fit for a million
entries); this module lists the same archive through stdlib `zipfile.ZipFile.infolist()` and the
naming rules of unzip and 7-Zip, as bagverify's first ZIP reader did. tests/unit/test_member_index.py
holds the compact index to it, entry by entry and fault by fault.
"""

from __future__ import annotations

import contextlib
import itertools
import struct
import zipfile
from collections import Counter
from typing import BinaryIO

from bagverify.archive import ArchiveFault, ArchiveNotice, Member
from bagverify.archive.end_record import locate_central_directory
from bagverify.verdict import Kind

_FLAG_UTF8 = 0x800
# Hosts (APPNOTE 4.4.2) whose file names can't hold a backslash, so one is a separator.
_WINDOWS_HOSTS = {0, 11, 14}
# What zipfile raises for a central directory it can't read.
_DIRECTORY_ERRORS = (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError, struct.error)


class ZipfileListing:
    """The entries of the ZIP readable from `fileobj`, listed by zipfile.

    Raises ArchiveFault (NOT_A_ZIP, TRUNCATED, CORRUPT_DIRECTORY) when there is no readable
    central directory, as `read_member_index` does.
    """

    def __init__(self, fileobj: BinaryIO) -> None:
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
                    # Two entries with one local header overlap entirely: nothing may follow.
                    info.header_offset
                    if shared[info.header_offset] > 1
                    else following.get(info.header_offset, directory.offset),
                    info.CRC,
                    info.flag_bits,
                    info.compress_type,
                    _raw_name(info),
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
