"""The work location of a distributed run, and what is written there.

One run's objects live under one prefix (`runs/<execution name>/` in the work bucket, which
expires them): written once each, by one step, read by the next ones.

- `plan.json` (planner → aggregator): the plan: object pinned, bag root, manifests, algorithms,
  listing problems, shards, where each shard's part of the index lies. Written last.
- `shards.json` (planner → the Distributed Map's ItemReader): one item per shard, all its Lambda needs.
- `index.bin` (planner → each shard, by two ranged GETs; the aggregator for a failed shard's
  members): the compact member index (`MemberIndex.encode`).
- `tag-files/<n>` (planner → aggregator): each tag file the checks parse, as it is in the bag.
- `results/tags.jsonl` (planner → aggregator): the planner's scan of those tag files.
- `results/shard-<n>.jsonl` (shard n, or the state machine's Catch for it → aggregator): one
  shard's scan: per member its path, size and digests; problems; how it ended.

A result is JSON Lines: a header object (problems, warnings, error, stats), then one line per
member: `[path, size, digests in hex]` (its algorithms' digests concatenated, as `ScanResult.files`
holds them; `null`: it could not be read) or, for a member not read because the scan stopped,
`[path, size]`. A million members make ~100-200 MB of lines, read back one line at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from bagverify.bag.layout import ManifestName
from bagverify.pipeline.plan import Plan, Shard
from bagverify.pipeline.scan import ScanResult
from bagverify.verdict import Kind, Mode, Problem

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

def run_folder(run: object) -> str:
    """A run's name (a Step Functions execution's, say) as one folder name of the work bucket: every
    character but letters, digits and `._-` replaced by `-`, so that no name reaches another run's
    folder or climbs out of its own."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in str(run))


PLAN = "plan.json"
SHARDS = "shards.json"
INDEX = "index.bin"
TAG_RESULT = "results/tags.jsonl"


def shard_result_name(number: int) -> str:
    return f"results/shard-{number:05d}.jsonl"


def tag_file_name(position: int) -> str:
    return f"tag-files/{position}"


class WorkItemMissing(Exception):
    """The object is not in the work location (a step that never wrote it)."""


class WorkStore(Protocol):
    """Where one run's objects are kept, by name."""

    def put(self, name: str, data: bytes | bytearray, content_type: str = "application/octet-stream") -> None:
        """Write the object `name` (whole, replacing any earlier one)."""

    def get(self, name: str, start: int | None = None, stop: int | None = None) -> bytes:
        """The object `name`, or its bytes [start, stop); WorkItemMissing if there is none."""

    def describe(self) -> dict[str, str]:
        """Where the store is, for the steps after this one (`S3WorkStore.from_description`)."""


class S3WorkStore:
    """Objects under `prefix` in `bucket`."""

    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"

    @classmethod
    def from_description(cls, client: S3Client, description: dict[str, str]) -> S3WorkStore:
        return cls(client, description["bucket"], description["prefix"])

    def describe(self) -> dict[str, str]:
        return {"bucket": self.bucket, "prefix": self.prefix}

    def key(self, name: str) -> str:
        return self.prefix + name

    def put(self, name: str, data: bytes | bytearray, content_type: str = "application/octet-stream") -> None:
        # bytes or bytearray as is: the index of a million entries is ~100 MB, not copied.
        body: Any = data
        self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=body, ContentType=content_type)

    def get(self, name: str, start: int | None = None, stop: int | None = None) -> bytes:
        extra: dict[str, str] = {}
        if start is not None and stop is not None:
            if stop <= start:
                return b""
            extra["Range"] = f"bytes={start}-{stop - 1}"
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(name), **extra)  # type: ignore[arg-type]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise WorkItemMissing(f"s3://{self.bucket}/{self.key(name)}") from error
            raise
        return response["Body"].read()


class MemoryWorkStore:
    """Objects in a dict: for tests, and for running the distributed steps in one process."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def describe(self) -> dict[str, str]:
        return {"memory": str(id(self))}

    def put(self, name: str, data: bytes | bytearray, content_type: str = "application/octet-stream") -> None:
        self.objects[name] = bytes(data)

    def get(self, name: str, start: int | None = None, stop: int | None = None) -> bytes:
        if name not in self.objects:
            raise WorkItemMissing(name)
        data = self.objects[name]
        return data if start is None or stop is None else data[start:stop]


# -- problems ------------------------------------------------------------------------------


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    return problem.to_dict()


def problem_from_dict(data: dict[str, Any]) -> Problem:
    details = {k: v for k, v in data.items() if k not in ("kind", "message", "path")}
    return Problem(Kind(data["kind"]), str(data["message"]), data.get("path"), details)


def _problems(items: list[dict[str, Any]] | None) -> list[Problem]:
    return [problem_from_dict(item) for item in items or []]


# -- the plan ------------------------------------------------------------------------------


def plan_to_json(plan: Plan, extra: dict[str, Any]) -> bytes:
    """The plan without its index (that is `index.bin`), plus the run's `extra` fields."""
    document = {
        "source": plan.source,
        "object": plan.object,
        "archive_bytes": plan.archive_bytes,
        "root": plan.root,
        "manifests": [manifest.path for manifest in plan.manifests],
        "payload_algorithms": plan.payload_algorithms,
        "tag_algorithms": plan.tag_algorithms,
        "has_payload_dir": plan.has_payload_dir,
        "listed": plan.listed,
        "mode": str(plan.mode),
        "profile": plan.requested_profile,
        "serialization": plan.serialization,
        "problems": [problem_to_dict(p) for p in plan.problems],
        "warnings": [problem_to_dict(p) for p in plan.warnings],
        "error": problem_to_dict(plan.error) if plan.error else None,
        "shards": [shard_to_dict(shard) for shard in plan.shards],
        **extra,
    }
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def plan_from_json(data: bytes) -> tuple[Plan, dict[str, Any]]:
    """The plan (without index or marks) and the whole document, for the run's extra fields."""
    document = json.loads(data)
    manifests = [ManifestName.parse(path) for path in document["manifests"]]
    plan = Plan(
        document["source"],
        document["object"],
        archive_bytes=document["archive_bytes"],
        root=document["root"],
        manifests=[m for m in manifests if m is not None],
        payload_algorithms=document["payload_algorithms"],
        tag_algorithms=document["tag_algorithms"],
        has_payload_dir=document["has_payload_dir"],
        problems=_problems(document["problems"]),
        warnings=_problems(document["warnings"]),
        error=problem_from_dict(document["error"]) if document["error"] else None,
        listed=document["listed"],
        shards=[shard_from_dict(item) for item in document["shards"]],
        mode=Mode(document.get("mode", "full")),
        requested_profile=document.get("profile"),
        serialization=document.get("serialization", "application/zip"),
    )
    return plan, document


def shard_to_dict(shard: Shard) -> dict[str, int]:
    return {
        "number": shard.number,
        "first": shard.first,
        "stop": shard.stop,
        "start": shard.start,
        "end": shard.end,
        "files": shard.files,
        "bytes": shard.bytes,
        "work": shard.work,
    }


def shard_from_dict(data: dict[str, Any]) -> Shard:
    return Shard(
        int(data["number"]),
        int(data["first"]),
        int(data["stop"]),
        int(data["start"]),
        int(data["end"]),
        int(data["files"]),
        int(data["bytes"]),
        int(data["work"]),
    )


# -- results -------------------------------------------------------------------------------


def result_to_jsonl(result: ScanResult, *, tag_files: dict[str, str] | None = None) -> bytes:
    """`tag_files`: the work-store name of each kept tag file's contents (written separately)."""
    header = {
        "shard": result.shard,
        "scanned": True,
        "problems": [problem_to_dict(p) for p in result.problems],
        "warnings": [problem_to_dict(p) for p in result.warnings],
        "error": problem_to_dict(result.error) if result.error else None,
        "unreadable": result.unreadable,
        "tag_files": tag_files or {},
        "files": len(result.files),
        "unverified": len(result.unverified),
        "get_requests": result.get_requests,
        "hedged_requests": result.hedged_requests,
        "bytes_read": result.bytes_read,
        "seconds": result.seconds,
    }
    lines = [json.dumps(header, ensure_ascii=False)]
    lines.extend(
        json.dumps([path, size, None if digests is None else digests.hex()], ensure_ascii=False)
        for path, size, digests in result.files
    )
    lines.extend(json.dumps([path, size], ensure_ascii=False) for path, size in result.unverified)
    lines.append("")
    return "\n".join(lines).encode("utf-8")


def failure_to_jsonl(shard: int, error: Problem) -> bytes:
    """A shard that could not scan at all: its members are taken from the index by the aggregator."""
    header = {"shard": shard, "scanned": False, "error": problem_to_dict(error)}
    return (json.dumps(header, ensure_ascii=False) + "\n").encode("utf-8")


def result_from_jsonl(data: bytes) -> tuple[ScanResult, dict[str, Any]]:
    """The result and its header (for `scanned` and `tag_files`)."""
    lines = _lines(data)
    header = json.loads(next(lines))
    result = ScanResult(
        header.get("shard"),
        problems=_problems(header.get("problems")),
        warnings=_problems(header.get("warnings")),
        error=problem_from_dict(header["error"]) if header.get("error") else None,
        unreadable=list(header.get("unreadable", [])),
        get_requests=int(header.get("get_requests", 0)),
        hedged_requests=int(header.get("hedged_requests", 0)),
        bytes_read=int(header.get("bytes_read", 0)),
        seconds=float(header.get("seconds", 0.0)),
    )
    for line in lines:
        item = json.loads(line)
        if len(item) == 3:
            result.files.append((item[0], int(item[1]), None if item[2] is None else bytes.fromhex(item[2])))
        else:
            result.unverified.append((item[0], int(item[1])))
    return result, header


def _lines(data: bytes) -> Iterator[str]:
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        if end < 0:
            end = len(data)
        if end > start:
            yield data[start:end].decode("utf-8")
        start = end + 1
