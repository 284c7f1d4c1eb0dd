"""BagIt profiles under ProfilesLocation, through the real handler on moto: a bag is checked against
the profile its BagIt-Profile-Identifier names (matched, never fetched), Step Functions input may
name one, and a bad or missing profile is the operator's error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.lambda_runner import LocalContext
from devtools.sample_bags import make_bag_zip
from devtools.step_functions import execute
from tests.integration.test_handler import s3_event

IDENTIFIER = "https://example.org/profiles/contact-v1.json"
PROFILE = {
    "BagIt-Profile-Info": {
        "BagIt-Profile-Identifier": IDENTIFIER,
        "Source-Organization": "example.org",
        "External-Description": "a Contact-Name is required",
        "Version": "1",
        "BagIt-Profile-Version": "1.4.0",
    },
    "Bag-Info": {"Contact-Name": {"required": True}},
    "Accept-BagIt-Version": ["1.0"],
}


@pytest.fixture
def profiles(s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    s3.put_object(Bucket=bucket, Key="profiles/contact.json", Body=json.dumps(PROFILE).encode())
    s3.put_object(Bucket=bucket, Key="profiles/README.txt", Body=b"not a profile, not read")
    broken = {
        **PROFILE,
        "BagIt-Profile-Info": {**PROFILE["BagIt-Profile-Info"], "BagIt-Profile-Identifier": "broken"},
    }
    broken["Serialization"] = "sometimes"
    s3.put_object(Bucket=bucket, Key="profiles/broken.json", Body=json.dumps(broken).encode())
    monkeypatch.setenv("PROFILES_LOCATION", f"s3://{bucket}/profiles/")
    return f"s3://{bucket}/profiles/"


def upload(s3: Any, bucket: str, key: str, **bag_info: str) -> dict[str, Any]:
    s3.put_object(
        Bucket=bucket, Key=key, Body=make_bag_zip(bag_info={"Source-Organization": "x", **bag_info})
    )
    return s3_event(bucket, key)


def test_an_upload_naming_a_profile_is_checked_against_it(handler, aws, s3, bucket, topic, profiles) -> None:  # type: ignore[no-untyped-def]
    event = upload(s3, bucket, "incoming/named.zip", **{"BagIt-Profile-Identifier": IDENTIFIER})
    verdict = handler(event, LocalContext())
    assert [(p["kind"], p["tag"]) for p in verdict["problems"]] == [("profile_bag_info", "Contact-Name")]
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["problems"][0]["kind"] == "profile_bag_info"


def test_a_bag_naming_an_unknown_profile_gets_a_warning_or_with_require_profile_an_error(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, profiles, monkeypatch
) -> None:
    event = upload(
        s3, bucket, "incoming/other.zip", **{"BagIt-Profile-Identifier": "https://elsewhere/p.json"}
    )
    verdict = handler(event, LocalContext())
    assert verdict["status"] == "valid" and [w["kind"] for w in verdict["warnings"]] == ["profile_unknown"]
    monkeypatch.setenv("REQUIRE_PROFILE", "true")
    verdict = handler(event, LocalContext())
    assert verdict["status"] == "error" and verdict["problems"][-1]["kind"] == "profile_not_found"


def test_step_functions_input_names_the_profile_and_a_malformed_one_is_an_error(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, profiles
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/plain.zip", Body=make_bag_zip())
    verdict = handler({"bucket": bucket, "key": "incoming/plain.zip", "profile": IDENTIFIER}, LocalContext())
    assert {p["kind"] for p in verdict["problems"]} == {"profile_bag_info", "profile_identifier"}
    verdict = handler({"bucket": bucket, "key": "incoming/plain.zip", "profile": "broken"}, LocalContext())
    assert verdict["status"] == "error" and [p["kind"] for p in verdict["problems"]] == ["profile_invalid"]
    missing = f"s3://{bucket}/profiles/none.json"
    verdict = handler({"bucket": bucket, "key": "incoming/plain.zip", "profile": missing}, LocalContext())
    assert verdict["status"] == "error" and [p["kind"] for p in verdict["problems"]] == ["profile_not_found"]


def test_a_large_bags_distributed_run_checks_the_profile_too(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, distributed_machine, profiles
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/large.zip", Body=make_bag_zip())
    payload = {"bucket": bucket, "key": "incoming/large.zip", "profile": IDENTIFIER}
    execution = execute(aws, distributed_machine.arn, payload, timeout=120)
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "BagInvalid"), execution.history
    assert {p["kind"] for p in execution.output["problems"]} == {"profile_bag_info", "profile_identifier"}
