"""The distributed verification's resources: its functions, work bucket, state machine and definition."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from tests.template.helpers import (
    DISTRIBUTED_ASL,
    DISTRIBUTED_GRANTS,
    FUNCTION_DIR,
    ROOT,
    RUNS,
    _as_list,
    _explain,
    _function,
    _grants,
    _invoked_by_machine,
    _resource_name,
    _run,
    _states,
)


@pytest.mark.parametrize("function_id", sorted(DISTRIBUTED_GRANTS))
def test_distributed_functions_are_least_privilege(template: dict[str, Any], function_id: str) -> None:
    properties = template["Resources"][function_id]["Properties"]
    assert properties["CodeUri"] == _function(template)["CodeUri"], "one code package for all handlers"
    assert properties["Handler"].startswith("distributed_app.")
    assert (FUNCTION_DIR / "distributed_app.py").is_file()
    always, conditional = _grants(properties)
    assert always == DISTRIBUTED_GRANTS[function_id]
    # The aggregator writes reports, and reads BagIt profiles exactly as VerifyBagFunction does.
    expected_conditional = (
        {
            "HasReportBucket": {("s3:PutObject", "arn:${AWS::Partition}:s3:::${ReportBucket}/reports/*")},
            "HasProfilesLocation": _grants(_function(template))[1]["HasProfilesLocation"],
        }
        if function_id == "AggregateVerdictFunction"
        else {}
    )
    assert conditional == expected_conditional


def test_work_bucket_is_private_encrypted_and_expires_runs(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["WorkBucket"]["Properties"]
    assert (
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "AES256"
    )
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    [rule] = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and 1 <= rule["ExpirationInDays"] <= 30
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    planner = template["Resources"]["PlanBagFunction"]["Properties"]["Environment"]["Variables"]
    assert planner["WORK_BUCKET"] == {"Ref": "WorkBucket"} and planner["WORK_PREFIX"] == "runs/"
    assert planner["SHARD_CONCURRENCY"] == {"Ref": "ShardConcurrency"}


def test_planner_refuses_what_the_aggregator_would_not_hold_with_the_same_memory(
    template: dict[str, Any],
) -> None:
    # The planner checks a bag against the aggregator's memory, so it needs that memory itself (the
    # million-entry test measured 556 MB planning, 688 MB aggregating) and must be told it.
    resources = template["Resources"]
    memory = {"Ref": "LargeBagMemorySize"}
    assert resources["PlanBagFunction"]["Properties"]["MemorySize"] == memory
    assert resources["AggregateVerdictFunction"]["Properties"]["MemorySize"] == memory
    assert (
        resources["PlanBagFunction"]["Properties"]["Environment"]["Variables"]["AGGREGATOR_MEMORY_MB"]
        == memory
    )
    parameter = template["Parameters"]["LargeBagMemorySize"]
    assert 1024 <= parameter["MinValue"] <= parameter["Default"] <= parameter["MaxValue"] == 10240


def test_distributed_state_machine_resource_and_policies(template: dict[str, Any]) -> None:
    machine = template["Resources"]["VerifyBagDistributedStateMachine"]["Properties"]
    invoked = _invoked_by_machine(template, "VerifyBagDistributedStateMachine", DISTRIBUTED_ASL)
    assert invoked == {"PlanBagFunction", "VerifyShardFunction", "AggregateVerdictFunction"}
    statements = [s for p in machine["Policies"] if "Statement" in p for s in _as_list(p["Statement"])]
    grants = {(action, _resource_name(s["Resource"])) for s in statements for action in _as_list(s["Action"])}
    own = "${AWS::Region}:${AWS::AccountId}:stateMachine:${BucketNamePrefix}-verify-bag-distributed"
    executions = "${AWS::Region}:${AWS::AccountId}:execution:${BucketNamePrefix}-verify-bag-distributed/*"
    assert grants == {
        ("s3:GetObject", RUNS),  # the ItemReader
        ("states:StartExecution", f"arn:${{AWS::Partition}}:states:{own}"),  # child executions
        ("states:DescribeExecution", f"arn:${{AWS::Partition}}:states:{executions}"),
        ("states:StopExecution", f"arn:${{AWS::Partition}}:states:{executions}"),
        ("sns:Publish", "VerdictTopic"),  # PublishErrorVerdict, when the aggregator failed
    }
    assert machine["Name"] == {"Fn::Sub": "${BucketNamePrefix}-verify-bag-distributed"}


def test_distributed_definition(template: dict[str, Any]) -> None:
    definition = json.loads(DISTRIBUTED_ASL.read_text(encoding="utf-8"))
    states = _states(definition)
    [shards] = [state for state in definition["States"].values() if state["Type"] == "Map"]
    assert shards["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert shards["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert shards["ItemReader"]["ReaderConfig"]["InputType"] == "JSON"
    assert shards["MaxConcurrencyPath"] == "$.concurrency"
    assert shards["ToleratedFailurePercentage"] == 100
    assert shards["ResultPath"] is None, "shard results go to S3, not through the state"
    # Every Lambda task: retries only transient Lambda errors, never a failure of its own.
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert set(tasks) == {
        "PlanBag",
        "VerifyShard",
        "RecordShardFailure",
        "AggregateVerdict",
        "PublishErrorVerdict",  # SNS, checked in test_error_verdict_is_published_by_the_state_machine
    }
    for name, task in tasks.items():
        if name == "PublishErrorVerdict":
            continue
        retried = {error for retrier in task.get("Retry", []) for error in retrier["ErrorEquals"]}
        assert retried and all(error.startswith("Lambda.") for error in retried), (name, retried)
    # A shard's failure is recorded; the planner's and the Map's go to the aggregator, who publishes.
    assert tasks["VerifyShard"]["Catch"][0]["Next"] == "RecordShardFailure"
    assert tasks["PlanBag"]["Catch"][0]["Next"] == "AggregateVerdict"
    assert shards["Catch"][0]["Next"] == "AggregateVerdict"
    # The same end states as VerifyBagStateMachine.
    ends = {name for name, state in definition["States"].items() if state["Type"] in ("Succeed", "Fail")}
    assert ends == {"BagValid", "BagInvalid", "VerificationError", "UnexpectedVerdict"}


def test_distributed_asl_validator() -> None:
    npx = shutil.which("npx")
    if npx is None or not (ROOT / "node_modules" / ".bin" / "asl-validator").exists():
        pytest.fail("asl-validator is missing: install Node.js and run `npm ci` in the repository root")
    result = _run(
        [npx, "--no-install", "asl-validator", "--json-path", str(DISTRIBUTED_ASL.relative_to(ROOT))]
    )
    assert result.returncode == 0, _explain(result)
