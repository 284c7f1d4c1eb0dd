"""Every common ZIP variant of a good bag verifies valid: methods, zippers, layouts, ZIP64.

Archives are made at test time by the real zippers (Python's zipfile, Info-ZIP, 7-Zip), or
field by field where no real one runs here (Windows Explorer, PowerShell 5.1). Each test
also checks the archive really is the variant it claims, so a zipper that silently wrote
something else can't make a test pass.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from bagverify import Kind, Status, Verdict, verify_archive
from devtools.sample_bags import (
    SAMPLE_FILES,
    make_bag_zip,
    repeated,
    seven_zip,
    write_bag_zip,
)

# Every test here runs twice: members read whole and streamed (tests/unit/conftest.py).
pytestmark = pytest.mark.usefixtures("each_member_path")

# Names that need more than ASCII, and files large and compressible enough that every
# zipper compresses them (7-Zip and Info-ZIP store what doesn't shrink).
FILES = {
    **SAMPLE_FILES,
    "Ünïcödé/résumé 1.txt": "Grüße, naïve café\n".encode() * 3000,
}
PAYLOAD = {f"data/{name}" for name in FILES}


def verify(archive: bytes) -> Verdict:
    return verify_archive(io.BytesIO(archive), "bag.zip")


def assert_valid(verdict: Verdict, files: int = len(FILES)) -> None:
    assert verdict.status is Status.VALID, verdict.problems
    assert verdict.problems == []
    assert verdict.stats.files == files


def infos(archive: bytes) -> list[zipfile.ZipInfo]:
    return zipfile.ZipFile(io.BytesIO(archive)).infolist()


def payload_methods(archive: bytes) -> set[int]:
    return {info.compress_type for info in infos(archive) if "/data/" in f"/{info.filename}"}


def local_header(archive: bytes, info: zipfile.ZipInfo) -> tuple[int, ...]:
    """(version, flags, method, time, date, crc, compressed size, size, name length, extra length)."""
    return struct.unpack("<4s5H3L2H", archive[info.header_offset : info.header_offset + 30])[1:]


# -- compression methods ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("zipper", "compression", "method"),
    [
        ("python", "stored", zipfile.ZIP_STORED),
        ("python", "deflate", zipfile.ZIP_DEFLATED),
        ("python", "bzip2", zipfile.ZIP_BZIP2),
        ("python", "lzma", zipfile.ZIP_LZMA),
        ("infozip", "bzip2", zipfile.ZIP_BZIP2),
        ("7z", "deflate64", 9),
        ("7z", "bzip2", zipfile.ZIP_BZIP2),
        ("7z", "lzma", zipfile.ZIP_LZMA),  # 7-Zip writes the end-of-stream marker (flag bit 1)
    ],
)
def test_every_compression_method_verifies(zipper: str, compression: str, method: int) -> None:
    archive = make_bag_zip(FILES, zipper=zipper, compression=compression)
    assert method in payload_methods(archive)
    assert_valid(verify(archive))


def test_deflate64_is_read_although_zipfile_cannot() -> None:
    archive = make_bag_zip(FILES, zipper="7z", compression="deflate64")
    deflate64 = [info for info in infos(archive) if info.compress_type == 9]
    assert len(deflate64) >= len(FILES) - 1  # all but what 7-Zip found incompressible
    with zipfile.ZipFile(io.BytesIO(archive)) as stdlib, pytest.raises(NotImplementedError):
        stdlib.read(deflate64[0])
    assert_valid(verify(archive))


def test_deflate64_member_with_a_flipped_byte_is_corrupt() -> None:
    archive = bytearray(make_bag_zip(FILES, zipper="7z", compression="deflate64"))
    info = next(i for i in infos(bytes(archive)) if i.filename == "sample-bag/data/images/scan-0002.tif")
    _, _, _, _, _, _, _, _, name_length, extra_length = local_header(bytes(archive), info)
    archive[info.header_offset + 30 + name_length + extra_length + info.compress_size // 2] ^= 0x55
    verdict = verify(bytes(archive))
    assert (Kind.CORRUPT_MEMBER, "data/images/scan-0002.tif") in {(p.kind, p.path) for p in verdict.problems}


@pytest.mark.parametrize("compression", ["bzip2", "lzma"])
def test_a_small_member_that_inflates_hugely_is_read_in_bounded_memory(compression: str) -> None:
    # 40 MiB of zeros is a few hundred bytes of bzip2: zipfile would hand all 40 MiB back from
    # one read; bagverify's decoders give it out a chunk at a time.
    size = 40 * 1024 * 1024
    buffer = io.BytesIO()
    method = {"bzip2": zipfile.ZIP_BZIP2, "lzma": zipfile.ZIP_LZMA}[compression]
    write_bag_zip(buffer, [("zeros.bin", repeated(b"\0", size))], compression=method)
    tracemalloc.start()
    try:
        verdict = verify(buffer.getvalue())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_valid(verdict, files=1)
    assert peak < 32 * 1024 * 1024, f"peak {peak:,} bytes"


# -- zippers and layouts ------------------------------------------------------------------


@pytest.mark.parametrize("top_folder", ["sample-bag", None])
@pytest.mark.parametrize(
    "zipper",
    ["python", "python-stream", "infozip", "infozip-stream", "infozip-zip64", "7z", "windows", "powershell5"],
)
def test_every_zipper_at_the_root_or_under_one_folder(zipper: str, top_folder: str | None) -> None:
    archive = make_bag_zip(FILES, zipper=zipper, top_folder=top_folder)
    names = {info.filename.replace("\\", "/") for info in infos(archive)}
    prefix = f"{top_folder}/" if top_folder else ""
    assert {prefix + "bagit.txt"} <= names
    verdict = verify(archive)
    assert_valid(verdict)
    if zipper != "powershell5":
        assert verdict.warnings == []


@pytest.mark.parametrize("zipper", ["python-stream", "infozip-stream"])
def test_data_descriptors_of_streamed_zips(zipper: str) -> None:
    archive = make_bag_zip(FILES, zipper=zipper)
    files = [info for info in infos(archive) if not info.is_dir()]
    assert all(info.flag_bits & 0x8 for info in files)  # sizes and CRC follow the data
    # The local headers leave CRC and compressed size zero: they come from the central directory.
    assert all(local_header(archive, info)[5:7] == (0, 0) for info in files)
    assert_valid(verify(archive))


@pytest.mark.parametrize("zipper", ["python", "infozip", "7z", "windows"])
def test_directory_entries_are_not_files(zipper: str) -> None:
    archive = make_bag_zip(
        FILES,
        zipper=zipper,
        directory_entries=True,
        tamper=lambda bag_dir: (bag_dir / "data" / "empty folder").mkdir(),
    )
    directories = {info.filename for info in infos(archive) if info.is_dir()}
    assert {"sample-bag/", "sample-bag/data/", "sample-bag/data/empty folder/"} <= directories
    assert_valid(verify(archive))


def test_utf8_names_without_the_utf8_flag_as_info_zip_writes_them() -> None:
    archive = make_bag_zip(FILES, zipper="infozip")
    info = next(i for i in infos(archive) if "sum" in i.filename)
    assert not info.flag_bits & 0x800
    # zipfile reads such names as code page 437; unzip, 7-Zip and bagverify as UTF-8.
    assert info.filename != "sample-bag/data/Ünïcödé/résumé 1.txt"
    assert_valid(verify(archive))


def test_windows_explorer_style_archive() -> None:
    archive = make_bag_zip(FILES, zipper="windows")
    entries = infos(archive)
    assert {info.create_system for info in entries} == {0}
    assert {info.compress_type for info in entries if info.file_size >= 64 * 1024} == {9}  # Deflate64
    assert "sample-bag/data/images/" in {info.filename for info in entries if info.external_attr == 0x10}
    # Names in code page 437 without the UTF-8 flag, as Explorer writes those it can: bytes
    # that are not UTF-8, so bagverify must keep reading them as 437.
    assert not any(info.flag_bits & 0x800 for info in entries)
    assert "sample-bag/data/Ünïcödé/résumé 1.txt" in {info.filename for info in entries}
    assert_valid(verify(archive))


def test_windows_names_beyond_code_page_437_are_utf8_with_the_flag() -> None:
    files = {**FILES, "日本語.txt": b"nihongo\n"}
    archive = make_bag_zip(files, zipper="windows")
    flagged = {info.filename for info in infos(archive) if info.flag_bits & 0x800}
    assert "sample-bag/data/日本語.txt" in flagged
    assert_valid(verify(archive), files=len(files))


def test_backslash_separators_of_powershell_5_are_read_as_folders_with_one_warning() -> None:
    archive = make_bag_zip(FILES, zipper="powershell5")
    assert "sample-bag\\data\\images\\scan-0001.tif" in {info.filename for info in infos(archive)}
    verdict = verify(archive)
    assert_valid(verdict)
    assert [(w.kind, w.path) for w in verdict.warnings] == [(Kind.NON_STANDARD_PATH, None)]


@pytest.mark.skipif(not shutil.which("unzip"), reason="needs Info-ZIP unzip")
@pytest.mark.parametrize("zipper", ["windows", "powershell5"])
def test_archives_written_field_by_field_are_real_zips(zipper: str, tmp_path: Path) -> None:
    """The hand-written archives pass 7-Zip's and unzip's own tests: they are not just ours."""
    target = tmp_path / "bag.zip"
    target.write_bytes(make_bag_zip(FILES, zipper=zipper))
    subprocess.run([seven_zip() or "7zz", "t", str(target)], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["unzip", "-tq", str(target)], check=True, stdout=subprocess.DEVNULL)


# -- ZIP64 ------------------------------------------------------------------------------------


def test_more_than_65535_entries_zip64_end_records() -> None:
    # bagit.make_bag on disk takes ~35 s for 66,000 files here (writing them 12 s, bagging
    # 9 s, zipping 14 s), so the bag is written straight into the ZIP with its manifests.
    started = time.monotonic()
    buffer = io.BytesIO()
    count = 66_000
    write_bag_zip(
        buffer,
        ((f"d{i // 1000:03d}/f{i:05d}.txt", [b"%d\n" % i]) for i in range(count)),
        compression=zipfile.ZIP_STORED,
    )
    archive = buffer.getvalue()
    # ZIP64 end record and locator before the classic end record, whose count is saturated.
    assert archive[-22 - 20 - 56 : -22 - 20 - 52] == b"PK\x06\x06"
    assert struct.unpack("<H", archive[-12:-10]) == (0xFFFF,)
    verdict = verify(archive)
    assert_valid(verdict, files=count)
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("zipper", ["python", "infozip-zip64"])
def test_zip64_extra_fields_on_small_members(zipper: str) -> None:
    if zipper == "python":
        buffer = io.BytesIO()
        write_bag_zip(buffer, [(name, [content]) for name, content in FILES.items()], force_zip64=True)
        archive = buffer.getvalue()
    else:
        archive = make_bag_zip(FILES, zipper=zipper)
    # Extra field 0x0001 in the local headers of the payload members.
    for info in infos(archive):
        if info.filename.startswith(("data/", "sample-bag/data/")):
            *_, name_length, extra_length = local_header(archive, info)
            extra_start = info.header_offset + 30 + name_length
            assert b"\x01\x00" in _extra_ids(archive[extra_start : extra_start + extra_length])
    assert_valid(verify(archive))


def _extra_ids(extra: bytes) -> list[bytes]:
    ids = []
    while len(extra) >= 4:
        ids.append(extra[:2])
        extra = extra[4 + struct.unpack("<H", extra[2:4])[0] :]
    return ids


@pytest.mark.slow
def test_member_over_4_gib() -> None:
    """4.1 GiB of compressible payload, streamed into a deflated ZIP64 member; never all in memory."""
    size = 4 * 1024**3 + 100 * 1024**2
    started = time.monotonic()
    buffer = io.BytesIO()  # the archive: some MB, as the data is repetitive
    write_bag_zip(
        buffer,
        [("big/over-4-gib.bin", repeated(b"bagverify ZIP64 member, a line of text 0123456789\n", size))],
        compresslevel=1,
        force_zip64=True,
    )
    built = time.monotonic()
    info = next(i for i in infos(buffer.getvalue()) if i.filename == "data/big/over-4-gib.bin")
    assert info.file_size == size > 0xFFFFFFFF
    verdict = verify(buffer.getvalue())
    assert_valid(verdict, files=1)
    assert verdict.stats.bytes == size
    print(f"4.1 GiB member: built in {built - started:.1f} s, verified in {time.monotonic() - built:.1f} s")
