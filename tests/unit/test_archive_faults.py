"""A broken archive is *invalid* with a specific kind, naming the member where one is concerned.

Faults are made the way they happen: a file cut short or missing its head, a byte flipped
in member data or in the directory, a member encrypted by a real zipper, a method nobody
here decodes, two entries of one name, two bags in one ZIP. Then a seeded fuzzer: no
mutation of an archive may crash or hang the verifier.
"""

from __future__ import annotations

import io
import random
import struct
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bagverify import Kind, Status, Verdict, verify_archive
from devtools.sample_bags import add_file, make_bag_zip, seven_zip

# Every test here runs twice: members read whole and streamed (tests/unit/conftest.py).
pytestmark = pytest.mark.usefixtures("each_member_path")

FILES = {
    "a.txt": b"alpha\n" * 2000,
    "b/c.txt": b"charlie\n" * 3000,
    "d.bin": bytes(range(256)) * 64,
}


def verify(archive: bytes) -> Verdict:
    return verify_archive(io.BytesIO(archive), "bag.zip")


def found(verdict: Verdict) -> set[tuple[Kind, str | None]]:
    return {(p.kind, p.path) for p in verdict.problems}


def stored_bag(**options) -> bytes:  # type: ignore[no-untyped-def]
    return make_bag_zip(FILES, compression="stored", **options)


# -- where things are in an archive, to break them -----------------------------------------


def local_header(archive: bytes, name: str) -> int:
    return zipfile.ZipFile(io.BytesIO(archive)).getinfo(name).header_offset


def data_start(archive: bytes, name: str) -> int:
    offset = local_header(archive, name)
    name_length, extra_length = struct.unpack("<HH", archive[offset + 26 : offset + 30])
    return offset + 30 + name_length + extra_length


def directory_entry(archive: bytes, name: str) -> int:
    """Offset of `name`'s central directory header."""
    end = archive.rindex(b"PK\x05\x06")
    size, offset = struct.unpack("<LL", archive[end + 12 : end + 20])
    position = offset
    while position < offset + size:
        name_length, extra_length, comment_length = struct.unpack(
            "<3H", archive[position + 28 : position + 34]
        )
        if archive[position + 46 : position + 46 + name_length] == name.encode():
            return position
        position += 46 + name_length + extra_length + comment_length
    raise KeyError(name)


def patched(archive: bytes, *patches: tuple[int, str, int]) -> bytes:
    """`archive` with struct-packed values written at offsets: (offset, format, value)."""
    out = bytearray(archive)
    for offset, fmt, value in patches:
        struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def flipped(archive: bytes, offset: int) -> bytes:
    out = bytearray(archive)
    out[offset] ^= 0xFF
    return bytes(out)


# -- not a ZIP ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"PK",
        b"this is not a zip file\n" * 100,
        b"%PDF-1.7\n" + bytes(range(256)) * 40,
        random.Random(3).randbytes(100_000),
    ],
    ids=["empty", "two-bytes", "text", "pdf", "random"],
)
def test_not_a_zip(data: bytes) -> None:
    verdict = verify(data)
    assert verdict.status is Status.INVALID
    assert found(verdict) == {(Kind.NOT_A_ZIP, None)}


# -- truncated -------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.02, 0.25, 0.5, 0.75, 0.98])
def test_archive_cut_short_is_truncated(keep: float) -> None:
    archive = stored_bag()
    verdict = verify(archive[: int(len(archive) * keep)])
    assert found(verdict) == {(Kind.TRUNCATED, None)}


@pytest.mark.parametrize("missing", [1, 21, 22, 30])
def test_archive_missing_its_last_bytes_is_truncated(missing: int) -> None:
    # Cut inside the end record, just before it, and inside the central directory.
    archive = stored_bag()
    assert found(verify(archive[:-missing])) == {(Kind.TRUNCATED, None)}


def test_archive_missing_its_head_is_truncated() -> None:
    # The end record survives, but says the directory starts later than the bytes before it allow.
    archive = stored_bag()
    verdict = verify(archive[1000:])
    assert found(verdict) == {(Kind.TRUNCATED, None)}
    assert "missing" in verdict.problems[0].message


def test_directory_said_to_start_past_the_end_is_truncated() -> None:
    archive = stored_bag()
    end = archive.rindex(b"PK\x05\x06")
    verdict = verify(patched(archive, (end + 16, "<L", len(archive) + 5000)))
    assert found(verdict) == {(Kind.TRUNCATED, None)}
    assert "past the end" in verdict.problems[0].message


def test_archive_comment_cut_short_is_truncated() -> None:
    buffer = io.BytesIO(stored_bag())
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.comment = b"made for bagverify's tests " * 10
    assert found(verify(buffer.getvalue()[:-10])) == {(Kind.TRUNCATED, None)}
    assert verify(buffer.getvalue()).status is Status.VALID


def test_last_part_of_a_split_archive_is_truncated(tmp_path: Path) -> None:
    # Info-ZIP's `zip -s`: bag.z01, bag.z02, ... and bag.zip, the part with the directory.
    big = {"big.bin": random.Random(5).randbytes(200_000)}
    (tmp_path / "bag.zip").write_bytes(make_bag_zip(big, compression="stored"))
    subprocess.run(["zip", "-q", "-s", "64k", "bag.zip", "--out", "split.zip"], cwd=tmp_path, check=True)
    assert (tmp_path / "split.z01").exists()
    for part in ("split.zip", "split.z01"):
        verdict = verify((tmp_path / part).read_bytes())
        assert found(verdict) == {(Kind.TRUNCATED, None)}, part


# -- corrupt member data, and every member's CRC-32 ------------------------------------------------


def test_flipped_byte_in_stored_payload_is_a_corrupt_member() -> None:
    archive = stored_bag()
    verdict = verify(flipped(archive, data_start(archive, "sample-bag/data/a.txt") + 100))
    assert found(verdict) == {(Kind.CORRUPT_MEMBER, "data/a.txt")}
    assert "CRC-32" in verdict.problems[0].message


def test_crc_catches_what_no_manifest_covers() -> None:
    # A tag file in no tag manifest (a warning, not a fault): only the ZIP's CRC-32 can tell
    # that its bytes changed after zipping.
    archive = stored_bag(tamper=add_file("notes.txt", b"processing notes\n" * 50))
    assert verify(archive).status is Status.VALID
    verdict = verify(flipped(archive, data_start(archive, "sample-bag/notes.txt") + 7))
    assert found(verdict) == {(Kind.CORRUPT_MEMBER, "notes.txt")}


def test_wrong_crc_in_the_directory_is_a_corrupt_member() -> None:
    archive = stored_bag()
    entry = directory_entry(archive, "sample-bag/data/b/c.txt")
    (crc,) = struct.unpack("<L", archive[entry + 16 : entry + 20])
    verdict = verify(patched(archive, (entry + 16, "<L", crc ^ 1)))
    assert found(verdict) == {(Kind.CORRUPT_MEMBER, "data/b/c.txt")}


@pytest.mark.parametrize("compression", ["deflate", "bzip2", "lzma"])
def test_garbled_compressed_data_is_a_corrupt_member(compression: str) -> None:
    archive = bytearray(make_bag_zip(FILES, compression=compression))
    start = data_start(bytes(archive), "sample-bag/data/b/c.txt")
    info = zipfile.ZipFile(io.BytesIO(bytes(archive))).getinfo("sample-bag/data/b/c.txt")
    middle = start + info.compress_size // 2
    archive[middle : middle + 8] = b"\xff\x00\xa5\x5a" * 2
    verdict = verify(bytes(archive))
    assert found(verdict) == {(Kind.CORRUPT_MEMBER, "data/b/c.txt")}


def test_size_in_the_directory_that_the_data_does_not_have_is_a_corrupt_member() -> None:
    archive = make_bag_zip(FILES)  # deflated: the compressed size stays right, the size is wrong
    entry = directory_entry(archive, "sample-bag/data/d.bin")
    verdict = verify(patched(archive, (entry + 24, "<L", 256 * 64 + 1)))
    # The Payload-Oxum counts the size the directory gives, so it disagrees too.
    oxum = (Kind.PAYLOAD_OXUM_MISMATCH, "bag-info.txt")
    assert found(verdict) == {(Kind.CORRUPT_MEMBER, "data/d.bin"), oxum}
    assert "decompresses to 16,384 bytes, the directory says 16,385" in verdict.problems[0].message


@pytest.mark.parametrize(
    ("where", "message"),
    [(0, "no local header"), (30, "its local header names")],
    ids=["signature", "name"],
)
def test_broken_local_header_is_a_corrupt_member(where: int, message: str) -> None:
    archive = stored_bag()
    verdict = verify(flipped(archive, local_header(archive, "sample-bag/data/a.txt") + where))
    assert found(verdict) == {(Kind.CORRUPT_MEMBER, "data/a.txt")}
    assert message in verdict.problems[0].message


def test_overlapping_entries_are_corrupt_members() -> None:
    # The zip bomb's trick: a member's data runs over the entries after it. Here a.txt's
    # directory entry claims its data reaches past the next local header.
    archive = make_bag_zip(FILES)
    entry = directory_entry(archive, "sample-bag/data/a.txt")
    (compressed_size,) = struct.unpack("<L", archive[entry + 20 : entry + 24])
    verdict = verify(patched(archive, (entry + 20, "<L", compressed_size + 5000)))
    assert found(verdict) == {(Kind.CORRUPT_MEMBER, "data/a.txt")}
    assert "overlapping" in verdict.problems[0].message


# -- the central directory ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        lambda archive: flipped(archive, directory_entry(archive, "sample-bag/data/a.txt")),  # signature
        lambda archive: patched(  # a UTF-8-flagged name that is not UTF-8
            flipped(archive, directory_entry(archive, "sample-bag/data/a.txt") + 46 + 11),
            (directory_entry(archive, "sample-bag/data/a.txt") + 8, "<H", 0x800),
        ),
    ],
    ids=["signature", "utf8-name"],
)
def test_unreadable_central_directory(damage: Callable[[bytes], bytes]) -> None:
    verdict = verify(damage(stored_bag()))
    assert found(verdict) == {(Kind.CORRUPT_DIRECTORY, None)}


# -- encrypted members -----------------------------------------------------------------------------


def test_member_encrypted_by_info_zip_is_named(tmp_path: Path) -> None:
    # `zip -P` replaces one member of a good bag with a ZipCrypto-encrypted copy.
    target = tmp_path / "bag.zip"
    target.write_bytes(stored_bag(top_folder=None))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_bytes(FILES["a.txt"])
    subprocess.run(["zip", "-q", "-P", "secret", str(target), "data/a.txt"], cwd=tmp_path, check=True)
    verdict = verify(target.read_bytes())
    assert found(verdict) == {(Kind.ENCRYPTED_MEMBER, "data/a.txt")}


def test_bag_encrypted_by_7zip_aes_names_every_member(tmp_path: Path) -> None:
    (tmp_path / "bag.zip").write_bytes(stored_bag())
    with zipfile.ZipFile(tmp_path / "bag.zip") as archive:
        archive.extractall(tmp_path / "extracted")
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
    command = [seven_zip() or "7zz", "a", "-tzip", "-psecret", "-mem=AES256", "-bso0", "-bsp0"]
    subprocess.run(
        [*command, str(tmp_path / "aes.zip"), "sample-bag"], cwd=tmp_path / "extracted", check=True
    )
    archive = (tmp_path / "aes.zip").read_bytes()
    assert {
        info.compress_type for info in zipfile.ZipFile(io.BytesIO(archive)).infolist() if info.file_size
    } == {99}
    verdict = verify(archive)
    assert verdict.status is Status.INVALID
    encrypted = {p.path for p in verdict.problems if p.kind is Kind.ENCRYPTED_MEMBER}
    assert encrypted == {name.removeprefix("sample-bag/") for name in names}
    assert all("WinZip AES" in p.message for p in verdict.problems if p.kind is Kind.ENCRYPTED_MEMBER)


# -- unsupported compression -----------------------------------------------------------------------


def test_member_in_an_unsupported_method_is_named() -> None:
    # Method 93 (Zstandard), set in both the local header and the directory entry.
    archive = stored_bag()
    name = "sample-bag/data/b/c.txt"
    archive = patched(
        archive, (local_header(archive, name) + 8, "<H", 93), (directory_entry(archive, name) + 10, "<H", 93)
    )
    verdict = verify(archive)
    assert found(verdict) == {(Kind.UNSUPPORTED_COMPRESSION, "data/b/c.txt")}
    assert "93 (Zstandard)" in verdict.problems[0].message


def test_ppmd_members_written_by_7zip_are_unsupported() -> None:
    archive = make_bag_zip(FILES, zipper="7z", compression="ppmd")
    ppmd = {
        info.filename.removeprefix("sample-bag/")
        for info in zipfile.ZipFile(io.BytesIO(archive)).infolist()
        if info.compress_type == 98
    }
    assert {"data/a.txt", "data/b/c.txt"} <= ppmd
    verdict = verify(archive)
    assert {p.path for p in verdict.problems if p.kind is Kind.UNSUPPORTED_COMPRESSION} == ppmd


def test_methods_differing_between_local_header_and_directory_is_a_corrupt_member() -> None:
    archive = stored_bag()
    archive = patched(archive, (directory_entry(archive, "sample-bag/data/a.txt") + 10, "<H", 8))
    assert found(verify(archive)) == {(Kind.CORRUPT_MEMBER, "data/a.txt")}


# -- duplicate entries, bag roots -----------------------------------------------------------------


def test_duplicate_entry_names_are_named_relative_to_the_bag_root() -> None:
    buffer = io.BytesIO(make_bag_zip(FILES))
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("sample-bag/data/a.txt", FILES["a.txt"])
    verdict = verify(buffer.getvalue())
    assert found(verdict) == {(Kind.DUPLICATE_ENTRY, "data/a.txt")}


# -- archives no extractor can unpack as listed ---------------------------------------------------


def test_a_file_and_a_directory_entry_of_one_name_are_a_path_conflict() -> None:
    buffer = io.BytesIO(make_bag_zip(FILES))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("sample-bag/data/a.txt/", b"")  # the same name as a file, as a directory
    verdict = verify(buffer.getvalue())
    assert verdict.status == Status.INVALID
    assert found(verdict) == {(Kind.PATH_CONFLICT, "data/a.txt")}
    assert verdict.problems[0].details["entries"] == ["sample-bag/data/a.txt", "sample-bag/data/a.txt/"]


def test_a_file_and_files_under_a_directory_of_its_name_are_a_path_conflict(tmp_path: Path) -> None:
    # Info-ZIP stores what it is given: two folders whose contents collide once extracted together.
    bag = tmp_path / "sample-bag"
    bag.mkdir()
    with zipfile.ZipFile(io.BytesIO(make_bag_zip(FILES))) as made:
        made.extractall(tmp_path)
    listed = tmp_path / "other" / "sample-bag" / "data" / "a.txt"
    listed.mkdir(parents=True)
    (listed / "inner.txt").write_bytes(b"x")
    archive = tmp_path / "bag.zip"
    subprocess.run(["zip", "-qr", str(archive), "sample-bag"], cwd=tmp_path, check=True)
    # -D: no directory entries, so only the files under data/a.txt/ make it a directory.
    subprocess.run(["zip", "-qrD", str(archive), "sample-bag"], cwd=tmp_path / "other", check=True)
    verdict = verify(archive.read_bytes())
    assert verdict.status == Status.INVALID
    assert (Kind.PATH_CONFLICT, "data/a.txt") in found(verdict)
    conflict = next(p for p in verdict.problems if p.kind == Kind.PATH_CONFLICT)
    assert "entries under sample-bag/data/a.txt/" in conflict.message


def test_a_directory_entry_holding_bytes_is_named() -> None:
    buffer = io.BytesIO(make_bag_zip(FILES))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("sample-bag/data/extra/", b"bytes a directory cannot hold")
    verdict = verify(buffer.getvalue())
    assert verdict.status == Status.INVALID
    assert found(verdict) == {(Kind.DIRECTORY_WITH_DATA, "data/extra/")}


def test_directory_entries_as_zippers_write_them_are_no_conflict(tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(make_bag_zip(FILES))) as made:
        made.extractall(tmp_path)
    archive = tmp_path / "bag.zip"
    subprocess.run(["zip", "-qr", str(archive), "sample-bag"], cwd=tmp_path, check=True)  # with dir entries
    verdict = verify(archive.read_bytes())
    assert verdict.status == Status.VALID, verdict.problems


def test_more_than_one_bag_root_is_no_bag_root() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as combined:
        for top in ("first-bag", "second-bag"):
            with zipfile.ZipFile(io.BytesIO(make_bag_zip(FILES, top_folder=top))) as bag:
                for info in bag.infolist():
                    combined.writestr(info.filename, bag.read(info))
    verdict = verify(buffer.getvalue())
    assert found(verdict) == {(Kind.NO_BAG_ROOT, None)}
    assert "first-bag/" in verdict.problems[0].message and "second-bag/" in verdict.problems[0].message


# -- nothing crashes or hangs ---------------------------------------------------------------------


def _mutations(archive: bytes, rng: random.Random) -> bytes:
    data = bytearray(archive)
    choice = rng.randrange(5)
    if choice == 0:  # a few flipped bytes anywhere
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif choice == 1:  # a byte flipped in the central directory or end records
        tail = len(data) - rng.randrange(1, min(len(data), 1200))
        data[tail] ^= 1 << rng.randrange(8)
    elif choice == 2:  # 0xFF or 0x00 over a structure field
        value = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"])
        at = rng.randrange(len(data) - 4)
        data[at : at + 4] = value
    elif choice == 3:  # cut anywhere
        del data[rng.randrange(len(data)) :]
    else:  # bytes dropped or inserted in the middle
        at = rng.randrange(len(data))
        if rng.random() < 0.5:
            del data[at : at + rng.randint(1, 64)]
        else:
            data[at:at] = rng.randbytes(rng.randint(1, 64))
    return bytes(data)


@pytest.mark.parametrize(
    ("zipper", "compression"),
    [
        ("python", "stored"),
        ("python", "deflate"),
        ("python", "bzip2"),
        ("python", "lzma"),
        ("7z", "deflate64"),
    ],
)
def test_no_mutation_crashes_or_hangs(zipper: str, compression: str) -> None:
    archive = make_bag_zip(FILES, zipper=zipper, compression=compression)
    rng = random.Random(f"{zipper}-{compression}")
    seen: set[Kind] = set()
    for _ in range(150):
        started = time.monotonic()
        verdict = verify(_mutations(archive, rng))  # must return, whatever the bytes
        assert time.monotonic() - started < 10
        assert verdict.status in (Status.VALID, Status.INVALID)
        seen.update(p.kind for p in verdict.problems)
    assert {Kind.CORRUPT_MEMBER, Kind.TRUNCATED} <= seen
