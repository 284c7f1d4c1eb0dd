"""S3 faults, injected by a proxy (devtools/fault_proxy.py) between the real engine and moto's server.

Each test makes S3 or the network misbehave in one way and checks the verdict: *unchanged*
(the same status and the same named problems as the bag gives with no fault) for what an S3
reader must survive, else an `error` of the right kind with a clear message. The engine's own
client is used (`make_s3_client()`, standard retry mode, pointed at the proxy through
AWS_ENDPOINT_URL), and the proxy's record of what reached the server is checked: retries,
resumed ranges, pinned versions. Every verification runs under a time limit, and no read-ahead
thread may outlive it.

The bags hold 20 MiB of incompressible payload, so they are read in three GETs: the 8 MiB tail,
then two parts fetched in parallel, [0, 8 MiB) and [8 MiB, tail start).
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
from botocore.retries.standard import ExponentialBackoff

from bagverify.sources import ObjectChanged, S3Location, S3RangedFile, SourceError, make_s3_client
from bagverify.sources.s3_ranged_file import (
    DEFAULT_PART_SIZE,
    DEFAULT_TAIL_SIZE,
    MAX_BODY_RESUMES,
    RANGE_ATTEMPTS,
)
from bagverify.verdict import Kind, Status, Verdict
from bagverify.verify import verify_archive, verify_s3_object
from devtools.fault_proxy import (
    FaultProxy,
    Seen,
    access_denied,
    drop_body,
    expired_token,
    hang_up,
    ignore_range,
    internal_error,
    is_get,
    run_before,
    s3_error,
    shift_range,
    slow_down,
)
from devtools.sample_bags import flip_byte, make_bag_zip
from tests.integration.outcomes import Outcome, bounded, outcome

KiB = 1024
MiB = 1024 * KiB
PART = DEFAULT_PART_SIZE
# No verification here may take longer; a hang fails the test instead of stalling the run.
TIME_LIMIT = 30.0
KEY = "incoming/bag.zip"


@dataclass(frozen=True)
class Bag:
    data: bytes
    expected: Outcome  # as verified from memory, no S3 involved

    @property
    def tail_start(self) -> int:
        return len(self.data) - DEFAULT_TAIL_SIZE


@pytest.fixture(scope="module")
def bags() -> dict[str, Bag]:
    """A valid bag of 5 x 4 MiB random files, and the same with one byte flipped in the middle part."""
    rng = random.Random(20240607)
    files = {f"part-{i}.bin": rng.randbytes(4 * MiB) for i in range(5)}
    made = {
        "valid": make_bag_zip(files, algorithms=["sha256"]),
        "invalid": make_bag_zip(files, algorithms=["sha256"], tamper=flip_byte("data/part-2.bin", 1000)),
    }
    out = {name: Bag(data, outcome(verify_archive(io.BytesIO(data), name))) for name, data in made.items()}
    valid, invalid = out["valid"], out["invalid"]
    # The layout the tests rely on: same size, three GETs, the flipped byte in the part [8 MiB, tail).
    assert len(valid.data) == len(invalid.data) and 2 * PART < len(valid.data) < 3 * PART
    with zipfile.ZipFile(io.BytesIO(invalid.data)) as archive:
        assert PART < archive.getinfo("sample-bag/data/part-2.bin").header_offset + 1000 < valid.tail_start
    assert valid.expected[0] == "valid" and invalid.expected[0] == "invalid"
    assert [p[:2] for p in invalid.expected[1]] == [("checksum_mismatch", "data/part-2.bin")]
    return out


class Backoff:
    """botocore's retry delays (standard mode) as it computes them; slept for `scale` of each."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.scale = 1.0


@pytest.fixture
def backoff(monkeypatch: pytest.MonkeyPatch) -> Backoff:
    spy = Backoff()
    original = ExponentialBackoff.delay_amount

    def delay_amount(self: ExponentialBackoff, context: Any) -> float:
        delay = float(original(self, context))
        spy.delays.append(delay)
        return delay * spy.scale

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", delay_amount)
    return spy


@pytest.fixture(autouse=True)
def no_read_ahead_thread_left() -> Iterator[None]:
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith("s3-read-ahead")]
    assert not left, f"read-ahead threads still running after verification: {left}"


def verify(bucket: str, version_id: str | None = None) -> Verdict:
    return bounded(lambda: verify_s3_object(S3Location(bucket, KEY, version_id)), TIME_LIMIT)


def the_error(verdict: Verdict) -> tuple[Status, Kind, str]:
    assert len(verdict.problems) == 1, verdict.problems
    return verdict.status, verdict.problems[0].kind, verdict.problems[0].message


def is_part_get(seen: Seen) -> bool:
    return seen.method == "GET" and not seen.is_suffix_range


# -- retried by botocore -----------------------------------------------------------


@pytest.mark.parametrize("which", ["valid", "invalid"])
def test_slowdown_and_internal_error_are_retried_with_backoff_and_the_verdict_is_unchanged(
    which: str, bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str, backoff: Backoff
) -> None:
    bag = bags[which]
    s3.put_object(Bucket=bucket, Key=KEY, Body=bag.data)
    proxy.inject(slow_down(), when=is_get(suffix=True))
    proxy.inject(slow_down(), when=is_get(range_start=0))
    proxy.inject(internal_error(), when=is_get(range_start=PART), times=2)

    verdict = verify(bucket)

    assert outcome(verdict) == bag.expected
    gets = proxy.gets()
    assert [g.status for g in gets if g.is_suffix_range] == [503, 206]
    assert [g.status for g in gets if g.range_start == 0] == [503, 206]
    assert [g.status for g in gets if g.range_start == PART] == [500, 500, 206]
    # What reached S3: each of the engine's 3 GETs once, plus botocore's 4 retries, each after a backoff.
    assert verdict.stats.get_requests == 3
    assert len(gets) == 3 + 4
    assert len(backoff.delays) == 4 and all(delay > 0 for delay in backoff.delays)


def test_connection_closed_before_any_answer_is_retried(
    bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str, backoff: Backoff
) -> None:
    bag = bags["valid"]
    s3.put_object(Bucket=bucket, Key=KEY, Body=bag.data)
    proxy.inject(hang_up(), when=is_get(range_start=PART))

    verdict = verify(bucket)

    assert outcome(verdict) == bag.expected
    assert [g.status for g in proxy.gets() if g.range_start == PART] == [None, 206]
    assert len(backoff.delays) == 1


# -- resumed by the engine -----------------------------------------------------------


@pytest.mark.parametrize("which", ["valid", "invalid"])
@pytest.mark.parametrize("where", ["tail", "part"])
def test_body_dropped_mid_stream_is_resumed_from_the_byte_reached(
    where: str, which: str, bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    bag = bags[which]
    s3.put_object(Bucket=bucket, Key=KEY, Body=bag.data)
    cut = 3 * MiB + 12_345  # not on a chunk boundary of either side
    if where == "tail":
        proxy.inject(drop_body(after=cut), when=is_get(suffix=True))
        first, last = bag.tail_start, len(bag.data) - 1
    else:
        proxy.inject(drop_body(after=cut), when=is_get(range_start=PART))
        first, last = PART, bag.tail_start - 1

    verdict = verify(bucket)

    assert outcome(verdict) == bag.expected
    gets = proxy.gets()
    dropped = [g for g in gets if g.fault]
    assert len(dropped) == 1 and dropped[0].status == 206
    resumed = [g for g in gets if g.range_start == first + cut]
    assert [(g.range_end, g.status, g.fault) for g in resumed] == [(last, 206, None)]
    assert verdict.stats.get_requests == 3 + 1
    # Every archive byte was received exactly once: the resumed GET asked only for what was missing.
    assert verdict.stats.bytes_read == len(bag.data)


def test_a_body_that_keeps_dropping_is_source_unavailable(
    bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=bags["valid"].data)
    step = 256 * KiB
    proxy.inject(
        drop_body(after=step),
        when=lambda seen: is_part_get(seen) and seen.range_start is not None and seen.range_start < PART,
        times=None,
    )

    verdict = verify(bucket)

    status, kind, message = the_error(verdict)
    assert (status, kind) == (Status.ERROR, Kind.SOURCE_UNAVAILABLE)
    assert "kept dropping" in message and f"bytes 0-{PART - 1}" in message
    # The first GET and MAX_BODY_RESUMES resumes, each from the byte the previous one reached.
    starts = [g.range_start for g in proxy.gets() if g.fault]
    assert starts == [i * step for i in range(1 + MAX_BODY_RESUMES)]


def test_a_tail_that_keeps_dropping_is_source_unavailable_and_stops_the_part_asked_with_it(
    bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    # The first part is asked for as soon as the tail's headers arrive; the tail's body then fails
    # for good: the error is reported, and that part's GET stops with it (no thread left behind).
    s3.put_object(Bucket=bucket, Key=KEY, Body=bags["valid"].data)
    tail_start = bags["valid"].tail_start
    proxy.inject(
        drop_body(after=256 * KiB),
        when=lambda seen: (
            seen.method == "GET" and (seen.is_suffix_range or (seen.range_start or 0) >= tail_start)
        ),
        times=None,
    )

    verdict = verify(bucket)

    status, kind, message = the_error(verdict)
    assert (status, kind) == (Status.ERROR, Kind.SOURCE_UNAVAILABLE)
    assert "kept dropping" in message and f"bytes {tail_start}-{len(bags['valid'].data) - 1}" in message


# -- the object changes under the reader -------------------------------------------------


@pytest.mark.parametrize(("first", "second"), [("invalid", "valid"), ("valid", "invalid")])
def test_overwrite_during_verification_is_object_changed_never_a_mixed_verdict(
    first: str, second: str, bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    # The two objects have the same size and layout and differ by one byte, in the part [8 MiB, tail):
    # a reader taking parts from both would report the second object's digest under the first's name.
    etag = s3.put_object(Bucket=bucket, Key=KEY, Body=bags[first].data)["ETag"]
    proxy.inject(
        run_before(lambda: s3.put_object(Bucket=bucket, Key=KEY, Body=bags[second].data)), when=is_get(nth=3)
    )

    verdict = verify(bucket)

    status, kind, message = the_error(verdict)
    assert (status, kind) == (Status.ERROR, Kind.OBJECT_CHANGED)
    assert "overwritten while being read" in message
    assert verdict.object["etag"] == etag
    gets = proxy.gets()
    assert gets[0].status == 206  # the tail, before the overwrite
    assert [g.status for g in gets[2:]] == [412] * len(gets[2:])  # every GET after it refused (IfMatch)


def test_read_ahead_never_hands_over_bytes_of_the_new_object(proxy: FaultProxy, s3: Any, bucket: str) -> None:
    # Small parts and read-ahead of 2, so the overwrite lands with 13 of 16 parts still to fetch.
    s3.put_object(Bucket=bucket, Key="blob", Body=b"A" * MiB)
    proxy.inject(
        run_before(lambda: s3.put_object(Bucket=bucket, Key="blob", Body=b"B" * MiB)), when=is_get(nth=5)
    )
    f = S3RangedFile(make_s3_client(), bucket, "blob", part_size=64 * KiB, tail_size=64 * KiB, read_ahead=2)
    out = bytearray()

    def read_all() -> None:
        with f:
            while chunk := f.read(4 * KiB):
                out.extend(chunk)

    with pytest.raises(ObjectChanged):
        bounded(read_all, TIME_LIMIT)
    assert 2 * 64 * KiB <= len(out) <= 3 * 64 * KiB and set(out) == {ord("A")}
    assert [g.status for g in proxy.gets()[4:]] == [412] * len(proxy.gets()[4:])


def test_overwrite_in_a_versioned_bucket_verifies_the_version_first_seen(
    bags: dict[str, Bag], proxy: FaultProxy, s3: Any, versioned_bucket: str
) -> None:
    version = s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=bags["invalid"].data)["VersionId"]
    proxy.inject(
        run_before(lambda: s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=bags["valid"].data)),
        when=is_get(nth=3),
    )

    verdict = verify(versioned_bucket)

    assert outcome(verdict) == bags["invalid"].expected
    assert verdict.object["version_id"] == version
    assert [g.version_id for g in proxy.gets()] == [None, version, version]


def test_object_deleted_mid_verification_is_not_found(
    bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=bags["valid"].data)
    proxy.inject(run_before(lambda: s3.delete_object(Bucket=bucket, Key=KEY)), when=is_get(nth=3))

    verdict = verify(bucket)

    # S3 (and moto) resolve the key before the IfMatch precondition: a deleted object is 404 NoSuchKey.
    status, kind, message = the_error(verdict)
    assert (status, kind) == (Status.ERROR, Kind.NOT_FOUND)
    assert "deleted while being read" in message
    assert proxy.gets()[2].status == 404


def test_delete_marker_mid_verification_leaves_the_pinned_version_readable(
    bags: dict[str, Bag], proxy: FaultProxy, s3: Any, versioned_bucket: str
) -> None:
    s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=bags["valid"].data)
    proxy.inject(run_before(lambda: s3.delete_object(Bucket=versioned_bucket, Key=KEY)), when=is_get(nth=3))

    verdict = verify(versioned_bucket)

    assert outcome(verdict) == bags["valid"].expected


def test_pinned_version_deleted_mid_verification_is_not_found(
    bags: dict[str, Bag], proxy: FaultProxy, s3: Any, versioned_bucket: str
) -> None:
    version = s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=bags["valid"].data)["VersionId"]
    proxy.inject(
        run_before(lambda: s3.delete_object(Bucket=versioned_bucket, Key=KEY, VersionId=version)),
        when=is_get(nth=3),
    )

    verdict = verify(versioned_bucket)

    status, kind, message = the_error(verdict)
    assert (status, kind) == (Status.ERROR, Kind.NOT_FOUND)
    assert "deleted while being read" in message
    assert proxy.gets()[2].status == 404


# -- refused -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "permission"),
    [
        ("every GET refused", "s3:GetObject"),
        ("a version named", "s3:GetObjectVersion"),
        # A role granted s3:GetObject only, on a versioned bucket: the tail GET (no versionId yet) is
        # allowed, the pinned GETs after it are not.
        ("versioned GETs refused", "s3:GetObjectVersion"),
    ],
)
def test_access_denied_is_an_error_naming_the_missing_permission(
    case: str, permission: str, bags: dict[str, Bag], proxy: FaultProxy, s3: Any, versioned_bucket: str
) -> None:
    version = s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=bags["valid"].data)["VersionId"]
    refused = is_get(versioned=True) if case == "versioned GETs refused" else is_get()
    proxy.inject(access_denied(), when=refused, times=None)

    verdict = verify(versioned_bucket, version if case == "a version named" else None)

    status, kind, message = the_error(verdict)
    assert (status, kind) == (Status.ERROR, Kind.ACCESS_DENIED)
    assert f"needs {permission} " in message
    denied = [g for g in proxy.gets() if g.status == 403]
    assert denied and len({g.range for g in denied}) == len(denied)  # never retried


# -- S3 unavailable beyond the retry budget ------------------------------------------------


@pytest.mark.parametrize("where", ["tail", "parts"])
def test_persistent_slowdown_is_source_unavailable_in_bounded_time(
    where: str, bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str, backoff: Backoff
) -> None:
    backoff.scale = 0.01  # botocore's real schedule is recorded; a hundredth of it is slept
    config: Any = make_s3_client().meta.config
    max_attempts = config.retries["total_max_attempts"]  # retries={"max_attempts": 8} is 8 retries: 9 in all
    s3.put_object(Bucket=bucket, Key=KEY, Body=bags["valid"].data)
    proxy.inject(slow_down(), when=is_get(suffix=True) if where == "tail" else is_part_get, times=None)

    started = time.monotonic()
    verdict = verify(bucket)
    elapsed = time.monotonic() - started

    status, kind, message = the_error(verdict)
    assert (status, kind) == (Status.ERROR, Kind.SOURCE_UNAVAILABLE)
    assert "SlowDown" in message and f"after {max_attempts} attempts" in message
    refused = [g for g in proxy.gets() if g.status == 503]
    attempts_per_range = {r: sum(1 for g in refused if g.range == r) for r in {g.range for g in refused}}
    assert set(attempts_per_range.values()) == {max_attempts}
    # Parts: the first one, asked for with the tail before any reader needs it, is the only one in
    # flight until it arrives; failing for good, it ends the verification before more are asked for.
    assert len(attempts_per_range) == 1
    assert len(backoff.delays) == len(attempts_per_range) * (max_attempts - 1)
    assert elapsed < 10, f"{elapsed:.1f} s (botocore's unscaled backoff: {sum(backoff.delays):.1f} s)"


# -- endpoints that misanswer a Range: never a verdict on bytes not asked for --------------------


def test_a_206_of_other_bytes_than_asked_is_range_not_honoured_never_invalid(
    bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=bags["valid"].data)
    # A gateway that answers every part with the bytes 4 KiB further on (its Content-Range says so).
    proxy.inject(shift_range(4 * KiB), when=is_part_get, times=None)

    status, kind, message = the_error(verify(bucket))

    assert (status, kind) == (Status.ERROR, Kind.RANGE_NOT_HONOURED)
    assert "asked for bytes=0-" in message and "206 with Content-Range 'bytes 4096-" in message
    # The part was asked for again, once, before giving up.
    asked_for_first_part = [g for g in proxy.gets() if g.range_start == 0]
    assert len(asked_for_first_part) == RANGE_ATTEMPTS


def test_a_206_of_other_bytes_once_is_asked_again_and_the_verdict_is_unchanged(
    bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=bags["invalid"].data)
    proxy.inject(shift_range(-1), when=is_get(range_start=PART), times=1)

    verdict = verify(bucket)

    assert outcome(verdict) == bags["invalid"].expected
    assert [g.fault for g in proxy.gets() if g.range_start in (PART, PART - 1)] == ["shift range by -1", None]


@pytest.mark.parametrize("where", ["tail", "parts"])
def test_a_200_with_the_whole_object_to_a_ranged_get_is_never_read(
    where: str, bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=bags["valid"].data)
    proxy.inject(ignore_range(), when=is_get(suffix=True) if where == "tail" else is_part_get, times=None)

    ranged, error = bounded(lambda: read_through(bucket), TIME_LIMIT)

    assert error is not None and error.kind == Kind.RANGE_NOT_HONOURED
    assert "Range ignored" in str(error) or "the whole object" in str(error), str(error)
    # The 20 MiB answers were closed unread: only the bytes asked for (tail, parts) were received.
    assert ranged.bytes_received <= DEFAULT_TAIL_SIZE
    ignored = [g for g in proxy.gets() if g.fault == "ignore range"]
    assert len(ignored) == RANGE_ATTEMPTS and {g.status for g in ignored} == {200}
    status, kind, _ = the_error(verify(bucket))
    assert (status, kind) == (Status.ERROR, Kind.RANGE_NOT_HONOURED)


def read_through(bucket: str) -> tuple[S3RangedFile, SourceError | None]:
    """The bag opened and read to its end as a scan would; the SourceError that stopped it, if any."""
    opened: list[S3RangedFile] = []
    original = S3RangedFile.__init__

    def keep(self: S3RangedFile, *args: Any, **kwargs: Any) -> None:
        opened.append(self)  # kept before the tail GET, which may be what fails
        original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(S3RangedFile, "__init__", keep)
        try:
            with S3RangedFile(make_s3_client(), bucket, KEY, first_read=0) as ranged:
                while ranged.read(PART):
                    pass
        except SourceError as error:
            opened[0].close()
            return opened[0], error
    return opened[0], None


def test_a_200_to_the_tail_of_a_bag_smaller_than_the_tail_is_the_same_bytes_and_verified(
    proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    small = make_bag_zip({"a.txt": b"alpha\n"}, algorithms=["sha256"])
    s3.put_object(Bucket=bucket, Key=KEY, Body=small)
    proxy.inject(ignore_range(), when=is_get(suffix=True), times=None)

    verdict = verify(bucket)

    assert verdict.status == Status.VALID, verdict.problems
    assert [g.status for g in proxy.gets()] == [200]


@pytest.mark.parametrize(
    "refusal",
    [
        expired_token(),
        s3_error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist."),
    ],
    ids=["expired token", "revoked key"],
)
def test_credentials_expired_or_revoked_mid_run_are_credentials_rejected(
    refusal: Any, bags: dict[str, Bag], proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=bags["valid"].data)
    proxy.inject(refusal, when=is_part_get, times=None)  # the tail read, then the credentials run out

    status, kind, message = the_error(verify(bucket))

    assert (status, kind) == (Status.ERROR, Kind.CREDENTIALS_REJECTED)
    assert refusal.code in message and "renew them" in message
    assert "needs s3:GetObject" not in message  # not sent looking for a missing permission
