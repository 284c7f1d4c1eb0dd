"""The audit's resources: its functions (least privilege), state machine, definition, schedule and topic."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from tests.template.helpers import (
    BAG_BUCKET,
    FUNCTION_DIR,
    ROOT,
    _as_list,
    _explain,
    _function,
    _grants,
    _invoked_by_machine,
    _resource_name,
    _run,
    _states,
)

AUDIT_ASL = ROOT / "statemachines" / "audit.asl.json"
AUDITS = "${WorkBucket.Arn}/audits/*"
LEDGER = "LedgerTable.Arn"

AUDIT_GRANTS = {
    # The ledger's latest records, read only; the Map's items written.
    "AuditSelectFunction": {("dynamodb:Query", LEDGER), ("s3:PutObject", AUDITS)},
    # A row per bag; the error verdict of a bag whose verification failed, published and recorded.
    "AuditRecordFunction": {
        ("s3:PutObject", AUDITS),
        ("sns:Publish", "VerdictTopic"),
        ("dynamodb:PutItem", LEDGER),
        ("dynamodb:Query", LEDGER),
    },
    # Never the bags, the ledger or the verdict topic: the rows in, the report and summary out.
    "AuditReportFunction": {
        ("s3:GetObject", AUDITS),
        ("s3:ListBucket", "WorkBucket.Arn"),
        ("s3:PutObject", AUDITS),
        ("sns:Publish", "AuditTopic"),
    },
}
AUDIT_CONDITIONAL = {
    "AuditSelectFunction": {},
    "AuditRecordFunction": {
        "HasReportBucket": {("s3:PutObject", "arn:${AWS::Partition}:s3:::${ReportBucket}/reports/*")}
    },
    "AuditReportFunction": {
        "HasReportBucket": {("s3:PutObject", "arn:${AWS::Partition}:s3:::${ReportBucket}/audits/*")}
    },
}


@pytest.fixture(scope="module")
def audit_asl() -> dict[str, Any]:
    return json.loads(AUDIT_ASL.read_text(encoding="utf-8"))


@pytest.mark.parametrize("function_id", sorted(AUDIT_GRANTS))
def test_audit_functions_are_least_privilege(template: dict[str, Any], function_id: str) -> None:
    properties = template["Resources"][function_id]["Properties"]
    assert properties["CodeUri"] == _function(template)["CodeUri"], "one code package for all handlers"
    assert properties["Handler"].startswith("audit_app.") and (FUNCTION_DIR / "audit_app.py").is_file()
    always, conditional = _grants(properties)
    assert always == AUDIT_GRANTS[function_id]
    assert conditional == AUDIT_CONDITIONAL[function_id]


def test_the_report_lists_only_the_audits_prefix(template: dict[str, Any]) -> None:
    policies = template["Resources"]["AuditReportFunction"]["Properties"]["Policies"]
    [listing] = [s for p in policies for s in _as_list(p["Statement"]) if s.get("Action") == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "audits/*"}}


def test_audit_state_machine_policies_are_least_privilege(template: dict[str, Any]) -> None:
    machine = template["Resources"]["AuditStateMachine"]["Properties"]
    invoked = _invoked_by_machine(template, "AuditStateMachine", AUDIT_ASL)
    assert invoked == {
        "AuditSelectFunction",
        "AuditRecordFunction",
        "AuditReportFunction",
        "VerifyBagFunction",
    }
    statements = [s for p in machine["Policies"] if "Statement" in p for s in _as_list(p["Statement"])]
    grants = {
        (action, _resource_name(resource))
        for s in statements
        for action in _as_list(s["Action"])
        for resource in _as_list(s["Resource"])
    }
    states = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
    assert grants == {
        ("s3:GetObject", AUDITS),  # the due run's ItemReader
        ("s3:ListBucket", BAG_BUCKET),  # the prefix run's ItemReader, over the bag bucket only
        ("states:StartExecution", f"{states}:stateMachine:${{BucketNamePrefix}}-audit"),  # child executions
        ("states:StartExecution", "VerifyBagDistributedStateMachine"),  # large bags
        ("states:DescribeExecution", f"{states}:execution:${{BucketNamePrefix}}-audit/*"),
        ("states:StopExecution", f"{states}:execution:${{BucketNamePrefix}}-audit/*"),
        ("states:DescribeExecution", f"{states}:execution:${{BucketNamePrefix}}-verify-bag-distributed:*"),
        ("states:StopExecution", f"{states}:execution:${{BucketNamePrefix}}-verify-bag-distributed:*"),
        *{
            (action, "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
             "StepFunctionsGetEventsForStepFunctionsExecutionRule")
            for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule")
        },
    }  # fmt: skip
    assert machine["Name"] == {"Fn::Sub": "${BucketNamePrefix}-audit"}


def test_the_schedule_starts_the_audit_only_with_the_parameters(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    schedule = resources["AuditSchedule"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Ref": "AuditScheduleExpression"}
    assert template["Parameters"]["AuditScheduleExpression"]["Default"] == "rate(1 day)"
    assert template["Parameters"]["AuditIntervalDays"]["Default"] == 90
    assert schedule["Target"]["Arn"] == {"Ref": "AuditStateMachine"}
    assert schedule["Target"]["RoleArn"] == {"Fn::GetAtt": ["AuditScheduleRole", "Arn"]}
    given = schedule["Target"]["Input"]["Fn::Sub"]
    assert json.loads(given.replace("${AuditIntervalDays}", "90").replace("${AuditMaxBytesPerRun}", "7")) == {
        "interval_days": 90,
        "max_bytes": 7,
    }
    role = resources["AuditScheduleRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    [policy] = role["Policies"]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == (
        "states:StartExecution",
        {"Ref": "AuditStateMachine"},
    )
    assert "ManagedPolicyArns" not in role


def test_the_selection_gets_the_interval_and_budget_and_the_report_its_topic(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    select = resources["AuditSelectFunction"]["Properties"]["Environment"]["Variables"]
    assert select["AUDIT_INTERVAL_DAYS"] == {"Ref": "AuditIntervalDays"}
    assert select["AUDIT_MAX_BYTES_PER_RUN"] == {"Ref": "AuditMaxBytesPerRun"}
    assert select["BAGVERIFY_LEDGER_TABLE"] == {"Ref": "LedgerTable"}
    report = resources["AuditReportFunction"]["Properties"]["Environment"]["Variables"]
    assert report["AUDIT_TOPIC_ARN"] == {"Ref": "AuditTopic"}
    assert resources["AuditTopic"]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"
    assert {"AuditStateMachineArn", "AuditTopicArn"} <= set(template["Outputs"])


def test_both_maps_run_the_same_processor(audit_asl: dict[str, Any]) -> None:
    """State names are unique across a machine, so the two Maps' processors differ in their prefixes only."""
    due = audit_asl["States"]["VerifyDueBags"]["ItemProcessor"]
    listed = audit_asl["States"]["VerifyPrefix"]["ItemProcessor"]
    assert json.dumps(due).replace('"Due', '"') == json.dumps(listed).replace('"Listed', '"')
    assert (
        audit_asl["States"]["VerifyPrefix"]["ItemReader"]["Resource"] == "arn:aws:states:::s3:listObjectsV2"
    )


def test_the_bag_filter_is_the_upload_triggers_suffixes(
    template: dict[str, Any], audit_asl: dict[str, Any]
) -> None:
    events = template["Resources"]["VerifyBagFunction"]["Properties"]["Events"]
    suffixes = {
        rule["Value"] for e in events.values() for rule in e["Properties"]["Filter"]["S3Key"]["Rules"]
        if rule["Name"] == "suffix"
    }  # fmt: skip
    [choice] = audit_asl["States"]["VerifyPrefix"]["ItemProcessor"]["States"]["ListedIsBag"]["Choices"]
    assert {rule["StringMatches"].removeprefix("*") for rule in choice["Or"]} == suffixes


def test_every_bag_task_ends_in_a_row(audit_asl: dict[str, Any]) -> None:
    """Whatever a bag's verification does (verdict or failure), RecordBag writes its row."""
    for name, state in _states(audit_asl).items():
        if name.endswith(("VerifyBag", "VerifyLargeBag")):
            assert state["Next"].endswith("RecordBag"), name
            [catch] = state["Catch"]
            assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == state["Next"], name
            assert catch["ResultPath"] == "$.failure"
            assert state["Parameters"].get("Payload", state["Parameters"].get("Input"))["trigger"] == "audit"


def test_audit_asl_validator() -> None:
    npx = shutil.which("npx")
    if npx is None or not (ROOT / "node_modules" / ".bin" / "asl-validator").exists():
        pytest.fail("asl-validator is missing: install Node.js and run `npm ci` in the repository root")
    result = _run([npx, "--no-install", "asl-validator", "--json-path", str(AUDIT_ASL.relative_to(ROOT))])
    assert result.returncode == 0, _explain(result)
