"""Large uploads are handed to the distributed state machine; the rest are verified in the invocation.

The real handler (VerifyBagFunction, as template.yaml names it) on the events in events/, edited to
name a real bag in moto's S3 and to state its size; the threshold is set to a few KB so a sample
bag counts as large. The distributed state machine is the real definition created in moto's Step
Functions, which here only records executions (it does not run them): what is checked is which
executions were started, with what name and input. tests/integration/test_distributed.py runs a
routed upload through the executing state machine to its verdict on SNS.
"""

from __future__ import annotations

import json
import random
import re
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bagverify import S3Location
from devtools.lambda_runner import ROOT, LocalContext
from devtools.local_aws import LocalAws
from devtools.sample_bags import make_bag_zip
from devtools.step_functions import lambda_role
from routing import MAX_NAME_LENGTH, Routing, execution_name

DEFINITION = ROOT / "statemachines" / "verify_bag_distributed.asl.json"
KEY = "incoming/big bag (2026).zip"
ENCODED_KEY = "incoming/big+bag+%282026%29.zip"  # as S3 notifications send it
EXECUTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
# A bag larger than make_bag_zip()'s (~4 KB): 20 KB of random bytes, stored.
LARGE_BAG = make_bag_zip({"scan.bin": random.Random(7).randbytes(20_000)}, compression="stored")


@pytest.fixture
def distributed(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> str:
    """The distributed state machine's ARN, in the function's environment as template.yaml sets it."""
    suffix = str(time.monotonic_ns())
    definition = DEFINITION.read_text(encoding="utf-8")
    for function_id in ("PlanBagFunction", "VerifyShardFunction", "AggregateVerdictFunction"):
        fake = f"arn:aws:lambda:us-east-1:123456789012:function:{function_id}-{suffix}"
        definition = definition.replace(f"${{{function_id}Arn}}", fake)
    arn: str = aws.client("stepfunctions").create_state_machine(
        name=f"bagverify-verify-bag-distributed-{suffix}",
        definition=definition,
        roleArn=lambda_role(aws, f"routing-{suffix}"),
        type="STANDARD",
    )["stateMachineArn"]
    monkeypatch.setenv("DISTRIBUTED_STATE_MACHINE_ARN", arn)
    return arn


def executions(aws: LocalAws, machine_arn: str) -> list[dict[str, Any]]:
    """Every execution of the machine, each with its input parsed."""
    sfn = aws.client("stepfunctions")
    found = []
    for execution in sfn.list_executions(stateMachineArn=machine_arn)["executions"]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        found.append({**described, "input": json.loads(described["input"])})
    return found


def s3_event(bucket: str, key: str, size: int, version_id: str | None = None, etag: str | None = None) -> Any:
    event = json.loads((ROOT / "events" / "s3-put.json").read_text())
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = bucket
    record["object"].update(key=key, size=size)
    if version_id:
        record["object"]["versionId"] = version_id
    if etag:
        record["object"]["eTag"] = etag
    return event


def eventbridge_event(bucket: str, key: str, size: int, version_id: str, etag: str) -> Any:
    event = json.loads((ROOT / "events" / "eventbridge-object-created.json").read_text())
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"].update({"key": key, "size": size, "version-id": version_id, "etag": etag})
    return event


def upload(s3: Any, bucket: str, key: str = KEY, archive: bytes | None = None) -> dict[str, Any]:
    """Put a real sample bag; its version id, unquoted ETag (as events carry it) and size."""
    body = archive or make_bag_zip()
    put = s3.put_object(Bucket=bucket, Key=key, Body=body)
    return {"version_id": put.get("VersionId"), "etag": put["ETag"].strip('"'), "size": len(body)}


@pytest.fixture
def log_lines(stdout_lines: Any) -> Any:
    """A function returning the handler's JSON log lines printed so far (EMF lines left out)."""
    return lambda: [line for line in stdout_lines() if "_aws" not in line]


# -- routed ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["s3", "eventbridge"])
def test_an_upload_at_the_threshold_starts_one_distributed_run_and_publishes_nothing(  # type: ignore[no-untyped-def]
    handler, aws, s3, versioned_bucket, topic, distributed, monkeypatch, stdout_lines, source
) -> None:
    bag = upload(s3, versioned_bucket)
    # At the threshold is routed ("at or above").
    monkeypatch.setenv("DISTRIBUTED_THRESHOLD_BYTES", str(bag["size"]))
    event = (
        s3_event(versioned_bucket, ENCODED_KEY, **bag)
        if source == "s3"
        else eventbridge_event(versioned_bucket, ENCODED_KEY, **bag)
    )
    result = handler(event, LocalContext())

    [execution] = executions(aws, distributed)
    # The input the state machine's PlanBag step passes on to the planner as {"bag": input, "run": name}.
    assert execution["input"] == {
        "bucket": versioned_bucket,
        "key": KEY,
        "version_id": bag["version_id"],
        "etag": bag["etag"],
    }
    assert EXECUTION_NAME.fullmatch(execution["name"]), execution["name"]
    assert execution["name"].startswith("big-bag-2026-")
    assert result == {
        "routed": "distributed",
        "source": f"s3://{versioned_bucket}/{KEY}",
        "object": {
            "bucket": versioned_bucket,
            "key": KEY,
            "version_id": bag["version_id"],
            "etag": f'"{bag["etag"]}"',
            "size": bag["size"],
        },
        "execution_arn": execution["executionArn"],
        "already_started": False,
    }
    # Not verified here: no verdict published (the run's aggregator publishes it), no verdict logged.
    assert aws.receive_notifications(topic[1]) == []
    lines = stdout_lines()
    logs = [line for line in lines if "_aws" not in line]
    # Counted once, as BagsRouted (status "routed"), not as a verified bag.
    [metrics] = [line for line in lines if "_aws" in line]
    assert (metrics["status"], metrics["BagsRouted"]) == ("routed", [1.0]) and "BagsVerified" not in metrics
    assert not [line for line in logs if line["message"].startswith("bag ") and "status" in line]
    [routed] = [line for line in logs if line["message"] == "bag routed to the distributed state machine"]
    assert routed["execution_arn"] == execution["executionArn"]
    assert routed["correlation_id"] == f"s3://{versioned_bucket}/{KEY}"
    assert (routed["size"], routed["threshold_bytes"]) == (bag["size"], bag["size"])


def test_the_same_upload_delivered_again_starts_no_second_run(  # type: ignore[no-untyped-def]
    handler, aws, s3, versioned_bucket, topic, distributed, monkeypatch, log_lines
) -> None:
    monkeypatch.setenv("DISTRIBUTED_THRESHOLD_BYTES", "1000")
    bag = upload(s3, versioned_bucket)
    event = s3_event(versioned_bucket, ENCODED_KEY, **bag)
    first = handler(event, LocalContext())
    # Delivered again while the run goes on (S3 at least once, Lambda's retries): StartExecution
    # with the same name and input answers with the same execution.
    again = handler(json.loads(json.dumps(event)), LocalContext())
    assert again["execution_arn"] == first["execution_arn"]
    [execution] = executions(aws, distributed)
    # Delivered once more after the run ended: the name is refused (ExecutionAlreadyExists), which
    # is "already started", not a failure of the invocation.
    aws.client("stepfunctions").stop_execution(executionArn=execution["executionArn"])
    late = handler(event, LocalContext())
    assert late["already_started"] is True and late["execution_arn"] == first["execution_arn"]
    assert len(executions(aws, distributed)) == 1
    assert aws.receive_notifications(topic[1]) == []
    messages = [line["message"] for line in log_lines() if "execution_arn" in line]
    assert messages == [
        "bag routed to the distributed state machine",
        "bag routed to the distributed state machine",
        "bag already routed to the distributed state machine",
    ]
    # A new upload of the same key is another upload: a run of its own.
    newer = upload(s3, versioned_bucket)
    handler(s3_event(versioned_bucket, ENCODED_KEY, **newer), LocalContext())
    runs = executions(aws, distributed)
    assert len(runs) == 2
    assert {run["input"]["version_id"] for run in runs} == {bag["version_id"], newer["version_id"]}


def test_one_event_routes_its_large_upload_and_verifies_the_small_one(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, distributed, monkeypatch
) -> None:
    small = upload(s3, bucket, "incoming/small.zip")
    large = upload(s3, bucket, "incoming/large.zip", LARGE_BAG)
    monkeypatch.setenv("DISTRIBUTED_THRESHOLD_BYTES", str(small["size"] + 1))
    assert large["size"] > small["size"]
    event = s3_event(bucket, "incoming/large.zip", **large)
    event["Records"].append(s3_event(bucket, "incoming/small.zip", **small)["Records"][0])
    result = handler(event, LocalContext())
    routed, verdict = result["verdicts"]
    [execution] = executions(aws, distributed)
    assert routed["execution_arn"] == execution["executionArn"]
    # Unversioned bucket: the eTag pins the upload, in the input as in the name.
    assert execution["input"] == {"bucket": bucket, "key": "incoming/large.zip", "etag": large["etag"]}
    assert verdict["status"] == "valid" and verdict["object"]["key"] == "incoming/small.zip"
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["object"]["key"] == "incoming/small.zip"


def test_a_run_that_cannot_be_started_fails_the_invocation_before_anything_is_published(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, distributed, monkeypatch
) -> None:
    # Step Functions refuses (here: no such state machine): the invocation fails, so Lambda retries
    # the event and then keeps it in FailedInvocationsQueue. The small bag in the same event is
    # not verified and published first: the retry would publish it a second time.
    monkeypatch.setenv("DISTRIBUTED_STATE_MACHINE_ARN", f"{distributed}-gone")
    small = upload(s3, bucket, "incoming/small.zip")
    large = upload(s3, bucket, "incoming/large.zip", LARGE_BAG)
    monkeypatch.setenv("DISTRIBUTED_THRESHOLD_BYTES", str(small["size"] + 1))
    event = s3_event(bucket, "incoming/small.zip", **small)
    event["Records"].append(s3_event(bucket, "incoming/large.zip", **large)["Records"][0])
    with pytest.raises(ClientError, match="StateMachineDoesNotExist"):
        handler(event, LocalContext())
    assert aws.receive_notifications(topic[1]) == []
    assert executions(aws, distributed) == []


# -- not routed --------------------------------------------------------------------------------------


def test_an_upload_below_the_threshold_is_verified_in_place_as_before(  # type: ignore[no-untyped-def]
    handler, aws, s3, versioned_bucket, topic, distributed, monkeypatch
) -> None:
    bag = upload(s3, versioned_bucket)
    monkeypatch.setenv("DISTRIBUTED_THRESHOLD_BYTES", str(bag["size"] + 1))
    verdict = handler(s3_event(versioned_bucket, ENCODED_KEY, **bag), LocalContext())
    assert verdict["status"] == "valid", verdict["problems"]
    assert verdict["object"]["version_id"] == bag["version_id"]
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["status"] == "valid"
    assert executions(aws, distributed) == []


@pytest.mark.parametrize(
    "event_file", ["stepfunctions-input.json", "direct"], ids=["step-functions-input", "direct-input"]
)
def test_direct_and_step_functions_input_is_never_routed(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, distributed, monkeypatch, event_file
) -> None:
    # Every object is "large" at 1 byte; the caller still gets the verdict back from this task.
    monkeypatch.setenv("DISTRIBUTED_THRESHOLD_BYTES", "1")
    bag = upload(s3, bucket, "incoming/sample-bag.zip")
    if event_file == "direct":
        # Even one that states a size: only upload notifications are routed.
        event = {"bucket": bucket, "key": "incoming/sample-bag.zip", "etag": bag["etag"], "size": bag["size"]}
    else:
        event = {**json.loads((ROOT / "events" / event_file).read_text()), "bucket": bucket}
    verdict = handler(event, LocalContext())
    assert verdict["status"] == "valid", verdict["problems"]
    assert len(aws.receive_notifications(topic[1])) == 1
    assert executions(aws, distributed) == []


@pytest.mark.parametrize(
    "setting",
    [("DISTRIBUTED_THRESHOLD_BYTES", "0"), ("DISTRIBUTED_STATE_MACHINE_ARN", "")],
    ids=["threshold-0", "no-state-machine"],
)
def test_routing_is_off_with_a_threshold_of_0_or_no_state_machine(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, distributed, monkeypatch, setting
) -> None:
    monkeypatch.setenv("DISTRIBUTED_THRESHOLD_BYTES", "1")
    monkeypatch.setenv(*setting)
    bag = upload(s3, bucket)
    verdict = handler(s3_event(bucket, ENCODED_KEY, **bag), LocalContext())
    assert verdict["status"] == "valid", verdict["problems"]
    assert len(aws.receive_notifications(topic[1])) == 1
    assert executions(aws, distributed) == []


# -- the execution name ------------------------------------------------------------------------------


def test_execution_names_are_valid_deterministic_and_differ_per_upload() -> None:
    long_key = "incoming/" + "Ünïcødé bag, with spaces & [brackets] " * 30 + ".zip"
    locations = [
        S3Location("bags", KEY, "v1", "e1"),
        S3Location("bags", KEY, "v2", "e1"),
        S3Location("bags", KEY, None, "e1"),
        S3Location("bags", KEY, None, "e2"),
        S3Location("other-bags", KEY, "v1", "e1"),
        S3Location("bags", "incoming/other.zip", "v1", "e1"),
        S3Location("bags", long_key, "v1", "e1"),
        S3Location("bags", "incoming/...zip", None, None),
    ]
    names = [execution_name(location) for location in locations]
    assert all(EXECUTION_NAME.fullmatch(name) and len(name) <= MAX_NAME_LENGTH for name in names), names
    assert len(set(names)) == len(names)
    assert names == [execution_name(location) for location in locations], "not deterministic"
    # Quoted or not, an ETag is the same upload.
    assert execution_name(S3Location("bags", KEY, None, '"e1"')) == names[2]


def test_the_threshold_is_read_as_cloudformation_passes_a_number_parameter() -> None:
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:bagverify-verify-bag-distributed"
    for given in ("50000000000", "5e10", " 50000000000 "):
        routing = Routing.from_environment(
            {"DISTRIBUTED_STATE_MACHINE_ARN": arn, "DISTRIBUTED_THRESHOLD_BYTES": given}
        )
        assert routing.threshold_bytes == 50_000_000_000, given
    assert Routing.from_environment({"DISTRIBUTED_STATE_MACHINE_ARN": arn}).threshold_bytes == 0


# -- too many files for the function's memory -----------------------------------------------------

# Below what the interpreter alone takes (the estimate's baseline): every bag has too many files.
TINY_FUNCTION = LocalContext(memory_limit_in_mb=60)


def test_an_upload_with_too_many_files_for_the_functions_memory_is_routed_after_planning(  # type: ignore[no-untyped-def]
    handler, aws, s3, versioned_bucket, topic, distributed, monkeypatch
) -> None:
    # Small in bytes (under the size threshold), so verified here until the directory, read first,
    # says its files would not fit: then handed over, instead of being killed for memory.
    bag = upload(s3, versioned_bucket)
    monkeypatch.setenv("DISTRIBUTED_THRESHOLD_BYTES", str(bag["size"] * 1000))
    result = handler(s3_event(versioned_bucket, ENCODED_KEY, **bag), TINY_FUNCTION)

    [execution] = executions(aws, distributed)
    assert result["routed"] == "distributed" and result["execution_arn"] == execution["executionArn"]
    assert execution["input"]["version_id"] == bag["version_id"]
    assert aws.receive_notifications(topic[1]) == []


def test_direct_input_with_too_many_files_is_an_error_naming_the_distributed_machine(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, distributed, monkeypatch
) -> None:
    monkeypatch.setenv("DISTRIBUTED_THRESHOLD_BYTES", "1")
    upload(s3, bucket, "incoming/sample-bag.zip")
    verdict = handler({"bucket": bucket, "key": "incoming/sample-bag.zip"}, TINY_FUNCTION)

    assert verdict["status"] == "error"
    [problem] = verdict["problems"]
    assert problem["kind"] == "too_many_files" and "VerifyBagDistributedStateMachine" in problem["message"]
    assert problem["memory_limit_mb"] == round(60 * 1024 * 1024 / 1e6)
    assert verdict["stats"]["files"] == 0, "nothing was scanned"
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["problems"][0]["kind"] == "too_many_files"
    assert executions(aws, distributed) == []
    # With the function's real memory the same bag is verified.
    assert handler({"bucket": bucket, "key": "incoming/sample-bag.zip"}, LocalContext())["status"] == "valid"
