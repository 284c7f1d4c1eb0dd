"""Tar bags in S3, through the real handler and the CLI's engine: moto's server over HTTP.

The same event shape and SNS message as a ZIP's; a tar is read front to back through the parallel
read-ahead, so GETs stay about one per 8 MiB of archive.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from bagverify import S3Location, verify_s3_object
from devtools.lambda_runner import LocalContext
from devtools.sample_bags import flip_byte, make_bag_tar
from tests.integration.test_handler import s3_event

MiB = 1024 * 1024


@pytest.mark.parametrize("compression", ["", "gz", "bz2", "xz", "zst"])
def test_a_tar_bag_upload_is_verified_and_published_like_a_zip(  # type: ignore[no-untyped-def]
    compression, handler, aws, s3, bucket, topic
) -> None:
    key = "incoming/bag.tar" + (f".{compression}" if compression else "")
    s3.put_object(Bucket=bucket, Key=key, Body=make_bag_tar(compression=compression))
    verdict = handler(s3_event(bucket, key), LocalContext())
    assert verdict["status"] == "valid", verdict["problems"]
    assert verdict["stats"]["files"] == 4
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["status"] == "valid"
    assert notification["Message"]["object"]["key"] == key


def test_a_flipped_byte_in_a_tar_gz_is_invalid_naming_the_file(handler, aws, s3, bucket, topic) -> None:  # type: ignore[no-untyped-def]
    archive = make_bag_tar(tamper=flip_byte("data/images/scan-0002.tif", 77))
    s3.put_object(Bucket=bucket, Key="incoming/bad.tgz", Body=archive)
    verdict = handler(s3_event(bucket, "incoming/bad.tgz"), LocalContext())
    assert {(p["kind"], p["path"]) for p in verdict["problems"]} == {
        ("checksum_mismatch", "data/images/scan-0002.tif")
    }
    [notification] = aws.receive_notifications(topic[1])
    assert notification["MessageAttributes"]["status"]["Value"] == "invalid"


def test_a_large_tar_is_read_in_about_one_get_per_part(s3: Any, bucket: str) -> None:
    rng = random.Random(7)
    files = {f"part-{i}.bin": rng.randbytes(6 * MiB) for i in range(5)}
    archive = make_bag_tar(files, compression="")
    s3.put_object(Bucket=bucket, Key="incoming/big.tar", Body=archive)
    verdict = verify_s3_object(S3Location(bucket, "incoming/big.tar"))
    assert verdict.status.value == "valid", verdict.problems
    assert verdict.stats.get_requests <= math.ceil(len(archive) / (8 * MiB)) + 4
    assert verdict.stats.bytes_read <= len(archive) + 8 * MiB  # each byte about once
