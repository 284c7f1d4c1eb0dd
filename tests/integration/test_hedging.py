"""Hedging slow parts, end to end: the real engine (S3RangedFile, its own botocore client) against
moto's server through the fault proxy (devtools/fault_proxy.py), which trickles the GETs chosen.

Each test checks what must not change (status, every problem named, files and bytes, as verified
from memory), what reached the server (the hedge's range, its version pin), and the counts in the
stats. Times are asserted only with wide margins, against a trickle whose pace sets a lower bound.

The bags hold 20 MiB of incompressible payload, read here in 2 MiB parts (a 2 MiB tail, then
9 parts, 4 in flight): enough parts for the threshold to have peers, few enough to stay quick.
"""

from __future__ import annotations

import io
import random
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bagverify.sources import S3RangedFile, make_s3_client
from bagverify.sources.read_ahead import HEDGE_FLOOR_SECONDS, HedgePolicy
from bagverify.verdict import Verdict
from bagverify.verify import verify_archive
from devtools.fault_proxy import FaultProxy, Seen, ignore_range, is_get, shift_range, trickle
from devtools.sample_bags import flip_byte, make_bag_zip
from tests.integration.outcomes import Outcome, bounded, outcome

KiB = 1024
MiB = 1024 * KiB
PART = 2 * MiB
KEY = "incoming/bag.zip"
TIME_LIMIT = 60.0


@dataclass(frozen=True)
class Bag:
    data: bytes
    expected: Outcome
    flipped_part: int  # start of the part holding the flipped byte (in both: same layout)


@pytest.fixture(scope="module")
def bags() -> dict[str, Bag]:
    rng = random.Random(20240618)
    files = {f"part-{i}.bin": rng.randbytes(4 * MiB) for i in range(5)}
    made = {
        "valid": make_bag_zip(files, algorithms=["sha256"]),
        "invalid": make_bag_zip(files, algorithms=["sha256"], tamper=flip_byte("data/part-2.bin", 1000)),
    }
    with zipfile.ZipFile(io.BytesIO(made["invalid"])) as archive:
        flipped = archive.getinfo("sample-bag/data/part-2.bin").header_offset + 1000
    part = flipped // PART * PART
    out = {
        name: Bag(data, outcome(verify_archive(io.BytesIO(data), name)), part) for name, data in made.items()
    }
    assert out["invalid"].expected[0] == "invalid" and out["valid"].expected[0] == "valid"
    return out


@pytest.fixture(autouse=True)
def no_read_ahead_thread_left() -> Iterator[None]:
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith("s3-read-ahead")]
    assert not left, f"read-ahead or hedge threads still running after verification: {left}"


@dataclass
class Run:
    verdict: Verdict
    seconds: float
    hedged_requests: int
    hedges_used: int
    get_requests: int


def verify(bucket: str, hedging: HedgePolicy | None = None) -> Run:
    """The engine's own client and S3RangedFile (2 MiB parts, 4 in flight), under a time limit."""

    def run() -> Run:
        started = time.monotonic()
        with S3RangedFile(
            make_s3_client(),
            bucket,
            KEY,
            part_size=PART,
            tail_size=PART,
            read_ahead=4,
            first_read=0,
            hedging=hedging,
        ) as archive:
            verdict = verify_archive(archive, f"s3://{bucket}/{KEY}", object_info=archive.object_info)
        seconds = time.monotonic() - started  # the file closed too: its GETs abandoned, threads done
        return Run(verdict, seconds, archive.hedged_requests, archive.hedges_used, archive.get_requests)

    return bounded(run, TIME_LIMIT)


def parts_of(bag: Bag) -> int:
    return -(-(len(bag.data) - PART) // PART)


def is_first_get_of(part: int) -> Any:
    """The part's first GET (its range starts where the part does); not a hedge, which starts later."""
    return is_get(key=KEY, range_start=part)


def ends_the_part(part: int) -> Any:
    """GETs of bytes up to the end of the part: its first GET and its hedge."""
    return lambda seen: is_get(key=KEY)(seen) and seen.range_end == part + PART - 1


def hedges_of(gets: list[Seen], part: int) -> list[Seen]:
    """The GETs of the part after its first (no resumes here: nothing drops)."""
    return [g for g in gets if ends_the_part(part)(g)][1:]


# -- a trickling part is hedged -------------------------------------------------------------


@pytest.mark.parametrize("which", ["valid", "invalid"])
def test_a_trickling_part_is_hedged_from_the_byte_reached_and_the_verdict_is_the_same_and_sooner(
    which: str, bags: dict[str, Bag], proxy: FaultProxy, s3: Any, versioned_bucket: str
) -> None:
    bag = bags[which]
    version = s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=bag.data)["VersionId"]
    # The part holding the flipped byte of the invalid bag: its bytes are the hedge's and the first
    # GET's put together, so a misplaced byte would change the verdict.
    part = bag.flipped_part
    # 2 MiB: its first 512 KiB (two of the reader's chunks) at once, the rest at 256 KiB/s: 6 s unhedged.
    rate, fast = 256 * KiB, 512 * KiB
    proxy.inject(trickle(rate, after=fast), when=is_first_get_of(part))

    run = verify(versioned_bucket)

    assert outcome(run.verdict) == bag.expected
    gets = proxy.gets(KEY)
    [hedge] = hedges_of(gets, part)
    # From the byte the trickle had reached (a whole number of 256 KiB chunks, the fast ones at least)
    # to the part's end; pinned to the same version as every GET; 206, and used.
    assert hedge.range_start is not None and hedge.range_start >= part + fast
    assert (hedge.range_start - part) % (256 * KiB) == 0
    assert hedge.range_end == part + PART - 1 and hedge.status == 206 and hedge.fault is None
    assert {g.version_id for g in gets if not g.is_suffix_range} == {version}
    assert (run.hedged_requests, run.hedges_used) == (1, 1)
    assert run.verdict.stats.hedged_requests == 1
    assert run.verdict.stats.get_requests == run.get_requests == 1 + parts_of(bag) + 1
    # Sooner than the trickle alone takes (6 s): the floor, then a fast GET of the rest.
    assert run.seconds < 0.75 * (PART - fast) / rate, run.seconds


@pytest.mark.parametrize("which", ["valid", "invalid"])
def test_a_trickling_tail_is_hedged_from_the_byte_reached_pinned_to_its_version(
    which: str, bags: dict[str, Bag], proxy: FaultProxy, s3: Any, versioned_bucket: str
) -> None:
    """The first GET (size, directory, manifests) has no peers: past HEDGE_WITHOUT_PEERS_SECONDS at a crawl,
    the rest of it is asked for by an ordinary range, pinned to the version the tail's answer gave."""
    bag = bags[which]
    version = s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=bag.data)["VersionId"]
    rate, fast = 128 * KiB, 256 * KiB  # the 2 MiB tail: 256 KiB at once, then 14 s for the rest
    proxy.inject(trickle(rate, after=fast), when=lambda seen: is_get(key=KEY)(seen) and seen.is_suffix_range)

    run = verify(versioned_bucket)

    assert outcome(run.verdict) == bag.expected
    gets = proxy.gets(KEY)
    assert gets[0].is_suffix_range and gets[0].fault is not None
    tail_start = len(bag.data) - PART
    [hedge] = [g for g in gets if g.range_end == len(bag.data) - 1 and not g.is_suffix_range]
    assert hedge.range_start is not None and tail_start + fast <= hedge.range_start < len(bag.data)
    assert hedge.version_id == version and hedge.status == 206 and hedge.fault is None
    assert (run.hedged_requests, run.hedges_used) == (1, 1)
    assert run.verdict.stats.hedged_requests == 1
    assert run.seconds < 0.5 * (PART - fast) / rate, run.seconds


def test_without_hedging_the_same_trickle_holds_the_verdict_back(
    bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    """The contrast: the same fault, hedging off, and the verdict waits for the last trickled byte."""
    bag = bags["valid"]
    s3.put_object(Bucket=bucket, Key=KEY, Body=bag.data)
    rate = 256 * KiB  # 2 MiB: 8 s
    proxy.inject(trickle(rate), when=is_first_get_of(bag.flipped_part))

    run = verify(bucket, HedgePolicy(enabled=False))

    assert outcome(run.verdict) == bag.expected
    assert run.hedged_requests == run.verdict.stats.hedged_requests == 0
    assert run.seconds >= 0.9 * PART / rate  # the trickle's pace is a lower bound, not a guess


# -- bounded --------------------------------------------------------------------------------


def test_hedges_stay_within_a_fifth_of_the_parts_however_many_trickle(
    bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    bag = bags["valid"]
    s3.put_object(Bucket=bucket, Key=KEY, Body=bag.data)
    slow = {n * PART for n in range(1, parts_of(bag), 2)}  # every other part: 4 of 9
    rate = 512 * KiB  # 4 s each, well past the floor
    assert PART / rate > 2 * HEDGE_FLOOR_SECONDS
    proxy.inject(
        trickle(rate),
        when=lambda seen: is_get(key=KEY)(seen) and seen.range_start in slow,
        times=None,
    )

    run = verify(bucket)

    assert outcome(run.verdict) == bag.expected
    allowed = max(1, parts_of(bag) // 5)  # 9 parts planned: 1
    assert run.hedged_requests == allowed  # spent, and no more
    assert len(proxy.gets(KEY)) == run.get_requests == 1 + parts_of(bag) + allowed


# -- a hedge's answer is checked like any other -------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [pytest.param(shift_range(PART), id="206-other-bytes"), pytest.param(ignore_range(), id="200-whole")],
)
@pytest.mark.parametrize("which", ["valid", "invalid"])
def test_a_hedge_answered_with_other_bytes_is_never_used(
    which: str, answer: Any, bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    bag = bags[which]
    s3.put_object(Bucket=bucket, Key=KEY, Body=bag.data)
    part = bag.flipped_part
    rate = 512 * KiB  # 4 s: the verdict waits for it
    proxy.inject(trickle(rate), when=is_first_get_of(part))
    proxy.inject(answer, when=ends_the_part(part), times=None)  # the trickle rule took the first GET

    run = verify(bucket)

    assert outcome(run.verdict) == bag.expected  # not a verdict on the bytes the hedge was given
    [hedge] = hedges_of(proxy.gets(KEY), part)
    assert hedge.fault == answer.name and hedge.status in (200, 206)
    # One attempt (closed unread, not asked for again): the part came from its first GET.
    assert (run.hedged_requests, run.hedges_used) == (1, 0)
    assert run.get_requests == 1 + parts_of(bag) + 1
    assert run.seconds >= 0.9 * PART / rate
