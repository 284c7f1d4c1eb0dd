"""The compact member index (archive/member_index.py) against zipfile's listing, and the planner's cuts.

The index parses the central directory itself, so it is held to what stdlib zipfile reads
(offsets, sizes, CRC-32, names: `infolist()`) and to what tests/unit/zipfile_listing.py makes of
that by the same naming rules (entry names, members with their next offsets, duplicates,
warnings), on archives from every zipper the tests know, ZIP64 ones included; a damaged directory
must be refused with the kind the listing gives; and the serialized form a shard reads back must
give the same members.
"""

from __future__ import annotations

import io
import itertools
import os
import random
import struct
import zipfile
import zlib
from array import array
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bagverify.archive import ArchiveFault, Member
from bagverify.archive.end_record import locate_central_directory
from bagverify.archive.member_index import MemberIndex, read_member_index
from bagverify.bag.layout import screen_entries
from bagverify.pipeline.plan import SCAN, SKIP, TAG, ShardSizing, cut_shards, make_plan, maybe_screened
from devtools.big_zips import write_many_file_bag
from devtools.sample_bags import SAMPLE_FILES, RawEntry, make_bag_zip, write_bag_zip, write_raw_zip
from tests.unit.zipfile_listing import ZipfileListing

FILES = {**SAMPLE_FILES, "ünï/çödé.txt": b"accents\n", "sub/dir/deep.bin": bytes(range(256)) * 40}
# Mutated directories tried against ZipfileListing: 200 in CI; more with BAGVERIFY_FUZZ_EXAMPLES.
FUZZ_EXAMPLES = int(os.environ.get("BAGVERIFY_FUZZ_EXAMPLES", 200))
ZIPPERS = [
    "python",
    "python-stream",
    "infozip",
    "infozip-stream",
    "infozip-zip64",
    "7z",
    "windows",
    "powershell5",
]


def member_fields(member: Member) -> tuple[Any, ...]:
    return tuple(member)


def assert_matches_zipreader(archive: bytes) -> MemberIndex:
    index = read_member_index(io.BytesIO(archive))
    reader = ZipfileListing(io.BytesIO(archive))
    mine = [index.member(p) for p in range(len(index)) if not index.names[p].endswith("/")]
    assert [member_fields(m) for m in mine] == [member_fields(m) for m in reader.members]
    assert sorted(index.names) == sorted(reader.entry_names)
    assert index.duplicate_names == reader.duplicate_names()
    assert index.notices == reader.notices
    return index


def assert_matches_zipfile(archive: bytes, index: MemberIndex) -> None:
    """Offsets, sizes, CRC-32 and the names' bytes as zipfile.infolist() has them."""
    infos = sorted(zipfile.ZipFile(io.BytesIO(archive)).infolist(), key=lambda info: info.header_offset)
    assert len(infos) == len(index)
    for position, info in enumerate(infos):
        assert index.offsets[position] == info.header_offset, info.filename
        assert index.sizes[position] == info.file_size
        assert index.compressed_sizes[position] == info.compress_size
        assert index.crcs[position] == info.CRC
        assert index.flags[position] == info.flag_bits
        assert index.methods[position] == info.compress_type
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        assert index.raw_name(position) == info.orig_filename.encode(encoding)


@pytest.mark.parametrize("zipper", ZIPPERS)
def test_every_zipper_s_archive_is_indexed_as_zipfile_and_zipreader_read_it(zipper: str) -> None:
    archive = make_bag_zip(FILES, zipper=zipper)
    assert_matches_zipfile(archive, assert_matches_zipreader(archive))


def test_directory_entries_and_a_self_extractor_stub() -> None:
    archive = make_bag_zip(FILES, zipper="7z", directory_entries=True)
    assert_matches_zipfile(archive, assert_matches_zipreader(archive))
    stub = b'#!/bin/sh\nexec unzip "$0"\n' * 50
    stubbed = stub + make_bag_zip(FILES)
    index = assert_matches_zipreader(stubbed)
    assert_matches_zipfile(stubbed, index)
    assert index.offsets[0] == len(stub)


@pytest.mark.parametrize("extras", [False, True], ids=["zip64-end-records", "zip64-extra-on-every-entry"])
def test_zip64_archives(extras: bool) -> None:
    buffer = io.BytesIO()
    write_many_file_bag(buffer, 70_000, zip64_extras=extras)
    archive = buffer.getvalue()
    index = read_member_index(io.BytesIO(archive))
    assert len(index) == 70_004
    assert_matches_zipfile(archive, index)
    forced = io.BytesIO()
    write_bag_zip(forced, [(name, [content]) for name, content in FILES.items()], force_zip64=True)
    assert_matches_zipfile(forced.getvalue(), assert_matches_zipreader(forced.getvalue()))


def _raw(name: bytes, data: bytes = b"x", **fields: Any) -> RawEntry:
    return RawEntry(name, 0, data, len(data), zlib.crc32(data), **fields)


def _with_extra(archive: bytes, name: bytes, extra: bytes) -> bytes:
    """`archive` (write_raw_zip's, no comment) with `extra` added to `name`'s directory record."""
    end = archive.rindex(b"PK\x05\x06")
    size, start = struct.unpack("<LL", archive[end + 12 : end + 20])
    record = archive.index(b"PK\x01\x02" + archive[start + 4 : start + 4], start)
    while archive[record + 46 : record + 46 + len(name)] != name:
        name_length, extra_length, comment_length = struct.unpack("<3H", archive[record + 28 : record + 34])
        record += 46 + name_length + extra_length + comment_length
    patched = bytearray(archive)
    struct.pack_into("<H", patched, record + 30, len(extra))
    insert_at = record + 46 + len(name)
    patched[insert_at:insert_at] = extra
    end += len(extra)
    struct.pack_into("<L", patched, end + 12, size + len(extra))
    return bytes(patched)


def test_unicode_path_fields_nul_and_cp437_names() -> None:
    real = "café/naïve.txt".encode()
    unicode_path = struct.pack("<HHBL", 0x7075, 5 + len(real), 1, zlib.crc32(b"cafe/naive.txt")) + real
    stale = struct.pack("<HHBL", 0x7075, 5 + 3, 1, 12345) + b"old"  # CRC of another name: ignored
    archive = write_raw_zip(
        [
            _raw(b"cafe/naive.txt"),
            _raw(b"stale.txt"),
            _raw("caf\u00e9-cp437.txt".encode("cp437")),  # no UTF-8 flag, not UTF-8: cp437
            _raw("ünï.txt".encode()),  # Info-ZIP's UTF-8 without the flag
            _raw(b"data/a\x00b.txt"),  # NUL: kept whole (an unsafe name)
            _raw("flagged-ü.txt".encode(), flags=0x800),
        ]
    )
    archive = _with_extra(_with_extra(archive, b"cafe/naive.txt", unicode_path), b"stale.txt", stale)
    index = assert_matches_zipreader(archive)
    assert_matches_zipfile(archive, index)
    assert index.names == [
        "café/naïve.txt",
        "stale.txt",
        "café-cp437.txt",
        "ünï.txt",
        "data/a\x00b.txt",
        "flagged-ü.txt",
    ]


def _directory(archive: bytes) -> tuple[int, int]:
    directory = locate_central_directory(io.BytesIO(archive))  # type: ignore[arg-type]
    return directory.offset, directory.size


@pytest.mark.parametrize(
    "damage",
    [
        "signature",
        "utf8-flag-on-a-cp437-name",
        "extra-field-past-its-end",
        "zip64-field-too-short",
        "unicode-path-not-utf8",
        "version-needed-99",
    ],
)
def test_a_damaged_directory_is_refused_as_zipreader_refuses_it(damage: str) -> None:
    archive = write_raw_zip([_raw(b"bagit.txt"), _raw("f\u00e9.txt".encode("cp437")), _raw(b"z.txt")])
    start, _ = _directory(archive)
    if damage == "signature":
        archive = archive[:start] + b"PK\x01\x03" + archive[start + 4 :]
    elif damage == "utf8-flag-on-a-cp437-name":
        second = archive.index(b"PK\x01\x02", start + 4)
        archive = archive[: second + 8] + struct.pack("<H", 0x800) + archive[second + 10 :]
    elif damage == "extra-field-past-its-end":
        archive = _with_extra(archive, b"z.txt", struct.pack("<HH", 0x5455, 40) + b"12345")
    elif damage == "zip64-field-too-short":
        third = archive.rindex(b"PK\x01\x02")
        archive = archive[: third + 42] + b"\xff\xff\xff\xff" + archive[third + 46 :]
        archive = _with_extra(archive, b"z.txt", struct.pack("<HH", 0x0001, 4) + b"1234")
    elif damage == "unicode-path-not-utf8":
        field = struct.pack("<HHBL", 0x7075, 7, 1, zlib.crc32(b"z.txt")) + b"\xff\xfe"
        archive = _with_extra(archive, b"z.txt", field)
    else:
        archive = archive[: start + 6] + bytes([99]) + archive[start + 7 :]
    with pytest.raises(ArchiveFault) as theirs:
        ZipfileListing(io.BytesIO(archive))
    with pytest.raises(ArchiveFault) as mine:
        read_member_index(io.BytesIO(archive))
    assert mine.value.kind == theirs.value.kind
    assert str(mine.value).startswith("the central directory is unreadable")


def _outcome(read: Any, archive: bytes) -> Any:
    try:
        result = read(io.BytesIO(archive))
    except ArchiveFault as fault:
        return ("fault", fault.kind)
    if isinstance(result, ZipfileListing):
        return ("ok", [member_fields(m) for m in result.members], sorted(result.entry_names))
    files = [result.member(p) for p in range(len(result)) if not result.names[p].endswith("/")]
    return ("ok", [member_fields(m) for m in files], sorted(result.names))


@settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.data())
def test_mutated_directories_are_read_or_refused_as_zipreader_does(data: st.DataObject) -> None:
    archive = bytearray(_fuzz_base(data.draw(st.sampled_from(["python", "infozip-zip64", "windows"]))))
    start, size = _directory(bytes(archive))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(start, start + size - 1))
        archive[at] = data.draw(st.integers(0, 255))
    theirs = _outcome(ZipfileListing, bytes(archive))
    mine = _outcome(read_member_index, bytes(archive))
    if theirs[0] == "ok" or mine[0] == "ok":
        assert mine == theirs
    else:
        assert mine[1] == theirs[1]


_bases: dict[str, bytes] = {}


def _fuzz_base(zipper: str) -> bytes:
    if zipper not in _bases:
        _bases[zipper] = make_bag_zip({"a.txt": b"alpha\n", "b/c.txt": b"charlie\n"}, zipper=zipper)
    return _bases[zipper]


# -- the serialized index a shard reads ------------------------------------------------------------


@pytest.mark.parametrize("zipper", ["python", "windows", "powershell5"])
def test_any_slice_of_the_serialized_index_gives_the_same_members(zipper: str) -> None:
    index = read_member_index(io.BytesIO(make_bag_zip(FILES, zipper=zipper)))
    rng = random.Random(7)
    marks = array("B", [rng.choice([SKIP, SCAN, TAG]) for _ in range(len(index))])
    encoded = index.encode(marks)
    slices = [(0, len(index)), (0, 1), (len(index) - 1, len(index)), (2, 6)]
    for first, stop in slices:
        records = encoded.data[slice(*encoded.record_range(first, stop))]
        names = encoded.data[slice(*encoded.name_range(first, stop))]
        part, part_marks = MemberIndex.decode_slice(first, records, names, encoded.name_starts[first])
        assert list(part.positions) == list(range(first, stop))
        assert list(part_marks) == list(marks[first:stop])
        for position in range(first, stop):
            assert member_fields(part.member(position)) == member_fields(index.member(position))
            assert part.systems[position - first] == index.systems[position]


# -- the planner ------------------------------------------------------------------------------------


def test_screening_candidates_are_a_superset_of_what_screen_entries_screens_out() -> None:
    names = [
        "bag/data/a.txt",
        "/etc/passwd",
        "~/x",
        "C:/windows.txt",
        "bag/data/..",
        "bag/../x",
        "a\\b",
        "a\x00b",
        "__MACOSX/bag/._a.txt",
        "bag/data/.../ok",
        "bag/data/x:y",
        "line\n/break",
    ]
    screened = screen_entries(names)
    assert set(screened.unsafe + screened.macos_forks) <= set(maybe_screened(names))
    assert maybe_screened(["bag/data/a.txt", "bag/bagit.txt"]) == []


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.text(alphabet=st.sampled_from("ab/\\.:~_\x00\nM_ACOSX"), max_size=12), max_size=8))
def test_screening_candidates_are_a_superset_for_any_names(names: list[str]) -> None:
    screened = screen_entries(names)
    assert set(screened.unsafe + screened.macos_forks) <= set(maybe_screened(names))


def _sized_index(sizes: list[int]) -> MemberIndex:
    count = len(sizes)
    offsets = array("Q", [sum(sizes[:i]) + 100 * i for i in range(count)])
    return MemberIndex(
        sum(sizes) + 100 * count,
        sum(sizes) + 100 * count,
        0,
        0,
        offsets,
        array("Q", [*offsets[1:], sum(sizes) + 100 * count]),
        array("Q", sizes),
        array("Q", sizes),
        array("I", [0] * count),
        array("H", [0] * count),
        array("H", [0] * count),
        array("B", [3] * count),
        [f"data/f{i}" for i in range(count)],
    )


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(st.integers(0, 10_000_000), min_size=1, max_size=60),
    st.lists(st.sampled_from([SKIP, SCAN, SCAN, TAG]), min_size=60, max_size=60),
    st.integers(1, 30_000_000),
)
def test_shards_cover_every_position_once_in_contiguous_runs(
    sizes: list[int], marks_drawn: list[int], target: int
) -> None:
    index = _sized_index(sizes)
    marks = array("B", marks_drawn[: len(sizes)])
    shards = cut_shards(index, marks, ShardSizing(target_bytes=target))
    assert shards[0].first == 0 and shards[-1].stop == len(index)
    assert all(a.stop == b.first for a, b in itertools.pairwise(shards))
    assert [shard.number for shard in shards] == list(range(len(shards)))
    assert sum(shard.files for shard in shards) == marks.count(SCAN)
    # No shard is empty but when there is nothing to scan at all (then there is exactly one).
    assert all(shard.files for shard in shards) or len(shards) == 1


def test_shard_sizes_follow_the_sizing() -> None:
    index = _sized_index([1_000_000] * 100)
    marks = array("B", [SCAN] * 100)
    work = 1_000_000 + 6_000
    assert len(cut_shards(index, marks, ShardSizing(target_bytes=25 * work))) == 4
    assert [s.files for s in cut_shards(index, marks, ShardSizing(target_bytes=25 * work))] == [25] * 4
    # Defaults: ~100 MB of work spread over 40 at once, but no shard under 2 GB: one shard.
    assert len(cut_shards(index, marks, ShardSizing())) == 1
    small = ShardSizing(min_bytes=1, max_bytes=10**12, concurrency=10)
    assert len(cut_shards(index, marks, small)) == 10


def test_a_plan_marks_tag_files_for_the_planner_and_the_rest_for_shards() -> None:
    archive = make_bag_zip(FILES, zipper="7z", directory_entries=True)
    plan = make_plan(io.BytesIO(archive), source="bag.zip")
    assert plan.listed and plan.root == "sample-bag/"
    assert plan.index is not None
    by_mark = {
        mark: sorted(plan.path(p) for p in range(len(plan.index)) if plan.marks[p] == mark)
        for mark in (SKIP, SCAN, TAG)
    }
    manifests = [
        "manifest-sha256.txt",
        "manifest-sha512.txt",
        "tagmanifest-sha256.txt",
        "tagmanifest-sha512.txt",
    ]
    assert by_mark[TAG] == ["bag-info.txt", "bagit.txt", *manifests]
    assert by_mark[SCAN] == sorted(f"data/{name}" for name in FILES)
    assert all(path.endswith("/") or path == "" for path in by_mark[SKIP])  # directories
    assert plan.payload_algorithms == ["sha256", "sha512"]
