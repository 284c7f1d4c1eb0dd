"""Verify a zipped bag: plan → scan → aggregate, in one process, every problem named.

The data path, in the order bytes flow:

    source (S3RangedFile | local file)
      → pipeline.plan.make_plan            the central directory as a compact index, the bag root,
                                           the manifests' algorithms, one shard
      → pipeline.scan.scan_tag_files      the tag files the checks parse, kept in memory
      → pipeline.scan.scan_shard          every other member, in local-header offset order:
                                           MemberReader → digests (all algorithms, one pass)
      → pipeline.aggregate.aggregate       BagContents → bag.checks.check_bag → Verdict

The same three steps run one Lambda invocation each in the distributed state machine (with many
shards, `bagverify.pipeline.distributed`); here they run in one process with one shard. The
algorithms to compute are known from the central directory alone (the manifests' file names), so
every member is digested in one pass and each archive byte is read once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bagverify.archive import TAR_SUFFIXES
from bagverify.archive.member_reader import MemberReader
from bagverify.archive.source import ArchiveSource
from bagverify.archive.tar.streams import MIME_TYPES, Compression, tar_compression
from bagverify.pipeline.aggregate import aggregate
from bagverify.pipeline.memory import refuse_too_many_files
from bagverify.pipeline.plan import ONE_SHARD, SCAN, SKIP, Plan, make_plan
from bagverify.pipeline.scan import (
    DeadlineReached,
    Progress,
    ScanProgress,
    ScanResult,
    listing_result,
    scan_shard,
    scan_tag_files,
    unverified_result,
)
from bagverify.sources import S3Location, S3RangedFile, SourceError, make_s3_client
from bagverify.sources.read_ahead import default_depth
from bagverify.sources.s3_ranged_file import DEFAULT_PART_SIZE
from bagverify.verdict import Kind, Mode, Problem, Stats, Verdict, error_verdict

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from bagverify.bag.profile_choice import ProfileChoice

__all__ = [
    "DeadlineReached",
    "Progress",
    "verify_archive",
    "verify_path",
    "verify_s3_object",
]


def verify_archive(
    fileobj: ArchiveSource,
    source: str,
    *,
    progress: Progress | None = None,
    object_info: dict[str, Any] | None = None,
    deadline: float | None = None,
    memory_limit: int | None = None,
    mode: Mode = Mode.FULL,
    profiles: ProfileChoice | None = None,
) -> Verdict:
    """Verify the bag (ZIP or tar) readable from `fileobj`. Never raises for a bad bag or a failing source.

    `profiles`: the BagIt profile to check the bag against, or the catalog to choose it from by the
    bag's BagIt-Profile-Identifier (bag.profile_choice).

    `mode` (verdict.Mode): in completeness and fast mode no payload byte of a ZIP is read (the tail,
    and the parts holding tag files); a tar is still read front to back, its payload not digested.

    `deadline` is a `time.monotonic()` value: past it, verification stops and the verdict is
    *error* (kind timeout) with the stats of how far it got.

    `memory_limit` (bytes, the process's): a bag whose files would need more than 90% of it
    (`pipeline.memory.estimated_memory`) is not scanned: *error*, kind too_many_files, at once,
    rather than the process killed for memory after minutes of work.
    """
    started = time.monotonic()
    try:
        tar = tar_compression(fileobj)
    except SourceError as failure:  # the first bytes could not be read: nothing is known of the bag
        stats = Stats(
            get_requests=int(getattr(fileobj, "get_requests", 0)),
            bytes_read=int(getattr(fileobj, "bytes_received", 0)),
            seconds=round(time.monotonic() - started, 3),
            hedged_requests=int(getattr(fileobj, "hedged_requests", 0)),
        )
        return error_verdict(_error(failure), source, object_info, stats)
    if tar is not None:
        return verify_tar(
            fileobj,
            source,
            tar,
            object_info=object_info,
            deadline=deadline,
            started=started,
            mode=mode,
            profiles=profiles,
        )
    plan = make_plan(fileobj, source=source, object_info=object_info, sizing=ONE_SHARD)
    plan.mode, plan.profiles = mode, profiles
    refuse_too_many_files(plan, memory_limit, holder="one process", remedy=_REMEDY)
    results = []
    if plan.listed and mode is Mode.FULL:
        results = scan_in_process(plan, fileobj, progress=progress, deadline=deadline)
    elif plan.listed:
        counter = ScanProgress(len(plan.tag_positions), plan.archive_bytes, callback=progress)
        tags = scan_tag_files(plan, MemberReader(fileobj), progress=counter, deadline=deadline)
        results = [tags, listing_result(plan)]
    verdict = aggregate(
        plan,
        results,
        get_requests=int(getattr(fileobj, "get_requests", 0)),
        bytes_read=int(getattr(fileobj, "bytes_received", plan.archive_bytes)),
        hedged_requests=int(getattr(fileobj, "hedged_requests", 0)),
    )
    verdict.stats.seconds = round(time.monotonic() - started, 3)  # the checks included
    return verdict


def verify_tar(
    fileobj: ArchiveSource,
    source: str,
    compression: Compression,
    *,
    object_info: dict[str, Any] | None = None,
    deadline: float | None = None,
    started: float | None = None,
    mode: Mode = Mode.FULL,
    profiles: ProfileChoice | None = None,
) -> Verdict:
    """Verify the tar bag readable from `fileobj` (plain or compressed): plan and scan in one pass
    (`pipeline.tar_scan`), then the same aggregate as a ZIP's."""
    started = time.monotonic() if started is None else started
    plan = Plan(
        source, dict(object_info or {}), archive_bytes=fileobj.seek(0, 2), mode=mode, profiles=profiles
    )
    # Imported here: most bags are ZIPs, so most cold starts need none of the tar code.
    from bagverify.pipeline.tar_scan import TarScan

    plan.serialization = MIME_TYPES[compression]
    result = TarScan(fileobj, plan, compression, deadline=deadline).run()
    verdict = aggregate(
        plan,
        [result],
        get_requests=result.get_requests,
        bytes_read=result.bytes_read,
        hedged_requests=int(getattr(fileobj, "hedged_requests", 0)),
    )
    if not isinstance(fileobj, S3RangedFile):
        verdict.stats.bytes_read = plan.archive_bytes
    verdict.stats.seconds = round(time.monotonic() - started, 3)
    return verdict


# The end of a too_many_files message from one process.
_REMEDY = (
    "verify it with the distributed state machine (VerifyBagDistributedStateMachine), which splits "
    "it into shards"
)


def scan_in_process(
    plan: Plan, fileobj: ArchiveSource, *, progress: Progress | None = None, deadline: float | None = None
) -> list[ScanResult]:
    """The plan's tag files, then its shards, one after the other from one file object.

    Once a scan stops (source failure, deadline), the shards after it are not read: their members
    are unverified.
    """
    assert plan.index is not None
    reader = MemberReader(fileobj)
    counter = ScanProgress(
        sum(1 for mark in plan.marks if mark != SKIP), plan.archive_bytes, callback=progress
    )
    results = [scan_tag_files(plan, reader, progress=counter, deadline=deadline)]
    for shard in plan.shards:
        if results[-1].error is None:
            results.append(scan_shard(plan, plan.index, shard, reader, progress=counter, deadline=deadline))
        else:
            positions = [p for p in range(shard.first, shard.stop) if plan.marks[p] == SCAN]
            results.append(unverified_result(plan, plan.index, positions, shard.number, None))
    return results


def verify_s3_object(
    location: S3Location,
    client: S3Client | None = None,
    *,
    progress: Progress | None = None,
    deadline: float | None = None,
    memory_limit: int | None = None,
    mode: Mode = Mode.FULL,
    profiles: ProfileChoice | None = None,
) -> Verdict:
    """Verify a bag in S3 by ranged reads, without downloading it (`memory_limit`, `mode`: see
    `verify_archive`).

    The object read is `location.version_id` if given, else the current one, which must have
    ETag `location.etag` if that is given (else the verdict is *error*, kind object_changed).
    """
    started = time.monotonic()
    object_info = location.object_info()
    try:
        # A tar is read front to back in every mode (no directory to skip by), so it needs the parts
        # fetched ahead in every mode. Only this choice looks at the key's name: the format itself
        # is read from the content.
        if mode is Mode.FULL or location.key.endswith(TAR_SUFFIXES):
            archive = S3RangedFile.open(
                client or make_s3_client(),
                location,
                first_read=0,  # the scan starts at the first member, once the tail's directory is read
                read_ahead=default_depth(DEFAULT_PART_SIZE, memory_limit),
            )
        else:  # no payload read: no part fetched ahead, only the tail and the parts holding tag files
            archive = S3RangedFile.open(client or make_s3_client(), location, read_ahead=0)
    except SourceError as failure:
        stats = Stats(get_requests=1, seconds=round(time.monotonic() - started, 3))
        return error_verdict(_error(failure), location.url, object_info, stats)
    with archive:
        return verify_archive(
            archive,
            location.url,
            progress=progress,
            object_info=archive.object_info,
            deadline=deadline,
            memory_limit=memory_limit,
            mode=mode,
            profiles=profiles,
        )


def verify_path(
    path: str,
    *,
    progress: Progress | None = None,
    mode: Mode = Mode.FULL,
    profiles: ProfileChoice | None = None,
) -> Verdict:
    """Verify a bag (ZIP or tar) on a local disk."""
    try:
        archive = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as failure:
        kind = Kind.NOT_FOUND if isinstance(failure, FileNotFoundError) else Kind.ACCESS_DENIED
        problem = Problem(kind, f"{path}: {failure.strerror}")
        return error_verdict(problem, path, {"path": path})
    with archive:
        return verify_archive(
            archive, path, progress=progress, object_info={"path": path}, mode=mode, profiles=profiles
        )


def _error(failure: SourceError) -> Problem:
    return Problem(failure.kind, str(failure))
