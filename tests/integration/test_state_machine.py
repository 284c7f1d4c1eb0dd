"""The real state machine definition, run by moto's Step Functions interpreter, invoking the real handler.

moto's server runs in this process (ThreadedMotoServer). With the config
`{"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}` (posted to
its /moto-api/config endpoint) it interprets the ASL itself, and a `lambda:invoke` task calls the
Lambda API over HTTP on localhost:$MOTO_PORT, which moto answers with its docker-free
LambdaSimpleBackend. That backend's `invoke` only echoes the payload, so it is replaced here by
one that runs the handler template.yaml names (devtools.lambda_runner.load_handler) on the
payload, and answers as Lambda does: the JSON result, or `X-Amz-Function-Error: Unhandled` with
{"errorType", "errorMessage"} when the handler raises.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from devtools.lambda_runner import ROOT, LocalContext, load_handler
from devtools.local_aws import LocalAws
from devtools.sample_bags import flip_byte, make_bag_zip
from devtools.step_functions import (
    Execution,
    create_function,
    executing_state_machines,
    lambda_role,
    route_lambda_invocations,
)
from devtools.step_functions import execute as run_execution

DEFINITION = ROOT / "statemachines" / "verify_bag.asl.json"
FUNCTION_NAME = "bagverify-VerifyBagFunction"
# Step Functions' limit on a state's input or output.
STEP_FUNCTIONS_MAX_BYTES = 256 * 1024


@dataclass
class StateMachine:
    arn: str
    function_arn: str
    role_arn: str
    invocations: list[dict[str, Any]] = field(default_factory=list)


def definition(function_arn: str, topic_arn: str) -> str:
    """The definition with the substitutions template.yaml makes (DefinitionSubstitutions)."""
    text = (
        DEFINITION.read_text(encoding="utf-8")
        .replace("${VerifyBagFunctionArn}", function_arn)
        .replace("${VerdictTopicArn}", topic_arn)
    )
    assert "${" not in text, "the definition has a substitution this test does not make"
    return text


@pytest.fixture
def state_machine(
    aws: LocalAws, topic: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[StateMachine]:
    # moto's Step Functions interpreter calls Lambda and SNS at localhost:$MOTO_PORT (default 5000).
    monkeypatch.setenv("MOTO_PORT", aws.endpoint.rsplit(":", 1)[1])
    handler = load_handler()
    invocations: list[dict[str, Any]] = []

    def dispatch(function_name: str, event: dict[str, Any], context: LocalContext) -> Any:
        invocations.append(event)
        return handler(event, context)

    route_lambda_invocations(monkeypatch, dispatch)
    suffix = str(time.monotonic_ns())
    with executing_state_machines(aws):
        role_arn = lambda_role(aws, f"verify-bag-{suffix}")
        function_arn = create_function(aws, f"{FUNCTION_NAME}-{suffix}", role_arn, "app.lambda_handler")
        machine_arn = aws.client("stepfunctions").create_state_machine(
            name=f"VerifyBag-{suffix}",
            definition=definition(function_arn, topic[0]),
            roleArn=role_arn,
            type="STANDARD",
        )["stateMachineArn"]
        yield StateMachine(machine_arn, function_arn, role_arn, invocations)


def execute(aws: LocalAws, machine: StateMachine, payload: dict[str, Any], timeout: float = 120) -> Execution:
    return run_execution(aws, machine.arn, payload, timeout)


def test_valid_bag_ends_in_bag_valid_with_the_verdict(aws, s3, bucket, topic, state_machine) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    execution = execute(aws, state_machine, {"bucket": bucket, "key": "incoming/bag.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "BagValid"), execution.history
    assert state_machine.invocations == [{"bucket": bucket, "key": "incoming/bag.zip"}]
    verdict = execution.output
    assert verdict["status"] == "valid", verdict["problems"]
    assert verdict["source"] == f"s3://{bucket}/incoming/bag.zip"
    assert verdict["object"]["key"] == "incoming/bag.zip" and verdict["object"]["etag"]
    assert verdict["stats"]["files"] == 4
    [notification] = aws.receive_notifications(topic[1])  # the task's run published, as usual
    assert notification["Message"]["status"] == "valid"


def test_invalid_bag_ends_in_bag_invalid_naming_the_file(aws, s3, bucket, topic, state_machine) -> None:  # type: ignore[no-untyped-def]
    archive = make_bag_zip(tamper=flip_byte("data/images/scan-0002.tif", 77))
    s3.put_object(Bucket=bucket, Key="incoming/bad.zip", Body=archive)
    execution = execute(aws, state_machine, {"bucket": bucket, "key": "incoming/bad.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "BagInvalid"), execution.history
    assert len(state_machine.invocations) == 1, "an invalid bag must not be retried"
    assert execution.output["status"] == "invalid"
    assert {(p["kind"], p["path"]) for p in execution.output["problems"]} == {
        ("checksum_mismatch", "data/images/scan-0002.tif")  # once per manifest: sha256 and sha512
    }


def test_missing_key_ends_in_verification_error(aws, bucket, topic, state_machine) -> None:  # type: ignore[no-untyped-def]
    execution = execute(aws, state_machine, {"bucket": bucket, "key": "incoming/never-uploaded.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    assert execution.output["status"] == "error"
    assert [p["kind"] for p in execution.output["problems"]] == ["not_found"]
    # The handler's own error verdict, not the Catch branch.
    assert "LambdaFailed" not in {
        event["stateEnteredEventDetails"]["name"]
        for event in execution.history
        if "stateEnteredEventDetails" in event
    }


def test_version_id_in_the_input_verifies_that_version(
    aws, s3, versioned_bucket, topic, state_machine
) -> None:  # type: ignore[no-untyped-def]
    first = s3.put_object(Bucket=versioned_bucket, Key="incoming/bag.zip", Body=make_bag_zip())["VersionId"]
    s3.put_object(
        Bucket=versioned_bucket,
        Key="incoming/bag.zip",
        Body=make_bag_zip(tamper=flip_byte("data/README.txt", 0)),
    )
    execution = execute(
        aws, state_machine, {"bucket": versioned_bucket, "key": "incoming/bag.zip", "version_id": first}
    )
    assert execution.final_state == "BagValid", execution.output
    assert execution.output["object"]["version_id"] == first


def test_a_failing_lambda_is_caught_once_and_ends_in_verification_error(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, state_machine, monkeypatch
) -> None:
    # A real failure of the handler: it cannot publish without TOPIC_ARN (KeyError).
    monkeypatch.delenv("TOPIC_ARN")
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    execution = execute(aws, state_machine, {"bucket": bucket, "key": "incoming/bag.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in execution.history if "stateEnteredEventDetails" in e
    ]
    assert entered == [
        "VerifyBag",
        "LambdaFailed",
        "BuildErrorVerdict",
        "BuildErrorMessage",
        "PublishErrorVerdict",
        "VerificationError",
    ]
    assert len(state_machine.invocations) == 1, "a function error (States.TaskFailed) must not be retried"
    verdict = execution.output
    assert verdict == {
        "status": "error",
        "source": f"s3://{bucket}/incoming/bag.zip",
        "object": {"bucket": bucket, "key": "incoming/bag.zip"},
        "problems": verdict["problems"],
        "warnings": [],
        "stats": {},
    }
    [problem] = verdict["problems"]
    assert problem["kind"] == "lambda_failed"
    assert problem["error"]["Error"] == "KeyError"
    assert "KeyError" in problem["message"]
    # The state machine published the error verdict itself (the handler could not): one message,
    # checked against schemas/verdict-message.schema.json, with the status and bucket attributes.
    [notification] = aws.receive_notifications(topic[1])
    message = notification["Message"]
    assert (message["status"], message["problem_count"], message["warning_count"]) == ("error", 1, 0)
    assert message["source"] == f"s3://{bucket}/incoming/bag.zip"
    no_version = {"version_id": None, "etag": None}
    assert message["object"] == {"bucket": bucket, "key": "incoming/bag.zip", **no_version}
    assert message["problems"] == [problem]
    assert (message["warnings"], message["problems_truncated"]) == ([], False)
    assert notification["MessageAttributes"]["status"] == {"Type": "String", "Value": "error"}
    assert notification["MessageAttributes"]["bucket"] == {"Type": "String", "Value": bucket}


def test_a_failing_lambda_on_a_version_publishes_that_version(  # type: ignore[no-untyped-def]
    aws, s3, versioned_bucket, topic, state_machine, monkeypatch
) -> None:
    monkeypatch.delenv("TOPIC_ARN")
    put = s3.put_object(Bucket=versioned_bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    bag = {
        "bucket": versioned_bucket,
        "key": "incoming/bag.zip",
        "version_id": put["VersionId"],
        "etag": put["ETag"],
    }
    execution = execute(aws, state_machine, bag)
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    assert execution.output["object"] == bag  # the output's object is the input, as before
    [notification] = aws.receive_notifications(topic[1])
    message = notification["Message"]
    assert message["object"] == bag
    assert [p["kind"] for p in message["problems"]] == ["lambda_failed"]
    assert notification["MessageAttributes"]["status"]["Value"] == "error"


def test_an_error_verdict_that_cannot_be_published_still_ends_in_verification_error(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, state_machine, monkeypatch
) -> None:
    # The same definition, its topic substituted by one that does not exist (SNS NotFound).
    machine_arn = aws.client("stepfunctions").create_state_machine(
        name=f"VerifyBagNoTopic-{time.monotonic_ns()}",
        definition=definition(state_machine.function_arn, f"{topic[0]}-deleted"),
        roleArn=state_machine.role_arn,
        type="STANDARD",
    )["stateMachineArn"]
    monkeypatch.delenv("TOPIC_ARN")
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    execution = run_execution(aws, machine_arn, {"bucket": bucket, "key": "incoming/bag.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    assert execution.entered[-3:] == ["PublishErrorVerdict", "ErrorVerdictNotPublished", "VerificationError"]
    # Not retried: NotFound is no transient error.
    failures = [e["taskFailedEventDetails"] for e in execution.history if "taskFailedEventDetails" in e]
    assert [f["resource"] for f in failures] == ["invoke", "publish"], failures
    assert failures[1]["error"].startswith("SNS.")
    # The output is the verdict, exactly as when it is published.
    verdict = execution.output
    assert set(verdict) == {"status", "source", "object", "problems", "warnings", "stats"}
    assert verdict["status"] == "error" and verdict["object"] == {"bucket": bucket, "key": "incoming/bag.zip"}
    assert [p["kind"] for p in verdict["problems"]] == ["lambda_failed"]
    assert aws.receive_notifications(topic[1]) == []


def test_an_oversized_verdict_is_capped_for_step_functions(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, state_machine, many_missing_bag
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/many-missing.zip", Body=many_missing_bag)
    execution = execute(aws, state_machine, {"bucket": bucket, "key": "incoming/many-missing.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "BagInvalid"), execution.status
    output = execution.output
    assert len(json.dumps(output).encode()) <= STEP_FUNCTIONS_MAX_BYTES
    assert output["problem_count"] == 20_000
    assert output["problems_truncated"] is True
    assert 0 < len(output["problems"]) < 20_000
    assert output["problems"][0]["kind"] == "missing_file"
    aws.receive_notifications(topic[1])  # drain (and check) the message
