"""Decompressors for ZIP members, one per compression method, each with bounded output.

A decoder turns the member's compressed blocks into uncompressed pieces. Every piece is
bounded whatever the input (`piece_size` bytes; for Deflate64 up to one input slice's worth
more), so a small member that inflates to terabytes (a "zip bomb") costs time, never
memory: stdlib zipfile hands bzip2 and LZMA a whole read at once and takes all they
produce, 282 MB at once from a 1 KB bzip2 member of 128 MiB of zeros (measured).

Decoders raise `CorruptData` on corrupt data (and only then: an error reading the blocks
passes through unchanged); the reader turns it into a corrupt member. A member that would need
more memory than `MAX_LZMA_DICTIONARY` to decode is an `ArchiveFault` (unsupported compression).
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from isal import isal_zlib

from bagverify.archive.errors import ArchiveFault
from bagverify.verdict import Kind

STORED = 0
DEFLATED = 8
DEFLATE64 = 9
BZIP2 = 12
LZMA = 14

# What the decompressors raise on bad data: zlib.error, OSError from bz2 ("Invalid data
# stream"), LZMAError, ValueError from inflate64, EOFError.
_LIBRARY_ERRORS: tuple[type[BaseException], ...] = (
    zlib.error,
    cast(type[BaseException], isal_zlib.error),  # IsalError; its stub types it as an instance
    OSError,
    lzma.LZMAError,
    ValueError,
    EOFError,
)

# APPNOTE 4.4.5, for messages naming what a member needs.
METHOD_NAMES = {
    0: "stored",
    1: "Shrunk",
    2: "Reduced",
    3: "Reduced",
    4: "Reduced",
    5: "Reduced",
    6: "Imploded",
    8: "Deflate",
    9: "Deflate64",
    10: "PKWARE DCL Imploded",
    12: "bzip2",
    14: "LZMA",
    18: "IBM TERSE",
    19: "IBM LZ77",
    20: "Zstandard (deprecated id)",
    93: "Zstandard",
    94: "MP3",
    95: "XZ",
    96: "JPEG",
    97: "WavPack",
    98: "PPMd",
    99: "AES-encrypted",
}

# inflate64 has no output limit, so Deflate64 input goes in slices this small: its longest
# match (65,538 bytes from a few bits) bounds one slice's output to tens of megabytes.
_DEFLATE64_SLICE = 1024
# liblzma allocates an LZMA member's whole dictionary before decoding a byte. Every preset of
# 7-Zip, xz and zipfile stays within 64 MiB; a larger one (7-Zip's -md, or a hostile header) is
# refused rather than allocated.
MAX_LZMA_DICTIONARY = 128 * 1024 * 1024

Decoder = Callable[[Iterable[bytes], int, int], Iterator[bytes]]
"""(compressed blocks, piece size, uncompressed size from the directory) → uncompressed pieces."""


class CorruptData(Exception):
    """The compressed data can't be decoded."""


def method_name(method: int) -> str:
    return f"{method} ({METHOD_NAMES.get(method, 'unknown')})"


def _call(function: Callable[..., Any], *args: Any) -> Any:
    """A decompressor call, its library's error turned into CorruptData."""
    try:
        return function(*args)
    except _LIBRARY_ERRORS as error:
        raise CorruptData(str(error) or type(error).__name__) from error


def _stored(blocks: Iterable[bytes], piece_size: int, size: int) -> Iterator[bytes]:
    yield from blocks


def _deflate(blocks: Iterable[bytes], piece_size: int, size: int) -> Iterator[bytes]:
    # ISA-L inflates the same streams as zlib, bit for bit, 2-2.5x faster (measured here:
    # 128 MiB of text in 0.27 s against 0.63 s), and deflate is most bags' bottleneck.
    decompressor = isal_zlib.decompressobj(-zlib.MAX_WBITS)
    for block in blocks:
        data = block
        while data and not decompressor.eof:
            piece = _call(decompressor.decompress, data, piece_size)
            if piece:
                yield piece
            data = decompressor.unconsumed_tail
        if decompressor.eof:  # bytes after the end of the stream are ignored, as zipfile does
            return
    # Input all consumed, but the last piece may have stopped mid-match with output still held.
    if tail := _call(decompressor.flush):
        yield tail


def inflate_whole(data: bytes, max_length: int) -> bytes:
    """One whole raw deflate stream at once, as `_deflate` would inflate it, but at most `max_length` bytes.

    The bound is what keeps a bomb small: the caller asks for one byte more than it expects, so
    getting that many means the data says more than the directory does.
    """
    decompressor = isal_zlib.decompressobj(-zlib.MAX_WBITS)
    try:  # not through _call: this runs once per small member, and a call less shows
        output: bytes = decompressor.decompress(data, max_length)
        if len(output) < max_length and not decompressor.eof:
            # All input taken, but the stream may have stopped mid-match with output still held.
            output += decompressor.flush()
    except _LIBRARY_ERRORS as error:
        raise CorruptData(str(error) or type(error).__name__) from error
    return output


def _bounded(
    decompressor: bz2.BZ2Decompressor | lzma.LZMADecompressor,
) -> Callable[[bytes, int], Iterator[bytes]]:
    """Feed one block to a decompressor with `needs_input`, draining its output piece by piece."""

    def feed(block: bytes, piece_size: int) -> Iterator[bytes]:
        piece = _call(decompressor.decompress, block, piece_size)
        while True:
            if piece:
                yield piece
            if decompressor.eof or decompressor.needs_input:
                return
            piece = _call(decompressor.decompress, b"", piece_size)

    return feed


def _bzip2(blocks: Iterable[bytes], piece_size: int, size: int) -> Iterator[bytes]:
    decompressor = bz2.BZ2Decompressor()
    feed = _bounded(decompressor)
    for block in blocks:
        yield from feed(block, piece_size)
        if decompressor.eof:
            return


def _lzma(blocks: Iterable[bytes], piece_size: int, size: int) -> Iterator[bytes]:
    """ZIP's LZMA (APPNOTE 5.8.8): a 4-byte header (version, properties size), properties, raw LZMA1."""
    blocks = iter(blocks)
    header = b""
    for block in blocks:
        header += block
        if len(header) >= 4 and len(header) >= 4 + int.from_bytes(header[2:4], "little"):
            break
    else:
        if header:
            raise CorruptData("the LZMA header is cut short")
        return  # no data at all: an empty member
    properties_end = 4 + int.from_bytes(header[2:4], "little")
    decompressor = _call(
        lzma.LZMADecompressor, lzma.FORMAT_RAW, None, [_lzma1_filter(header[4:properties_end], size)]
    )
    feed = _bounded(decompressor)
    yield from feed(header[properties_end:], piece_size)
    for block in blocks:
        if decompressor.eof:  # with an end-of-stream marker (flag bit 1); else the size ends it
            return
        yield from feed(block, piece_size)


def _lzma1_filter(properties: bytes, size: int) -> dict[str, int]:
    if len(properties) != 5 or properties[0] >= 9 * 5 * 5:
        raise CorruptData(f"bad LZMA properties {properties.hex()}")
    lc, rest = properties[0] % 9, properties[0] // 9
    # liblzma allocates the whole dictionary up front; no match can reach further back than the
    # member's own size, so a dictionary claimed larger than that is cut to it (a bomb can't
    # make us allocate 4 GiB for a 1 KiB member).
    dict_size = min(int.from_bytes(properties[1:5], "little"), max(size, 4096))
    if dict_size > MAX_LZMA_DICTIONARY:  # a large member claiming a large dictionary
        raise ArchiveFault(
            Kind.UNSUPPORTED_COMPRESSION,
            f"its LZMA dictionary of {dict_size:,} bytes is more than the {MAX_LZMA_DICTIONARY:,} bytes "
            "bagverify allocates to decode a member",
        )
    return {"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc, "lp": rest % 5, "pb": rest // 5}


def _deflate64(blocks: Iterable[bytes], piece_size: int, size: int) -> Iterator[bytes]:
    import inflate64  # Deflate64 members are rare: loaded on the first one

    inflater = inflate64.Inflater()
    pending = bytearray()
    for block in blocks:
        view = memoryview(block)
        for start in range(0, len(view), _DEFLATE64_SLICE):
            pending += _call(inflater.inflate, view[start : start + _DEFLATE64_SLICE])
            if len(pending) >= piece_size:
                yield bytes(pending)
                pending.clear()
            if inflater.eof:
                break
        if inflater.eof:
            break
    if pending:
        yield bytes(pending)


DECODERS: dict[int, Decoder] = {
    STORED: _stored,
    DEFLATED: _deflate,
    DEFLATE64: _deflate64,
    BZIP2: _bzip2,
    LZMA: _lzma,
}
