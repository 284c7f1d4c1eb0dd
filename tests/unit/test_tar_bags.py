"""Tar bags: every writer and compression verifies as its ZIP would, and tar's own faults are named.

Bags are made by bagit.make_bag and packed by the real tools (GNU tar, bsdtar, pigz, bzip2, xz, zstd,
git archive, Python's tarfile); faults are made the way broken writers and storage make them.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bagit
import pytest

from bagverify import Kind, Status, Verdict, verify_archive
from bagverify.archive.tar.headers import BLOCK, HeaderError, parse_header, parse_number, parse_pax_records

FILES = {
    "a.txt": b"alpha\n" * 1000,
    "sub/b.bin": bytes(range(256)) * 300,
    # A path past ustar's 100-byte name field: ustar splits it into prefix and name, GNU tar writes a
    # ././@LongLink entry, PAX a path record.
    "a-long-folder-" + "d" * 50 + "/and-another-" + "e" * 50 + "/f.txt": b"long name\n",
    "inner/nested.tar": b"",  # filled below: a tar inside the payload is payload
    "inner/nested.zip": b"",
}


def _nested() -> dict[str, bytes]:
    files = dict(FILES)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as inner:
        info = tarfile.TarInfo("bagit.txt")
        info.size = 5
        inner.addfile(info, io.BytesIO(b"fake\n"))
    files["inner/nested.tar"] = buffer.getvalue()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as inner_zip:
        inner_zip.writestr("bagit.txt", b"fake\n")
    files["inner/nested.zip"] = buffer.getvalue()
    return files


@pytest.fixture(scope="module")
def bag_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tar-bags")
    bag = root / "mybag"
    for relative, content in _nested().items():
        (bag / relative).parent.mkdir(parents=True, exist_ok=True)
        (bag / relative).write_bytes(content)
    bagit.make_bag(str(bag), {"Source-Organization": "bagverify"}, checksums=["sha256", "sha512"])
    return bag


def verify(data: bytes) -> Verdict:
    return verify_archive(io.BytesIO(data), "bag.tar")


def kinds(verdict: Verdict) -> set[tuple[str, str | None]]:
    return {(str(p.kind), p.path) for p in verdict.problems}


def run(args: list[str], cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def packed(bag: Path, tmp_path: Path, command: list[str], out: str = "bag.out") -> bytes:
    run([*command, str(tmp_path / out), bag.name] if "{out}" not in command else command, bag.parent)
    return (tmp_path / out).read_bytes()


WRITERS: dict[str, Callable[[Path, Path], bytes]] = {
    "gnu tar": lambda bag, tmp: packed(bag, tmp, ["tar", "-cf"]),
    "gnu tar --format=ustar": lambda bag, tmp: packed(bag, tmp, ["tar", "--format=ustar", "-cf"]),
    "gnu tar --format=gnu": lambda bag, tmp: packed(bag, tmp, ["tar", "--format=gnu", "-cf"]),
    "gnu tar --format=pax": lambda bag, tmp: packed(bag, tmp, ["tar", "--format=pax", "-cf"]),
    "gnu tar --sort=name": lambda bag, tmp: packed(bag, tmp, ["tar", "--sort=name", "-cf"]),
    "gnu tar -z": lambda bag, tmp: packed(bag, tmp, ["tar", "-czf"]),
    "gnu tar -j (bzip2)": lambda bag, tmp: packed(bag, tmp, ["tar", "-cjf"]),
    "gnu tar -J (xz)": lambda bag, tmp: packed(bag, tmp, ["tar", "-cJf"]),
    "gnu tar --zstd": lambda bag, tmp: packed(bag, tmp, ["tar", "--zstd", "-cf"]),
    "gnu tar -I pigz": lambda bag, tmp: packed(bag, tmp, ["tar", "-I", "pigz", "-cf"]),
    "bsdtar": lambda bag, tmp: packed(bag, tmp, ["bsdtar", "-cf"]),
    "bsdtar -z": lambda bag, tmp: packed(bag, tmp, ["bsdtar", "-czf"]),
    "bsdtar --format=pax": lambda bag, tmp: packed(bag, tmp, ["bsdtar", "--format=pax", "-cf"]),
    "tar of the bag's contents (./ names)": lambda bag, tmp: _contents_tar(bag, tmp),
    "python tarfile ustar": lambda bag, tmp: _python_tar(bag, tarfile.USTAR_FORMAT, ""),
    "python tarfile gnu": lambda bag, tmp: _python_tar(bag, tarfile.GNU_FORMAT, ""),
    "python tarfile pax gz": lambda bag, tmp: _python_tar(bag, tarfile.PAX_FORMAT, "gz"),
    "python tarfile pax xz": lambda bag, tmp: _python_tar(bag, tarfile.PAX_FORMAT, "xz"),
    "multi-member gzip (two gzip files concatenated)": lambda bag, tmp: _two_member_gzip(bag, tmp),
    "git archive (pax_global_header)": lambda bag, tmp: _git_archive(bag, tmp),
}


def _contents_tar(bag: Path, tmp: Path) -> bytes:
    run(["tar", "-cf", str(tmp / "dot.tar"), "."], bag)
    return (tmp / "dot.tar").read_bytes()


def _python_tar(bag: Path, format: int, compression: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}", format=format) as archive:  # type: ignore[call-overload]
        archive.add(bag, arcname=bag.name)
    return buffer.getvalue()


def _two_member_gzip(bag: Path, tmp: Path) -> bytes:
    plain = packed(bag, tmp, ["tar", "-cf"], "plain.tar")
    cut = len(plain) // 2
    return gzip.compress(plain[:cut]) + gzip.compress(plain[cut:])


def _git_archive(bag: Path, tmp: Path) -> bytes:
    repo = tmp / "repo"
    shutil.copytree(bag, repo / bag.name)
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b"}
    env["GIT_COMMITTER_EMAIL"] = "b@x"
    for args in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "bag"]):
        subprocess.run(args, cwd=repo, check=True, capture_output=True, env=env)
    out = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD"], cwd=repo, check=True, capture_output=True
    )
    assert b"pax_global_header" in out.stdout[:512]
    return out.stdout


@pytest.mark.parametrize("writer", WRITERS)
def test_every_writer_and_compression_verifies_valid(writer: str, bag_dir: Path, tmp_path: Path) -> None:
    verdict = verify(WRITERS[writer](bag_dir, tmp_path))
    assert verdict.status is Status.VALID, verdict.problems
    assert verdict.stats.files == len(FILES)
    assert not [w for w in verdict.warnings if w.kind != Kind.UNLISTED_TAG_FILE], verdict.warnings


def test_a_manifest_in_an_algorithm_not_digested_ahead_costs_a_second_pass_not_a_false_verdict(
    tmp_path: Path,
) -> None:
    bag = tmp_path / "mybag"
    (bag / "x").mkdir(parents=True)
    (bag / "x" / "f.txt").write_bytes(b"sha1 and sha224 only\n")
    bagit.make_bag(str(bag), checksums=["sha1", "sha224"])
    data = packed(bag, tmp_path, ["tar", "--sort=name", "-cf"])  # data/ before the manifests
    assert verify(data).status is Status.VALID
    tampered = data.replace(b"sha1 and sha224 only", b"sha1 and sha224 onlY")
    assert kinds(verify(tampered)) == {
        ("checksum_mismatch", "data/x/f.txt"),
    }


# -- tar's own faults ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain(bag_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return packed(bag_dir, tmp_path_factory.mktemp("plain"), ["tar", "--sort=name", "-cf"])


def offset_of(archive: bytes, name: str) -> int:
    """The offset of the entry `name`'s own header (after any PAX or GNU long-name header) in `archive`."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as reader:
        return next(m.offset_data - BLOCK for m in reader.getmembers() if m.name == name)


def test_a_wrong_header_checksum_is_named_with_its_offset(plain: bytes) -> None:
    at = offset_of(plain, "mybag/data/a.txt")
    broken = bytearray(plain)
    broken[at + 5] ^= 0x01  # in the name: the checksum no longer holds
    verdict = verify(bytes(broken))
    problem = next(p for p in verdict.problems if p.kind == Kind.TAR_HEADER_INVALID)
    assert f"byte {at:,}" in problem.message and "checksum" in problem.message
    assert verdict.status is Status.INVALID


def test_a_tar_cut_short_inside_a_member_names_it(plain: bytes) -> None:
    at = offset_of(plain, "mybag/data/sub/b.bin")
    verdict = verify(plain[: at + BLOCK + 1000])
    assert ("truncated", "mybag/data/sub/b.bin") in kinds(verdict)


def test_a_tar_without_its_end_of_archive_blocks_is_truncated(plain: bytes) -> None:
    end = len(plain.rstrip(b"\x00"))
    end += -end % BLOCK
    verdict = verify(plain[:end])
    assert any(p.kind == Kind.TRUNCATED and "end-of-archive" in p.message for p in verdict.problems)


def test_zeros_after_the_end_of_archive_are_fine_other_bytes_a_warning(plain: bytes) -> None:
    assert verify(plain + bytes(BLOCK * 30)).status is Status.VALID
    verdict = verify(plain + b"garbage")
    assert verdict.status is Status.VALID
    assert [w.kind for w in verdict.warnings] == [Kind.TRAILING_DATA]


@pytest.mark.parametrize(
    ("compress", "name"),
    [
        (lambda data: gzip.compress(data), "gzip"),
        (lambda data: subprocess.run(["bzip2", "-c"], input=data, capture_output=True).stdout, "bzip2"),
        (lambda data: subprocess.run(["xz", "-c"], input=data, capture_output=True).stdout, "xz"),
        (lambda data: subprocess.run(["zstd", "-c", "-q"], input=data, capture_output=True).stdout, "zstd"),
    ],
)
def test_a_compressed_stream_cut_short_is_truncated_and_a_flipped_byte_corrupt(
    compress: Callable[[bytes], bytes], name: str, plain: bytes
) -> None:
    packed_data = compress(plain)
    cut = verify(packed_data[: len(packed_data) * 2 // 3])
    assert Kind.TRUNCATED in {p.kind for p in cut.problems}, cut.problems
    assert cut.status is Status.INVALID
    flipped = bytearray(packed_data)
    flipped[len(flipped) // 2] ^= 0x40
    corrupt = verify(bytes(flipped))
    assert corrupt.status is Status.INVALID
    assert {p.kind for p in corrupt.problems} & {Kind.CORRUPT_STREAM, Kind.CHECKSUM_MISMATCH}, (
        corrupt.problems
    )


def test_a_wrong_gzip_crc_or_isize_is_corrupt_stream(plain: bytes) -> None:
    packed_data = bytearray(gzip.compress(plain))
    for where in (-8, -1):  # the trailer's CRC-32, then its ISIZE
        broken = bytearray(packed_data)
        broken[where] ^= 0x01
        verdict = verify(bytes(broken))
        assert Kind.CORRUPT_STREAM in {p.kind for p in verdict.problems}, verdict.problems


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]], format: int = tarfile.GNU_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=format) as archive:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _entries_of(archive: bytes) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(archive)) as reader:
        for member in reader.getmembers():
            extracted = reader.extractfile(member)
            out.append((member, extracted.read() if extracted else None))
    return out


def test_the_same_path_twice_is_named_and_the_last_copy_verified(plain: bytes) -> None:
    entries = _entries_of(plain)
    info, data = next((i, d) for i, d in entries if i.name == "mybag/data/a.txt")
    assert data is not None
    corrupt_last = _tar([*entries, (info, data.upper())])
    assert kinds(verify(corrupt_last)) >= {
        ("duplicate_entry", "data/a.txt"),
        ("checksum_mismatch", "data/a.txt"),
    }
    sound_last = _tar([(info, data.upper()), *entries])
    assert kinds(verify(sound_last)) == {("duplicate_entry", "data/a.txt")}


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil.txt", "mybag/data/../../evil.txt"])
def test_path_traversal_is_unsafe_path_and_the_bag_beside_it_still_verified(name: str, plain: bytes) -> None:
    info = tarfile.TarInfo(name)
    verdict = verify(_tar([*_entries_of(plain), (info, b"evil\n")]))
    assert {p.kind for p in verdict.problems} == {Kind.UNSAFE_PATH}
    assert verdict.stats.files == len(FILES)


def test_a_hard_link_to_a_bag_file_is_that_file(bag_dir: Path, tmp_path: Path) -> None:
    bag = tmp_path / "mybag"
    shutil.copytree(bag_dir, bag)
    os.link(bag / "data" / "a.txt", bag / "data" / "a-again.txt")
    (bag / "manifest-sha256.txt").unlink()
    (bag / "manifest-sha512.txt").unlink()
    rebuilt = bagit.Bag(str(bag))
    rebuilt.save(manifests=True)
    data = packed(bag, tmp_path, ["tar", "-cf"])
    with tarfile.open(fileobj=io.BytesIO(data)) as reader:
        assert any(m.islnk() for m in reader.getmembers())
    verdict = verify(data)
    assert verdict.status is Status.VALID, verdict.problems
    assert Kind.SPECIAL_ENTRY in {w.kind for w in verdict.warnings}


@pytest.mark.parametrize(
    "kind",
    [tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE],
    ids=["symlink", "chr", "blk", "fifo"],
)
def test_links_devices_and_fifos_in_the_bag_are_special_entries(kind: bytes, plain: bytes) -> None:
    info = tarfile.TarInfo("mybag/data/special")
    info.type = kind
    info.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
    verdict = verify(_tar([*_entries_of(plain), (info, None)]))
    assert ("special_entry", "data/special") in kinds(verdict)


def test_pax_size_and_path_are_honoured(plain: bytes) -> None:
    """A PAX `size` record overrides the header's size field (what writers do past 8 GiB)."""
    entries = _entries_of(plain)
    info, data = next((i, d) for i, d in entries if i.name == "mybag/data/a.txt")
    assert data is not None
    info.pax_headers = {"size": str(len(data)), "path": "mybag/data/a.txt"}
    archive = bytearray(
        _tar([(i, d) for i, d in entries if i is not info] + [(info, data)], tarfile.PAX_FORMAT)
    )
    at = offset_of(bytes(archive), "mybag/data/a.txt")
    archive[at + 124 : at + 136] = b"00000000000\x00"  # the ustar size field: 0
    checksum = sum(archive[at : at + 148]) + 8 * 0x20 + sum(archive[at + 156 : at + BLOCK])
    archive[at + 148 : at + 156] = b"%06o\x00 " % checksum
    assert verify(bytes(archive)).status is Status.VALID


def test_a_gzip_that_holds_no_tar_is_not_an_archive() -> None:
    verdict = verify(gzip.compress(b"just some text, no tar here\n" * 100))
    assert [p.kind for p in verdict.problems] == [Kind.NOT_A_ZIP]


def test_a_tar_bag_has_the_same_verdict_as_its_zip(bag_dir: Path, tmp_path: Path) -> None:
    from devtools.sample_bags import zip_folder

    broken = tmp_path / "mybag"
    shutil.copytree(bag_dir, broken)
    (broken / "data" / "a.txt").write_bytes(b"changed\n")
    (broken / "data" / "extra.txt").write_bytes(b"unlisted\n")
    as_tar = verify(packed(broken, tmp_path, ["tar", "-czf"]))
    as_zip = verify_archive(io.BytesIO(zip_folder(broken, include_folder=True)), "bag.zip")
    assert sorted(kinds(as_tar)) == sorted(kinds(as_zip)) and as_tar.status is Status.INVALID


# -- the header parsers, directly -----------------------------------------------------------------


def test_numbers_octal_and_base_256() -> None:
    assert parse_number(b"00000001750\x00", "size") == 0o1750
    assert parse_number(b" 1750 \x00", "size") == 0o1750
    assert parse_number(b"\x80" + (9 * 2**30).to_bytes(11, "big"), "size") == 9 * 2**30
    with pytest.raises(HeaderError):
        parse_number(b"12389\x00", "size")


def test_header_checksum_and_pax_records() -> None:
    block = tarfile.TarInfo("x.txt").tobuf(tarfile.USTAR_FORMAT)[:BLOCK]
    assert parse_header(block).name == "x.txt"
    with pytest.raises(HeaderError, match="checksum"):
        parse_header(block[:10] + b"y" + block[11:])
    assert parse_pax_records(b"18 path=abc/d.txt\n11 size=42\n") == {"path": "abc/d.txt", "size": "42"}
    with pytest.raises(HeaderError):
        parse_pax_records(b"99 path=abc\n")


class _CountingSource(io.BytesIO):
    """A BytesIO that counts the bytes read from it."""

    bytes_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer: Any, /) -> int:
        count = super().readinto(buffer)
        self.bytes_read += count
        return count


def test_a_plain_tars_tail_names_its_manifests_so_one_pass_reads_it(tmp_path: Path) -> None:
    bag = tmp_path / "mybag"
    (bag / "x").mkdir(parents=True)
    (bag / "x" / "f.bin").write_bytes(os.urandom(300_000))
    bagit.make_bag(str(bag), checksums=["sha1"])  # not among the algorithms digested ahead
    data = packed(bag, tmp_path, ["tar", "--sort=name", "-cf"])  # data/ first, the manifests last
    source = _CountingSource(data)
    verdict = verify_archive(source, "bag.tar")
    assert verdict.status is Status.VALID, verdict.problems
    assert source.bytes_read < 2.2 * len(data)  # the tail peeked at, then one pass; not two
    gzipped = _CountingSource(gzip.compress(data))  # no tail to read a compressed stream's names from
    assert verify_archive(gzipped, "bag.tar.gz").status is Status.VALID
    assert gzipped.bytes_read > 1.9 * len(gzipped.getvalue())  # a second pass, for sha1
