"""S3RangedFile against moto's server over HTTP: reads, GET counts, pinning, errors."""

from __future__ import annotations

import io
import os
import random
import struct
import time
import zipfile

import pytest

from bagverify.sources import (
    AccessDenied,
    NotFound,
    ObjectArchived,
    ObjectChanged,
    S3Location,
    S3RangedFile,
    make_s3_client,
)
from bagverify.verdict import Kind, Status
from bagverify.verify import verify_archive, verify_s3_object
from devtools.sample_bags import make_bag_zip

KiB = 1024


@pytest.fixture
def client(aws):  # type: ignore[no-untyped-def]
    return make_s3_client()


def read_through(f: S3RangedFile, size: int) -> bytes:
    """Everything left in `f`, by reads of `size` bytes (zipfile's are small)."""
    out = bytearray()
    while chunk := f.read(size):
        out += chunk
    return bytes(out)


def test_random_seeks_and_reads_return_the_object_bytes(client, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(300 * KiB)
    s3.put_object(Bucket=bucket, Key="blob", Body=data)
    f = S3RangedFile(client, bucket, "blob", part_size=64 * KiB, tail_size=16 * KiB)
    assert f.size == len(data)
    rng = random.Random(7)
    for _ in range(200):
        start = rng.randrange(len(data))
        length = rng.randrange(1, 100 * KiB)
        f.seek(start)
        assert f.read(length) == data[start : start + length]
    f.seek(-10, io.SEEK_END)
    assert f.read() == data[-10:]
    assert f.read(5) == b""


def test_first_request_is_a_suffix_range_that_gives_the_size(client, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="small", Body=b"0123456789")
    f = S3RangedFile(client, bucket, "small")
    # One GET, no HEAD: the object is smaller than the tail, so it is all in memory.
    assert (f.size, f.get_requests) == (10, 1)
    assert f.read() == b"0123456789"
    assert f.get_requests == 1


def test_sequential_read_costs_one_get_per_part_not_per_read(client, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(1024 * KiB)
    s3.put_object(Bucket=bucket, Key="seq", Body=data)
    f = S3RangedFile(client, bucket, "seq", part_size=128 * KiB, tail_size=128 * KiB)
    assert read_through(f, 4 * KiB) == data
    # tail (1) + the 7 parts before it; never re-fetching bytes already held
    assert f.get_requests == 8
    assert f.bytes_received == len(data)


def test_seek_to_current_position_costs_nothing(client, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="k", Body=os.urandom(512 * KiB))
    f = S3RangedFile(client, bucket, "k", part_size=64 * KiB, tail_size=64 * KiB)
    f.read(1000)
    before = f.get_requests
    for _ in range(100):
        f.seek(f.tell())
        f.read(10)
    assert f.get_requests == before


def test_overwrite_during_read_is_object_changed_never_mixed(client, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="k", Body=b"A" * (512 * KiB))
    # No read-ahead: the GET after the overwrite is certain to be a new one.
    f = S3RangedFile(client, bucket, "k", part_size=64 * KiB, tail_size=64 * KiB, read_ahead=0)
    assert f.read(10) == b"A" * 10
    s3.put_object(Bucket=bucket, Key="k", Body=b"B" * (512 * KiB))
    f.seek(200 * KiB)
    with pytest.raises(ObjectChanged):
        f.read(10)


def test_read_ahead_fetches_parts_in_parallel_and_in_order(client, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(2048 * KiB)
    s3.put_object(Bucket=bucket, Key="ra", Body=data)
    f = S3RangedFile(client, bucket, "ra", part_size=64 * KiB, tail_size=64 * KiB, read_ahead=4)
    assert read_through(f, 3000) == data
    assert f.get_requests == 2048 // 64  # the tail, then each other part exactly once
    assert f.bytes_received == len(data)


def test_first_read_is_requested_with_the_tail_then_read_ahead_widens(client, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(1024 * KiB)
    s3.put_object(Bucket=bucket, Key="first", Body=data)
    f = S3RangedFile(
        client, bucket, "first", part_size=64 * KiB, tail_size=64 * KiB, read_ahead=4, first_read=0
    )
    deadline = time.monotonic() + 5
    while f.get_requests < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # time enough for more GETs, were any made before a read
    assert f.get_requests == 2  # the tail and the part at 0, before any read; one part: it is a guess
    assert read_through(f, 3000) == data
    assert f.get_requests == 1024 // 64  # each part once: the guessed one is the run's first
    assert f.bytes_received == len(data)


def test_a_wrong_first_read_guess_costs_one_get(client, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(1024 * KiB)
    s3.put_object(Bucket=bucket, Key="guess", Body=data)
    f = S3RangedFile(
        client, bucket, "guess", part_size=64 * KiB, tail_size=64 * KiB, read_ahead=4, first_read=0
    )
    f.seek(len(data) - 100)  # only the tail is read (a ZIP whose tag files all lie in it)
    assert f.read() == data[-100:]
    f.close()
    assert f.get_requests <= 2


@pytest.mark.parametrize("past", [1, 10, 40])
def test_a_bag_of_small_files_is_read_once_whatever_the_part_boundaries(client, s3, bucket, past) -> None:  # type: ignore[no-untyped-def]
    # Members of a few KB are read whole, header and data at once, with room for an extra field:
    # that read must stop at the next member's header, or a part boundary just past a member's data
    # makes the reader let go of the part that header is in, and fetch it again.
    rng = random.Random(past)
    files = {f"f{i:03d}.bin": rng.randbytes(rng.randrange(500, 3000)) for i in range(300)}
    data = make_bag_zip(files, algorithms=["sha256"])
    infos = sorted(zipfile.ZipFile(io.BytesIO(data)).infolist(), key=lambda info: info.header_offset)
    member = infos[len(infos) // 4]
    name_length, extra_length = struct.unpack(
        "<HH", data[member.header_offset + 26 : member.header_offset + 30]
    )
    data_end = member.header_offset + 30 + name_length + extra_length + member.compress_size
    part = data_end + past  # the first part boundary lies `past` bytes into the next member's header
    tail = max(2 * part, 128 * KiB)  # holding the end record's search (64 KiB + 22), as 8 MiB does
    assert len(data) > tail + part
    s3.put_object(Bucket=bucket, Key="bag.zip", Body=data)
    f = S3RangedFile(client, bucket, "bag.zip", part_size=part, tail_size=tail, read_ahead=4, first_read=0)

    verdict = verify_archive(f, "bag.zip")  # type: ignore[arg-type]

    assert verdict.status == Status.VALID, verdict.problems
    assert f.bytes_received == len(data)
    assert f.get_requests == 1 + -(-(len(data) - tail) // part)  # the tail, then each other part once


def test_skipping_forward_drops_parts_behind(client, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(1024 * KiB)
    s3.put_object(Bucket=bucket, Key="skip", Body=data)
    f = S3RangedFile(client, bucket, "skip", part_size=64 * KiB, tail_size=64 * KiB, read_ahead=3)
    assert f.read(10) == data[:10]
    f.seek(500 * KiB)  # beyond the parts in flight: a new run starts there
    assert f.read(100 * KiB) == data[500 * KiB : 600 * KiB]
    f.seek(100)  # backwards: refetched, still correct
    assert f.read(10) == data[100:110]


def test_versioned_bucket_pins_the_version_first_seen(client, s3, versioned_bucket) -> None:  # type: ignore[no-untyped-def]
    first = s3.put_object(Bucket=versioned_bucket, Key="k", Body=b"A" * (512 * KiB))
    f = S3RangedFile(client, versioned_bucket, "k", part_size=64 * KiB, tail_size=64 * KiB)
    assert f.version_id == first["VersionId"]
    s3.put_object(Bucket=versioned_bucket, Key="k", Body=b"B" * (512 * KiB))
    f.seek(100 * KiB)
    assert f.read(10) == b"A" * 10


def test_missing_key_is_not_found(client, bucket) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        S3RangedFile(client, bucket, "no/such/key.zip")


def test_missing_version_is_not_found(client, s3, versioned_bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=versioned_bucket, Key="k", Body=b"x")
    with pytest.raises(NotFound):
        S3RangedFile(client, versioned_bucket, "k", "nonexistentversionid")


def test_empty_object_reads_as_empty(client, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    f = S3RangedFile(client, bucket, "empty")
    assert f.size == 0
    assert f.read() == b""


def test_zipfile_reads_members_through_it(client, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i in range(50):
            zf.writestr(f"m{i}.bin", os.urandom(10 * KiB))
    s3.put_object(Bucket=bucket, Key="z.zip", Body=buffer.getvalue())
    f = S3RangedFile(client, bucket, "z.zip")
    with zipfile.ZipFile(f) as zf, zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as local:
        for info in zf.infolist():
            assert zf.read(info) == local.read(info.filename)
    assert f.get_requests == 1  # 500 KiB archive: all inside the tail GET


def test_access_denied_is_reported_as_such() -> None:
    # A real refusal needs IAM enforcement, which moto's server only does when asked to; the
    # mapping from S3's 403 is checked against botocore's own error shape.
    from botocore.exceptions import ClientError

    from bagverify.sources.s3_ranged_file import _source_error

    error = ClientError(
        {
            "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        },
        "GetObject",
    )
    mapped = _source_error(error, "s3://b/k", versioned=False)
    assert isinstance(mapped, AccessDenied)
    assert "s3:GetObject" in str(mapped)


def test_access_denied_by_the_objects_kms_key_names_kms_decrypt() -> None:
    from botocore.exceptions import ClientError

    from bagverify.sources.s3_ranged_file import _source_error

    message = (
        "User: arn:aws:sts::123456789012:assumed-role/verifier/fn is not authorized to perform: "
        "kms:Decrypt on resource: arn:aws:kms:us-east-1:123456789012:key/1234"
    )
    error = ClientError(
        {"Error": {"Code": "AccessDenied", "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 403}},
        "GetObject",
    )
    mapped = _source_error(error, "s3://b/k", versioned=False)
    assert isinstance(mapped, AccessDenied)
    assert "kms:Decrypt" in str(mapped) and "key/1234" in str(mapped)


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_an_archived_bag_is_an_error_saying_to_restore_it_not_access_denied(  # type: ignore[no-untyped-def]
    client, s3, bucket, storage_class
) -> None:
    # S3 answers 403 InvalidObjectState: no permission would help, a restore does.
    s3.put_object(Bucket=bucket, Key="cold.zip", Body=make_bag_zip(), StorageClass=storage_class)
    with pytest.raises(ObjectArchived) as raised:
        S3RangedFile(client, bucket, "cold.zip")
    assert storage_class in str(raised.value) and "restore" in str(raised.value).lower()

    verdict = verify_s3_object(S3Location(bucket, "cold.zip"), client)
    assert verdict.status is Status.ERROR
    [problem] = verdict.problems
    assert problem.kind is Kind.OBJECT_ARCHIVED and storage_class in problem.message


def test_a_bag_in_glacier_instant_retrieval_is_read_as_any_other(client, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="ir.zip", Body=make_bag_zip(), StorageClass="GLACIER_IR")
    assert verify_s3_object(S3Location(bucket, "ir.zip"), client).status is Status.VALID
