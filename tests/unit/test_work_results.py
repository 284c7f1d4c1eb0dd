"""A shard's result as the work store holds it (pipeline/work.py): what the aggregator reads back is
what the shard wrote, its request counts included (the verdict's stats are their sums)."""

from __future__ import annotations

from bagverify.pipeline.scan import ScanResult
from bagverify.pipeline.work import result_from_jsonl, result_to_jsonl


def test_a_shard_result_round_trips_with_its_counts() -> None:
    result = ScanResult(
        2,
        files=[("data/a.txt", 3, bytes.fromhex("ab" * 32)), ("data/b.txt", 0, None)],
        get_requests=14,
        hedged_requests=3,
        bytes_read=99_000_000,
        seconds=4.5,
    )

    back, header = result_from_jsonl(result_to_jsonl(result))

    assert header["scanned"] is True
    assert (back.shard, back.get_requests, back.hedged_requests, back.bytes_read, back.seconds) == (
        2,
        14,
        3,
        99_000_000,
        4.5,
    )
    assert back.files == result.files


def test_a_result_written_before_hedging_reads_as_no_hedges() -> None:
    """A run planned by an older version, aggregated by this one: no key, no hedges, not an error."""
    written = result_to_jsonl(ScanResult(0, get_requests=2)).replace(b'"hedged_requests": 0, ', b"")
    assert b"hedged_requests" not in written

    back, _ = result_from_jsonl(written)

    assert (back.get_requests, back.hedged_requests) == (2, 0)
