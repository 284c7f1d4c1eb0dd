"""The real handler end to end: moto S3/SNS/SQS over HTTP, real bags.

The files in events/ are run as `sam local invoke -e FILE` would in test_sam_local_invoke.py.
"""

from __future__ import annotations

import json
from typing import Any

from devtools.lambda_runner import ROOT, LocalContext
from devtools.sample_bags import add_file, delete_file, flip_byte, make_bag_zip


def s3_event(bucket: str, key: str) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "s3-put.json").read_text())
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    event["Records"][0]["s3"]["object"]["key"] = key
    return event


def run(handler, aws, topic, event) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    verdict = handler(event, LocalContext())
    return verdict, aws.receive_notifications(topic[1])


def test_valid_bag_gives_valid_and_one_sns_message(handler, aws, s3, bucket, topic) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    verdict, notifications = run(handler, aws, topic, s3_event(bucket, "incoming/bag.zip"))
    assert verdict["status"] == "valid", verdict["problems"]
    assert verdict["stats"]["files"] == 4
    assert verdict["stats"]["get_requests"] == 1  # a small bag is read by the single tail GET
    assert len(notifications) == 1
    message = notifications[0]["Message"]
    assert message["status"] == "valid"
    assert message["object"]["bucket"] == bucket and message["object"]["key"] == "incoming/bag.zip"
    assert message["object"]["etag"]
    attributes = notifications[0]["MessageAttributes"]
    assert attributes["status"]["Value"] == "valid"
    assert attributes["bucket"]["Value"] == bucket


def test_flipped_payload_byte_is_invalid_naming_the_file(handler, aws, s3, bucket, topic) -> None:  # type: ignore[no-untyped-def]
    archive = make_bag_zip(tamper=flip_byte("data/images/scan-0002.tif", 77))
    s3.put_object(Bucket=bucket, Key="incoming/bad.zip", Body=archive)
    verdict, notifications = run(handler, aws, topic, s3_event(bucket, "incoming/bad.zip"))
    assert verdict["status"] == "invalid"
    assert {(p["kind"], p["path"]) for p in verdict["problems"]} == {
        ("checksum_mismatch", "data/images/scan-0002.tif")
    }
    assert notifications[0]["Message"]["status"] == "invalid"
    assert notifications[0]["MessageAttributes"]["status"]["Value"] == "invalid"
    assert notifications[0]["Message"]["problems"][0]["path"] == "data/images/scan-0002.tif"


def test_missing_and_unlisted_files_are_named(handler, aws, s3, bucket, topic) -> None:  # type: ignore[no-untyped-def]
    archive = make_bag_zip(
        tamper=lambda d: (delete_file("data/README.txt")(d), add_file("data/stray/notes.txt", b"hi")(d))
    )
    s3.put_object(Bucket=bucket, Key="incoming/incomplete.zip", Body=archive)
    verdict, _ = run(handler, aws, topic, s3_event(bucket, "incoming/incomplete.zip"))
    found = {(p["kind"], p.get("path")) for p in verdict["problems"]}
    assert ("missing_file", "data/README.txt") in found
    assert ("unlisted_file", "data/stray/notes.txt") in found


def test_missing_key_is_an_error_and_still_published(handler, aws, bucket, topic) -> None:  # type: ignore[no-untyped-def]
    verdict, notifications = run(handler, aws, topic, s3_event(bucket, "incoming/never-uploaded.zip"))
    assert verdict["status"] == "error"
    assert verdict["problems"][0]["kind"] == "not_found"
    assert notifications[0]["Message"]["status"] == "error"


def test_key_with_spaces_in_an_s3_event_is_found(handler, aws, s3, bucket, topic) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="incoming/my bag (2024)+final.zip", Body=make_bag_zip())
    # S3 notifications URL-encode keys: a space as '+', '+' itself as %2B.
    verdict, _ = run(handler, aws, topic, s3_event(bucket, "incoming/my+bag+%282024%29%2Bfinal.zip"))
    assert verdict["status"] == "valid", verdict["problems"]
    assert verdict["object"]["key"] == "incoming/my bag (2024)+final.zip"


def test_unrecognised_event_gives_a_definite_error_verdict(handler, aws, topic) -> None:  # type: ignore[no-untyped-def]
    verdict, notifications = run(handler, aws, topic, {"hello": "world"})
    assert verdict["status"] == "error"
    assert verdict["problems"][0]["kind"] == "bad_event"
    assert notifications[0]["Message"]["status"] == "error"
