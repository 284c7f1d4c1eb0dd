"""Tar headers: one 512-byte block in, one `Header` (or why it is not one) out. Pure functions.

Written here rather than taken from `tarfile`, whose stream mode ends the archive silently at a
header with a wrong checksum and at a missing end-of-archive, and gives no offset for either: a
verifier must name both. The formats read are those GNU tar, bsdtar, Python's tarfile and `git
archive` write (POSIX.1-1988 ustar, GNU, POSIX.1-2001 PAX); field offsets are named as in the ustar
layout (POSIX.1-2001, pax, "ustar Interchange Format").
"""

from __future__ import annotations

from dataclasses import dataclass, field

BLOCK = 512

# Field offsets and widths in a header block (ustar).
_NAME = (0, 100)
_MODE = (100, 8)
_SIZE = (124, 12)
_CHECKSUM = (148, 8)
_TYPEFLAG = 156
_LINKNAME = (157, 100)
_MAGIC = (257, 6)
_PREFIX = (345, 155)

USTAR_MAGIC = b"ustar\x00"  # POSIX; GNU tar writes b"ustar " + b" \x00" (no prefix field)
GNU_MAGIC = b"ustar "

# Type flags.
REGULAR = (b"0", b"\x00", b"7")  # '7': contiguous file, a regular file to every reader
HARD_LINK = b"1"
SYMLINK = b"2"
CHARACTER_DEVICE = b"3"
BLOCK_DEVICE = b"4"
DIRECTORY = b"5"
FIFO = b"6"
PAX_HEADER = b"x"  # extended header for the next entry
PAX_GLOBAL = b"g"  # extended header for all later entries (`git archive`'s pax_global_header)
GNU_LONG_NAME = b"L"  # the next entry's name
GNU_LONG_LINK = b"K"  # the next entry's link name
GNU_DIRECTORY = b"D"  # GNU dumpdir: a directory
# Neither a file nor metadata: what one of these is depends on more than bagverify reads.
SPECIAL = {
    HARD_LINK: "hard link",
    SYMLINK: "symbolic link",
    CHARACTER_DEVICE: "character device",
    BLOCK_DEVICE: "block device",
    FIFO: "FIFO",
    b"S": "GNU sparse file",
    b"M": "GNU multi-volume continuation",
    b"V": "GNU volume label",
}
# PAX records bagverify reads; others (times, owners, charset, ...) change nothing it checks.
PAX_PATH, PAX_LINKPATH, PAX_SIZE = "path", "linkpath", "size"
# PAX records that make an entry something else than a plain file of `size` bytes.
PAX_SPARSE_PREFIX = "GNU.sparse."


class HeaderError(Exception):
    """A block that is not a valid header; the message says why."""


@dataclass(frozen=True)
class Header:
    """One header block, as read (before PAX or GNU long-name records are applied)."""

    name: str
    size: int
    typeflag: bytes
    linkname: str
    raw_name: bytes = field(repr=False, default=b"")


def looks_like_tar(head: bytes) -> bool:
    """Whether `head` (an object's first bytes) begins with a tar header: ustar's magic, or (a tar
    from before ustar) a first block whose checksum holds."""
    if len(head) < BLOCK:
        return False
    if head[257:262] == b"ustar":
        return True
    try:
        parse_header(head[:BLOCK])
    except HeaderError:
        return False
    return not is_zero_block(head[:BLOCK])


def is_zero_block(block: bytes | memoryview) -> bool:
    return not any(block)


def parse_header(block: bytes) -> Header:
    """The header in `block` (512 bytes). Raises HeaderError for a wrong checksum or a malformed field."""
    if len(block) != BLOCK:
        raise HeaderError(f"a header is {BLOCK} bytes, this one {len(block)}")
    stored = parse_number(_field(block, _CHECKSUM), "checksum")
    # The sum of the header's bytes with the checksum field taken as spaces; some old tars summed
    # signed bytes, which every reader accepts too.
    unsigned = sum(block) - sum(block[148:156]) + 8 * 0x20
    signed = unsigned - 256 * sum(1 for byte in block[:148] + block[156:] if byte >= 0x80)
    if stored not in (unsigned, signed):
        raise HeaderError(f"header checksum is {stored}, the header's bytes sum to {unsigned}")
    size = parse_number(_field(block, _SIZE), "size")
    raw_name = _text_bytes(block, _NAME)
    magic = _field(block, _MAGIC)
    if magic == USTAR_MAGIC and (prefix := _text_bytes(block, _PREFIX)):
        raw_name = prefix + b"/" + raw_name
    return Header(
        name=decode_name(raw_name),
        size=size,
        typeflag=block[_TYPEFLAG : _TYPEFLAG + 1],
        linkname=decode_name(_text_bytes(block, _LINKNAME)),
        raw_name=raw_name,
    )


def parse_number(raw: bytes, what: str) -> int:
    """A numeric field: octal digits (NUL- or space-terminated, maybe space-padded) or, when its first
    byte has the high bit set, GNU's base-256 (sizes of 8 GiB and over)."""
    if raw and raw[0] & 0x80:
        value = int.from_bytes(raw[1:], "big")
        if raw[0] == 0xFF:  # negative: never a size or a checksum
            raise HeaderError(f"the {what} field is a negative base-256 number")
        return value | ((raw[0] & 0x7F) << (8 * (len(raw) - 1)))
    text = raw.split(b"\x00", 1)[0].strip(b" ")
    if not text:
        return 0
    if not all(0x30 <= byte <= 0x37 for byte in text):
        raise HeaderError(f"the {what} field {raw!r} is not an octal number")
    return int(text, 8)


def parse_pax_records(data: bytes) -> dict[str, str]:
    """`LEN key=value\\n` records (POSIX.1-2001 pax): LEN counts the whole record, itself included.
    Raises HeaderError for a record that does not parse."""
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        if data[position:].strip(b"\x00") == b"":
            break  # padding some writers leave
        space = data.find(b" ", position, position + 21)
        if space < 0 or not data[position:space].isdigit():
            raise HeaderError(f"PAX record at byte {position} has no length")
        length = int(data[position:space])
        end = position + length
        if length < 2 or end > len(data) or data[end - 1 : end] != b"\n":
            raise HeaderError(f"PAX record at byte {position} claims {length} bytes it does not have")
        key, equals, value = data[space + 1 : end - 1].partition(b"=")
        if not equals or not key:
            raise HeaderError(f"PAX record at byte {position} is not key=value")
        records[decode_name(key)] = decode_name(value)
        position = end
    return records


def padded(size: int) -> int:
    """The bytes an entry of `size` bytes takes in the archive: its data, padded to whole blocks."""
    return -(-size // BLOCK) * BLOCK


def _field(block: bytes, spec: tuple[int, int]) -> bytes:
    offset, width = spec
    return block[offset : offset + width]


def _text_bytes(block: bytes, spec: tuple[int, int]) -> bytes:
    return _field(block, spec).split(b"\x00", 1)[0]


def decode_name(raw: bytes) -> str:
    """A name as text: UTF-8 (what GNU tar and bsdtar write in a UTF-8 locale, and PAX requires), else
    Latin-1, which maps every byte (a name an older tar wrote in a single-byte encoding; a bag that
    lists it declares such an encoding too). Never lone surrogates, which no message could carry."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
