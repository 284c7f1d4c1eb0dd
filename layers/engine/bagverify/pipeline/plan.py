"""Step 1, the plan: what the archive holds, what to check, and how to cut it into shards.

The planner reads the central directory (`read_member_index`: one read at the directory, which
for most archives is inside S3RangedFile's tail GET), finds the bag root and the manifests, and
marks each entry: skipped (a directory, outside the bag root, or an earlier entry of a duplicated
name), a tag file the checks parse (read by the planner's own step, `shard.scan_tag_files`), or a
member for the shards.

Shards are contiguous runs of positions in offset order, so each reads one byte range of the
archive once, front to back. They are cut by estimated work, not bytes: a member costs its
uncompressed size times its method's factor (bzip2 inflates ~6x slower than deflate), plus a
fixed cost per member (headers, one more object of each digest). See docs/large-bags.md, "Sizing,
time and cost".
"""

from __future__ import annotations

import bisect
import itertools
import math
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bagverify.archive import ArchiveFault
from bagverify.archive.decoders import BZIP2, DEFLATE64, LZMA
from bagverify.archive.member_index import MemberIndex, read_member_index
from bagverify.archive.source import ArchiveSource
from bagverify.bag.checks import PARSED_TAG_FILES, Findings
from bagverify.bag.layout import (
    PAYLOAD_DIR,
    ManifestName,
    ScreenedEntries,
    find_bag_root,
    is_payload,
    screen_entries,
)
from bagverify.bag.tag_files import quoted
from bagverify.checksums import hashlib_name
from bagverify.sources import SourceError
from bagverify.verdict import Kind, Mode, Problem

if TYPE_CHECKING:
    # Annotations only: the profile code is loaded when a profile is chosen (sources.profiles).
    from bagverify.bag.profile_choice import ProfileChoice

GB = 1000**3
# Verification throughput of one Lambda (1,769 MB, one vCPU, arm64) assumed for sizing, in
# deflate-equivalent uncompressed bytes per second. Measured with the engine on one core of this
# machine (2-core EPYC, `taskset -c 1`, sha256 + sha512, CRC-32, ISA-L inflate): 337 MB/s on
# random data, 206 MB/s on deflated log text (docs/large-bags.md); 100 MB/s leaves room for a
# slower vCPU, a busy S3 and bags with more manifests.
ASSUMED_BYTES_PER_SECOND = 100 * 1000**2
# A shard is sized to finish in half of Lambda's 900 s at that rate: 45 GB at most.
SHARD_SECONDS = 450
MAX_SHARD_BYTES = ASSUMED_BYTES_PER_SECOND * SHARD_SECONDS
# Below this a shard's fixed costs (start-up, tail and index GETs, its result) stop being small.
MIN_SHARD_BYTES = 2 * GB
# Shards run at once (the Distributed Map's MaxConcurrency): bags smaller than this many
# MAX_SHARD_BYTES are cut into about this many shards, so they finish sooner at the same cost.
DEFAULT_CONCURRENCY = 40
# Work per member besides its bytes: ~35 µs a member measured here (shards of 250,000 tiny
# files), taken as 60 µs on Lambda: 6 KB at the assumed rate.
MEMBER_WORK_BYTES = 6_000
# Inflate cost relative to deflate (ISA-L), per method; others (stored) cost only their digests.
METHOD_FACTORS = {DEFLATE64: 1.5, BZIP2: 6.0, LZMA: 3.0}

# Marks: what each position of the index is for.
SKIP = 0  # a directory, outside the bag root, or a duplicated name's earlier entry
SCAN = 1  # read by the shard whose range holds it
TAG = 2  # a tag file the checks parse: read (and kept) by the planner's step
_IS_SCAN = bytes(1 if mark == SCAN else 0 for mark in range(256))  # marks → 1 where SCAN


@dataclass(frozen=True)
class ShardSizing:
    """How much work goes in one shard. `target_bytes` fixes it; otherwise the total work is spread
    over `concurrency` shards, each between `min_bytes` and `max_bytes` of work."""

    target_bytes: int | None = None
    min_bytes: int = MIN_SHARD_BYTES
    max_bytes: int = MAX_SHARD_BYTES
    concurrency: int = DEFAULT_CONCURRENCY

    def shard_work(self, total: int) -> float:
        if self.target_bytes is not None:
            return max(1, self.target_bytes)
        return min(self.max_bytes, max(self.min_bytes, math.ceil(total / max(1, self.concurrency))))


ONE_SHARD = ShardSizing(target_bytes=2**63)
"""Everything in one shard: the single-invocation path."""


@dataclass(frozen=True)
class Shard:
    """Positions [first, stop) of the index; their members lie in archive bytes [start, end)."""

    number: int
    first: int
    stop: int
    start: int
    end: int
    files: int
    bytes: int
    work: int


@dataclass
class Plan:
    source: str
    object: dict[str, Any]
    archive_bytes: int = 0
    root: str = ""
    manifests: list[ManifestName] = field(default_factory=list)
    payload_algorithms: list[str] = field(default_factory=list)
    tag_algorithms: list[str] = field(default_factory=list)
    has_payload_dir: bool = False
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # Could not be read at all (not found, access denied, ...): the verdict is *error*.
    error: Problem | None = None
    # False when there is no usable listing (not a ZIP, no bag root, ...): nothing more to check.
    listed: bool = False
    # The central directory (in a distributed run, only the planner holds all of it).
    index: MemberIndex | None = None
    marks: array[int] = field(default_factory=lambda: array("B"))
    shards: list[Shard] = field(default_factory=list)
    # What the archive is, by its content: "application/zip", or a tar's ("application/x-tar",
    # "application/gzip", ...), as BagIt Profiles' Accept-Serialization names them.
    serialization: str = "application/zip"
    # How much the verification proves (verdict.Mode): in completeness and fast mode no payload is read.
    mode: Mode = Mode.FULL
    # The BagIt profile(s) to check the bag against (bag.profile_choice); None: none.
    profiles: ProfileChoice | None = None
    # The profile the input asked for (an identifier or s3:// URL), as asked: a distributed run's
    # aggregator resolves it (sources.profiles.choice_from), with the deployment's catalog.
    requested_profile: str | None = None

    @property
    def tag_positions(self) -> list[int]:
        return [position for position, mark in enumerate(self.marks) if mark == TAG]

    def path(self, position: int) -> str:
        assert self.index is not None
        return self.index.name(position)[len(self.root) :]

    def drop_listing(self) -> None:
        """Nothing of the archive is to be scanned or checked: the index, marks and shards go."""
        self.listed = False
        self.index, self.marks, self.shards = None, array("B"), []

    def algorithms_for(self, path: str) -> list[str]:
        return self.payload_algorithms if is_payload(path) else self.tag_algorithms


def make_plan(
    fileobj: ArchiveSource,
    *,
    source: str,
    object_info: dict[str, Any] | None = None,
    sizing: ShardSizing = ONE_SHARD,
) -> Plan:
    """The plan for the bag ZIP readable from `fileobj`. Never raises for a bad bag or a failing source."""
    plan = Plan(source, dict(object_info or {}))
    findings = Findings()
    try:
        plan.archive_bytes = fileobj.seek(0, 2)
        _list(fileobj, plan, findings, sizing)
    except ArchiveFault as fault:
        findings.problem(fault.kind, str(fault), fault.path)
    except SourceError as failure:
        plan.error = Problem(failure.kind, str(failure))
    if not plan.listed:
        plan.drop_listing()
    plan.problems, plan.warnings = findings.problems, findings.warnings
    return plan


def _list(fileobj: ArchiveSource, plan: Plan, findings: Findings, sizing: ShardSizing) -> None:
    index = read_member_index(fileobj)
    root = ""
    # Unsafe names and macOS resource forks belong to no bag: reported, never read. Only names
    # that could be either go through the screening's regular expressions (~3 µs a name).
    screened = screen_entries(maybe_screened(index.names))
    ignored = screened.ignored
    try:
        root = find_bag_root(
            [name for name in index.names if name not in ignored] if ignored else index.names
        )
    finally:  # what is wrong with the archive's entries is reported even when there is no bag root
        _report_entries(index, root, screened, findings)
    plan.index, plan.root = index, root

    # Each bag path once: a duplicated name's last entry by offset, as the single pass always did.
    # Without duplicates (every sane archive) that is every file entry under the root: no
    # million-key dictionary is needed to find out.
    names, cut = index.names, len(root)
    positions = [
        position
        for position, name in enumerate(names)
        if name.startswith(root) and not name.endswith("/") and (not ignored or name not in ignored)
    ]
    if index.duplicate_names:
        chosen = {names[position][cut:]: position for position in positions}
        positions = sorted(chosen.values())
        at_root = {path: position for path, position in chosen.items() if "/" not in path}
    else:
        at_root = {names[p][cut:]: p for p in positions if names[p].find("/", cut) < 0}
    # Manifests are at the bag root, in the order their entries come.
    manifests = [m for m in map(ManifestName.parse, at_root) if m is not None]
    plan.manifests = manifests
    plan.payload_algorithms = usable_algorithms([m for m in manifests if not m.is_tag], findings)
    plan.tag_algorithms = usable_algorithms([m for m in manifests if m.is_tag], findings)
    parsed = {*PARSED_TAG_FILES, *(m.path for m in manifests)}
    marks = array("B", bytes(len(index)))
    for position in positions:
        marks[position] = SCAN
    for path in parsed:
        if path in at_root:
            marks[at_root[path]] = TAG
    plan.marks = marks
    payload_dir = root + PAYLOAD_DIR
    plan.has_payload_dir = any(name.startswith(payload_dir) for name in index.names)
    plan.shards = cut_shards(index, marks, sizing)
    plan.listed = True


def _report_entries(index: MemberIndex, root: str, screened: ScreenedEntries, findings: Findings) -> None:
    """Duplicate and unsafe entry names (problems) and odd ones (warnings), named relative to the bag root."""

    def relative(name: str | None) -> str | None:
        return name[len(root) :] if name is not None and name.startswith(root) else name

    for name in index.duplicate_names:
        findings.problem(
            Kind.DUPLICATE_ENTRY, f"the archive holds more than one entry named {name}", relative(name)
        )
    for notice in index.notices:
        findings.warning(notice.kind, notice.message, relative(notice.name))
    report_path_conflicts(index.names, index.sizes, findings, relative)
    for name in screened.unsafe:
        findings.problem(
            Kind.UNSAFE_PATH,
            f"the archive holds an entry named {quoted(name)}: absolute, '..', '~', drive-letter, backslash "
            "or NUL names could be written outside the folder the archive is unzipped into; not read",
            relative(name),
            entry=name,
        )
    if screened.macos_forks:
        findings.warning(
            Kind.NON_STANDARD_PATH,
            f"{len(screened.macos_forks):,} entries under __MACOSX/ (the resource forks macOS Finder adds "
            "when it zips a folder) are not part of the bag; not read",
            "__MACOSX/",
        )
    ignored = screened.ignored
    for name in [name for name in index.names if name.endswith("/bagit.txt")]:
        inner = name[len(root) :]
        if (
            name.startswith(root)
            and inner.endswith("/bagit.txt")
            and not is_payload(inner)
            and name not in ignored
        ):
            findings.warning(
                Kind.NON_STANDARD_PATH,
                f"{inner} declares another bag in a tag directory of this one: only this bag is verified, "
                "and that folder's files only as far as this bag's tag manifests list them",
                inner,
            )


def report_path_conflicts(
    names: list[str], sizes: Sequence[int], findings: Findings, relative: Callable[[str | None], str | None]
) -> None:
    """Entries no extractor can unpack as listed: a file entry `x` beside a directory `x` (a `x/`
    entry, or entries under `x/`), and a directory entry holding bytes. Verifying the file would
    prove nothing of what an unzipper leaves on disk: one of the two is lost or refused there.

    `names`: the archive's entries, directories ending in "/"; `sizes`: their sizes. Set operations
    over all names at once: a million-entry directory costs ~0.23 s on this machine.
    """
    directories = {name.rpartition("/")[0] for name in names}  # the parent of each entry
    directories.discard("")
    for directory in list(directories):  # and their parents: `a/b/c` makes `a/b` and `a` directories
        while (cut := directory.rfind("/")) > 0 and (directory := directory[:cut]) not in directories:
            directories.add(directory)
    directory_entries = [position for position, name in enumerate(names) if name.endswith("/")]
    directory_names = {names[position] for position in directory_entries}
    for name in sorted(directories.intersection(names)):  # file names only: directories' end in "/"
        entries = [name, name + "/"] if name + "/" in directory_names else [name]
        beside = f"the entry {name}/" if len(entries) > 1 else f"entries under {name}/"
        findings.problem(
            Kind.PATH_CONFLICT,
            f"the archive holds a file {name} and a directory of the same name ({beside}): "
            "no extractor can unpack both",
            relative(name),
            entries=entries,
        )
    for position in directory_entries:
        if sizes[position]:
            name = names[position]
            findings.problem(
                Kind.DIRECTORY_WITH_DATA,
                f"the archive's entry {name} is named as a directory but holds {sizes[position]:,} "
                "bytes, which no extractor writes anywhere",
                relative(name),
                entry=name,
            )


def usable_algorithms(manifests: list[ManifestName], findings: Findings) -> list[str]:
    usable: set[str] = set()
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
    return sorted(usable)


# What any name layout.UNSAFE_PATH or MACOS_FORKS can match holds, in names joined by newlines.
_SCREENING_MARKS = ("\\", "..", "\x00", ":", "\n/", "\n~", "\n_")


def maybe_screened(names: list[str]) -> list[str]:
    """The names `layout.screen_entries` might screen out (unsafe, or under __MACOSX/), in order:
    a cheap superset of its patterns, tried on all names at once first (its regular expressions
    take ~3 µs a name). tests/unit/test_member_index.py holds it to being a superset."""
    joined = "\n".join(names)
    if not joined.startswith(("/", "~", "_")) and not any(mark in joined for mark in _SCREENING_MARKS):
        return []
    del joined
    return [
        name
        for name in names
        if name[:1] in ("/", "~", "_") or name[1:2] == ":" or "\\" in name or ".." in name or "\x00" in name
    ]


def member_work(index: MemberIndex, position: int) -> int:
    """Estimated cost of verifying one member, in deflate-equivalent bytes."""
    i = position - index.first
    factor = METHOD_FACTORS.get(index.methods[i], 1.0)
    return int(index.sizes[i] * factor) + MEMBER_WORK_BYTES


def cut_shards(index: MemberIndex, marks: array[int], sizing: ShardSizing) -> list[Shard]:
    """Contiguous runs of positions covering [0, len(index)), of about equal work; at least one."""
    scanned = list(itertools.compress(range(len(marks)), marks.tobytes().translate(_IS_SCAN)))
    factors, sizes, methods = METHOD_FACTORS, index.sizes, index.methods
    if factors.keys() & set(methods):
        work = [int(sizes[p] * factors.get(methods[p], 1.0)) + MEMBER_WORK_BYTES for p in scanned]
    else:
        work = [size + MEMBER_WORK_BYTES for size in map(sizes.__getitem__, scanned)]
    done = list(itertools.accumulate(work))  # work of scanned[0 .. i]
    total = done[-1] if done else 0
    count = max(1, math.ceil(total / sizing.shard_work(total)))
    # Shard k ends after the member where the work done first reaches k / count of the total.
    bounds: list[int] = []  # positions where a shard after the first starts
    for k in range(1, count):
        at = bisect.bisect_left(done, total * k / count)
        if at + 1 < len(scanned) and (not bounds or scanned[at] + 1 > bounds[-1]):
            bounds.append(scanned[at] + 1)
    starts = [0, *bounds]
    stops = [*bounds, len(index)]
    shards = []
    at = 0  # into `scanned` and `work`
    for number, (first, stop) in enumerate(zip(starts, stops, strict=True)):
        begin = at
        while at < len(scanned) and scanned[at] < stop:
            at += 1
        members = scanned[begin:at]
        start = index.offsets[members[0]] if members else 0
        end = max((index.next_offsets[p] for p in members), default=0)
        shards.append(
            Shard(
                number,
                first,
                stop,
                start,
                min(end, index.archive_size) if index.archive_size else end,
                len(members),
                sum(sizes[p] for p in members),
                sum(work[begin:at]),
            )
        )
    return shards
