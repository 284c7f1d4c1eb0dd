"""The distributed steps on a local ZIP, with a folder as the work location: for tests and measurements.

`run_locally` does what the distributed state machine does, in one process and in order: plan
(`plan_archive`), each shard item of shards.json (`verify_shard_archive`, each on its own file
object, as each Lambda opens its own), aggregate (`aggregate_run`). Every hand-over goes through
the folder exactly as through the work bucket, so the serialized plan, index and results are the
ones a deployment reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bagverify.pipeline.distributed import aggregate_run, plan_archive, verify_shard_archive
from bagverify.pipeline.plan import ShardSizing
from bagverify.pipeline.work import SHARDS, WorkItemMissing
from bagverify.verdict import Verdict


class DirectoryWorkStore:
    """A WorkStore in a local folder (object names are relative paths)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> dict[str, str]:
        return {"directory": str(self.root)}

    def put(self, name: str, data: bytes | bytearray, content_type: str = "application/octet-stream") -> None:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def get(self, name: str, start: int | None = None, stop: int | None = None) -> bytes:
        path = self.root / name
        if not path.is_file():
            raise WorkItemMissing(str(path))
        with path.open("rb") as file:
            if start is None or stop is None:
                return file.read()
            file.seek(start)
            return file.read(max(0, stop - start))


def run_locally(
    archive: Path, store: DirectoryWorkStore, sizing: ShardSizing
) -> tuple[Verdict, dict[str, Any]]:
    """The verdict, and the planner's summary."""
    with archive.open("rb") as file:
        summary = plan_archive(
            file, store, source=str(archive), object_info={"path": str(archive)}, sizing=sizing
        )
    for item in json.loads(store.get(SHARDS)):
        with archive.open("rb") as file:
            verify_shard_archive(item, store, file)
    return aggregate_run(store), summary
