"""The real state machine definition, run by moto's Step Functions interpreter, invoking the real handler.

moto's server runs in this process (ThreadedMotoServer). With the config
`{"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}` (posted to
its /moto-api/config endpoint) it interprets the ASL itself, and a `lambda:invoke` task calls the
Lambda API over HTTP on localhost:$MOTO_PORT, which moto answers with its docker-free
LambdaSimpleBackend. That backend's `invoke` only echoes the payload, so it is replaced here by
one that runs the handler template.yaml names (devtools.lambda_runner.load_handler) on the
payload, and answers as Lambda does: the JSON result, or `X-Amz-Function-Error: Unhandled` with
{"errorType", "errorMessage"} when the handler raises.

The HeadObject task (`aws-sdk:s3:headObject`) and the nested run (`states:startExecution.sync:2`)
reach moto's S3 and Step Functions the same way: the nested run is a real execution of the real
distributed definition (tests/integration/conftest.py), whose functions run their real handlers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from devtools.lambda_runner import ROOT, load_template
from devtools.local_aws import LocalAws
from devtools.sample_bags import flip_byte, make_bag_zip
from devtools.step_functions import DistributedMachine, Execution, Lambdas
from devtools.step_functions import execute as run_execution

DEFINITION = ROOT / "statemachines" / "verify_bag.asl.json"
# Step Functions' limit on a state's input or output.
STEP_FUNCTIONS_MAX_BYTES = 256 * 1024
# The template's default (50 GB): no bag of these tests reaches it, so nothing is routed.
DEFAULT_THRESHOLD = int(load_template()["Parameters"]["DistributedThresholdBytes"]["Default"])
# The states before VerifyBag for a bag under the threshold (HeadObject measured it).
MEASURED = ["ReadThreshold", "RoutingOn", "HasVersionId", "MeasureBag", "LargeBag"]


@dataclass
class StateMachine:
    arn: str
    function_arn: str
    role_arn: str
    distributed: DistributedMachine
    # VerifyBagFunction's
    invocations: list[dict[str, Any]] = field(default_factory=list)


def definition(function_arn: str, topic_arn: str, distributed_arn: str, threshold: int | str) -> str:
    """The definition with the substitutions template.yaml makes (DefinitionSubstitutions)."""
    text = (
        DEFINITION.read_text(encoding="utf-8")
        .replace("${VerifyBagFunctionArn}", function_arn)
        .replace("${VerdictTopicArn}", topic_arn)
        .replace("${VerifyBagDistributedStateMachineArn}", distributed_arn)
        .replace("${DistributedThresholdBytes}", str(threshold))
    )
    assert "${" not in text, "the definition has a substitution this test does not make"
    return text


def create_machine(
    aws: LocalAws,
    machine: StateMachine,
    topic_arn: str,
    threshold: int | str,
    distributed_arn: str | None = None,
) -> str:
    """Another VerifyBagStateMachine beside `machine`: the same function and distributed machine (unless
    `distributed_arn`), with its own topic and threshold."""
    return str(
        aws.client("stepfunctions").create_state_machine(
            name=f"VerifyBag-{time.monotonic_ns()}",
            definition=definition(
                machine.function_arn, topic_arn, distributed_arn or machine.distributed.arn, threshold
            ),
            roleArn=machine.role_arn,
            type="STANDARD",
        )["stateMachineArn"]
    )


@pytest.fixture
def state_machine(
    aws: LocalAws, topic: tuple[str, str], lambdas: Lambdas, distributed_machine: DistributedMachine
) -> StateMachine:
    """VerifyBagStateMachine with the template's threshold, the real distributed machine beside it."""
    function_arn = lambdas.create("VerifyBagFunction")
    machine = StateMachine("", function_arn, lambdas.role_arn, distributed_machine)
    machine.invocations = lambdas.invocations["VerifyBagFunction"]
    machine.arn = create_machine(aws, machine, topic[0], DEFAULT_THRESHOLD)
    return machine


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
    assert execution.entered == [
        *MEASURED,
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
    machine_arn = create_machine(aws, state_machine, f"{topic[0]}-deleted", DEFAULT_THRESHOLD)
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


# -- a bag of DistributedThresholdBytes or more: a nested run of the distributed state machine ----------

# The states of a bag measured at or over the threshold whose run gave a verdict.
NESTED = [*MEASURED, "VerifyBagDistributed", "RouteOnVerdict"]


def distributed_runs(aws: LocalAws, machine: StateMachine) -> list[dict[str, Any]]:
    """Every execution of the distributed machine, described, input parsed."""
    sfn = aws.client("stepfunctions")
    runs = []
    for run in sfn.list_executions(stateMachineArn=machine.distributed.arn)["executions"]:
        described = sfn.describe_execution(executionArn=run["executionArn"])
        runs.append({**described, "input": json.loads(described["input"])})
    return runs


@pytest.mark.parametrize("over", [0, 1], ids=["at-the-threshold", "one-byte-under"])
def test_a_bag_at_the_threshold_is_verified_by_a_nested_distributed_run(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, state_machine, over
) -> None:
    archive = make_bag_zip()
    put = s3.put_object(Bucket=bucket, Key="incoming/large.zip", Body=archive)
    machine_arn = create_machine(aws, state_machine, topic[0], len(archive) + over)
    bag = {"bucket": bucket, "key": "incoming/large.zip"}
    execution = run_execution(aws, machine_arn, bag, name=f"large-bag-{over}")
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "BagValid"), execution.history
    verdict = execution.output
    assert verdict["status"] == "valid" and verdict["stats"]["files"] == 4
    assert verdict["object"]["etag"] == put["ETag"] and verdict["object"]["size"] == len(archive)
    invocations = state_machine.distributed.invocations
    if over:  # under the threshold: the Lambda, as before
        assert execution.entered == [*MEASURED, "VerifyBag", "RouteOnVerdict", "BagValid"]
        assert state_machine.invocations == [bag]
        assert invocations["PlanBagFunction"] == [] and distributed_runs(aws, state_machine) == []
    else:
        assert execution.entered == [*NESTED, "BagValid"]
        assert state_machine.invocations == [], "the Lambda must not verify a bag of the threshold's size"
        # The run is named after this execution, and given its input as it is.
        [run] = distributed_runs(aws, state_machine)
        assert (run["name"], run["status"]) == ("large-bag-0", "SUCCEEDED")
        assert run["input"] == bag
        assert invocations["PlanBagFunction"] == [{"bag": run["input"], "run": "large-bag-0"}]
        assert len(invocations["VerifyShardFunction"]) == len(invocations["AggregateVerdictFunction"]) == 1
        assert json.loads(run["output"]) == verdict  # the run's verdict is this execution's output
    # One message: the run's aggregator (or the Lambda) published it; this machine published nothing.
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["status"] == "valid"
    assert notification["Message"]["object"]["etag"] == put["ETag"]


def test_an_invalid_large_bag_ends_in_bag_invalid_naming_the_file(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, state_machine
) -> None:
    archive = make_bag_zip(tamper=flip_byte("data/images/scan-0002.tif", 77))
    s3.put_object(Bucket=bucket, Key="incoming/bad.zip", Body=archive)
    machine_arn = create_machine(aws, state_machine, topic[0], 1)
    execution = run_execution(aws, machine_arn, {"bucket": bucket, "key": "incoming/bad.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "BagInvalid"), execution.history
    assert execution.entered == [*NESTED, "BagInvalid"]
    assert state_machine.invocations == []
    assert {(p["kind"], p["path"]) for p in execution.output["problems"]} == {
        ("checksum_mismatch", "data/images/scan-0002.tif")  # once per manifest: sha256 and sha512
    }
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["status"] == "invalid"


def test_a_large_bag_version_is_measured_and_verified_as_that_version(  # type: ignore[no-untyped-def]
    aws, s3, versioned_bucket, topic, state_machine
) -> None:
    first = s3.put_object(Bucket=versioned_bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    s3.put_object(
        Bucket=versioned_bucket,
        Key="incoming/bag.zip",
        Body=make_bag_zip(tamper=flip_byte("data/README.txt", 0)),
    )
    machine_arn = create_machine(aws, state_machine, topic[0], 1)
    # The input is passed on as given, its etag unquoted as S3 events give it.
    bag = {
        "bucket": versioned_bucket,
        "key": "incoming/bag.zip",
        "version_id": first["VersionId"],
        "etag": first["ETag"].strip('"'),
    }
    execution = run_execution(aws, machine_arn, bag)
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "BagValid"), execution.output
    assert execution.entered[:4] == ["ReadThreshold", "RoutingOn", "HasVersionId", "MeasureBagVersion"]
    assert "VerifyBagDistributed" in execution.entered
    assert state_machine.distributed.invocations["PlanBagFunction"][0]["bag"] == bag
    assert execution.output["object"]["version_id"] == first["VersionId"]
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["object"]["version_id"] == first["VersionId"]


def test_a_missing_key_is_still_not_found_from_the_lambda(aws, bucket, topic, state_machine) -> None:  # type: ignore[no-untyped-def]
    machine_arn = create_machine(aws, state_machine, topic[0], 1)
    bag = {"bucket": bucket, "key": "incoming/never-uploaded.zip"}
    execution = run_execution(aws, machine_arn, bag)
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    # HeadObject's 404 is no verdict: the Lambda, on the input as given, names the problem.
    assert execution.entered == [*MEASURED[:-1], "VerifyBag", "RouteOnVerdict", "VerificationError"]
    failures = [e["taskFailedEventDetails"] for e in execution.history if "taskFailedEventDetails" in e]
    assert [f["resource"] for f in failures] == ["headObject"], "a missing key is not retried"
    assert state_machine.invocations == [bag]
    assert [p["kind"] for p in execution.output["problems"]] == ["not_found"]
    assert state_machine.distributed.invocations["PlanBagFunction"] == []
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["problems"][0]["kind"] == "not_found"


def test_routing_off_verifies_every_bag_in_the_lambda_without_measuring_it(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, state_machine
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    machine_arn = create_machine(aws, state_machine, topic[0], 0)
    execution = run_execution(aws, machine_arn, {"bucket": bucket, "key": "incoming/bag.zip"})
    assert execution.entered == ["ReadThreshold", "RoutingOn", "VerifyBag", "RouteOnVerdict", "BagValid"]
    assert len(state_machine.invocations) == 1
    aws.receive_notifications(topic[1])


def test_a_failed_distributed_run_is_an_error_verdict_published_once(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, state_machine
) -> None:
    """The run fails (its aggregator returns no verdict: UnexpectedVerdict, its one Fail state), having
    published nothing: this machine publishes the error verdict, once."""
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    state_machine.distributed.faults["AggregateVerdictFunction"] = lambda event: {"not": "a verdict"}
    machine_arn = create_machine(aws, state_machine, topic[0], 1)
    bag = {"bucket": bucket, "key": "incoming/bag.zip"}
    execution = run_execution(aws, machine_arn, bag)
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    assert execution.entered == [
        *MEASURED,
        "VerifyBagDistributed",
        "DistributedRunFailed",
        "BuildErrorVerdict",
        "BuildErrorMessage",
        "PublishErrorVerdict",
        "VerificationError",
    ]
    [run] = distributed_runs(aws, state_machine)
    assert run["status"] == "FAILED"
    verdict = execution.output
    assert verdict == {
        "status": "error",
        "source": f"s3://{bucket}/incoming/bag.zip",
        "object": bag,
        "problems": verdict["problems"],
        "warnings": [],
        "stats": {},
    }
    [problem] = verdict["problems"]
    assert problem["kind"] == "step_failed"
    assert problem["message"] == "the distributed verification failed: States.TaskFailed"
    assert problem["error"]["Error"] == "States.TaskFailed"
    assert "BagVerify.UnexpectedVerdict" in problem["error"]["Cause"]  # the run's own error
    # Not retried: the run ran once.
    assert len(state_machine.distributed.invocations["PlanBagFunction"]) == 1
    [notification] = aws.receive_notifications(topic[1])
    message = notification["Message"]
    assert (message["status"], message["problem_count"]) == ("error", 1)
    assert message["problems"] == [problem]
    assert message["object"] == {**bag, "version_id": None, "etag": None}


def test_a_crashed_aggregator_in_the_run_is_its_error_verdict_published_once(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, state_machine
) -> None:
    """The run catches its aggregator's crash, publishes lambda_failed and succeeds: that verdict is the
    output, and this machine publishes nothing more."""
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())

    def crash(event: dict[str, Any]) -> None:
        raise MemoryError("injected")

    state_machine.distributed.faults["AggregateVerdictFunction"] = crash
    machine_arn = create_machine(aws, state_machine, topic[0], 1)
    execution = run_execution(aws, machine_arn, {"bucket": bucket, "key": "incoming/bag.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    assert execution.entered == [*NESTED, "VerificationError"]
    [problem] = execution.output["problems"]
    assert (problem["kind"], problem["error"]["Error"]) == ("lambda_failed", "MemoryError")
    assert problem["message"].startswith("the aggregating Lambda failed")
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["problems"] == [problem]


def test_a_distributed_run_that_cannot_be_started_is_an_error_verdict(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, state_machine
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    machine_arn = create_machine(
        aws, state_machine, topic[0], 1, distributed_arn=f"{state_machine.distributed.arn}-deleted"
    )
    execution = run_execution(aws, machine_arn, {"bucket": bucket, "key": "incoming/bag.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    assert execution.entered[-5:] == [
        "DistributedRunFailed",
        "BuildErrorVerdict",
        "BuildErrorMessage",
        "PublishErrorVerdict",
        "VerificationError",
    ]
    [problem] = execution.output["problems"]
    assert problem["kind"] == "step_failed"
    assert problem["error"]["Error"] == "StepFunctions.StateMachineDoesNotExistException"
    assert state_machine.invocations == []
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["problems"] == [problem]


def test_a_stopped_distributed_run_is_an_error_verdict_published_once(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, state_machine
) -> None:
    """Someone stops the run (ABORTED) while its shard is verified: it published nothing; this machine
    publishes the error verdict."""
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    sfn = aws.client("stepfunctions")

    def stop_the_run(event: dict[str, Any]) -> None:
        for run in sfn.list_executions(stateMachineArn=state_machine.distributed.arn)["executions"]:
            sfn.stop_execution(executionArn=run["executionArn"], error="Operator", cause="stopped by hand")

    state_machine.distributed.faults["VerifyShardFunction"] = stop_the_run
    machine_arn = create_machine(aws, state_machine, topic[0], 1)
    execution = run_execution(aws, machine_arn, {"bucket": bucket, "key": "incoming/bag.zip"})
    assert (execution.status, execution.final_state) == ("SUCCEEDED", "VerificationError"), execution.history
    assert "DistributedRunFailed" in execution.entered
    [run] = distributed_runs(aws, state_machine)
    assert run["status"] == "ABORTED"
    [problem] = execution.output["problems"]
    assert (problem["kind"], problem["error"]["Error"]) == ("step_failed", "States.TaskFailed")
    assert json.loads(problem["error"]["Cause"])["Status"] == "ABORTED"
    assert state_machine.distributed.invocations["AggregateVerdictFunction"] == []
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["problems"] == [problem]
