"""The SNS message contract: the JSON Schema, SNS's 256 KiB, counts and first problems, the full report in S3.

Every message any test reads back goes through devtools.local_aws.check_notification (the schema,
the size, the attributes); the tests here prove that check can fail, and drive the handler with a
bag of 20,000 problems, whose full verdict (~3 MB of JSON) fits neither SNS nor Step Functions.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bagverify.verdict import Kind
from devtools.lambda_runner import LocalContext
from devtools.local_aws import (
    MESSAGE_SCHEMA,
    NotificationContractError,
    check_notification,
    message_validator,
)
from devtools.sample_bags import make_bag_zip

MISSING = 20_000
SNS_MAX_BYTES = 256 * 1024


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def _envelope(message: dict[str, Any], **attributes: str) -> dict[str, Any]:
    return {
        "Message": json.dumps(message),
        "MessageAttributes": {name: {"Type": "String", "Value": value} for name, value in attributes.items()},
    }


@pytest.fixture
def report_bucket(aws, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    name = aws.create_bucket(f"reports-{id(monkeypatch)}")
    monkeypatch.setenv("REPORT_BUCKET", name)
    return name  # type: ignore[no-any-return]


def _valid_message(handler, aws, s3, bucket, topic) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    handler({"bucket": bucket, "key": "incoming/bag.zip"}, LocalContext())
    [envelope] = aws.receive_notifications(topic[1])
    return envelope["Message"]  # type: ignore[no-any-return]


# -- the schema and the check ---------------------------------------------------------------------


def test_schema_is_draft_2020_12_and_lists_every_problem_kind() -> None:
    schema = json.loads(MESSAGE_SCHEMA.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    message_validator()  # check_schema: the schema itself is valid 2020-12
    listed = schema["$defs"]["problem"]["properties"]["kind"]["enum"]
    assert sorted(listed) == sorted(str(kind) for kind in Kind), (
        "schemas/verdict-message.schema.json must list exactly the kinds in bagverify.verdict.Kind"
    )


def test_the_check_rejects_what_breaks_the_contract(handler, aws, s3, bucket, topic) -> None:  # type: ignore[no-untyped-def]
    good = _valid_message(handler, aws, s3, bucket, topic)
    attributes = {"status": "valid", "bucket": bucket}
    check_notification(_envelope(good, **attributes))  # the real message passes

    broken: list[tuple[str, dict[str, Any], dict[str, str]]] = []
    missing_count = copy.deepcopy(good)
    del missing_count["problem_count"]
    broken.append(("no problem_count", missing_count, attributes))
    unknown_kind = copy.deepcopy(good) | {
        "status": "invalid",
        "problem_count": 1,
        "problems": [{"kind": "gremlins", "message": "?"}],
    }
    broken.append(("unknown kind", unknown_kind, {**attributes, "status": "invalid"}))
    valid_with_problems = copy.deepcopy(good) | {
        "problem_count": 1,
        "problems": [{"kind": "missing_file", "message": "x"}],
    }
    broken.append(("valid with problems", valid_with_problems, attributes))
    extra_field = copy.deepcopy(good) | {"surprise": True}
    broken.append(("undocumented field", extra_field, attributes))
    report_untruncated = copy.deepcopy(good) | {"report": "s3://r/reports/b/k/v.json"}
    broken.append(("report without truncation", report_untruncated, attributes))
    broken.append(("status attribute differs", good, {**attributes, "status": "invalid"}))
    broken.append(("bucket attribute missing", good, {"status": "valid"}))
    too_big = copy.deepcopy(good)
    too_big["object"]["key"] = "k" * SNS_MAX_BYTES
    broken.append(("over 256 KiB", too_big, attributes))
    for reason, message, attrs in broken:
        with pytest.raises(NotificationContractError):
            check_notification(_envelope(message, **attrs))
            pytest.fail(f"accepted a message with {reason}")


# -- 20,000 problems ------------------------------------------------------------------------------


def test_thousands_of_problems_give_counts_and_first_problems_within_256_kib(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, many_missing_bag
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/many-missing.zip", Body=many_missing_bag)
    result = handler({"bucket": bucket, "key": "incoming/many-missing.zip"}, LocalContext())
    [envelope] = aws.receive_notifications(topic[1])  # schema, size and attributes checked
    message = envelope["Message"]
    assert message["status"] == "invalid"
    assert message["problem_count"] == MISSING
    assert message["problems_truncated"] is True
    assert 100 < len(message["problems"]) < MISSING
    assert _json_bytes(message) <= SNS_MAX_BYTES
    # The first problems, in order: missing files from the manifest's start.
    paths = [problem["path"] for problem in message["problems"][:3]]
    assert paths == [f"data/missing/scan-{n:05d}.tif" for n in range(3)]
    assert "report" not in message, "no REPORT_BUCKET, so no report"
    # The handler's return value (the Step Functions output) is capped the same way.
    assert _json_bytes(result) <= SNS_MAX_BYTES
    assert result["problem_count"] == MISSING and result["problems_truncated"] is True


def test_the_full_report_goes_to_the_report_bucket_and_is_named(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, many_missing_bag, report_bucket
) -> None:
    etag = s3.put_object(Bucket=bucket, Key="incoming/many-missing.zip", Body=many_missing_bag)["ETag"]
    result = handler({"bucket": bucket, "key": "incoming/many-missing.zip"}, LocalContext())
    [envelope] = aws.receive_notifications(topic[1])
    message = envelope["Message"]
    expected_key = f"reports/{bucket}/incoming/many-missing.zip/{etag.strip(chr(34))}.json"
    assert message["report"] == f"s3://{report_bucket}/{expected_key}"
    assert result["report"] == message["report"]
    report = json.loads(s3.get_object(Bucket=report_bucket, Key=expected_key)["Body"].read())
    assert report["status"] == "invalid"
    assert len(report["problems"]) == MISSING, "the report holds every problem"
    assert report["object"]["etag"] == etag
    assert report["problems"][: len(message["problems"])] == message["problems"]


def test_the_report_is_named_by_version_in_a_versioned_bucket(  # type: ignore[no-untyped-def]
    handler, aws, s3, versioned_bucket, topic, some_missing_bag, report_bucket
) -> None:
    version = s3.put_object(Bucket=versioned_bucket, Key="incoming/m.zip", Body=some_missing_bag)["VersionId"]
    handler({"bucket": versioned_bucket, "key": "incoming/m.zip"}, LocalContext())
    [envelope] = aws.receive_notifications(topic[1])
    assert (
        envelope["Message"]["report"]
        == f"s3://{report_bucket}/reports/{versioned_bucket}/incoming/m.zip/{version}.json"
    )


def test_no_report_when_the_message_fits(handler, aws, s3, bucket, topic, report_bucket) -> None:  # type: ignore[no-untyped-def]
    message = _valid_message(handler, aws, s3, bucket, topic)
    assert "report" not in message and message["problems_truncated"] is False
    # Only the verification's PREMIS event is written there (docs/audits.md), no report.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=report_bucket).get("Contents", [])]
    assert len(keys) == 1 and ".premis-" in keys[0] and keys[0].endswith(".xml")


def test_a_report_that_cannot_be_written_does_not_stop_the_message(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, some_missing_bag, monkeypatch
) -> None:
    monkeypatch.setenv("REPORT_BUCKET", "no-such-report-bucket")
    s3.put_object(Bucket=bucket, Key="incoming/some-missing.zip", Body=some_missing_bag)
    handler({"bucket": bucket, "key": "incoming/some-missing.zip"}, LocalContext())
    [envelope] = aws.receive_notifications(topic[1])
    assert envelope["Message"]["problem_count"] == 3_000
    assert envelope["Message"]["problems_truncated"] is True
    assert "report" not in envelope["Message"]
