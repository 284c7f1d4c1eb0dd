"""Hostile or broken archives: each a clear *invalid* of a specific kind; no crash, hang or unbounded memory.

This extends tests/unit/test_archive_faults.py, which already covers (and is not repeated here):
archives cut short or missing their head or end records (truncated), garbage and empty files (not_a_zip),
a directory said to start past the end of the file (truncated), a compressed size that runs into the
next entry (overlapping, corrupt_member), flipped bytes, wrong CRCs and sizes, encrypted members and
unsupported methods; and a seeded mutation loop (now also hypothesis, tests/unit/test_fuzz.py).

Here: what an attacker writes on purpose. Archives are built field by field where no zipper would
write them, and every test bounds what it may cost: `WATCHDOG_SECONDS` for time, tracemalloc's peak
for memory where memory is what the input attacks.
"""

from __future__ import annotations

import hashlib
import io
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest

from bagverify import Kind, Status, Verdict, verify_archive
from bagverify.archive.decoders import MAX_LZMA_DICTIONARY
from bagverify.bag.tag_files import MAX_LINE_PROBLEMS
from bagverify.pipeline.scan import MAX_TAG_FILE_BYTES
from devtools.sample_bags import flip_byte, make_bag_zip
from tests.unit.test_archive_faults import local_header, patched

# Every test here runs twice: members read whole and streamed (tests/unit/conftest.py).
pytestmark = pytest.mark.usefixtures("each_member_path")

MiB = 1024 * 1024
WATCHDOG_SECONDS = 30
FILES = {"a.txt": b"alpha\n" * 2000, "b/c.txt": b"charlie\n" * 3000}
BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
T = TypeVar("T")


def verify(archive: bytes) -> Verdict:
    started = time.monotonic()
    verdict = verify_archive(io.BytesIO(archive), "hostile.zip")
    assert time.monotonic() - started < WATCHDOG_SECONDS
    assert verdict.status in (Status.VALID, Status.INVALID)
    return verdict


def found(verdict: Verdict) -> set[tuple[Kind, str | None]]:
    return {(p.kind, p.path) for p in verdict.problems}


def peak_memory(call: Callable[[], T]) -> tuple[T, int]:
    """`call()`'s result and the most memory Python held at once while it ran (tracemalloc)."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- archives written field by field -------------------------------------------------------------


@dataclass
class Entry:
    """One entry of a hand-written archive. Sizes, CRC and offset default to the truth."""

    name: bytes
    data: bytes = b""  # as stored (already compressed)
    method: int = zipfile.ZIP_STORED
    size: int | None = None  # uncompressed, as the directory states it
    crc: int | None = None
    compressed_size: int | None = None  # as the directory states it
    header_offset: int | None = None  # as the directory states it
    made_by_system: int = 3  # Unix
    zip64: bool = False  # sizes (and offset) in a ZIP64 extra field of the directory entry


def stored(name: str | bytes, content: bytes) -> Entry:
    return Entry(name.encode() if isinstance(name, str) else name, content, crc=zlib.crc32(content))


def write_zip(entries: list[Entry], *, zip64_end_entries: int | None = None) -> bytes:
    """Local headers and data, the central directory, then (optionally ZIP64) end records."""
    out = io.BytesIO()
    directory = []
    for entry in entries:
        offset = out.tell()
        size = len(entry.data) if entry.size is None else entry.size
        crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
        compressed = len(entry.data) if entry.compressed_size is None else entry.compressed_size
        header_offset = offset if entry.header_offset is None else entry.header_offset
        out.write(
            struct.pack(
                "<4s5H3L2H", b"PK\x03\x04", 20, 0, entry.method, 0, 0x21, crc, 0, 0, len(entry.name), 0
            )
        )
        out.write(entry.name + entry.data)
        extra = b""
        if entry.zip64:
            extra = struct.pack("<HHQQQ", 1, 24, size, compressed, header_offset)
            size = compressed = header_offset = 0xFFFFFFFF
        directory.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                (entry.made_by_system << 8) | 45,
                45 if entry.zip64 else 20,
                0,
                entry.method,
                0,
                0x21,
                crc,
                compressed,
                size,
                len(entry.name),
                len(extra),
                0,
                0,
                0,
                0,
                header_offset,
            )
            + entry.name
            + extra
        )
    start = out.tell()
    out.write(b"".join(directory))
    size = out.tell() - start
    count = len(directory)
    if zip64_end_entries is not None:
        end64 = out.tell()
        out.write(
            struct.pack(
                "<4sQ2H2L4Q",
                b"PK\x06\x06",
                44,
                45,
                45,
                0,
                0,
                zip64_end_entries,
                zip64_end_entries,
                size,
                start,
            )
        )
        out.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, end64, 1))
        out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    else:
        out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, size, start, 0))
    return out.getvalue()


def small_bag(*extra: Entry, payload: bytes = b"payload\n") -> list[Entry]:
    """A valid bag at the archive root (data/a.txt, sha256), then `extra` entries."""
    manifest = f"{hashlib.sha256(payload).hexdigest()}  data/a.txt\n".encode()
    return [
        stored("bagit.txt", BAGIT_TXT),
        stored("data/a.txt", payload),
        stored("manifest-sha256.txt", manifest),
        *extra,
    ]


def deflate_stream(chunk: bytes, repeats: int) -> bytes:
    """Raw deflate of `chunk` * `repeats`, built in O(len(chunk)): after a full flush every repeat
    compresses to the same bytes, so one is made and repeated. 1 GiB of zeros costs ~1 MB and a few ms."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + again * (repeats - 1) + compressor.flush()


def repeated_crc(chunk: bytes, repeats: int) -> int:
    crc = 0
    for _ in range(repeats):
        crc = zlib.crc32(chunk, crc)
    return crc


def test_hand_written_bag_is_valid() -> None:
    """The writer above makes real archives: its plain bag verifies, and zipfile reads it back."""
    archive = write_zip(small_bag())
    assert zipfile.ZipFile(io.BytesIO(archive)).testzip() is None
    assert verify(archive).status is Status.VALID


# -- the directory pointing outside the file ----------------------------------------------------


@pytest.mark.parametrize("offset", [0xFFFFFFF0, 2**62], ids=["past-4-GiB", "2^62-zip64"])
def test_entry_whose_local_header_is_outside_the_file_is_a_corrupt_member(offset: int) -> None:
    verdict = verify(
        write_zip(small_bag(Entry(b"data/far.bin", b"x", header_offset=offset, zip64=offset > 2**32)))
    )
    assert (Kind.CORRUPT_MEMBER, "data/far.bin") in found(verdict)
    assert "no local header" in next(p.message for p in verdict.problems if p.path == "data/far.bin")


def test_directory_said_to_start_before_where_it_is_shifts_nothing_silently() -> None:
    # The end record says the directory starts at 0: zipfile takes the difference for bytes
    # prepended to the archive and shifts every entry by it; each then misses its local header.
    archive = write_zip(small_bag())
    end = archive.rindex(b"PK\x05\x06")
    verdict = verify(patched(archive, (end + 16, "<L", 0)))
    assert verdict.status is Status.INVALID
    assert {kind for kind, _ in found(verdict)} <= {
        Kind.CORRUPT_MEMBER,
        Kind.CORRUPT_DIRECTORY,
        Kind.TRUNCATED,
    }


def test_zip64_directory_size_of_2_62_is_truncated() -> None:
    archive = bytearray(write_zip(small_bag(), zip64_end_entries=3))
    end64 = archive.rindex(b"PK\x06\x06")
    struct.pack_into("<Q", archive, end64 + 40, 2**62)  # size of the central directory
    assert found(verify(bytes(archive))) == {(Kind.TRUNCATED, None)}


# -- overlapping entries -------------------------------------------------------------------------


def test_entries_sharing_one_local_header_are_corrupt_members() -> None:
    # The overlapped zip bomb (Fifield, 2019): many directory entries, one local header and its data.
    archive = write_zip(small_bag())
    offset = local_header(archive, "data/a.txt")
    more = [
        Entry(f"data/copy-{i}.txt".encode(), b"", header_offset=offset, size=8, compressed_size=8)
        for i in range(3)
    ]
    verdict = verify(write_zip([*small_bag(), *more]))
    corrupt = {path for kind, path in found(verdict) if kind is Kind.CORRUPT_MEMBER}
    assert {"data/a.txt", "data/copy-0.txt", "data/copy-1.txt", "data/copy-2.txt"} <= corrupt
    messages = [p.message for p in verdict.problems if p.kind is Kind.CORRUPT_MEMBER]
    assert all("overlapping" in m or "its local header names b'data/a.txt'" in m for m in messages)


# -- bombs and huge declared sizes ----------------------------------------------------------------


def test_deflate_bomb_is_stopped_at_its_declared_size() -> None:
    # 1 GiB of zeros in ~1 MB of deflate, declared as 1,000 bytes: inflating stops at the first piece
    # past the declared size, so neither the gigabyte nor the time to make it is ever spent.
    zeros = bytes(MiB)
    data = deflate_stream(zeros, 1024)
    bomb = Entry(b"data/bomb.bin", data, zipfile.ZIP_DEFLATED, size=1000, crc=repeated_crc(zeros, 1))
    archive = write_zip(small_bag(bomb))
    started = time.monotonic()
    verdict, peak = peak_memory(lambda: verify(archive))
    assert (Kind.CORRUPT_MEMBER, "data/bomb.bin") in found(verdict)
    assert "decompresses to more than the 1,000 bytes" in str([p.message for p in verdict.problems])
    assert peak < 16 * MiB, f"peak {peak:,} bytes"
    assert time.monotonic() - started < 5


def test_declared_size_of_2_62_is_a_corrupt_member_in_bounded_memory() -> None:
    entry = Entry(b"data/huge.bin", b"small\n", size=2**62, zip64=True)
    verdict, peak = peak_memory(lambda: verify(write_zip(small_bag(entry))))
    assert (Kind.CORRUPT_MEMBER, "data/huge.bin") in found(verdict)
    assert "the directory says 4,611,686,018,427,387,904" in str([p.message for p in verdict.problems])
    assert peak < 16 * MiB


def test_compressed_size_of_2_62_runs_into_the_next_entry() -> None:
    entry = Entry(b"data/huge.bin", b"small\n", compressed_size=2**62, zip64=True)
    verdict = verify(write_zip(small_bag(entry)))
    assert (Kind.CORRUPT_MEMBER, "data/huge.bin") in found(verdict)
    assert "overlapping" in str([p.message for p in verdict.problems])


def test_end_record_claiming_2_32_entries_costs_nothing() -> None:
    # The count is not trusted (nor by zipfile or unzip): the directory is read by its size, so a
    # claimed 4 billion entries allocates nothing, and the bag is judged by the entries there are.
    verdict, peak = peak_memory(lambda: verify(write_zip(small_bag(), zip64_end_entries=2**32)))
    assert verdict.status is Status.VALID, verdict.problems
    assert peak < 16 * MiB


def test_lzma_member_claiming_a_4_gib_dictionary_is_refused_not_allocated() -> None:
    # liblzma allocates the dictionary up front: a member declared 2 GiB with a 4 GiB dictionary
    # would have it allocate 2 GiB (the dictionary is cut to the declared size) before decoding a byte.
    import lzma

    raw = lzma.compress(b"x" * 1000, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1}])
    data = b"\x09\x14\x05\x00" + bytes([93]) + struct.pack("<L", 0xFFFFFFFF) + raw
    entry = Entry(b"data/l.bin", data, zipfile.ZIP_LZMA, size=2**31)
    verdict, peak = peak_memory(lambda: verify(write_zip(small_bag(entry))))
    assert (Kind.UNSUPPORTED_COMPRESSION, "data/l.bin") in found(verdict)
    assert f"more than the {MAX_LZMA_DICTIONARY:,} bytes" in str([p.message for p in verdict.problems])
    assert peak < 64 * MiB, f"peak {peak:,} bytes"


# -- names ---------------------------------------------------------------------------------------


def test_64_kib_name_is_read_and_named() -> None:
    name = "data/" + "n" * (0xFFFF - 5)
    verdict = verify(write_zip(small_bag(stored(name, b"long"))))
    assert found(verdict) == {(Kind.UNLISTED_FILE, name)}


def test_manifest_path_longer_than_any_zip_name_is_an_invalid_line_with_a_short_message() -> None:
    manifest = b"00" * 32 + b"  data/" + b"a" * MiB + b"\n"
    verdict = verify(write_zip([*small_bag()[:2], stored("manifest-sha256.txt", manifest)]))
    assert (Kind.MANIFEST_LINE_INVALID, "manifest-sha256.txt") in found(verdict)
    assert max(len(p.message) for p in verdict.problems) < 1000


def test_control_characters_in_names_are_names_like_any_other() -> None:
    # Legal on POSIX file systems and so in bags (CR and LF percent-encoded in the manifest, §2.1.3).
    names = ["data/bell\x07.txt", "data/esc\x1b[31mred.txt", "data/line\nbreak.txt", "data/tab\there.txt"]
    entries = [stored(name, name.encode()) for name in names]
    manifest = "".join(
        f"{hashlib.sha256(name.encode()).hexdigest()}  {name.replace(chr(10), '%0A')}\n" for name in names
    )
    archive = write_zip(
        [stored("bagit.txt", BAGIT_TXT), *entries, stored("manifest-sha256.txt", manifest.encode())]
    )
    assert verify(archive).status is Status.VALID
    unlisted = write_zip([*small_bag(), stored("data/unlisted\x1b.txt", b"x")])
    assert found(verify(unlisted)) == {(Kind.UNLISTED_FILE, "data/unlisted\x1b.txt")}


@pytest.mark.parametrize(
    ("name", "made_by", "path"),
    [
        ("../evil.txt", 3, "../evil.txt"),
        ("/abs.txt", 3, "/abs.txt"),
        ("sample-bag/data/../../x", 3, "data/../../x"),
        ("C:\\x", 3, "C:\\x"),
        ("C:/Windows/evil.dll", 3, "C:/Windows/evil.dll"),
        ("sample-bag\\..\\..\\evil.txt", 3, "sample-bag\\..\\..\\evil.txt"),  # Unix zipper: not a separator
        ("sample-bag\\..\\..\\evil.txt", 0, "../../evil.txt"),  # MS-DOS zipper: a separator, so '..'
        ("~/evil.txt", 3, "~/evil.txt"),
    ],
)
def test_path_traversal_entry_is_unsafe_path_naming_it_and_the_bag_is_still_verified(
    name: str, made_by: int, path: str
) -> None:
    bag = make_bag_zip(FILES, algorithms=["sha256"])
    with zipfile.ZipFile(io.BytesIO(bag)) as archive:
        entries = [stored(info.filename, archive.read(info)) for info in archive.infolist()]
    evil = stored(name, b"evil")
    evil.made_by_system = made_by
    verdict = verify(write_zip([*entries, evil]))
    assert found(verdict) == {(Kind.UNSAFE_PATH, path)}, verdict.problems
    [problem] = verdict.problems
    assert problem.details["entry"] == name.replace("\\", "/") if made_by == 0 else name
    assert verdict.stats.files == len(FILES)  # the bag beside it was verified all the same


def test_name_with_a_nul_is_unsafe_not_cut_short() -> None:
    # zipfile (and unzip) end a name at its first NUL: "data/a.txt\0.exe" would read as data/a.txt.
    verdict = verify(write_zip([*small_bag(), stored(b"data/a.txt\x00.exe", b"not the payload")]))
    assert verdict.status is Status.INVALID
    assert found(verdict) == {(Kind.UNSAFE_PATH, "data/a.txt\x00.exe")}


# -- layouts: macOS Finder, a second bagit.txt ----------------------------------------------------


def test_macos_finder_resource_forks_beside_the_bag_are_a_warning_and_the_bag_is_verified() -> None:
    # Finder's Compress: the folder, and __MACOSX/<folder>/._<file> (AppleDouble) for its files.
    bag = make_bag_zip(FILES, algorithms=["sha256"])
    buffer = io.BytesIO(bag)
    with zipfile.ZipFile(buffer, "a") as archive:
        for name in [n for n in archive.namelist() if not n.endswith("/")]:
            folder, _, base = name.rpartition("/")
            archive.writestr(f"__MACOSX/{folder}/._{base}", b"\x00\x05\x16\x07AppleDouble")
    verdict = verify(buffer.getvalue())
    assert verdict.status is Status.VALID, verdict.problems
    assert [(w.kind, w.path) for w in verdict.warnings] == [(Kind.NON_STANDARD_PATH, "__MACOSX/")]
    assert verdict.stats.files == len(FILES)
    # A flipped byte in the bag is still found.
    broken = io.BytesIO(make_bag_zip(FILES, algorithms=["sha256"], tamper=flip_byte("data/a.txt")))
    with zipfile.ZipFile(broken, "a") as archive:
        archive.writestr("__MACOSX/sample-bag/._bagit.txt", b"\x00\x05\x16\x07")
    assert found(verify(broken.getvalue())) == {(Kind.CHECKSUM_MISMATCH, "data/a.txt")}


def test_second_bagit_txt_in_a_tag_directory_is_a_warning_not_a_second_bag() -> None:
    # RFC 8493 allows tag directories: the bag at the root is the bag, and is verified; the other
    # bagit.txt is named so that nobody takes the folder beside it for verified.
    buffer = io.BytesIO(make_bag_zip(FILES, algorithms=["sha256"], top_folder=None))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("old-bag/bagit.txt", BAGIT_TXT)
        archive.writestr("old-bag/data/x.txt", b"x")
    verdict = verify(buffer.getvalue())
    assert verdict.status is Status.VALID, verdict.problems
    assert (Kind.NON_STANDARD_PATH, "old-bag/bagit.txt") in {(w.kind, w.path) for w in verdict.warnings}


def test_bag_nested_in_the_payload_is_payload() -> None:
    files = {**FILES, "inner-bag/bagit.txt": BAGIT_TXT, "inner-bag/data/x.txt": b"x"}
    verdict = verify(make_bag_zip(files, algorithms=["sha256"]))
    assert verdict.status is Status.VALID, verdict.problems
    assert verdict.warnings == []


# -- tag files: too large, hostile, undecodable ---------------------------------------------------


def test_manifest_inflating_past_the_tag_file_limit_is_a_problem_not_an_oom() -> None:
    # A "gigabyte manifest": 257 MiB of manifest lines in ~300 KB of deflate, its size declared
    # truthfully. It is checksummed like any file, never held: tag_file_too_large, in bounded memory.
    line = f"{'0' * 64}  data/listed-but-missing.txt\n".encode()
    chunk = (line * (MiB // len(line) + 1))[:MiB]
    repeats = MAX_TAG_FILE_BYTES // MiB + 1
    huge = Entry(
        b"manifest-sha512.txt",
        deflate_stream(chunk, repeats),
        zipfile.ZIP_DEFLATED,
        size=repeats * MiB,
        crc=repeated_crc(chunk, repeats),
    )
    archive = write_zip(small_bag(huge))
    assert len(archive) < 2 * MiB
    verdict, peak = peak_memory(lambda: verify(archive))
    assert found(verdict) == {(Kind.TAG_FILE_TOO_LARGE, "manifest-sha512.txt")}
    [problem] = verdict.problems
    assert problem.details == {"size": repeats * MiB, "limit": MAX_TAG_FILE_BYTES}
    assert peak < 64 * MiB, f"peak {peak:,} bytes"


def test_manifest_claiming_a_terabyte_is_too_large_and_corrupt() -> None:
    huge = Entry(b"manifest-sha512.txt", b"tiny\n", size=2**40, zip64=True)
    verdict = verify(write_zip(small_bag(huge)))
    assert found(verdict) == {
        (Kind.TAG_FILE_TOO_LARGE, "manifest-sha512.txt"),
        (Kind.CORRUPT_MEMBER, "manifest-sha512.txt"),
    }


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b"x\n", Kind.MANIFEST_LINE_INVALID),  # not 'checksum path'
        (b"0 data/a.txt\n", Kind.DUPLICATE_MANIFEST_ENTRY),  # one path, listed again and again
        (b"\xff\n", Kind.TAG_FILE_ENCODING),  # not UTF-8
    ],
    ids=["junk", "repeats", "undecodable"],
)
def test_millions_of_bad_lines_cost_time_not_memory(line: bytes, kind: Kind) -> None:
    # Each bad line was one Problem (~300 bytes for a 2-byte line: 140x the manifest): a 12 MB
    # manifest, 12 KB zipped, took 1.7 GB. Now the first MAX_LINE_PROBLEMS are named, the rest counted.
    count = 60_000
    manifest = small_bag()[2].data + line * count
    archive = write_zip([*small_bag()[:2], stored("manifest-sha256.txt", manifest)])
    verdict, peak = peak_memory(lambda: verify(archive))
    of_kind = [p for p in verdict.problems if p.kind is kind]
    assert len(of_kind) == MAX_LINE_PROBLEMS + 1
    assert of_kind[-1].details["not_named"] >= count - MAX_LINE_PROBLEMS - 1
    assert peak < 8 * len(manifest) + 4 * MiB, f"peak {peak:,} bytes for a {len(manifest):,}-byte manifest"


def test_bag_info_of_many_continuation_lines_is_read_in_linear_time() -> None:
    # Each continuation line was appended to the value by copying it: quadratic, minutes for this one.
    bag_info = b"Payload-Oxum: 8.1\nExternal-Description: start\n" + (b"  " + b"w" * 200 + b"\n") * 30_000
    started = time.monotonic()
    verdict = verify(write_zip([*small_bag(), stored("bag-info.txt", bag_info)]))
    assert verdict.status is Status.VALID, verdict.problems
    assert time.monotonic() - started < 5


def test_one_undecodable_line_leaves_every_other_manifest_line_checked() -> None:
    # A Latin-1 "é" in one line of a UTF-8 manifest made the whole manifest unreadable, and every
    # checksum in it unchecked. Now that line is the problem, and the others are still checked:
    # here a flipped byte in a file listed on another line is still found.
    payloads = {"a.txt": b"alpha\n", "b.txt": b"bravo\n", "caf\xe9.txt": b"cafe\n"}
    lines = [
        hashlib.sha256(content).hexdigest().encode() + b"  data/" + name.encode("latin-1") + b"\n"
        for name, content in payloads.items()
    ]
    entries = [stored("bagit.txt", BAGIT_TXT), stored("manifest-sha256.txt", b"".join(lines))]
    entries += [stored("data/a.txt", b"alpha\n"), stored("data/b.txt", b"bravo, tampered\n")]
    verdict = verify(write_zip(entries))
    assert found(verdict) == {
        (Kind.TAG_FILE_ENCODING, "manifest-sha256.txt"),
        (Kind.CHECKSUM_MISMATCH, "data/b.txt"),
    }
    encoding = next(p for p in verdict.problems if p.kind is Kind.TAG_FILE_ENCODING)
    assert encoding.details == {"line": 3} and "caf\\xe9" in encoding.message


def test_undecodable_bag_info_line_leaves_the_payload_oxum_checked() -> None:
    bag_info = b"Source-Organization: Caf\xe9 Ltd\nPayload-Oxum: 999.1\n"
    verdict = verify(write_zip([*small_bag(), stored("bag-info.txt", bag_info)]))
    assert found(verdict) == {
        (Kind.TAG_FILE_ENCODING, "bag-info.txt"),
        (Kind.PAYLOAD_OXUM_MISMATCH, "bag-info.txt"),
    }


def test_utf16_manifest_declared_utf8_is_one_problem_for_the_whole_file() -> None:
    manifest = small_bag()[2].data.decode().encode("utf-16")  # with its BOM
    verdict = verify(write_zip([*small_bag()[:2], stored("manifest-sha256.txt", manifest)]))
    assert (Kind.TAG_FILE_ENCODING, "manifest-sha256.txt") in found(verdict)
    assert len([p for p in verdict.problems if p.kind is Kind.TAG_FILE_ENCODING]) == 1


@pytest.mark.parametrize("encoding", ["rot13", "hex", "zlib", "undefined", "punycode"])
def test_bagit_txt_declaring_a_codec_that_is_not_a_text_encoding(encoding: str) -> None:
    # Found by the fuzzers: each crashed the verifier (LookupError, UnicodeError).
    bagit_txt = f"BagIt-Version: 1.0\nTag-File-Character-Encoding: {encoding}\n".encode()
    verdict = verify(write_zip([stored("bagit.txt", bagit_txt), *small_bag()[1:]]))
    assert verdict.status is Status.INVALID
    kinds = {kind for kind, _ in found(verdict)}
    assert kinds & {Kind.BAGIT_TXT_INVALID, Kind.TAG_FILE_ENCODING}
