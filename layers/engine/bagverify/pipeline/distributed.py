"""The three steps as separate invocations, handing over through a work location (`work.WorkStore`).

For the distributed state machine (statemachines/verify_bag_distributed.asl.json), whose Lambda
handlers call these:

- `plan_bag`: open the bag (the tail GET pins its version or ETag), plan it, read the tag files,
  write the index, the tag files, the shard items and the plan; return what the state machine
  needs (where the shard items are, how many, how many at once).
- `verify_shard`: one shard item: two ranged GETs of the index for its members, its byte range
  of the bag (pinned to the planner's version or ETag), its result written to the work location.
- `record_shard_failure`: what the state machine's Catch calls when a shard's Lambda failed
  after its retries (crashed, timed out, ran out of memory): a result saying so.
- `aggregate_run`: the plan and every result, merged and checked into one Verdict. A shard
  without a result, or with a recorded failure, is an *error* naming that shard, its members
  counted as present but unverified; nothing is dropped.

Nothing here knows Lambda: `deadline` is a `time.monotonic()` value, as everywhere in the engine.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from bagverify.archive.member_index import EncodedIndex, MemberIndex
from bagverify.archive.member_reader import MemberReader
from bagverify.archive.source import ArchiveSource
from bagverify.archive.tar.streams import tar_compression
from bagverify.bag.profile import ProfileInvalid
from bagverify.bag.profile_choice import ProfileChoice
from bagverify.pipeline.aggregate import aggregate
from bagverify.pipeline.memory import refuse_too_many_files
from bagverify.pipeline.plan import (
    DEFAULT_CONCURRENCY,
    SCAN,
    Plan,
    Shard,
    ShardSizing,
    make_plan,
)
from bagverify.pipeline.scan import (
    ScanProgress,
    ScanResult,
    listing_result,
    scan_shard,
    scan_tag_files,
    unverified_result,
)
from bagverify.pipeline.work import (
    INDEX,
    PLAN,
    SHARDS,
    TAG_RESULT,
    S3WorkStore,
    WorkItemMissing,
    WorkStore,
    failure_to_jsonl,
    plan_from_json,
    plan_to_json,
    result_from_jsonl,
    result_to_jsonl,
    shard_from_dict,
    shard_result_name,
    shard_to_dict,
    tag_file_name,
)
from bagverify.sources import ObjectChanged, S3Location, S3RangedFile, SourceError
from bagverify.sources.profiles import ProfileUnavailable, profile_error
from bagverify.verdict import Kind, Mode, Problem, Verdict, error_verdict

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# A shard reads only its own range; its first GET (which pins the object) asks for little of the tail.
SHARD_TAIL_BYTES = 64 * 1024
# Of a failed Lambda's Cause (often a stack trace), this much is kept in the problem.
MAX_CAUSE_CHARS = 4_000
# The end of a too_many_files message from the planner.
_AGGREGATOR_REMEDY = (
    "deploy with a larger LargeBagMemorySize (the planner's and aggregator's memory, up to 10,240 MB "
    "where the account's Lambda quota allows)"
)


def sizing_from(shard_bytes: Any = None, concurrency: Any = None) -> ShardSizing:
    """Sizing from a run's input (`shard_bytes`) and the deployment (`concurrency`); defaults otherwise."""
    shards_at_once = int(concurrency) if concurrency not in (None, "") else DEFAULT_CONCURRENCY
    target = int(shard_bytes) if shard_bytes not in (None, "", 0, "0") else None
    return ShardSizing(target_bytes=target, concurrency=max(1, shards_at_once))


# -- 1. plan -------------------------------------------------------------------------------------


def plan_bag(
    location: S3Location,
    store: S3WorkStore,
    client: S3Client,
    *,
    sizing: ShardSizing,
    deadline: float | None = None,
    aggregator_memory: int | None = None,
    mode: Mode = Mode.FULL,
    profile: str | None = None,
) -> dict[str, Any]:
    """Plan the bag at `location` into `store`; returns the state machine's view of the run.

    `profile`: the BagIt profile the input asks for, passed on to the aggregator, which checks it.

    `mode` (verdict.Mode): in completeness and fast mode the planner reads the tag files and lists
    the payload from the directory, and cuts no shards: the aggregator has all it needs.

    `aggregator_memory` (bytes): a bag of more files than that holds is not planned into shards
    (see `plan_archive`)."""
    started_at = time.time()
    try:
        # No read-ahead: the planner reads the directory (in the tail GET, or one more GET) and a few
        # tag files, each in the part around it, not the payload behind them.
        archive = S3RangedFile.open(client, location, read_ahead=0)
    except SourceError as failure:
        plan = Plan(location.url, location.object_info(), error=Problem(failure.kind, str(failure)))
        summary = write_plan(plan, store, started_at=started_at, get_requests=1)
    else:
        with archive:
            summary = plan_archive(
                archive,
                store,
                source=location.url,
                object_info=archive.object_info,
                sizing=sizing,
                deadline=deadline,
                started_at=started_at,
                aggregator_memory=aggregator_memory,
                mode=mode,
                profile=profile,
            )
    return {
        **summary,
        "source": location.url,
        "work": store.describe(),
        "plan_key": store.key(PLAN),
        "shards_key": store.key(SHARDS),
        "concurrency": sizing.concurrency,
    }


def plan_unrecognised(reason: str, store: WorkStore) -> dict[str, Any]:
    """An input that names no bag: a plan holding only that error, so the verdict is still published."""
    plan = Plan("", {}, error=Problem(Kind.BAD_EVENT, reason))
    return write_plan(plan, store, started_at=time.time())


_TAR_REMEDY = (
    "a tar bag has no directory, so it cannot be cut into shards: it is read front to back by one "
    "process, and this one is at or past DistributedThresholdBytes. Verify it with the CLI "
    "(bagverify verify s3://bucket/key) on a machine with no time limit, or raise "
    "DistributedThresholdBytes if one invocation (15 minutes) can read it"
)


def plan_archive(
    fileobj: ArchiveSource,
    store: WorkStore,
    *,
    source: str,
    object_info: dict[str, Any],
    sizing: ShardSizing,
    deadline: float | None = None,
    started_at: float | None = None,
    aggregator_memory: int | None = None,
    mode: Mode = Mode.FULL,
    profile: str | None = None,
) -> dict[str, Any]:
    """Plan the bag ZIP readable from `fileobj`, read its tag files, and write the run into `store`.

    A bag of more files than `aggregator_memory` (bytes) holds gets no shards and no tag files
    read: its plan's error is too_many_files, which the aggregator publishes at once, rather than
    every shard running and the aggregator then being killed for memory.
    """
    started_at = time.time() if started_at is None else started_at
    try:
        is_tar = tar_compression(fileobj) is not None
    except SourceError as failure:
        return write_plan(
            Plan(source, object_info, error=Problem(failure.kind, str(failure))), store, started_at=started_at
        )
    if is_tar:
        # A tar has no directory to cut into shards: it is read front to back by one process.
        plan = Plan(
            source,
            object_info,
            archive_bytes=fileobj.seek(0, 2),
            error=Problem(Kind.NOT_SHARDABLE, _TAR_REMEDY),
        )
        return write_plan(plan, store, started_at=started_at)
    plan = make_plan(fileobj, source=source, object_info=object_info, sizing=sizing)
    plan.mode, plan.requested_profile = mode, profile
    refuse_too_many_files(
        plan, aggregator_memory, holder="the aggregating function", remedy=_AGGREGATOR_REMEDY
    )
    encoded: EncodedIndex | None = None
    if plan.listed:
        assert plan.index is not None
        counter = ScanProgress(len(plan.tag_positions), plan.archive_bytes, label="the tag files: ")
        tags = scan_tag_files(plan, MemberReader(fileobj), progress=counter, deadline=deadline)
        if mode is not Mode.FULL:  # no payload read: listed from the directory, no shard to run
            tags.files += listing_result(plan).files
            plan.shards = []
        names: dict[str, str] = {}
        for number, (path, content) in enumerate(tags.tag_contents.items()):
            names[path] = tag_file_name(number)
            store.put(names[path], content)
        tags.tag_contents = {}
        store.put(TAG_RESULT, result_to_jsonl(tags, tag_files=names))
        encoded = plan.index.encode(plan.marks)
        store.put(INDEX, encoded.data)
        encoded.data = bytearray()  # the ranges are still needed, the bytes no more
    return write_plan(
        plan,
        store,
        started_at=started_at,
        encoded=encoded,
        get_requests=int(getattr(fileobj, "get_requests", 0)),
        bytes_read=int(getattr(fileobj, "bytes_received", plan.archive_bytes)),
        hedged_requests=int(getattr(fileobj, "hedged_requests", 0)),
    )


class IndexRange(TypedDict):
    """Where one shard's part of the encoded index lies in the work store's index object."""

    records: list[int]  # [start, end) of its records
    names: list[int]  # [start, end) of its names
    names_base: int  # where its first name starts in the names blob


class PinnedObject(TypedDict):
    """The object the planner read, which every shard reads too (by version id, else by ETag)."""

    bucket: str | None  # None only for an archive that is not in S3 (devtools.local_work)
    key: str | None
    version_id: str | None
    etag: str | None


class ShardItem(TypedDict):
    """One item of shards.json: everything one Distributed Map child needs, passed by the state machine
    to VerifyShardFunction as it is (and, with "failure" added, to the same function when it failed)."""

    source: str
    object: PinnedObject
    work: dict[str, str]  # WorkStore.describe()
    shard: dict[str, int]  # work.shard_to_dict
    shards: int
    index: IndexRange
    root: str
    payload_algorithms: list[str]
    tag_algorithms: list[str]
    archive_bytes: int
    result: str  # the work store name its result is written to


def write_plan(
    plan: Plan,
    store: WorkStore,
    *,
    started_at: float,
    encoded: EncodedIndex | None = None,
    get_requests: int = 0,
    hedged_requests: int = 0,
    bytes_read: int = 0,
) -> dict[str, Any]:
    """Write the shard items, then the plan (last: a plan in the store means the rest is there)."""
    ranges = [_index_ranges(encoded, shard) for shard in plan.shards] if encoded else []
    items: list[ShardItem] = [
        {
            "source": plan.source,
            "object": {
                "bucket": plan.object.get("bucket"),
                "key": plan.object.get("key"),
                "version_id": plan.object.get("version_id"),
                "etag": plan.object.get("etag"),
            },
            "work": store.describe(),
            "shard": shard_to_dict(shard),
            "shards": len(plan.shards),
            "index": index_range,
            "root": plan.root,
            "payload_algorithms": plan.payload_algorithms,
            "tag_algorithms": plan.tag_algorithms,
            "archive_bytes": plan.archive_bytes,
            "result": shard_result_name(shard.number),
        }
        for shard, index_range in zip(plan.shards, ranges, strict=True)
    ]
    store.put(SHARDS, json.dumps(items, ensure_ascii=False).encode("utf-8"), "application/json")
    extra = {
        "started_at": started_at,
        "planner": {
            "get_requests": get_requests,
            "hedged_requests": hedged_requests,
            "bytes_read": bytes_read,
            "seconds": round(time.time() - started_at, 3),
        },
        "index": ranges,
    }
    store.put(PLAN, plan_to_json(plan, extra), "application/json")
    return {"shard_count": len(items)}


def _index_ranges(encoded: EncodedIndex, shard: Shard) -> IndexRange:
    return {
        "records": list(encoded.record_range(shard.first, shard.stop)),
        "names": list(encoded.name_range(shard.first, shard.stop)),
        "names_base": encoded.name_starts[shard.first],
    }


# -- 2. shards -------------------------------------------------------------------------------------


def verify_shard(
    item: ShardItem, store: WorkStore, client: S3Client, *, deadline: float | None = None
) -> dict[str, Any]:
    """Scan one shard item's members of the bag, write its result; returns a small summary."""
    started = time.monotonic()
    shard = shard_from_dict(item["shard"])
    plan = _shard_plan(item)
    index, marks = _read_index_slice(store, item["index"], shard.first)
    positions = [shard.first + i for i, mark in enumerate(marks) if mark == SCAN]
    label = _label(shard, item["shards"])
    bag = item["object"]
    bucket, key = bag["bucket"], bag["key"]
    assert bucket is not None and key is not None, (
        "verify_shard reads S3 objects (local ones: verify_shard_archive)"
    )
    try:
        archive = S3RangedFile.open(
            client,
            S3Location(bucket, key, bag["version_id"], bag["etag"]),
            tail_size=SHARD_TAIL_BYTES,
            read_ahead_end=shard.end,
            first_read=shard.start,
        )
    except SourceError as failure:
        said = str(failure)
        if isinstance(failure, ObjectChanged):
            pinned = f"version {bag['version_id']}" if bag.get("version_id") else f"ETag {bag.get('etag')}"
            said = (
                f"{plan.source} was replaced after it was planned: it no longer has the {pinned} the "
                "planner read, and nothing of the newer object is verified by this run"
            )
        error = Problem(failure.kind, f"{label}{said}", details=_details(shard, item["shards"]))
        result = unverified_result(plan, index, positions, shard.number, error)
        result.get_requests = 1
    else:
        with archive:
            return verify_shard_archive(
                item,
                store,
                archive,
                deadline=deadline,
                started=started,
                read=(index, marks),
            )
    result.seconds = round(time.monotonic() - started, 3)
    return _write_result(item, store, result)


def verify_shard_archive(
    item: ShardItem,
    store: WorkStore,
    fileobj: ArchiveSource,
    *,
    deadline: float | None = None,
    started: float | None = None,
    read: tuple[MemberIndex, list[int]] | None = None,
) -> dict[str, Any]:
    """`verify_shard` on an archive already open (`fileobj`: S3RangedFile, or a local file)."""
    started = time.monotonic() if started is None else started
    shard = shard_from_dict(item["shard"])
    index, marks = read or _read_index_slice(store, item["index"], shard.first)
    positions = sum(1 for mark in marks if mark == SCAN)
    counter = ScanProgress(positions, max(0, shard.end - shard.start), label=_label(shard, item["shards"]))
    result = scan_shard(
        _shard_plan(item),
        index,
        shard,
        MemberReader(fileobj),
        progress=counter,
        deadline=deadline,
        marks=marks,
    )
    result.get_requests = int(getattr(fileobj, "get_requests", 0))
    result.hedged_requests = int(getattr(fileobj, "hedged_requests", 0))
    result.bytes_read = int(getattr(fileobj, "bytes_received", 0))
    if result.error is not None:
        result.error = Problem(
            result.error.kind,
            result.error.message,
            result.error.path,
            {**result.error.details, **_details(shard, item["shards"])},
        )
    result.seconds = round(time.monotonic() - started, 3)
    return _write_result(item, store, result)


def _write_result(item: ShardItem, store: WorkStore, result: ScanResult) -> dict[str, Any]:
    store.put(item["result"], result_to_jsonl(result), "application/x-ndjson")
    return {
        "shard": item["shard"]["number"] + 1,
        "files": len(result.files),
        "problems": len(result.problems),
        "error": str(result.error.kind) if result.error else None,
    }


def record_shard_failure(item: ShardItem, failure: Mapping[str, Any], store: WorkStore) -> dict[str, Any]:
    """The shard's Lambda failed after its retries: write a result saying so, in its place."""
    shard = shard_from_dict(item["shard"])
    shards = item["shards"]
    error = step_failure(f"{_label(shard, shards)}its Lambda failed", failure, _details(shard, shards))
    store.put(item["result"], failure_to_jsonl(shard.number, error), "application/x-ndjson")
    return {"shard": shard.number + 1, "error": str(error.kind)}


def step_failure(what: str, failure: Mapping[str, Any], details: dict[str, Any] | None = None) -> Problem:
    """A STEP_FAILED problem from a Step Functions error object ({"Error", "Cause"})."""
    error = str(failure.get("Error", "unknown error"))
    cause = str(failure.get("Cause", ""))
    said = cause
    try:  # a Lambda's Cause is JSON: {"errorMessage", "errorType", "stackTrace", ...}
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and parsed.get("errorMessage"):
            said = str(parsed["errorMessage"])
    except ValueError:
        pass
    message = f"{what} ({error})" + (f": {said[:500]}" if said else "")
    return Problem(
        Kind.STEP_FAILED,
        message,
        details={**(details or {}), "error": {"Error": error, "Cause": cause[:MAX_CAUSE_CHARS]}},
    )


# -- 3. aggregate ---------------------------------------------------------------------------------


def aggregate_run(
    store: WorkStore,
    *,
    map_failure: Mapping[str, Any] | None = None,
    profiles: Callable[[str | None], ProfileChoice | None] | None = None,
) -> Verdict:
    """The verdict of the run in `store`: every result merged and checked, every missing one named.

    `profiles`: from the profile the input asked for (or None), the ProfileChoice to check the bag
    against; it raises ProfileInvalid or ProfileUnavailable for a profile that can't be used."""
    plan, document = plan_from_json(store.get(PLAN))
    results: list[ScanResult] = []
    errors: list[Problem] = []
    if profiles is not None:
        try:
            plan.profiles = profiles(plan.requested_profile)
        except (ProfileInvalid, ProfileUnavailable) as failure:
            errors.append(profile_error(failure))
    if plan.listed:
        tags, header = result_from_jsonl(store.get(TAG_RESULT))
        tags.tag_contents = {path: store.get(name) for path, name in header.get("tag_files", {}).items()}
        results.append(tags)
        for shard, index_range in zip(plan.shards, document["index"], strict=True):
            results.append(_shard_result(store, plan, shard, index_range))
    if map_failure:
        errors.append(step_failure("the Distributed Map of the shards failed", map_failure))
    planner = document.get("planner", {})
    return aggregate(
        plan,
        results,
        get_requests=int(planner.get("get_requests", 0)) + sum(r.get_requests for r in results),
        bytes_read=int(planner.get("bytes_read", 0)) + sum(r.bytes_read for r in results),
        seconds=time.time() - float(document.get("started_at", time.time())),
        errors=errors,
        hedged_requests=int(planner.get("hedged_requests", 0)) + sum(r.hedged_requests for r in results),
    )


def failed_plan_verdict(bag: Mapping[str, Any], failure: Mapping[str, Any]) -> Verdict:
    """The verdict when the planner's Lambda itself failed (no plan exists): an error naming it."""
    bucket, key = str(bag.get("bucket", "")), str(bag.get("key", ""))
    source = f"s3://{bucket}/{key}" if bucket and key else ""
    object_info = {"bucket": bucket, "key": key, "version_id": bag.get("version_id")} if source else {}
    problem = step_failure("the planner's Lambda failed", failure, {"step": "plan"})
    return error_verdict(problem, source, object_info)


def _shard_result(store: WorkStore, plan: Plan, shard: Shard, index_range: IndexRange) -> ScanResult:
    label = _label(shard, len(plan.shards))
    try:
        result, header = result_from_jsonl(store.get(shard_result_name(shard.number)))
    except WorkItemMissing:
        error = Problem(
            Kind.STEP_FAILED,
            f"{label}wrote no result: its Lambda failed and the failure could not be recorded "
            "(see the Map Run's failed child executions)",
            details=_details(shard, len(plan.shards)),
        )
        return _unverified_from_index(store, plan, shard, index_range, error)
    if not header.get("scanned", True):
        return _unverified_from_index(store, plan, shard, index_range, result.error)
    return result


def _unverified_from_index(
    store: WorkStore, plan: Plan, shard: Shard, index_range: IndexRange, error: Problem | None
) -> ScanResult:
    index, marks = _read_index_slice(store, index_range, shard.first)
    positions = [shard.first + i for i, mark in enumerate(marks) if mark == SCAN]
    return unverified_result(plan, index, positions, shard.number, error)


# -- helpers ---------------------------------------------------------------------------------------


def _shard_plan(item: ShardItem) -> Plan:
    """What a shard needs of the plan: the bag root and the algorithms."""
    return Plan(
        item["source"],
        dict(item["object"]),
        archive_bytes=item["archive_bytes"],
        root=item["root"],
        payload_algorithms=list(item["payload_algorithms"]),
        tag_algorithms=list(item["tag_algorithms"]),
        listed=True,
    )


def _read_index_slice(store: WorkStore, index_range: IndexRange, first: int) -> tuple[MemberIndex, list[int]]:
    records = store.get(INDEX, *index_range["records"])
    names = store.get(INDEX, *index_range["names"])
    index, marks = MemberIndex.decode_slice(first, records, names, index_range["names_base"])
    return index, list(marks)


def _label(shard: Shard, shards: int) -> str:
    return (
        f"shard {shard.number + 1} of {shards} (index positions {shard.first:,}-{shard.stop - 1:,}, "
        f"archive bytes {shard.start:,}-{shard.end:,}): "
    )


def _details(shard: Shard, shards: int) -> dict[str, Any]:
    return {"shard": shard.number + 1, "shards": shards, "archive_bytes": [shard.start, shard.end]}
