"""The ZIP layer: stdlib `zipfile` over any seekable binary file object.

Members are listed from the central directory (sizes, CRCs and offsets come from
there, so data descriptors don't matter) and read in local-header offset order,
so a ranged reader below sees one forward sweep through the archive.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from bagverify.verdict import Kind

CHUNK_SIZE = 1024 * 1024


class ArchiveFault(Exception):
    """The archive (not the source) is broken: a definite *invalid* with a specific kind."""

    def __init__(self, kind: Kind, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.path = path


@dataclass(frozen=True)
class Member:
    """One file entry of the archive, as the central directory describes it."""

    name: str
    size: int
    compressed_size: int
    header_offset: int
    info: zipfile.ZipInfo


class ZipReader:
    def __init__(self, fileobj: BinaryIO) -> None:
        try:
            self._zip = zipfile.ZipFile(fileobj)
        except zipfile.BadZipFile as error:
            raise ArchiveFault(Kind.NOT_A_ZIP, f"not a readable ZIP archive: {error}") from error
        except (EOFError, ValueError) as error:
            raise ArchiveFault(Kind.NOT_A_ZIP, f"not a readable ZIP archive: {error}") from error
        infos = self._zip.infolist()
        self.entry_names = [info.filename for info in infos]
        self.members = sorted(
            (
                Member(info.filename, info.file_size, info.compress_size, info.header_offset, info)
                for info in infos
                if not info.is_dir()
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
        """The member's uncompressed bytes; its CRC-32 is checked when the last chunk is read."""
        if member.info.flag_bits & 0x1:
            raise ArchiveFault(Kind.ENCRYPTED_MEMBER, f"{member.name} is encrypted", member.name)
        try:
            with self._zip.open(member.info) as stream:
                while chunk := stream.read(chunk_size):
                    yield chunk
        except NotImplementedError as error:
            raise ArchiveFault(
                Kind.UNSUPPORTED_COMPRESSION,
                f"{member.name}: compression method {member.info.compress_type} is not supported ({error})",
                member.name,
            ) from error
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise ArchiveFault(Kind.CORRUPT_MEMBER, f"{member.name}: {error}", member.name) from error
