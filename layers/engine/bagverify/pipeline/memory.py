"""How much memory verifying a planned bag takes, known from its central directory alone.

Every file's path, size and digests, and each manifest's lines, are held at once by whichever
process runs the checks: the one process of `bagverify.verify`, or the aggregator of a distributed
run. A bag of more files than that process holds is refused before any work, with a problem that
says so (`too_many_files`), instead of the process being killed for memory after minutes of work
with no verdict.
"""

from __future__ import annotations

from bagverify.pipeline.plan import Plan
from bagverify.verdict import Kind, Problem

# Of the memory a process has, the most a verification is planned to take.
MEMORY_SHARE = 0.9
# Measured (docs/large-bags.md, "Memory of one invocation"): a million files of 22-character paths peaked at
# 862 MB with one manifest and 1,264 MB with two (10^6 bytes), the interpreter's ~70 MB included.
# Each path is held about four times (index, scan result, each manifest), each string with ~49
# bytes of overhead.
_BASELINE_BYTES = 70_000_000
_BYTES_PER_FILE = 106
_BYTES_PER_PATH_COPY = 49
_PATH_COPIES = 4
_BYTES_PER_FILE_AND_ALGORITHM = 402
# Parsed tag files (manifests) held at once, per byte of them: a 262 MB manifest peaked at 1.03 GB.
_BYTES_PER_TAG_FILE_BYTE = 4


def estimated_memory(plan: Plan) -> int:
    """Bytes one process is expected to need to verify the planned bag (peak, interpreter included).

    For a distributed run's aggregator this errs high: it holds no archive buffers and measured
    688 MB for the million files this says 862 MB for.
    """
    assert plan.index is not None
    index = plan.index
    files = len(index.names)
    if files == 0:
        return _BASELINE_BYTES
    average_path = sum(map(len, index.names)) / files - len(plan.root)
    algorithms = max(1, len(plan.payload_algorithms))
    per_file = (
        _BYTES_PER_FILE
        + _PATH_COPIES * (_BYTES_PER_PATH_COPY + average_path)
        + _BYTES_PER_FILE_AND_ALGORITHM * algorithms
    )
    # Manifests listing files the archive lacks cost memory too, known only from their sizes.
    tag_bytes = sum(index.sizes[position - index.first] for position in plan.tag_positions)
    return int(_BASELINE_BYTES + max(files * per_file, _BYTES_PER_TAG_FILE_BYTE * tag_bytes))


def refuse_too_many_files(plan: Plan, limit: int | None, *, holder: str, remedy: str) -> None:
    """When the planned bag needs more than MEMORY_SHARE of `limit` bytes in `holder` ("one process",
    "the aggregating function"), make too_many_files the plan's error and drop its listing: nothing
    is scanned, and `aggregate` turns the plan into an *error* verdict as for any plan that failed.
    Nothing happens without a limit. `remedy` ends the message."""
    if not plan.listed or not limit:
        return
    needed = estimated_memory(plan)
    if needed <= MEMORY_SHARE * limit:
        return
    assert plan.index is not None
    entries = len(plan.index)
    plan.error = Problem(
        Kind.TOO_MANY_FILES,
        f"{entries:,} entries would need about {needed / 1e6:,.0f} MB to verify in {holder}, more than "
        f"{MEMORY_SHARE:.0%} of its {limit / 1e6:,.0f} MB: not verified; {remedy}",
        details={
            "entries": entries,
            "estimated_mb": round(needed / 1e6),
            "memory_limit_mb": round(limit / 1e6),
        },
    )
    plan.drop_listing()
