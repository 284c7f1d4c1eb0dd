"""Reports, no silent loss (the failure queue), roles as deployed, encryption, alarms and Powertools."""

from __future__ import annotations

from typing import Any

import pytest

from tests.template.helpers import (
    ALLOWED_FUNCTION_ACTIONS,
    ALLOWED_MANAGED_POLICIES,
    FUNCTION_DIR,
    SAM_ADDED_FUNCTION_ACTIONS,
    _alarms,
    _as_list,
    _function,
    _function_setting,
    _globals_env,
    _managed_policy_arn,
    _references,
    _statements,
    _transformed,
)


def test_report_bucket_is_optional_and_only_it_may_be_written(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["ReportBucket"]
    assert parameter["Type"] == "String" and parameter["Default"] == ""
    assert template["Conditions"]["HasReportBucket"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReportBucket"}, ""]}]
    }
    assert _function(template)["Environment"]["Variables"]["REPORT_BUCKET"] == {"Ref": "ReportBucket"}
    writes = [
        (statement, condition)
        for statement, condition in _statements(template)
        if "s3:PutObject" in _as_list(statement["Action"])
    ]
    assert len(writes) == 1, "exactly one statement may allow s3:PutObject"
    [(statement, condition)] = writes
    assert condition == "HasReportBucket"
    assert _as_list(statement["Action"]) == ["s3:PutObject"]
    assert _as_list(statement["Resource"]) == [
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::${ReportBucket}/reports/*"}
    ]


def test_failed_asynchronous_invocations_go_to_an_encrypted_queue(template: dict[str, Any]) -> None:
    config = _function(template)["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    queue_name = on_failure["Destination"]["Fn::GetAtt"][0]
    queue = template["Resources"][queue_name]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"].get("SqsManagedSseEnabled") is True or queue["Properties"].get(
        "KmsMasterKeyId"
    )
    assert queue["Properties"].get("MessageRetentionPeriod") == 1_209_600, "keep failed events 14 days"


def test_deployed_role_adds_only_send_message_on_the_failure_queue(template: dict[str, Any]) -> None:
    resources = _transformed(template)["Resources"]
    role = resources["VerifyBagFunctionRole"]["Properties"]
    statements = [
        statement
        for policy in role.get("Policies", [])
        for statement in _as_list(policy["PolicyDocument"]["Statement"])
    ]
    actions: set[str] = set()
    for statement in statements:
        if "Fn::If" in statement:
            statement = statement["Fn::If"][1]
        actions.update(_as_list(statement["Action"]))
        if set(_as_list(statement["Action"])) & SAM_ADDED_FUNCTION_ACTIONS:
            assert _as_list(statement["Resource"]) == [{"Fn::GetAtt": ["FailedInvocationsQueue", "Arn"]}]
        if "states:StartExecution" in _as_list(statement["Action"]):
            assert _as_list(statement["Resource"]) == [{"Ref": "VerifyBagDistributedStateMachine"}]
    expected = ALLOWED_FUNCTION_ACTIONS | SAM_ADDED_FUNCTION_ACTIONS | {"s3:PutObject"}
    assert actions == expected, f"deployed role actions {sorted(actions)} != {sorted(expected)}"
    [invoke_config] = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 2


def test_deployed_resources_have_no_circular_dependency(template: dict[str, Any]) -> None:
    """As CloudFormation sees them after the SAM transform (the bag bucket's notification refers to
    VerifyBagFunction, which starts the distributed state machine). `sam validate --lint` and cfn-lint
    do not find such a cycle: both passed a template whose PlanBagFunction referred to VerifyBagFunction."""
    resources = _transformed(template)["Resources"]
    graph = {
        name: (_references(resource) | set(_as_list(resource.get("DependsOn", [])))) & set(resources) - {name}
        for name, resource in resources.items()
    }
    assert "VerifyBagFunction" in graph["BagBucket"], "the bucket's notification refers to the function"
    assert "VerifyBagDistributedStateMachine" in graph["VerifyBagFunction"]
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            pytest.fail("circular dependency: " + " -> ".join((*path[path.index(name) :], name)))
        if name not in done:
            for referred in sorted(graph[name]):
                visit(referred, (*path, name))
            done.add(name)

    for name in sorted(graph):
        visit(name, ())


def test_deployed_roles_grant_nothing_beyond_their_statements_logs_and_xray(template: dict[str, Any]) -> None:
    """Every IAM role and policy in the deployed template: managed policies only SAM's logs and X-Ray ones,
    no wildcard action or resource, no NotAction/NotResource; and nothing else attached to the roles."""
    resources = _transformed(template)["Resources"]
    roles = {name: r for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert "VerifyBagFunctionRole" in roles
    extra = [
        name for name, r in resources.items() if r["Type"].startswith("AWS::IAM::") and name not in roles
    ]
    assert not extra, f"IAM resources beyond the roles SAM makes: {extra}"
    for name, role in roles.items():
        managed = {_managed_policy_arn(arn) for arn in role["Properties"].get("ManagedPolicyArns", [])}
        assert managed <= ALLOWED_MANAGED_POLICIES, f"{name} has managed policies {sorted(managed)}"
        for policy in role["Properties"].get("Policies", []):
            for statement in _as_list(policy["PolicyDocument"]["Statement"]):
                if "Fn::If" in statement:
                    statement = statement["Fn::If"][1]
                assert statement.get("Effect") == "Allow", f"{name}: {statement}"
                assert "NotAction" not in statement and "NotResource" not in statement, f"{name}: {statement}"
                for action in _as_list(statement["Action"]):
                    assert "*" not in str(action), f"{name} allows wildcard action {action}"
                for resource in _as_list(statement["Resource"]):
                    assert resource != "*", f"{name} allows {statement['Action']} on every resource"
    function_role = roles["VerifyBagFunctionRole"]["Properties"]
    managed = {_managed_policy_arn(arn) for arn in function_role.get("ManagedPolicyArns", [])}
    assert managed == ALLOWED_MANAGED_POLICIES  # logs, and X-Ray for Tracing: Active


def test_every_sns_topic_and_sqs_queue_is_encrypted(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for name, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::SNS::Topic":
            assert properties.get("KmsMasterKeyId"), f"topic {name} is not encrypted"
        if resource.get("Type") == "AWS::SQS::Queue":
            assert properties.get("SqsManagedSseEnabled") is True or properties.get("KmsMasterKeyId"), (
                f"queue {name} is not encrypted"
            )


@pytest.mark.parametrize(
    ("namespace", "metric", "dimensions"),
    [
        ("bagverify", "BagsInvalid", {"service": "bagverify", "status": "invalid"}),
        ("bagverify", "BagsErrored", {"service": "bagverify", "status": "error"}),
        ("AWS/Lambda", "Errors", {"FunctionName": {"Ref": "VerifyBagFunction"}}),
        ("AWS/Lambda", "Throttles", {"FunctionName": {"Ref": "VerifyBagFunction"}}),
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": ["FailedInvocationsQueue", "QueueName"]}},
        ),
        ("AWS/States", "ExecutionsFailed", {"StateMachineArn": {"Ref": "VerifyBagStateMachine"}}),
        # The distributed state machine: its aggregator's failures (planner and shard failures are
        # published as error verdicts, BagsErrored), and failed executions.
        ("AWS/Lambda", "Errors", {"FunctionName": {"Ref": "AggregateVerdictFunction"}}),
        ("AWS/States", "ExecutionsFailed", {"StateMachineArn": {"Ref": "VerifyBagDistributedStateMachine"}}),
        # A nested run VerifyBagStateMachine stopped at its timeout (or anyone stopped by hand).
        ("AWS/States", "ExecutionsAborted", {"StateMachineArn": {"Ref": "VerifyBagDistributedStateMachine"}}),
    ],
)
def test_alarm_fires_on_the_first_occurrence(
    template: dict[str, Any], namespace: str, metric: str, dimensions: dict[str, Any]
) -> None:
    found = [
        alarm
        for alarm in _alarms(template)
        if (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
        and {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == dimensions
    ]
    assert found, f"no alarm on {namespace} {metric} {dimensions}"
    [alarm] = found
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == {
        "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
    }


def test_custom_metric_alarms_match_what_the_function_emits(template: dict[str, Any]) -> None:
    env = _globals_env(template)
    source = "".join((FUNCTION_DIR / name).read_text(encoding="utf-8") for name in ("app.py", "delivery.py"))
    for alarm in _alarms(template):
        namespace, metric = alarm["Namespace"], alarm["MetricName"]
        if namespace.startswith("AWS/"):
            continue
        assert namespace == env["POWERTOOLS_METRICS_NAMESPACE"]
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        assert dimensions["service"] == env["POWERTOOLS_SERVICE_NAME"]
        assert f'name="{metric}"' in source, f"no handler emits the metric {metric}"


def test_powertools_environment(template: dict[str, Any]) -> None:
    env = _globals_env(template)
    assert env["POWERTOOLS_SERVICE_NAME"] == "bagverify"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "bagverify"
    assert env["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false", "verdicts are too big for X-Ray metadata"
    assert _function_setting(template, "Tracing") == "Active"


def test_the_ledger_table_is_on_demand_encrypted_recoverable_and_retained(template: dict[str, Any]) -> None:
    table = template["Resources"]["LedgerTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    keys = {key["AttributeName"]: key["KeyType"] for key in properties["KeySchema"]}
    assert keys == {"bag": "HASH", "verified_at": "RANGE"}
    for function_id in ("VerifyBagFunction", "AggregateVerdictFunction"):
        env = template["Resources"][function_id]["Properties"]["Environment"]["Variables"]
        assert env["BAGVERIFY_LEDGER_TABLE"] == {"Ref": "LedgerTable"}
