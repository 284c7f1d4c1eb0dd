"""The engine on local ZIPs: real bags (bagit.make_bag), real zippers, every problem named."""

from __future__ import annotations

import io
import random
import time
import zipfile

import pytest

from bagverify import Kind, Status, verify_archive, verify_path
from devtools.sample_bags import (
    SAMPLE_FILES,
    add_file,
    delete_file,
    flip_byte,
    make_bag_zip,
    refresh_tag_manifests,
)


def verify_bytes(archive: bytes):  # type: ignore[no-untyped-def]
    return verify_archive(io.BytesIO(archive), "test.zip")


def kinds(verdict) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return sorted((str(p.kind), p.path) for p in verdict.problems)


@pytest.mark.parametrize("zipper", ["python", "infozip"])
@pytest.mark.parametrize("top_folder", ["sample-bag", None])
def test_valid_bag_is_valid(zipper: str, top_folder: str | None) -> None:
    verdict = verify_bytes(make_bag_zip(zipper=zipper, top_folder=top_folder))
    assert verdict.status is Status.VALID, verdict.problems
    assert verdict.problems == []
    assert verdict.stats.files == 4
    assert verdict.stats.bytes == sum(len(c) for c in SAMPLE_FILES.values())


def test_flipped_payload_byte_names_the_file_and_both_algorithms() -> None:
    verdict = verify_bytes(make_bag_zip(tamper=flip_byte("data/text/transcript.txt", 5)))
    assert verdict.status is Status.INVALID
    mismatches = [p for p in verdict.problems if p.kind is Kind.CHECKSUM_MISMATCH]
    assert {(p.path, p.details["algorithm"]) for p in mismatches} == {
        ("data/text/transcript.txt", "sha256"),
        ("data/text/transcript.txt", "sha512"),
    }
    assert all(p.details["expected"] != p.details["actual"] for p in mismatches)
    # Payload-Oxum counts octets, not content: unchanged by a flipped byte.
    assert {p.kind for p in verdict.problems} == {Kind.CHECKSUM_MISMATCH}


def test_missing_and_unlisted_files_are_each_named() -> None:
    verdict = verify_bytes(
        make_bag_zip(
            tamper=lambda d: (delete_file("data/README.txt")(d), add_file("data/extra.bin", b"x")(d))
        )
    )
    assert verdict.status is Status.INVALID
    found = kinds(verdict)
    assert ("missing_file", "data/README.txt") in found
    assert ("unlisted_file", "data/extra.bin") in found
    assert ("payload_oxum_mismatch", "bag-info.txt") in found


def test_every_broken_file_is_named_not_just_the_first() -> None:
    tampers = [
        flip_byte(p) for p in ("data/README.txt", "data/images/scan-0001.tif", "data/images/scan-0002.tif")
    ]
    verdict = verify_bytes(make_bag_zip(algorithms=["md5"], tamper=lambda d: [t(d) for t in tampers]))
    assert sorted(p.path for p in verdict.problems if p.kind is Kind.CHECKSUM_MISMATCH) == [
        "data/README.txt",
        "data/images/scan-0001.tif",
        "data/images/scan-0002.tif",
    ]


def test_changed_tag_file_fails_the_tag_manifest() -> None:
    verdict = verify_bytes(
        make_bag_zip(tamper=lambda d: (d / "bag-info.txt").write_text("Source-Organization: someone else\n"))
    )
    assert ("checksum_mismatch", "bag-info.txt") in kinds(verdict)


def test_file_missing_from_one_of_two_manifests_is_invalid() -> None:
    def drop_from_sha512(bag_dir):  # type: ignore[no-untyped-def]
        manifest = bag_dir / "manifest-sha512.txt"
        manifest.write_text(
            "".join(line for line in manifest.read_text().splitlines(True) if "README" not in line)
        )
        refresh_tag_manifests(bag_dir)

    verdict = verify_bytes(make_bag_zip(tamper=drop_from_sha512))
    assert kinds(verdict) == [("not_in_every_manifest", "data/README.txt")]


def test_garbage_is_not_a_zip() -> None:
    verdict = verify_bytes(b"this is not a zip file" * 100)
    assert verdict.status is Status.INVALID
    assert kinds(verdict) == [("not_a_zip", None)]


def test_truncated_archive_is_invalid() -> None:
    archive = make_bag_zip()
    verdict = verify_bytes(archive[: len(archive) // 2])
    assert verdict.status is Status.INVALID


def test_corrupt_member_data_fails_the_zip_crc() -> None:
    archive = bytearray(make_bag_zip(files={"a.txt": b"A" * 10_000}, zipper="python"))
    with zipfile.ZipFile(io.BytesIO(bytes(archive))) as zf:
        info = zf.getinfo("sample-bag/data/a.txt")
    # Rewrite the member stored, then flip a byte inside its data: CRC-32 must catch it.
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bytes(archive))) as src, zipfile.ZipFile(buffer, "w") as dst:
        for item in src.infolist():
            dst.writestr(item.filename, src.read(item), compress_type=zipfile.ZIP_STORED)
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("sample-bag/data/a.txt")
    data_start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[data_start + 100] ^= 0x01
    verdict = verify_bytes(bytes(data))
    assert ("corrupt_member", "data/a.txt") in kinds(verdict)


def test_no_bagit_txt_means_no_bag_root() -> None:
    verdict = verify_bytes(make_bag_zip(tamper=delete_file("bagit.txt")))
    assert verdict.status is Status.INVALID
    assert Kind.NO_BAG_ROOT in {p.kind for p in verdict.problems}


def test_missing_local_file_is_an_error() -> None:
    verdict = verify_path("/nonexistent/bag.zip")
    assert verdict.status is Status.ERROR
    assert verdict.problems[0].kind is Kind.NOT_FOUND


class _StallingArchive(io.BytesIO):
    """An archive whose reads stall once, for `stall` seconds, when they first fall in [start, stop)."""

    def __init__(self, data: bytes, start: int, stop: int, stall: float) -> None:
        super().__init__(data)
        self.start, self.stop, self.stall = start, stop, stall

    def _maybe_stall(self) -> None:
        if self.stall and self.start <= self.tell() < self.stop:
            time.sleep(self.stall)
            self.stall = 0.0

    def read(self, size: int | None = -1) -> bytes:
        self._maybe_stall()
        return super().read(size)

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        self._maybe_stall()
        return super().readinto(buffer)


def test_a_deadline_passing_inside_one_large_member_stops_there() -> None:
    # One member longer than the time left (a 100 GB file in a Lambda) must not run past the
    # deadline: the check between members never comes. Here the deadline passes 8 MiB into it.
    big = random.Random(0).randbytes(24 * 1024 * 1024)
    archive = make_bag_zip({"big.bin": big, "small.txt": b"small\n"})
    with zipfile.ZipFile(io.BytesIO(archive)) as listing:
        member = listing.getinfo("sample-bag/data/big.bin")
    middle = member.header_offset + 8 * 1024 * 1024
    source = _StallingArchive(archive, middle, middle + 8 * 1024 * 1024, stall=0.5)

    verdict = verify_archive(source, "test.zip", deadline=time.monotonic() + 0.3)

    assert verdict.status is Status.ERROR
    [problem] = verdict.problems
    assert problem.kind is Kind.TIMEOUT
    assert "while reading data/big.bin (" in problem.message and f"of {len(big):,} bytes" in problem.message
    assert source.tell() < member.header_offset + 16 * 1024 * 1024, "it stopped inside the member"


def test_a_bag_needing_more_than_nine_tenths_of_the_memory_limit_is_not_scanned() -> None:
    from bagverify.pipeline.memory import MEMORY_SHARE, estimated_memory
    from bagverify.pipeline.plan import ONE_SHARD, make_plan

    archive = make_bag_zip({f"page-{n:03d}.txt": b"page\n" for n in range(200)})
    needed = estimated_memory(make_plan(io.BytesIO(archive), source="bag.zip", sizing=ONE_SHARD))
    # More files, longer paths and more algorithms each raise the estimate.
    more = make_bag_zip({f"a/much/longer/folder/page-{n:03d}.txt": b"page\n" for n in range(400)})
    assert estimated_memory(make_plan(io.BytesIO(more), source="more.zip", sizing=ONE_SHARD)) > needed

    enough = verify_archive(io.BytesIO(archive), "bag.zip", memory_limit=int(needed / MEMORY_SHARE) + 1)
    assert enough.status is Status.VALID, enough.problems
    short = verify_archive(io.BytesIO(archive), "bag.zip", memory_limit=int(needed / MEMORY_SHARE) - 1)
    assert short.status is Status.ERROR
    [problem] = short.problems
    assert problem.kind is Kind.TOO_MANY_FILES and problem.details["entries"] >= 200
    assert short.stats.files == 0


def test_the_distributed_planner_refuses_a_bag_the_aggregator_would_not_hold() -> None:
    from bagverify.pipeline.distributed import aggregate_run, plan_archive, sizing_from
    from bagverify.pipeline.memory import MEMORY_SHARE, estimated_memory
    from bagverify.pipeline.plan import ONE_SHARD, make_plan
    from bagverify.pipeline.work import SHARDS, MemoryWorkStore

    archive = make_bag_zip({f"page-{n:03d}.txt": b"page\n" for n in range(200)})
    needed = estimated_memory(make_plan(io.BytesIO(archive), source="bag.zip", sizing=ONE_SHARD))

    def plan_with(aggregator_memory: int) -> tuple[dict[str, object], MemoryWorkStore]:
        store = MemoryWorkStore()
        summary = plan_archive(
            io.BytesIO(archive),
            store,
            source="bag.zip",
            object_info={},
            sizing=sizing_from(),
            aggregator_memory=aggregator_memory,
        )
        return summary, store

    enough, store = plan_with(int(needed / MEMORY_SHARE) + 1)
    assert enough["shard_count"] == 1
    assert any(name.startswith("tag-files/") for name in store.objects)

    refused, store = plan_with(int(needed / MEMORY_SHARE) - 1)
    assert refused["shard_count"] == 0 and store.get(SHARDS) == b"[]"
    assert not any(name.startswith("tag-files/") for name in store.objects), "no tag file was read"
    verdict = aggregate_run(store)
    assert verdict.status is Status.ERROR
    [problem] = verdict.problems
    assert problem.kind is Kind.TOO_MANY_FILES
    assert "the aggregating function" in problem.message and "LargeBagMemorySize" in problem.message
