"""Plan and scan of a tar bag in one pass: a tar has no directory, so its entries are listed as they
are read, front to back, and step 2 (the scan) is the same pass. Step 3 is `aggregate`, as for a ZIP.

Which digests a member needs depends on manifests that most tar writers put after the payload (in
name order `data/` comes before `manifest-*.txt`). So every file is digested in the algorithms of the
manifests seen so far and in those BagIt bags use (md5, sha256, sha512: bagit-python's, DART's and
APTrust's), and its digests are held (never its bytes) until the tag files are read. A manifest in
another algorithm, found after files it lists, costs a second pass over the stream for those files
only, in that algorithm only: never a verdict on digests not computed.

Entries are judged as an extractor would leave them on disk: the last copy of a path is the one
kept (so the one verified, and the path is `duplicate_entry`); names that could land outside the
folder are `unsafe_path`; a hard link to an earlier file of the bag is that file's bytes (a warning);
symbolic links, devices, FIFOs and sparse files are `special_entry` problems (their bytes are not in
the archive, or depend on what is outside it).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bagverify.archive import ArchiveFault
from bagverify.archive.source import ArchiveSource
from bagverify.archive.tar.headers import BLOCK, HeaderError, parse_header
from bagverify.archive.tar.streams import Compression, StreamFault, open_decompressed
from bagverify.archive.tar.walker import TarEntry, TarWalker
from bagverify.bag.checks import PARSED_TAG_FILES, Findings
from bagverify.bag.layout import PAYLOAD_DIR, ManifestName, find_bag_root, is_unsafe_path
from bagverify.bag.tag_files import quoted
from bagverify.checksums import DigestLayout, digest_chunks, hashlib_name
from bagverify.pipeline.plan import Plan, report_path_conflicts, usable_algorithms
from bagverify.pipeline.scan import MAX_TAG_FILE_BYTES, ScanResult
from bagverify.sources import SourceError
from bagverify.verdict import Kind, Mode, Problem

# Digested before any manifest says otherwise (unless a plain tar's tail names its manifests): the
# algorithms BagIt bags use.
SPECULATIVE = ("md5", "sha256", "sha512")


@dataclass
class _File:
    """One file of the archive as the pass read it: the last copy of its path."""

    size: int
    offset: int  # of its header in the tar stream: which copy, for a second pass
    algorithms: tuple[str, ...]
    digests: bytes | None  # in `algorithms`' order; None when it could not be read


class TarScan:
    """One pass over a tar bag: `run()` fills `plan` (root, manifests, algorithms) and gives the scan's
    result, every file with the digests its manifests need."""

    def __init__(
        self,
        fileobj: ArchiveSource,
        plan: Plan,
        compression: Compression,
        *,
        deadline: float | None = None,
    ) -> None:
        self._fileobj = fileobj
        self._plan = plan
        self._compression = compression
        self._deadline = deadline
        self._findings = Findings()
        self._files: dict[str, _File] = {}
        self._directories: set[str] = set()
        self._tag_contents: dict[str, bytes] = {}
        self._too_large: list[str] = []
        self._seen_algorithms: set[str] = set()
        self._speculative: tuple[str, ...] = SPECULATIVE
        if compression is Compression.NONE:
            # A plain tar's last bytes (the tail S3RangedFile holds already) are where most writers
            # put the manifests: their headers name the algorithms before the payload is read.
            found = _tail_manifest_algorithms(fileobj)
            if found:
                self._seen_algorithms, self._speculative = found, ()
        self._error: Problem | None = None
        self._stopped = False
        # Found before the bag root is known: named relative to it once it is (as a ZIP's are).
        self._entry_problems: list[tuple[Kind, str, str, dict[str, str]]] = []
        self._entry_warnings: list[tuple[Kind, str, str, dict[str, str]]] = []

    def run(self) -> ScanResult:
        started = time.monotonic()
        self._pass(self._first_pass_entry)
        result = ScanResult(None, error=self._error)
        plan = self._plan
        names = [*self._files, *(directory + "/" for directory in self._directories)]
        if self._stopped and not names:
            return self._done(result, started)  # not a tar at all, or nothing of it readable
        try:
            plan.root = find_bag_root(names)
        except ArchiveFault as fault:
            self._findings.problem(fault.kind, str(fault), fault.path)
            return self._done(result, started)
        self._report_entries()
        self._list(names)
        self._second_pass_if_needed()
        self._fill(result)
        return self._done(result, started)

    # -- the pass ------------------------------------------------------------------------------------

    def _pass(self, handle: Callable[[TarEntry, Iterator[bytes]], None]) -> None:
        """Walk the archive from its first byte, `handle(entry, data)` for each entry."""
        try:
            walker = TarWalker(open_decompressed(self._fileobj, self._compression))
            for entry, data in walker.entries():
                if self._deadline is not None and time.monotonic() > self._deadline:
                    self._error = Problem(
                        Kind.TIMEOUT,
                        f"stopped before the deadline at byte {entry.offset:,} of the tar stream, "
                        f"after {len(self._files):,} files",
                    )
                    self._stopped = True
                    return
                handle(entry, self._watched(data, entry))
            if walker.trailing_bytes:
                self._findings.warning(
                    Kind.TRAILING_DATA,
                    f"{walker.trailing_bytes:,} bytes other than zeros follow the tar's end-of-archive "
                    "blocks; extractors ignore them",
                )
        except _DeadlinePassed as passed:
            self._error = Problem(Kind.TIMEOUT, str(passed))
            self._stopped = True
        except ArchiveFault as fault:
            self._findings.problem(fault.kind, str(fault), fault.path)
            self._stopped = True
        except StreamFault as fault:
            self._findings.problem(Kind.TRUNCATED if fault.truncated else Kind.CORRUPT_STREAM, str(fault))
            self._stopped = True
        except SourceError as failure:
            self._error = Problem(failure.kind, str(failure))
            self._stopped = True

    def _watched(self, data: Iterator[bytes], entry: TarEntry) -> Iterator[bytes]:
        """`data`, the deadline checked before each chunk (one member may take longer than a Lambda)."""
        done = 0
        for chunk in data:
            if self._deadline is not None and time.monotonic() > self._deadline:
                raise _DeadlinePassed(
                    f"stopped before the deadline while reading {entry.name} ({done:,} of {entry.size:,} "
                    f"bytes), after {len(self._files):,} files"
                )
            done += len(chunk)
            yield chunk

    def _first_pass_entry(self, entry: TarEntry, data: Iterator[bytes]) -> None:
        name = _normalized(entry.name)
        if not name:
            return  # the archive's own folder, "./"
        if entry.is_directory:
            self._directories.add(name.rstrip("/"))
            return
        if is_unsafe_path(name):
            self._entry_problems.append(
                (
                    Kind.UNSAFE_PATH,
                    f"the tar holds an entry named {quoted(entry.name)}: absolute, '..', '~', drive-letter, "
                    "backslash or NUL names could be written outside the folder it is extracted into; "
                    "not read",
                    entry.name,
                    {"entry": entry.name},
                )
            )
            return
        if entry.special is not None:
            self._special(name, entry)
            return
        if name in self._files:
            self._entry_problems.append(
                (
                    Kind.DUPLICATE_ENTRY,
                    f"the tar holds more than one entry named {name}: an extractor keeps the last, which "
                    "is the one verified",
                    name,
                    {},
                )
            )
        keep = _may_be_tag_file(name)
        if self._plan.mode is not Mode.FULL and not keep:
            # No payload checksum is compared in this mode: the stream is read (a tar has no
            # directory to skip by), not digested.
            for _ in data:
                pass
            self._files[name] = _File(entry.size, entry.offset, (), None)
            return
        algorithms = tuple(sorted({*self._speculative, *self._seen_algorithms}))
        if keep and entry.size > MAX_TAG_FILE_BYTES:
            self._too_large.append(name)
            keep = False
        kept = bytearray() if keep else None
        digests = digest_chunks(_gathered(data, kept), [*algorithms])
        self._files[name] = _File(entry.size, entry.offset, algorithms, digests)
        if kept is not None:
            self._tag_contents[name] = bytes(kept)
        parsed = ManifestName.parse(name.rsplit("/", 1)[-1])
        if parsed is not None and name.count("/") <= 1 and hashlib_name(parsed.algorithm):
            self._seen_algorithms.add(parsed.algorithm)

    def _special(self, name: str, entry: TarEntry) -> None:
        target = _normalized(entry.linkname)
        if entry.special == "hard link" and target in self._files:
            # tar stores a second name of the same file as a link to the first: extracted, it has
            # exactly the first's bytes, so it is verified as them.
            first = self._files[target]
            self._files[name] = _File(first.size, entry.offset, first.algorithms, first.digests)
            self._entry_warnings.append(
                (
                    Kind.SPECIAL_ENTRY,
                    f"{name} is a hard link to {target} in the tar: verified as that file's bytes",
                    name,
                    {"link": target},
                )
            )
            return
        self._entry_problems.append(
            (
                Kind.SPECIAL_ENTRY,
                f"{name} is a {entry.special}"
                + (f" (to {quoted(entry.linkname)})" if entry.linkname else "")
                + " in the tar, not a file whose bytes the archive holds: what an extractor makes of it "
                "depends on what is outside the bag",
                name,
                {"entry_type": str(entry.special)},
            )
        )

    # -- after the pass ------------------------------------------------------------------------------

    def _report_entries(self) -> None:
        root = self._plan.root
        for found, add in (
            (self._entry_problems, self._findings.problem),
            (self._entry_warnings, self._findings.warning),
        ):
            for kind, message, name, details in found:
                add(kind, message, name[len(root) :] if name.startswith(root) else name, **details)

    def _list(self, names: list[str]) -> None:
        plan, root = self._plan, self._plan.root

        def relative(name: str | None) -> str | None:
            return name[len(root) :] if name is not None and name.startswith(root) else name

        sizes = [file.size for file in self._files.values()] + [0] * len(self._directories)
        report_path_conflicts(names, sizes, self._findings, relative)
        at_root = [name[len(root) :] for name in self._files if name.startswith(root)]
        plan.manifests = [m for m in map(ManifestName.parse, at_root) if m is not None and "/" not in m.path]
        plan.payload_algorithms = usable_algorithms(
            [m for m in plan.manifests if not m.is_tag], self._findings
        )
        plan.tag_algorithms = usable_algorithms([m for m in plan.manifests if m.is_tag], self._findings)
        payload_dir = root + PAYLOAD_DIR
        plan.has_payload_dir = payload_dir[:-1] in self._directories or any(
            name.startswith(payload_dir) for name in self._files
        )
        plan.listed = True

    def _needed(self, name: str) -> list[str]:
        path = name[len(self._plan.root) :]
        return self._plan.algorithms_for(path)

    def _second_pass_if_needed(self) -> None:
        """Files whose manifests' algorithms were not among those digested: read again, those only."""
        root = self._plan.root
        missing = {
            name: [a for a in self._needed(name) if a not in file.algorithms]
            for name, file in self._files.items()
            if name.startswith(root) and file.digests is not None
        }
        missing = {name: algorithms for name, algorithms in missing.items() if algorithms}
        if not missing or self._stopped:
            return
        wanted = {self._files[name].offset: name for name in missing}

        def again(entry: TarEntry, data: Iterator[bytes]) -> None:
            name = wanted.get(entry.offset)
            if name is None:
                return
            file = self._files[name]
            extra = digest_chunks(data, missing[name])
            assert file.digests is not None
            self._files[name] = _File(
                file.size, file.offset, (*file.algorithms, *missing[name]), file.digests + extra
            )

        self._pass(again)

    def _fill(self, result: ScanResult) -> None:
        root = self._plan.root
        for name, file in self._files.items():
            if not name.startswith(root):
                continue
            path = name[len(root) :]
            result.files.append((path, file.size, _laid_out(file, self._plan.algorithms_for(path))))
        for name, data in self._tag_contents.items():
            if name.startswith(root):
                result.tag_contents[name[len(root) :]] = data
        result.unreadable.extend(name[len(root) :] for name in self._too_large if name.startswith(root))
        for name in self._too_large:
            self._findings.problem(
                Kind.TAG_FILE_TOO_LARGE,
                f"{name} is larger than the {MAX_TAG_FILE_BYTES:,} bytes bagverify reads a tag file into "
                "memory; its checksums are verified, what it says is not read",
                name[len(root) :],
            )

    def _done(self, result: ScanResult, started: float) -> ScanResult:
        result.problems, result.warnings = self._findings.problems, self._findings.warnings
        result.error = self._error
        result.get_requests = int(getattr(self._fileobj, "get_requests", 0))
        result.bytes_read = int(getattr(self._fileobj, "bytes_received", 0))
        result.seconds = round(time.monotonic() - started, 3)
        return result


class _DeadlinePassed(Exception):
    pass


@functools.cache
def _spans(algorithms: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    return DigestLayout(algorithms).spans


def _tail_manifest_algorithms(fileobj: ArchiveSource, tail: int = 8 * 1024 * 1024) -> set[str]:
    """The algorithms of the manifests whose headers lie in the plain tar's last `tail` bytes."""
    size = fileobj.seek(0, 2)
    start = max(0, size - tail)
    start += -start % BLOCK  # headers are block-aligned from the tar's start
    fileobj.seek(start)
    data = fileobj.read(size - start)
    found: set[str] = set()
    at = data.find(b"ustar")
    while at >= 0:
        header_at = at - 257
        if header_at >= 0 and header_at % BLOCK == 0:
            try:
                header = parse_header(data[header_at : header_at + BLOCK])
            except HeaderError:
                pass
            else:
                name = ManifestName.parse(header.name.rstrip("/").rsplit("/", 1)[-1])
                if name is not None and hashlib_name(name.algorithm):
                    found.add(name.algorithm)
        at = data.find(b"ustar", at + 1)
    return found


def _normalized(name: str) -> str:
    """The path an extractor writes: without a leading './' (tar -C bag -cf x.tar .)."""
    while name.startswith("./"):
        name = name[2:]
    return "" if name in (".", "") else name


def _may_be_tag_file(name: str) -> bool:
    """A file the checks may parse, at the archive's root or in one top folder (the bag root)."""
    parts = name.split("/")
    if len(parts) > 2:
        return False
    last = parts[-1]
    return last in PARSED_TAG_FILES or ManifestName.parse(last) is not None


def _gathered(data: Iterator[bytes], kept: bytearray | None) -> Iterator[bytes]:
    for chunk in data:
        if kept is not None:
            kept.extend(chunk)
        yield chunk


def _laid_out(file: _File, needed: list[str]) -> bytes | None:
    """The file's digests of `needed`, in that order (DigestLayout), from those computed."""
    if file.digests is None:
        return None
    spans = _spans(file.algorithms)
    return b"".join(file.digests[spans[a][0] : spans[a][1]] for a in needed)
