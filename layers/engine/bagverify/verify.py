"""Verify a zipped bag: one forward pass over the archive, then every check, every problem named.

The data path, in the order bytes flow:

    source (S3RangedFile | local file)
      → ZipReader.iter_chunks(member)      members in local-header offset order
      → digest_chunks(...)                 every manifest algorithm in one pass
      → _Scan                              digests per path, tag files kept in memory
      → checks                             bagit.txt, manifests both ways, tag manifests, bag-info
      → Verdict

The algorithms to compute are known from the central directory alone (the
manifests' file names), so payload and tag files are digested in whatever order
the archive holds them and the archive is read exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from bagverify.archive import ArchiveFault, Member, ZipReader
from bagverify.bag.layout import ManifestName, find_bag_root, is_payload
from bagverify.bag.tag_files import (
    Manifest,
    decode_tag_file,
    parse_bag_info,
    parse_bagit_txt,
    parse_manifest,
    parse_payload_oxum,
)
from bagverify.checksums import digest_chunks, hashlib_name
from bagverify.sources import S3Location, S3RangedFile, SourceError, make_s3_client
from bagverify.verdict import Kind, Problem, Stats, Verdict, decide

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Tag files parsed by bagverify are held in memory; beyond this a tag file is a problem, not an OOM.
MAX_TAG_FILE_BYTES = 256 * 1024 * 1024
_PARSED_TAG_FILES = ("bagit.txt", "bag-info.txt")

Progress = Callable[[int, int, int], None]
"""Called after each member with (archive bytes done, archive bytes in all, files done)."""


@dataclass
class _Scan:
    """What one pass over the archive found, keyed by path relative to the bag root."""

    digests: dict[str, dict[str, str]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    unreadable: set[str] = field(default_factory=set)
    tag_contents: dict[str, bytes] = field(default_factory=dict)


class _Findings:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def problem(self, kind: Kind, message: str, path: str | None = None, **details: Any) -> None:
        self.problems.append(Problem(kind, message, path, details))


def verify_archive(
    fileobj: BinaryIO,
    source: str,
    *,
    progress: Progress | None = None,
    object_info: dict[str, Any] | None = None,
) -> Verdict:
    """Verify the bag ZIP readable from `fileobj`. Never raises for a bad bag or a failing source."""
    started = time.monotonic()
    findings = _Findings()
    stats = Stats()
    error: Problem | None = None
    try:
        _verify(fileobj, findings, stats, progress)
    except ArchiveFault as fault:
        findings.problem(fault.kind, str(fault), fault.path)
    except SourceError as failure:
        error = Problem(failure.kind, str(failure))
    stats.get_requests = int(getattr(fileobj, "get_requests", 0))
    stats.bytes_read = int(getattr(fileobj, "bytes_received", stats.archive_bytes))
    stats.seconds = round(time.monotonic() - started, 3)
    problems = [*findings.problems, error] if error else findings.problems
    return Verdict(
        decide(findings.problems, error), source, problems, findings.warnings, stats, object_info or {}
    )


def verify_s3_object(
    location: S3Location, client: S3Client | None = None, *, progress: Progress | None = None
) -> Verdict:
    """Verify a bag ZIP in S3 by ranged reads, without downloading it."""
    started = time.monotonic()
    object_info: dict[str, Any] = {
        "bucket": location.bucket,
        "key": location.key,
        "version_id": location.version_id,
    }
    try:
        archive = S3RangedFile(client or make_s3_client(), location.bucket, location.key, location.version_id)
    except SourceError as failure:
        stats = Stats(get_requests=1, seconds=round(time.monotonic() - started, 3))
        return Verdict(decide([], _error(failure)), location.url, [_error(failure)], [], stats, object_info)
    object_info.update(version_id=archive.version_id, etag=archive.etag, size=archive.size)
    with archive:
        return verify_archive(archive, location.url, progress=progress, object_info=object_info)  # type: ignore[arg-type]


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


def _verify(fileobj: BinaryIO, findings: _Findings, stats: Stats, progress: Progress | None) -> None:
    reader = ZipReader(fileobj)
    stats.archive_bytes = fileobj.seek(0, 2)
    for name in reader.duplicate_names():
        findings.problem(Kind.DUPLICATE_ENTRY, f"the archive holds more than one entry named {name}", name)
    root = find_bag_root(reader.entry_names)
    members = {member.name[len(root) :]: member for member in reader.members if member.name.startswith(root)}
    manifests = [m for m in map(ManifestName.parse, members) if m is not None]
    payload_algorithms = _usable_algorithms([m for m in manifests if not m.is_tag], findings)
    tag_algorithms = _usable_algorithms([m for m in manifests if m.is_tag], findings)
    kept = {*_PARSED_TAG_FILES, *(m.path for m in manifests)}

    scan = _Scan()
    done_bytes = 0
    for path, member in sorted(members.items(), key=lambda item: item[1].header_offset):
        algorithms = payload_algorithms if is_payload(path) else tag_algorithms
        _scan_member(reader, path, member, algorithms, keep=path in kept, scan=scan, findings=findings)
        done_bytes += member.compressed_size
        if progress:
            progress(done_bytes, stats.archive_bytes, len(scan.sizes))

    payload_paths = [path for path in scan.sizes if is_payload(path)]
    stats.files = len(payload_paths)
    stats.bytes = sum(scan.sizes[path] for path in payload_paths)
    _check_bag(scan, manifests, findings)


def _usable_algorithms(manifests: list[ManifestName], findings: _Findings) -> set[str]:
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
    scan: _Scan,
    findings: _Findings,
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


# -- the checks -------------------------------------------------------------


def _check_bag(scan: _Scan, manifest_names: list[ManifestName], findings: _Findings) -> None:
    bagit_txt = scan.tag_contents.get("bagit.txt")
    encoding, version = "utf-8", (1, 0)
    if bagit_txt is None and "bagit.txt" not in scan.unreadable:
        findings.problem(Kind.BAGIT_TXT_INVALID, "bagit.txt is missing", "bagit.txt")
    elif bagit_txt is not None:
        declaration, problems = parse_bagit_txt(bagit_txt)
        findings.problems.extend(problems)
        if declaration:
            encoding, version = declaration.encoding, declaration.version

    payload_manifests = _read_manifests(scan, [m for m in manifest_names if not m.is_tag], encoding, findings)
    tag_manifests = _read_manifests(scan, [m for m in manifest_names if m.is_tag], encoding, findings)
    if not any(not m.is_tag for m in manifest_names):
        findings.problem(Kind.NO_PAYLOAD_MANIFEST, "the bag has no payload manifest (manifest-<alg>.txt)")

    payload_files = {path for path in scan.sizes if is_payload(path)}
    _check_manifests(scan, payload_manifests, payload_files, findings, payload=True)
    _check_completeness(payload_manifests, payload_files, version, findings)
    tag_files = {path for path in scan.sizes if not is_payload(path)}
    _check_manifests(scan, tag_manifests, tag_files, findings, payload=False)
    _check_bag_info(scan, encoding, payload_files, findings)


def _read_manifests(
    scan: _Scan, names: list[ManifestName], encoding: str, findings: _Findings
) -> list[Manifest]:
    manifests = []
    for name in names:
        data = scan.tag_contents.get(name.path)
        if data is None:  # unreadable member, already reported
            continue
        text, problems = decode_tag_file(data, encoding, name.path)
        findings.problems.extend(problems)
        if text is None:
            continue
        manifest, problems, warnings = parse_manifest(text, name.path, name.algorithm)
        findings.problems.extend(problems)
        findings.warnings.extend(warnings)
        manifests.append(manifest)
    return manifests


def _check_manifests(
    scan: _Scan, manifests: list[Manifest], present: set[str], findings: _Findings, *, payload: bool
) -> None:
    """Every listed file exists and has the listed checksum."""
    missing_reported: set[str] = set()
    for manifest in manifests:
        for path, expected in manifest.entries.items():
            if payload and not is_payload(path):
                findings.problem(
                    Kind.MANIFEST_LINE_INVALID,
                    f"{manifest.path} lists {path}, which is outside data/",
                    path,
                    manifest=manifest.path,
                )
                continue
            if path not in present:
                if path not in missing_reported:
                    missing_reported.add(path)
                    findings.problem(
                        Kind.MISSING_FILE,
                        f"{path} is listed in {manifest.path} but not in the bag",
                        path,
                        manifest=manifest.path,
                    )
                continue
            actual = scan.digests.get(path, {}).get(manifest.algorithm)
            if actual is None:  # unreadable member or unsupported algorithm, already reported
                continue
            if actual != expected:
                findings.problem(
                    Kind.CHECKSUM_MISMATCH,
                    f"{path}: {manifest.algorithm} is {actual}, {manifest.path} says {expected}",
                    path,
                    algorithm=manifest.algorithm,
                    expected=expected,
                    actual=actual,
                    manifest=manifest.path,
                )


def _check_completeness(
    manifests: list[Manifest], payload_files: set[str], version: tuple[int, int], findings: _Findings
) -> None:
    """Every payload file is listed (in every manifest, from BagIt 1.0 on)."""
    if not manifests:
        return
    for path in sorted(payload_files):
        listed_in = [m.path for m in manifests if path in m.entries]
        if not listed_in:
            findings.problem(Kind.UNLISTED_FILE, f"{path} is in the bag but in no payload manifest", path)
        elif version >= (1, 0) and len(listed_in) < len(manifests):
            absent = [m.path for m in manifests if path not in m.entries]
            findings.problem(
                Kind.NOT_IN_EVERY_MANIFEST,
                f"{path} is missing from {', '.join(absent)}",
                path,
                manifests=absent,
            )


def _check_bag_info(scan: _Scan, encoding: str, payload_files: set[str], findings: _Findings) -> None:
    data = scan.tag_contents.get("bag-info.txt")
    if data is None:
        return
    text, problems = decode_tag_file(data, encoding, "bag-info.txt")
    findings.problems.extend(problems)
    if text is None:
        return
    tags, problems = parse_bag_info(text)
    findings.problems.extend(problems)
    for label, value in tags:
        if label.lower() != "payload-oxum":
            continue
        oxum = parse_payload_oxum(value)
        actual = (sum(scan.sizes[path] for path in payload_files), len(payload_files))
        if oxum is None:
            findings.problem(
                Kind.BAG_INFO_INVALID, f"Payload-Oxum {value!r} is not 'octets.streams'", "bag-info.txt"
            )
        elif oxum != actual:
            findings.problem(
                Kind.PAYLOAD_OXUM_MISMATCH,
                f"Payload-Oxum says {oxum[0]}.{oxum[1]}, the payload is {actual[0]}.{actual[1]}",
                "bag-info.txt",
                expected=f"{oxum[0]}.{oxum[1]}",
                actual=f"{actual[0]}.{actual[1]}",
            )
