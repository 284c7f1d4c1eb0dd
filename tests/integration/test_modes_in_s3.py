"""The cheap modes on moto's S3: completeness reads no payload byte (a few GETs for any size), and
Step Functions input chooses the mode, which the verdict and the SNS message carry."""

from __future__ import annotations

import random
from typing import Any

from bagverify import S3Location, verify_s3_object
from bagverify.verdict import Mode
from devtools.lambda_runner import LocalContext
from devtools.sample_bags import make_bag_zip

MiB = 1024 * 1024


def test_completeness_reads_no_payload_byte_in_at_most_three_gets(s3: Any, bucket: str) -> None:
    rng = random.Random(11)
    files = {f"part-{i}.bin": rng.randbytes(8 * MiB) for i in range(6)}
    archive = make_bag_zip(files, algorithms=["sha256"], compression="stored")
    s3.put_object(Bucket=bucket, Key="incoming/big.zip", Body=archive)
    verdict = verify_s3_object(S3Location(bucket, "incoming/big.zip"), mode=Mode.COMPLETENESS)
    assert verdict.status.value == "valid", verdict.problems
    assert verdict.mode is Mode.COMPLETENESS
    assert verdict.stats.get_requests <= 3, verdict.stats
    assert verdict.stats.bytes_read < 3 * 8 * MiB < len(archive)  # the tail and the tag files' parts


def test_step_functions_input_chooses_the_mode_and_the_message_carries_it(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    verdict = handler({"bucket": bucket, "key": "incoming/bag.zip", "mode": "fast"}, LocalContext())
    assert (verdict["status"], verdict["mode"]) == ("valid", "fast")
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["mode"] == "fast"


def test_an_unknown_mode_is_a_bad_event(handler, aws, bucket, topic) -> None:  # type: ignore[no-untyped-def]
    verdict = handler({"bucket": bucket, "key": "incoming/bag.zip", "mode": "quick"}, LocalContext())
    assert verdict["status"] == "error" and verdict["problems"][0]["kind"] == "bad_event"
    assert "mode must be one of full, completeness, fast" in verdict["problems"][0]["message"]
