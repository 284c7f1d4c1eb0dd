"""Verify a zipped bag: one forward pass over the archive, then every check, every problem named.

The data path, in the order bytes flow:

    source (S3RangedFile | local file)
      → ZipReader.iter_chunks(member)      members in local-header offset order
      → digest_chunks(...)                 every manifest algorithm in one pass
      → BagContents                              digests per path, tag files kept in memory
      → checks                             bagit.txt, manifests both ways, tag manifests, bag-info
      → Verdict

The algorithms to compute are known from the central directory alone (the
manifests' file names), so payload and tag files are digested in whatever order
the archive holds them and the archive is read exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from bagverify.archive import ArchiveFault, Member, ZipReader
from bagverify.bag.checks import PARSED_TAG_FILES, BagContents, Findings, check_bag
from bagverify.bag.layout import ManifestName, find_bag_root, is_payload
from bagverify.checksums import digest_chunks, hashlib_name
from bagverify.sources import S3Location, S3RangedFile, SourceError, make_s3_client
from bagverify.sources.location import quote_etag
from bagverify.verdict import Kind, Problem, Stats, Verdict, decide

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Tag files parsed by bagverify are held in memory; beyond this a tag file is a problem, not an OOM.
MAX_TAG_FILE_BYTES = 256 * 1024 * 1024

Progress = Callable[[int, int, int], None]
"""Called after each member with (archive bytes done, archive bytes in all, files done)."""


class DeadlineReached(Exception):
    """Raised between members once `deadline` has passed, so a caller can report before being killed."""


def verify_archive(
    fileobj: BinaryIO,
    source: str,
    *,
    progress: Progress | None = None,
    object_info: dict[str, Any] | None = None,
    deadline: float | None = None,
) -> Verdict:
    """Verify the bag ZIP readable from `fileobj`. Never raises for a bad bag or a failing source.

    `deadline` is a `time.monotonic()` value: past it, verification stops and the verdict is
    *error* (kind timeout) with the stats of how far it got.
    """
    started = time.monotonic()
    findings = Findings()
    stats = Stats()
    error: Problem | None = None
    try:
        _verify(fileobj, findings, stats, progress, deadline)
    except ArchiveFault as fault:
        findings.problem(fault.kind, str(fault), fault.path)
    except SourceError as failure:
        error = Problem(failure.kind, str(failure))
    except DeadlineReached as stopped:
        error = Problem(
            Kind.TIMEOUT, str(stopped), details={"files_verified": stats.files, "bytes_verified": stats.bytes}
        )
    stats.get_requests = int(getattr(fileobj, "get_requests", 0))
    stats.bytes_read = int(getattr(fileobj, "bytes_received", stats.archive_bytes))
    stats.seconds = round(time.monotonic() - started, 3)
    problems = [*findings.problems, error] if error else findings.problems
    return Verdict(
        decide(findings.problems, error), source, problems, findings.warnings, stats, object_info or {}
    )


def verify_s3_object(
    location: S3Location,
    client: S3Client | None = None,
    *,
    progress: Progress | None = None,
    deadline: float | None = None,
) -> Verdict:
    """Verify a bag ZIP in S3 by ranged reads, without downloading it.

    The object read is `location.version_id` if given, else the current one, which must have
    ETag `location.etag` if that is given (else the verdict is *error*, kind object_changed).
    """
    started = time.monotonic()
    object_info: dict[str, Any] = {
        "bucket": location.bucket,
        "key": location.key,
        "version_id": location.version_id,
    }
    if location.etag:
        object_info["etag"] = quote_etag(location.etag)
    try:
        archive = S3RangedFile(
            client or make_s3_client(),
            location.bucket,
            location.key,
            location.version_id,
            etag=location.etag,
        )
    except SourceError as failure:
        stats = Stats(get_requests=1, seconds=round(time.monotonic() - started, 3))
        return Verdict(decide([], _error(failure)), location.url, [_error(failure)], [], stats, object_info)
    object_info.update(version_id=archive.version_id, etag=archive.etag, size=archive.size)
    with archive:
        return verify_archive(
            archive,  # type: ignore[arg-type]
            location.url,
            progress=progress,
            object_info=object_info,
            deadline=deadline,
        )


def verify_path(path: str, *, progress: Progress | None = None) -> Verdict:
    """Verify a bag ZIP on a local disk."""
    try:
        archive = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as failure:
        kind = Kind.NOT_FOUND if isinstance(failure, FileNotFoundError) else Kind.ACCESS_DENIED
        problem = Problem(kind, f"{path}: {failure.strerror}")
        return Verdict(decide([], problem), path, [problem], [], Stats(), {"path": path})
    with archive:
        return verify_archive(archive, path, progress=progress, object_info={"path": path})


def _error(failure: SourceError) -> Problem:
    return Problem(failure.kind, str(failure))


# -- the pass ---------------------------------------------------------------


def _verify(
    fileobj: BinaryIO, findings: Findings, stats: Stats, progress: Progress | None, deadline: float | None
) -> None:
    reader = ZipReader(fileobj)
    stats.archive_bytes = fileobj.seek(0, 2)
    root = ""
    try:
        root = find_bag_root(reader.entry_names)
    finally:  # what is wrong with the archive's entries is reported even when there is no bag root
        _report_entries(reader, root, findings)
    members = {member.name[len(root) :]: member for member in reader.members if member.name.startswith(root)}
    manifests = [m for m in map(ManifestName.parse, members) if m is not None]
    payload_algorithms = _usable_algorithms([m for m in manifests if not m.is_tag], findings)
    tag_algorithms = _usable_algorithms([m for m in manifests if m.is_tag], findings)
    kept = {*PARSED_TAG_FILES, *(m.path for m in manifests)}

    scan = BagContents(has_payload_dir=any(name.startswith(root + "data/") for name in reader.entry_names))
    done_bytes = 0
    for path, member in sorted(members.items(), key=lambda item: item[1].header_offset):
        if deadline is not None and time.monotonic() > deadline:
            raise DeadlineReached(
                f"stopped before the deadline after {len(scan.sizes)} of {len(members)} files "
                f"({done_bytes:,} of {stats.archive_bytes:,} archive bytes)"
            )
        algorithms = payload_algorithms if is_payload(path) else tag_algorithms
        _scan_member(reader, path, member, algorithms, keep=path in kept, scan=scan, findings=findings)
        done_bytes += member.compressed_size
        stats.files, stats.bytes = len(scan.sizes), stats.bytes + member.size
        if progress:
            progress(done_bytes, stats.archive_bytes, len(scan.sizes))

    payload_paths = [path for path in scan.sizes if is_payload(path)]
    stats.files = len(payload_paths)
    stats.bytes = sum(scan.sizes[path] for path in payload_paths)
    check_bag(scan, manifests, findings)


def _report_entries(reader: ZipReader, root: str, findings: Findings) -> None:
    """Duplicate entry names (problems) and odd ones (warnings), named relative to the bag root."""

    def relative(name: str | None) -> str | None:
        return name[len(root) :] if name is not None and name.startswith(root) else name

    for name in reader.duplicate_names():
        findings.problem(
            Kind.DUPLICATE_ENTRY, f"the archive holds more than one entry named {name}", relative(name)
        )
    for notice in reader.notices:
        findings.warning(notice.kind, notice.message, relative(notice.name))


def _usable_algorithms(manifests: list[ManifestName], findings: Findings) -> set[str]:
    usable = set()
    for manifest in manifests:
        if hashlib_name(manifest.algorithm):
            usable.add(manifest.algorithm)
        else:
            findings.problem(
                Kind.UNSUPPORTED_ALGORITHM,
                f"{manifest.path}: checksum algorithm {manifest.algorithm!r} is not supported",
                manifest.path,
                algorithm=manifest.algorithm,
            )
    return usable


def _scan_member(
    reader: ZipReader,
    path: str,
    member: Member,
    algorithms: set[str],
    *,
    keep: bool,
    scan: BagContents,
    findings: Findings,
) -> None:
    kept = bytearray()

    def chunks() -> Iterator[bytes]:
        for chunk in reader.iter_chunks(member):
            if keep:
                if len(kept) + len(chunk) > MAX_TAG_FILE_BYTES:
                    raise ArchiveFault(
                        Kind.CORRUPT_MEMBER, f"{path} is larger than {MAX_TAG_FILE_BYTES} bytes", path
                    )
                kept.extend(chunk)
            yield chunk

    scan.sizes[path] = member.size
    try:
        scan.digests[path] = digest_chunks(chunks(), algorithms)
    except ArchiveFault as fault:
        scan.unreadable.add(path)
        findings.problem(fault.kind, str(fault), path)
        return
    if keep:
        scan.tag_contents[path] = bytes(kept)
