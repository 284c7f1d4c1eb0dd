"""The result of verifying one bag: a status, every problem named, and what it cost.

*invalid* means the bag or its archive is wrong (the depositor's problem).
*error* means it could not be verified at all (no such key, access denied,
S3 unavailable after retries, object changed while being read).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


class Status(enum.StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    ERROR = "error"


class Kind(enum.StrEnum):
    """Every kind of problem, warning or error bagverify reports. Subscribers filter on these."""

    # Archive-level faults (invalid)
    NOT_A_ZIP = "not_a_zip"
    TRUNCATED = "truncated"  # cut short: end records gone, or bytes missing before the directory
    CORRUPT_DIRECTORY = "corrupt_directory"  # end records found, the central directory unreadable
    CORRUPT_MEMBER = "corrupt_member"
    UNSUPPORTED_COMPRESSION = "unsupported_compression"
    ENCRYPTED_MEMBER = "encrypted_member"
    DUPLICATE_ENTRY = "duplicate_entry"
    # No extractor can unpack the archive as listed: a file and a directory of one name
    PATH_CONFLICT = "path_conflict"
    DIRECTORY_WITH_DATA = "directory_with_data"  # an entry named as a directory ("x/") holding bytes
    # Tar: a header that is not one (checksum wrong, a field or PAX record that does not parse)
    TAR_HEADER_INVALID = "tar_header_invalid"
    CORRUPT_STREAM = "corrupt_stream"  # a compressed tar's stream fails its own checks (CRC, ISIZE, ...)
    # A link, device, FIFO or sparse file in a tar: not a file whose bytes the archive holds
    SPECIAL_ENTRY = "special_entry"
    NO_BAG_ROOT = "no_bag_root"
    # Bag-level faults (invalid)
    BAGIT_TXT_INVALID = "bagit_txt_invalid"
    NO_PAYLOAD_MANIFEST = "no_payload_manifest"
    MANIFEST_LINE_INVALID = "manifest_line_invalid"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    MISSING_FILE = "missing_file"
    UNLISTED_FILE = "unlisted_file"
    NOT_IN_EVERY_MANIFEST = "not_in_every_manifest"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    PAYLOAD_OXUM_MISMATCH = "payload_oxum_mismatch"
    BAG_INFO_INVALID = "bag_info_invalid"
    TAG_FILE_ENCODING = "tag_file_encoding"
    TAG_FILE_TOO_LARGE = "tag_file_too_large"  # over scan.MAX_TAG_FILE_BYTES: hashed, not parsed
    NO_PAYLOAD_DIR = "no_payload_dir"
    UNSAFE_PATH = "unsafe_path"
    DUPLICATE_MANIFEST_ENTRY = "duplicate_manifest_entry"
    TAG_MANIFEST_INVALID = "tag_manifest_invalid"
    FETCH_INVALID = "fetch_invalid"
    # BagIt Profile violations (invalid)
    PROFILE_IDENTIFIER = "profile_identifier"  # bag-info.txt names not the profile's BagIt-Profile-Identifier
    PROFILE_BAG_INFO = "profile_bag_info"  # a Bag-Info tag required, repeated or of a value not allowed
    PROFILE_MANIFESTS = "profile_manifests"  # Manifests-Required / Manifests-Allowed
    PROFILE_TAG_MANIFESTS = "profile_tag_manifests"  # Tag-Manifests-Required / Tag-Manifests-Allowed
    PROFILE_FETCH = "profile_fetch"  # Allow-Fetch.txt / Fetch.txt-Required
    PROFILE_DATA_EMPTY = "profile_data_empty"  # Data-Empty: more than one payload file, or one with bytes
    PROFILE_SERIALIZATION = "profile_serialization"  # Serialization / Accept-Serialization
    PROFILE_BAGIT_VERSION = "profile_bagit_version"  # Accept-BagIt-Version
    PROFILE_TAG_FILES = "profile_tag_files"  # Tag-Files-Required / Tag-Files-Allowed
    PROFILE_PAYLOAD_FILES = "profile_payload_files"  # Payload-Files-Required / Payload-Files-Allowed
    # Warnings (the bag stays valid)
    NON_STANDARD_PATH = "non_standard_path"
    NAME_COLLISION = "name_collision"
    NORMALIZATION_MISMATCH = "normalization_mismatch"
    UNLISTED_TAG_FILE = "unlisted_tag_file"
    BYTE_ORDER_MARK = "byte_order_mark"  # one a pre-1.0 bag's tag file begins with: stripped (V1, V10)
    PROFILE_UNKNOWN = "profile_unknown"  # the bag names a profile not among the deployment's: not checked
    TRAILING_DATA = "trailing_data"  # bytes other than zeros after a tar's end-of-archive blocks
    LEGACY_RULE = "legacy_rule"  # what BagIt 0.93-0.97 allow and 1.0 does not (docs/bagit-versions.md)
    # Errors (could not verify)
    NOT_FOUND = "not_found"
    ACCESS_DENIED = "access_denied"
    OBJECT_CHANGED = "object_changed"
    OBJECT_ARCHIVED = "object_archived"  # in S3 Glacier Flexible Retrieval / Deep Archive: restore it first
    SOURCE_UNAVAILABLE = "source_unavailable"
    # S3 refused the credentials (expired or revoked mid-run, unknown key): renew them, then verify again
    CREDENTIALS_REJECTED = "credentials_rejected"
    # The endpoint answered a ranged GET with other bytes than asked (or ignored Range): no verdict
    RANGE_NOT_HONOURED = "range_not_honoured"
    BAD_EVENT = "bad_event"
    PROFILE_INVALID = "profile_invalid"  # the BagIt profile to check bags against is malformed
    # The bag names no profile of the deployment's, which requires one (RequireProfile); or the one
    # asked for could not be read
    PROFILE_NOT_FOUND = "profile_not_found"
    TIMEOUT = "timeout"
    # More files than one process's memory holds: not scanned (use the distributed state machine)
    TOO_MANY_FILES = "too_many_files"
    # A tar bag past DistributedThresholdBytes: a tar can't be cut into shards (no directory)
    NOT_SHARDABLE = "not_shardable"
    # A step of a distributed verification (planner, a shard) failed: crashed, out of memory or time
    STEP_FAILED = "step_failed"
    # The verifying (or aggregating) Lambda itself failed. Never produced here: the state machines
    # build and publish this verdict themselves (LambdaFailed), with the Step Functions `error`.
    LAMBDA_FAILED = "lambda_failed"


class Mode(enum.StrEnum):
    """How much a verification proves. Only `full` is a fixity check; the others are cheap, and a
    verdict says which it is, so that a cheap *valid* is never read as one.

    - full: every file read and every checksum compared;
    - completeness: no payload byte read: every listed file present, every payload file listed,
      Payload-Oxum, the tag files parsed and their own checksums (bagit-python's --completeness-only);
    - fast: the bag is a bag and its Payload-Oxum agrees with the listing (bagit-python's --fast).
    """

    FULL = "full"
    COMPLETENESS = "completeness"
    FAST = "fast"


@dataclass(frozen=True)
class Problem:
    """One named fault. `path` is relative to the bag root when a file is concerned."""

    kind: Kind
    message: str
    path: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": str(self.kind), "message": self.message}
        if self.path is not None:
            out["path"] = self.path
        out.update(self.details)
        return out


# Of one kind, the problems (or warnings) a verdict names; the rest are counted in one more.
MAX_NAMED_PER_KIND = 100_000


class NamedProblems:
    """Problems in the order found; of each kind the first MAX_NAMED_PER_KIND, the rest only counted.

    Why a limit: a bag zipped without its payload folder names every file its manifests list as
    missing, and a million Problems took 1.9 GB, more than the function has: it would have been
    killed with no verdict at all. The count stays exact: one more problem per kind says how many
    are not named (`details["not_named"]`), and a count of that shape added here (a shard's) is
    merged, not named.
    """

    def __init__(self) -> None:
        self.named: list[Problem] = []
        self._seen: Counter[Kind] = Counter()
        self._not_named: Counter[Kind] = Counter()

    def add(self, problem: Problem) -> None:
        not_named = problem.details.get("not_named")
        if isinstance(not_named, int) and problem.path is None:
            self._not_named[problem.kind] += not_named
            return
        self._seen[problem.kind] += 1
        if self._seen[problem.kind] <= MAX_NAMED_PER_KIND:
            self.named.append(problem)
        else:
            self._not_named[problem.kind] += 1

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.add(problem)

    def done(self) -> list[Problem]:
        """The problems named, then one per kind with some not named."""
        return [
            *self.named,
            *(
                Problem(
                    kind,
                    f"{count:,} more {kind} not named here: a verdict names the first "
                    f"{MAX_NAMED_PER_KIND:,} of each kind",
                    None,
                    {"not_named": count},
                )
                for kind, count in self._not_named.items()
            ),
        ]


def problem_count(problems: Iterable[Problem]) -> int:
    """How many problems `problems` stand for: a count of those not named (NamedProblems, and a tag
    file's, tag_files.LineProblems) counts as that many."""
    total = 0
    for problem in problems:
        count = problem.details.get("not_named")
        total += count if isinstance(count, int) else 1
    return total


def problem_kinds(problems: Iterable[Problem], limit: int | None = None) -> list[str]:
    """The kinds of `problems`, each once, in the order found (the first `limit` of them)."""
    kinds: list[str] = []
    for problem in problems:
        if str(problem.kind) not in kinds:
            if limit is not None and len(kinds) >= limit:
                break
            kinds.append(str(problem.kind))
    return kinds


@dataclass
class Stats:
    """What the verification covered and cost."""

    files: int = 0
    bytes: int = 0
    archive_bytes: int = 0
    get_requests: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    # Of get_requests: GETs that re-asked for a part running far slower than its peers (hedges).
    hedged_requests: int = 0


@dataclass
class Verdict:
    status: Status
    source: str
    problems: list[Problem]
    warnings: list[Problem]
    stats: Stats
    # What exactly was read: bucket, key, version_id, etag, size (for deduplicating at-least-once events).
    object: dict[str, Any] = field(default_factory=dict)
    mode: Mode = Mode.FULL
    # Against the ledger's previous record of this bag (bagverify.ledger): valid then, not now; or the
    # first valid after that. False without a ledger.
    regression: bool = False
    recovery: bool = False
    # sha256 over the bag's manifests: equal for the same bag, different for a replaced one.
    manifests_digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "source": self.source,
            "object": dict(self.object),
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [w.to_dict() for w in self.warnings],
            "stats": asdict(self.stats),
            "mode": str(self.mode),
            "regression": self.regression,
            "recovery": self.recovery,
            **({"manifests_digest": self.manifests_digest} if self.manifests_digest else {}),
        }


def error_verdict(
    problem: Problem, source: str, object_info: dict[str, Any] | None = None, stats: Stats | None = None
) -> Verdict:
    """The verdict when the bag could not be verified at all: *error*, naming why (the one constructor
    of such verdicts, wherever nothing was checked)."""
    return Verdict(Status.ERROR, source, [problem], [], stats or Stats(), object_info or {})


def decide(problems: list[Problem], error: Problem | None) -> Status:
    """An error (could not verify) outranks problems found before it happened."""
    if error is not None:
        return Status.ERROR
    return Status.INVALID if problems else Status.VALID
