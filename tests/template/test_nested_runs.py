"""Step Functions input of a large bag: VerifyBagStateMachine runs the distributed one, nested."""

from __future__ import annotations

from typing import Any

from tests.template.helpers import (
    VERIFY_BAG_MACHINE_GRANTS,
    _as_list,
    _grants,
    _references,
    _resource_name,
    _transformed,
)


def test_verify_bag_state_machine_policies_are_least_privilege(template: dict[str, Any]) -> None:
    machine = template["Resources"]["VerifyBagStateMachine"]["Properties"]
    invoked = [
        p["LambdaInvokePolicy"]["FunctionName"] for p in machine["Policies"] if "LambdaInvokePolicy" in p
    ]
    assert invoked == [{"Ref": "VerifyBagFunction"}]
    inline = [p for p in machine["Policies"] if "LambdaInvokePolicy" not in p]
    always, conditional = _grants({"Policies": inline})
    assert always == VERIFY_BAG_MACHINE_GRANTS
    assert conditional == {}
    # The distributed machine's name in the execution ARNs is the one it is given.
    distributed = template["Resources"]["VerifyBagDistributedStateMachine"]["Properties"]
    assert distributed["Name"] == {"Fn::Sub": "${BucketNamePrefix}-verify-bag-distributed"}
    # Never !Ref/!GetAtt BagBucket (its notification refers to VerifyBagFunction, which this refers to).
    assert "BagBucket" not in _references(machine["Policies"])


def test_deployed_verify_bag_state_machine_role_grants_exactly_that(template: dict[str, Any]) -> None:
    resources = _transformed(template)["Resources"]
    role_id = resources["VerifyBagStateMachine"]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    role = resources[role_id]["Properties"]
    assert not role.get("ManagedPolicyArns")
    statements = [s for p in role["Policies"] for s in _as_list(p["PolicyDocument"]["Statement"])]
    grants = {
        (action, _resource_name(resource))
        for statement in statements
        for action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }
    invoke = {grant for grant in grants if grant[0] == "lambda:InvokeFunction"}
    assert invoke and all("VerifyBagFunction" in resource for _, resource in invoke)
    assert grants - invoke == VERIFY_BAG_MACHINE_GRANTS


def test_verify_bag_state_machine_routes_large_bags_to_the_distributed_one(
    template: dict[str, Any], asl: dict[str, Any]
) -> None:
    substitutions = template["Resources"]["VerifyBagStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert substitutions["VerifyBagDistributedStateMachineArn"] == {"Ref": "VerifyBagDistributedStateMachine"}
    assert substitutions["DistributedThresholdBytes"] == {"Ref": "DistributedThresholdBytes"}
    states = asl["States"]
    # The threshold, a string before substitution (valid JSON for asl-validator), becomes a number.
    [threshold] = [
        value
        for state in states.values()
        for value in state.get("Parameters", {}).values()
        if "${DistributedThresholdBytes}" in str(value)
    ]
    assert threshold == "States.StringToJson('${DistributedThresholdBytes}')"
    # HeadObject, of the version the input names when it names one; never fatal: its failures go to VerifyBag.
    measures = {
        name: state
        for name, state in states.items()
        if state.get("Resource") == "arn:aws:states:::aws-sdk:s3:headObject"
    }
    assert set(measures) == {"MeasureBag", "MeasureBagVersion"}
    assert "VersionId.$" in measures["MeasureBagVersion"]["Parameters"]
    assert "VersionId.$" not in measures["MeasureBag"]["Parameters"]
    for name, state in measures.items():
        assert [(c["ErrorEquals"], c["Next"]) for c in state["Catch"]] == [(["States.ALL"], "VerifyBag")], (
            name
        )
        retried = {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}
        assert retried <= {"S3.SdkClientException", "States.Timeout"}, name
    # The nested run: awaited, its output (JSON with sync:2) the verdict, its failure an error verdict.
    [nested] = [state for state in states.values() if "states:startExecution" in state.get("Resource", "")]
    assert nested["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert nested["Parameters"]["StateMachineArn"] == "${VerifyBagDistributedStateMachineArn}"
    assert (nested["OutputPath"], nested["Next"]) == ("$.Output", "RouteOnVerdict")
    assert nested["TimeoutSeconds"] > states["VerifyBag"]["TimeoutSeconds"]
    [catcher] = nested["Catch"]
    assert catcher["ErrorEquals"] == ["States.ALL"] and catcher["Next"] == "DistributedRunFailed"
    failed = states["DistributedRunFailed"]
    assert failed["Parameters"]["problem"]["kind"] == "step_failed"
    assert failed["Next"] == "BuildErrorVerdict"  # → BuildErrorMessage → PublishErrorVerdict
    # The Lambda still gets the execution's input, exactly as given.
    assert states["VerifyBag"]["Parameters"]["Payload.$"] == "$$.Execution.Input"
