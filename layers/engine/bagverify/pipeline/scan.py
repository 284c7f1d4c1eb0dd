"""Step 2, the scan: members read through MemberReader and digested in one pass.

One function reads any set of positions, in offset order: the planner's tag files
(`scan_tag_files`: kept in memory for the checks) and a shard's byte range (`scan_shard`). A
member that can't be read is a named problem and the scan goes on; a source that fails (S3
unavailable, object changed) or a deadline ends the scan with an error, and every member not
read is listed as unverified, so the aggregator neither calls it missing nor counts it verified.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from bagverify.archive import ArchiveFault, Member, MemberIndex
from bagverify.archive.member_reader import SMALL_MEMBER_BYTES
from bagverify.bag.layout import is_payload
from bagverify.checksums import digest_bytes, digest_chunks
from bagverify.pipeline.plan import SCAN, Plan, Shard
from bagverify.sources import SourceError
from bagverify.verdict import Kind, NamedProblems, Problem

# Tag files parsed by bagverify are held in memory; beyond this a tag file is a problem, not an OOM.
MAX_TAG_FILE_BYTES = 256 * 1024 * 1024

Progress = Callable[[int, int, int], None]
"""Called after each member with (archive bytes done, archive bytes in all, files done)."""


class MemberStreams(Protocol):
    def iter_chunks(self, member: Member) -> Iterator[bytes]: ...

    def read_small(self, member: Member) -> bytes: ...


class DeadlineReached(Exception):
    """Raised once the deadline has passed, between members or between the chunks of a large one,
    so a caller can report before being killed (one member of 100 GB takes longer than a Lambda)."""


@dataclass
class ScanProgress:
    """Counts shared by the scans of one verification: for progress, and for how far a timeout got."""

    total_files: int
    archive_bytes: int
    files: int = 0
    bytes: int = 0
    archive_bytes_done: int = 0
    callback: Progress | None = None
    label: str = ""  # "shard 3 of 12: " in a distributed run

    def advance(self, member: Member) -> None:
        self.files += 1
        self.bytes += member.size
        self.archive_bytes_done += member.compressed_size
        if self.callback:
            self.callback(self.archive_bytes_done, self.archive_bytes, self.files)


@dataclass
class ScanResult:
    """What one scan found: of a shard (`shard`, its number) or of the planner's tag files (None)."""

    shard: int | None
    # (path, size, digests or None when the member could not be read): the raw digests of
    # Plan.algorithms_for(path), concatenated in that order (checksums.DigestLayout)
    files: list[tuple[str, int, bytes | None]] = field(default_factory=list)
    # (path, size) of members not read because the scan stopped (error)
    unverified: list[tuple[str, int]] = field(default_factory=list)
    tag_contents: dict[str, bytes] = field(default_factory=dict)
    # Read and digested, but not to be parsed (a tag file too large to hold)
    unreadable: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    error: Problem | None = None
    get_requests: int = 0
    hedged_requests: int = 0  # of get_requests (read_ahead.HedgePolicy)
    bytes_read: int = 0
    seconds: float = 0.0


def scan_tag_files(
    plan: Plan,
    reader: MemberStreams,
    *,
    progress: ScanProgress,
    deadline: float | None = None,
) -> ScanResult:
    """The tag files the checks parse (bagit.txt, bag-info.txt, fetch.txt, manifests), kept in memory."""
    assert plan.index is not None
    return scan_positions(
        plan, plan.index, reader, plan.tag_positions, None, keep=True, progress=progress, deadline=deadline
    )


def scan_shard(
    plan: Plan,
    index: MemberIndex,
    shard: Shard,
    reader: MemberStreams,
    *,
    progress: ScanProgress,
    deadline: float | None = None,
    marks: Iterable[int] | None = None,
) -> ScanResult:
    """The members of `shard` (positions [first, stop) marked SCAN), front to back.

    `index` holds at least those positions (the plan's, or the slice a shard read back), and
    `marks` their marks when they are not the plan's.
    """
    own_marks = list(marks) if marks is not None else plan.marks[shard.first : shard.stop]
    positions = [shard.first + i for i, mark in enumerate(own_marks) if mark == SCAN]
    return scan_positions(
        plan, index, reader, positions, shard.number, keep=False, progress=progress, deadline=deadline
    )


def scan_positions(
    plan: Plan,
    index: MemberIndex,
    reader: MemberStreams,
    positions: list[int],
    shard: int | None,
    *,
    keep: bool,
    progress: ScanProgress,
    deadline: float | None,
) -> ScanResult:
    started = time.monotonic()
    result = ScanResult(shard)
    # Members that can't be read, as problems: a million of them (an encrypted archive) named in
    # full would not fit in memory; their count always does.
    unreadable = NamedProblems()
    done = 0
    try:
        for position in positions:
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineReached(_stopped(progress))
            member = index.member(position)
            path = member.name[len(plan.root) :]
            _scan_member(
                reader,
                path,
                member,
                plan.algorithms_for(path),
                keep=keep,
                result=result,
                problems=unreadable,
                deadline=deadline,
                progress=progress,
            )
            done += 1
            progress.advance(member)
    except SourceError as failure:
        result.error = Problem(failure.kind, f"{progress.label}{failure}")
    except DeadlineReached as stopped:
        details = {"files_verified": progress.files, "bytes_verified": progress.bytes}
        result.error = Problem(Kind.TIMEOUT, str(stopped), details=details)
    result.problems.extend(unreadable.done())
    if result.error is not None:
        # The member being read when it stopped is among them: it was not verified.
        result.unverified = [
            (index.name(p)[len(plan.root) :], index.sizes[p - index.first]) for p in positions[done:]
        ]
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _stopped(progress: ScanProgress, reading: str = "") -> str:
    return (
        f"{progress.label}stopped before the deadline {reading}after {progress.files} of "
        f"{progress.total_files} files ({progress.archive_bytes_done:,} of "
        f"{progress.archive_bytes:,} archive bytes)"
    )


@dataclass
class _MemberDeadline:
    """The deadline, checked between the chunks of one large member."""

    at: float
    progress: ScanProgress
    path: str
    size: int
    done: int = 0

    def check(self, chunk_bytes: int) -> None:
        """Before digesting the next `chunk_bytes` of the member."""
        # One clock read per chunk (1 MiB): nothing next to inflating and hashing it.
        if time.monotonic() > self.at:
            reading = f"while reading {self.path} ({self.done:,} of {self.size:,} bytes), "
            raise DeadlineReached(_stopped(self.progress, reading))
        self.done += chunk_bytes


def listing_result(plan: Plan) -> ScanResult:
    """The scan of a mode that reads no payload (Mode.COMPLETENESS, FAST): every member a shard would
    read, from the directory, with its size and no digests, so the checks know it is there and
    compare no checksum of it."""
    assert plan.index is not None
    index, cut = plan.index, len(plan.root)
    result = ScanResult(None)
    result.files = [
        (index.name(position)[cut:], index.sizes[position - index.first], None)
        for position, mark in enumerate(plan.marks)
        if mark == SCAN
    ]
    return result


def unverified_result(
    plan: Plan, index: MemberIndex, positions: Iterable[int], shard: int | None, error: Problem | None
) -> ScanResult:
    """A scan that never ran (the source failed first, an earlier scan stopped, its Lambda failed):
    every member at `positions` unverified."""
    result = ScanResult(shard, error=error)
    result.unverified = [(index.name(p)[len(plan.root) :], index.sizes[p - index.first]) for p in positions]
    return result


def _scan_member(
    reader: MemberStreams,
    path: str,
    member: Member,
    algorithms: list[str],
    *,
    keep: bool,
    result: ScanResult,
    problems: NamedProblems,
    deadline: float | None = None,
    progress: ScanProgress | None = None,
) -> None:
    if keep and member.size > MAX_TAG_FILE_BYTES:
        # Known from the directory before a byte is read: checksummed as any file is, never held or parsed.
        problems.add(
            Problem(
                Kind.TAG_FILE_TOO_LARGE,
                f"{_too_large(path)} ({member.size:,} bytes); its checksums are verified, what it says "
                "is not read",
                path,
                {"size": member.size, "limit": MAX_TAG_FILE_BYTES},
            )
        )
        result.unreadable.append(path)
        keep = False
    try:
        if member.size <= SMALL_MEMBER_BYTES and member.compressed_size <= SMALL_MEMBER_BYTES:
            # Most members of most bags: read whole, without the streaming path's per-chunk machinery.
            data = reader.read_small(member)
            digests = digest_bytes(data, algorithms)
        else:
            kept = bytearray()
            watch = (
                None
                if deadline is None or progress is None
                else _MemberDeadline(deadline, progress, path, member.size)
            )
            chunks = _kept_chunks(reader, member, path, kept if keep else None, watch)
            digests = digest_chunks(chunks, algorithms)
            data = bytes(kept)
    except ArchiveFault as fault:
        result.files.append((path, member.size, None))
        problems.add(Problem(fault.kind, str(fault), path))
        return
    result.files.append((path, member.size, digests))
    if keep:
        result.tag_contents[path] = data


def _kept_chunks(
    reader: MemberStreams,
    member: Member,
    path: str,
    kept: bytearray | None,
    deadline: _MemberDeadline | None,
) -> Iterator[bytes]:
    """The member's chunks, also gathered into `kept` (a tag file to parse) unless it is None.

    Past the deadline it stops with DeadlineReached: the member is then unverified, not a problem.
    """
    for chunk in reader.iter_chunks(member):
        if deadline is not None:
            deadline.check(len(chunk))
        if kept is not None:
            # The reader stops a member at its stated size, so this holds whatever the data does.
            if len(kept) + len(chunk) > MAX_TAG_FILE_BYTES:
                raise ArchiveFault(Kind.TAG_FILE_TOO_LARGE, _too_large(path), path)
            kept.extend(chunk)
        yield chunk


def _too_large(path: str) -> str:
    return f"{path} is larger than the {MAX_TAG_FILE_BYTES:,} bytes bagverify reads a tag file into memory"


def payload_totals(results: Iterable[ScanResult]) -> tuple[int, int]:
    """(files, bytes) of the payload members the scans read (readable or not)."""
    files = total = 0
    for result in results:
        for path, size, _ in result.files:
            if is_payload(path):
                files += 1
                total += size
    return files, total
