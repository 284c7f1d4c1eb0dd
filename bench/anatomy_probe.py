"""One `bagverify verify s3://…` as the CLI runs it, timed by phase, with each thread's CPU.

Run by `bench.anatomy` as its own process (`python -m bench.anatomy_probe URL`); prints one JSON
object. The engine is not changed: its module-level steps are wrapped with timers from outside.

Phases, in the order they happen (seconds of wall time from this module's first line):

* `imports`: the engine and boto3 imported (the CLI's imports);
* `client`: the S3 client made;
* `open`: the tail GET (`S3RangedFile.__init__`: the directory, the size, the pin);
* `plan`: the central directory indexed and the shards cut (`make_plan`);
* `scan`: every member read, inflated, CRC-checked and digested (`scan_in_process`);
* `checks`: the manifests parsed and every BagIt check run (`aggregate`).

CPU (user and system seconds, from /proc/self/task/<tid>/stat) by thread: `main` (the start-up,
then planning, reading members, inflating, CRC-32, the checks), `read-ahead` (the GETs: receiving
and copying parts), `hashing` (the digest threads of large members), taken just before the file's
read-ahead threads end; `start-up`: the process's CPU once the client is made.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import gc  # noqa: E402 - after the clock starts: the imports are what is measured
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import bagverify.verify as verify  # noqa: E402
from bagverify.sources import S3Location, make_s3_client  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[str, dict[str, float]]:
    """User and system CPU seconds of the live threads, grouped by what they do."""
    groups: dict[str, dict[str, float]] = {}
    for thread in threading.enumerate():
        try:
            with open(f"/proc/self/task/{thread.native_id}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        name = thread.name
        group = (
            "main"
            if thread is threading.main_thread()
            else "hashing"
            if name.startswith("hash-")
            else "read-ahead"
            if name.startswith("s3-read-ahead")
            else "other"
        )
        cpu = groups.setdefault(group, {"user": 0.0, "sys": 0.0})
        cpu["user"] += int(fields[11]) / _TICK  # utime (field 14 of stat, 0-based 11 after the name)
        cpu["sys"] += int(fields[12]) / _TICK
    return groups


def main(url: str) -> dict[str, Any]:
    imported = time.perf_counter()
    client = make_s3_client()
    gc.freeze()  # as the CLI does after its imports
    ready = time.perf_counter()
    at_ready = os.times()  # the start-up's CPU, all of it on the main thread
    spans: dict[str, float] = {}
    cpu: dict[str, dict[str, float]] = {}

    def timed(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                spans[name] = spans.get(name, 0.0) + time.perf_counter() - began

        return run

    class TimedFile(verify.S3RangedFile):  # type: ignore[misc, name-defined]
        __init__ = timed("open", verify.S3RangedFile.__init__)  # type: ignore[attr-defined]

        def close(self) -> None:
            if not cpu:  # before the read-ahead threads end with the file's executor
                cpu.update(thread_cpu())
            super().close()

    verify.S3RangedFile = TimedFile  # type: ignore[attr-defined]
    verify.make_plan = timed("plan", verify.make_plan)  # type: ignore[attr-defined]
    verify.scan_in_process = timed("scan", verify.scan_in_process)
    verify.aggregate = timed("checks", verify.aggregate)  # type: ignore[attr-defined]
    verdict = verify.verify_s3_object(S3Location.from_url(url), client)
    finished = time.perf_counter()
    process = os.times()
    return {
        "status": str(verdict.status),
        "get_requests": verdict.stats.get_requests,
        "phases": {
            "imports": imported - STARTED,
            "client": ready - imported,
            **spans,
            "total": finished - STARTED,
        },
        "cpu": {
            **cpu,
            "start-up": {"user": at_ready.user, "sys": at_ready.system},
            "process": {"user": process.user, "sys": process.system},
        },
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
