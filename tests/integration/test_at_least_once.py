"""At-least-once, sometimes late, S3 events: the object an event names is verified, or an error says why not.

Versioned bucket: the event's versionId is verified, whatever was uploaded since; a version that
no longer exists is `not_found`, saying it is gone. Unversioned bucket: the event's eTag pins the
object from the first GET (IfMatch); a replaced object is `object_changed`, never verified in the
named object's place. Every message carries object.version_id and object.etag to deduplicate on.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bagverify import S3Location, verify_s3_object
from bagverify.sources import ObjectChanged, S3RangedFile, make_s3_client
from devtools.lambda_runner import ROOT, LocalContext
from devtools.sample_bags import flip_byte, make_bag_zip

KEY = "incoming/bag.zip"


def s3_event(
    bucket: str, key: str, *, version_id: str | None = None, etag: str | None = None
) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "s3-put.json").read_text())
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = bucket
    record["object"]["key"] = key
    if version_id:
        record["object"]["versionId"] = version_id
    if etag:
        record["object"]["eTag"] = etag
    return event


def run(handler, aws, topic, event) -> tuple[dict[str, Any], dict[str, Any]]:  # type: ignore[no-untyped-def]
    verdict = handler(event, LocalContext())
    [notification] = aws.receive_notifications(topic[1])
    return verdict, notification["Message"]


def test_an_event_for_a_replaced_version_verifies_the_version_it_names(  # type: ignore[no-untyped-def]
    handler, aws, s3, versioned_bucket, topic
) -> None:
    v1 = s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=make_bag_zip())
    v2 = s3.put_object(
        Bucket=versioned_bucket, Key=KEY, Body=make_bag_zip(tamper=flip_byte("data/README.txt", 0))
    )
    # The (late) event for v1 arrives after v2 was uploaded: v1 is what it is about.
    verdict, message = run(handler, aws, topic, s3_event(versioned_bucket, KEY, version_id=v1["VersionId"]))
    assert verdict["status"] == "valid", verdict["problems"]
    assert message["object"]["version_id"] == v1["VersionId"]
    assert message["object"]["etag"] == v1["ETag"]
    # And v2's own event gives v2's verdict.
    verdict, message = run(handler, aws, topic, s3_event(versioned_bucket, KEY, version_id=v2["VersionId"]))
    assert verdict["status"] == "invalid"
    assert (message["object"]["version_id"], message["object"]["etag"]) == (v2["VersionId"], v2["ETag"])


def test_an_event_for_a_deleted_version_says_it_is_gone(handler, aws, s3, versioned_bucket, topic) -> None:  # type: ignore[no-untyped-def]
    v1 = s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=make_bag_zip())["VersionId"]
    s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=make_bag_zip())
    s3.delete_object(Bucket=versioned_bucket, Key=KEY, VersionId=v1)
    verdict, message = run(handler, aws, topic, s3_event(versioned_bucket, KEY, version_id=v1))
    assert verdict["status"] == "error"
    [problem] = verdict["problems"]
    assert problem["kind"] == "not_found"
    assert "gone" in problem["message"] and "deleted" in problem["message"]
    assert message["object"]["version_id"] == v1


def test_an_event_for_an_overwritten_unversioned_object_is_object_changed(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic
) -> None:
    first = s3.put_object(Bucket=bucket, Key=KEY, Body=make_bag_zip())["ETag"]
    second = s3.put_object(Bucket=bucket, Key=KEY, Body=make_bag_zip(tamper=flip_byte("data/README.txt", 0)))[
        "ETag"
    ]
    assert first != second
    # S3 events carry the ETag without quotes.
    verdict, message = run(handler, aws, topic, s3_event(bucket, KEY, etag=first.strip('"')))
    assert verdict["status"] == "error"
    [problem] = verdict["problems"]
    assert problem["kind"] == "object_changed"
    assert "replaced after this event" in problem["message"]
    assert "the newer upload has its own event" in problem["message"]
    assert message["object"]["etag"] == first, "the message names the object the event was about"
    assert verdict["stats"]["get_requests"] == 1, "one refused GET: nothing of the newer object was verified"
    # The newer upload's own event verifies it (and finds it invalid).
    verdict, message = run(handler, aws, topic, s3_event(bucket, KEY, etag=second.strip('"')))
    assert verdict["status"] == "invalid"
    assert message["object"]["etag"] == second


def test_eventbridge_etag_pins_the_object_too(handler, aws, s3, bucket, topic) -> None:  # type: ignore[no-untyped-def]
    first = s3.put_object(Bucket=bucket, Key=KEY, Body=make_bag_zip())["ETag"]
    s3.put_object(Bucket=bucket, Key=KEY, Body=make_bag_zip(tamper=flip_byte("data/README.txt", 0)))
    event = json.loads((ROOT / "events" / "eventbridge-object-created.json").read_text())
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"].update(key=KEY, etag=first.strip('"'))
    verdict, _ = run(handler, aws, topic, event)
    assert [p["kind"] for p in verdict["problems"]] == ["object_changed"]


@pytest.mark.parametrize("quoted", [True, False], ids=["quoted", "unquoted"])
def test_expected_etag_is_the_if_match_pin_from_the_first_get(aws, s3, bucket, quoted) -> None:  # type: ignore[no-untyped-def]
    etag = s3.put_object(Bucket=bucket, Key="blob", Body=b"0123456789")["ETag"]
    given = etag if quoted else etag.strip('"')
    client = make_s3_client()
    pinned = S3RangedFile(client, bucket, "blob", etag=given)
    assert (pinned.read(), pinned.etag, pinned.get_requests) == (b"0123456789", etag, 1)
    s3.put_object(Bucket=bucket, Key="blob", Body=b"replaced")
    with pytest.raises(ObjectChanged, match="replaced after this event"):
        S3RangedFile(client, bucket, "blob", etag=given)


def test_the_engine_reports_object_changed_with_what_the_event_named(aws, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key=KEY, Body=make_bag_zip())
    verdict = verify_s3_object(
        S3Location(bucket, KEY, etag="0123456789abcdef0123456789abcdef"), make_s3_client()
    )
    assert verdict.status == "error"
    assert [p.kind for p in verdict.problems] == ["object_changed"]
    assert verdict.object == {
        "bucket": bucket,
        "key": KEY,
        "version_id": None,
        "etag": '"0123456789abcdef0123456789abcdef"',
    }


def test_a_direct_input_may_pin_the_etag_too(handler, aws, s3, bucket, topic) -> None:  # type: ignore[no-untyped-def]
    first = s3.put_object(Bucket=bucket, Key=KEY, Body=make_bag_zip())["ETag"]
    verdict, _ = run(handler, aws, topic, {"bucket": bucket, "key": KEY, "etag": first})
    assert verdict["status"] == "valid"
    s3.put_object(Bucket=bucket, Key=KEY, Body=make_bag_zip(tamper=flip_byte("data/README.txt", 0)))
    verdict, _ = run(handler, aws, topic, {"bucket": bucket, "key": KEY, "etag": first})
    assert [p["kind"] for p in verdict["problems"]] == ["object_changed"]
