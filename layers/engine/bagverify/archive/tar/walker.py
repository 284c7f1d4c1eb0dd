"""A tar's entries, front to back, from a stream of its (decompressed) bytes: no seeking, no directory.

`TarWalker.entries()` yields each entry with a generator of its data; what the consumer leaves unread
is skipped before the next header. PAX extended headers (`x`) and GNU long names (`L`, `K`) are
applied to the entry they precede; a PAX global header (`g`, `git archive`'s pax_global_header) is
metadata, never an entry. The archive ends at its end-of-archive zero blocks; zeros after them (GNU
tar pads to 10,240-byte records) are fine. Faults are `ArchiveFault`s of a specific kind, with the
header's offset: a header whose checksum is wrong, an entry running past the end, no end-of-archive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bagverify.archive.errors import ArchiveFault
from bagverify.archive.tar.headers import (
    BLOCK,
    DIRECTORY,
    GNU_DIRECTORY,
    GNU_LONG_LINK,
    GNU_LONG_NAME,
    PAX_GLOBAL,
    PAX_HEADER,
    PAX_LINKPATH,
    PAX_PATH,
    PAX_SIZE,
    PAX_SPARSE_PREFIX,
    REGULAR,
    SPECIAL,
    HeaderError,
    decode_name,
    is_zero_block,
    padded,
    parse_header,
    parse_pax_records,
)
from bagverify.archive.tar.streams import Readable
from bagverify.verdict import Kind

CHUNK_SIZE = 1024 * 1024
# Extended headers and long names are held whole: none a writer makes comes near this.
MAX_METADATA_BYTES = 1024 * 1024


@dataclass(frozen=True)
class TarEntry:
    """One entry as an extractor sees it: its name (PAX or GNU long name applied), size and what it is."""

    name: str
    size: int
    offset: int  # of its header in the tar stream
    is_file: bool
    is_directory: bool
    special: str | None = None  # "symbolic link", "hard link", ... for entries that are neither
    linkname: str = ""


class TarWalker:
    """Walks the tar readable from `stream` (its bytes from the first header on)."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self.offset = 0  # bytes of the tar stream consumed
        self.trailing_bytes = 0  # non-zero bytes after the end-of-archive blocks

    def entries(self) -> Iterator[tuple[TarEntry, Iterator[bytes]]]:
        pax: dict[str, str] = {}
        long_name: str | None = None
        long_link: str | None = None
        while True:
            offset = self.offset
            block = self._read(BLOCK)
            if len(block) < BLOCK:
                raise ArchiveFault(
                    Kind.TRUNCATED,
                    f"the tar ends at byte {offset + len(block):,} without its end-of-archive blocks "
                    "(two zero blocks): cut short after its last entry?",
                )
            if is_zero_block(block):
                self._finish()
                return
            try:
                header = parse_header(block)
            except HeaderError as error:
                if offset == 0:
                    raise ArchiveFault(
                        Kind.NOT_A_ZIP,
                        f"neither a ZIP nor a tar: its first block is no tar header ({error})",
                    ) from error
                raise ArchiveFault(
                    Kind.TAR_HEADER_INVALID, f"the tar header at byte {offset:,} is invalid: {error}"
                ) from error
            flag = header.typeflag
            if flag in (PAX_HEADER, PAX_GLOBAL, GNU_LONG_NAME, GNU_LONG_LINK):
                metadata = self._metadata(header.size, offset, header.name)
                if flag == PAX_HEADER:
                    try:
                        pax = parse_pax_records(metadata)
                    except HeaderError as error:
                        raise ArchiveFault(
                            Kind.TAR_HEADER_INVALID,
                            f"the PAX extended header at byte {offset:,} is invalid: {error}",
                        ) from error
                elif flag == GNU_LONG_NAME:
                    long_name = decode_name(metadata.split(b"\x00", 1)[0])
                elif flag == GNU_LONG_LINK:
                    long_link = decode_name(metadata.split(b"\x00", 1)[0])
                continue  # a global header's records change nothing bagverify checks
            name = pax.get(PAX_PATH, long_name if long_name is not None else header.name)
            size = header.size
            if PAX_SIZE in pax:
                text = pax[PAX_SIZE]
                if not (text.isascii() and text.isdigit() and len(text) < 40):
                    raise ArchiveFault(
                        Kind.TAR_HEADER_INVALID,
                        f"the PAX size {text!r} of the entry at byte {offset:,} is not a number",
                    )
                size = int(text)  # decimal in PAX records
            linkname = pax.get(PAX_LINKPATH, long_link if long_link is not None else header.linkname)
            sparse = any(key.startswith(PAX_SPARSE_PREFIX) for key in pax)
            pax, long_name, long_link = {}, None, None
            is_directory = flag in (DIRECTORY, GNU_DIRECTORY) or (flag in REGULAR and name.endswith("/"))
            is_file = flag in REGULAR and not is_directory and not sparse
            special = None if is_file or is_directory else SPECIAL.get(flag, f"entry of type {flag!r}")
            if sparse:
                special = "GNU sparse file"
            entry = TarEntry(name, size, offset, is_file, is_directory, special, linkname)
            # A hard link, directory, device or FIFO has no data in the archive whatever its size says.
            data_size = size if flag not in (DIRECTORY, b"1", b"2", b"3", b"4", b"6") else 0
            data = self._data(entry, data_size)
            yield entry, data
            for _ in data:  # what the consumer left unread
                pass
            self._skip_padding(data_size)

    # -- reading -------------------------------------------------------------------------------------

    def _read(self, size: int) -> bytes:
        """Up to `size` bytes; fewer only at the end of the stream."""
        while len(self._buffer) < size:
            more = self._stream.read(max(CHUNK_SIZE, size - len(self._buffer)))
            if not more:
                break
            self._buffer += more
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        self.offset += len(out)
        return out

    def _data(self, entry: TarEntry, size: int) -> Iterator[bytes]:
        left = size
        while left > 0:
            if self._buffer:
                piece = bytes(self._buffer[:left])
                del self._buffer[: len(piece)]
            else:
                piece = self._stream.read(min(CHUNK_SIZE, left))
                if not piece:
                    raise ArchiveFault(
                        Kind.TRUNCATED,
                        f"{entry.name}: its {size:,} bytes run past the end of the tar "
                        f"({size - left:,} there)",
                        entry.name,
                    )
            self.offset += len(piece)
            left -= len(piece)
            yield piece

    def _metadata(self, size: int, offset: int, name: str) -> bytes:
        if size > MAX_METADATA_BYTES:
            raise ArchiveFault(
                Kind.TAR_HEADER_INVALID,
                f"the extended header at byte {offset:,} claims {size:,} bytes, more than any writer makes",
            )
        data = self._read(size)
        if len(data) < size:
            raise ArchiveFault(Kind.TRUNCATED, f"the tar ends inside the extended header at byte {offset:,}")
        self._skip_padding(size)
        return data

    def _skip_padding(self, size: int) -> None:
        pad = padded(size) - size
        if pad and len(self._read(pad)) < pad:
            raise ArchiveFault(
                Kind.TRUNCATED, f"the tar ends at byte {self.offset:,}, inside an entry's padding"
            )

    def _finish(self) -> None:
        """After the first zero block: the second, then only zeros (or nothing) to the end."""
        second = self._read(BLOCK)
        if len(second) == BLOCK and not is_zero_block(second):
            # One zero block then a header: GNU tar reads on past it (with a warning); so does this.
            raise ArchiveFault(
                Kind.TAR_HEADER_INVALID,
                f"a lone zero block at byte {self.offset - 2 * BLOCK:,} is followed by more entries",
            )
        while chunk := self._read(CHUNK_SIZE):
            self.trailing_bytes += len(chunk) - chunk.count(0)
