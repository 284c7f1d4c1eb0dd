"""The template's resources: the function's runtime, IAM, routing parameter, topic, bucket, outputs."""

from __future__ import annotations

import re
from typing import Any

from bagverify.archive import BAG_SUFFIXES as ENGINE_BAG_SUFFIXES
from tests.template.helpers import (
    ALLOWED_FUNCTION_ACTIONS,
    ASL,
    CONDITIONAL_FUNCTION_ACTIONS,
    FUNCTION_DIR,
    ROOT,
    _as_list,
    _function,
    _function_setting,
    _resources_of_type,
    _statements,
    _walk,
)


def test_function_runtime_and_architecture(template: dict[str, Any]) -> None:
    runtime = _function_setting(template, "Runtime")
    match = re.fullmatch(r"python3\.(\d+)", str(runtime))
    assert match and int(match.group(1)) >= 12, f"runtime {runtime!r} is not python3.12 or newer"
    assert _function_setting(template, "Architectures") == ["arm64"]


def test_function_policies_are_inline_and_least_privilege(template: dict[str, Any]) -> None:
    policies = _as_list(_function(template).get("Policies", []))
    assert policies, "VerifyBagFunction has no Policies"
    for policy in policies:
        # A string is a managed policy; a dict without Statement is a SAM policy template (S3ReadPolicy...).
        assert isinstance(policy, dict) and "Statement" in policy, (
            f"only inline policy documents are allowed, got {policy!r}"
        )
    actions: set[str] = set()
    conditional: dict[str, set[str]] = {}
    for statement, condition in _statements(template):
        assert statement.get("Effect") == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        for resource in _as_list(statement["Resource"]):
            assert resource != "*", f"statement {statement.get('Sid')} applies to every resource"
        if condition is None:
            actions.update(_as_list(statement["Action"]))
        else:
            conditional.setdefault(condition, set()).update(_as_list(statement["Action"]))
    assert actions <= ALLOWED_FUNCTION_ACTIONS, (
        f"actions not allowed: {sorted(actions - ALLOWED_FUNCTION_ACTIONS)}"
    )
    assert actions == ALLOWED_FUNCTION_ACTIONS, (
        f"actions missing: {sorted(ALLOWED_FUNCTION_ACTIONS - actions)}"
    )
    assert conditional == CONDITIONAL_FUNCTION_ACTIONS


def test_function_policy_names_the_bucket_without_referring_to_it(template: dict[str, Any]) -> None:
    """!Ref/!GetAtt BagBucket in the policy would close the loop bucket → notification → function → bucket."""
    for node in _walk(_function(template).get("Policies", [])):
        if isinstance(node, dict):
            assert node.get("Ref") != "BagBucket", "the function's policy uses !Ref BagBucket"
            get_att = node.get("Fn::GetAtt")
            assert not (get_att and str(_as_list(get_att)[0]).split(".")[0] == "BagBucket"), (
                "the function's policy uses !GetAtt BagBucket"
            )
    bucket_name = template["Resources"]["BagBucket"]["Properties"]["BucketName"]
    assert isinstance(bucket_name, dict) and "Fn::Sub" in bucket_name, (
        "BagBucket needs an explicit !Sub BucketName"
    )
    name = bucket_name["Fn::Sub"]
    expected = {f"arn:${{AWS::Partition}}:s3:::{name}", f"arn:${{AWS::Partition}}:s3:::{name}/*"}
    s3_resources = {
        resource["Fn::Sub"]
        for statement, condition in _statements(template)
        if condition is None  # the report bucket's statement is conditional (see the ReportBucket test)
        if any(str(action).startswith("s3:") for action in _as_list(statement["Action"]))
        for resource in _as_list(statement["Resource"])
        if isinstance(resource, dict) and "Fn::Sub" in resource
    }
    assert s3_resources == expected, (
        f"S3 statements must name the bucket as BagBucket does: {sorted(expected)}"
    )


def test_function_starts_executions_of_the_distributed_state_machine_only(template: dict[str, Any]) -> None:
    starts = [
        (statement, condition)
        for statement, condition in _statements(template)
        if "states:StartExecution" in _as_list(statement["Action"])
    ]
    assert len(starts) == 1, "exactly one statement may allow states:StartExecution"
    [(statement, condition)] = starts
    assert condition is None
    assert _as_list(statement["Action"]) == ["states:StartExecution"]
    assert _as_list(statement["Resource"]) == [{"Ref": "VerifyBagDistributedStateMachine"}]
    assert not any(
        str(action).startswith("states:")
        for other, _ in _statements(template)
        if other is not statement
        for action in _as_list(other["Action"])
    ), "no other Step Functions action"


def test_large_uploads_are_routed_by_a_threshold_parameter(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["DistributedThresholdBytes"]
    assert parameter["Type"] == "Number" and parameter["MinValue"] == 0
    # 50 GB: about half of what one invocation verifies in ~850 s at 100 MB/s (docs/large-bags.md).
    assert int(parameter["Default"]) == 50_000_000_000
    variables = _function(template)["Environment"]["Variables"]
    assert variables["DISTRIBUTED_STATE_MACHINE_ARN"] == {"Ref": "VerifyBagDistributedStateMachine"}
    assert variables["DISTRIBUTED_THRESHOLD_BYTES"] == {"Ref": "DistributedThresholdBytes"}
    source = (FUNCTION_DIR / "routing.py").read_text(encoding="utf-8")
    for name in ("DISTRIBUTED_STATE_MACHINE_ARN", "DISTRIBUTED_THRESHOLD_BYTES"):
        assert f'"{name}"' in source, f"routing.py does not read {name}"


def test_topic_is_encrypted(template: dict[str, Any]) -> None:
    for name, topic in _resources_of_type(template, "AWS::SNS::Topic").items():
        assert topic.get("Properties", {}).get("KmsMasterKeyId"), f"{name} has no KmsMasterKeyId"


def test_bucket_is_versioned_encrypted_and_private(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["BagBucket"]["Properties"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    rules = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = bucket["PublicAccessBlockConfiguration"]
    for setting in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
        assert block[setting] is True, f"PublicAccessBlockConfiguration.{setting} is not true"


BAG_SUFFIXES = set(ENGINE_BAG_SUFFIXES)  # the engine's names of bag archives (audits use them too)


def test_s3_events_filter_zip_and_tar_uploads_under_prefix(template: dict[str, Any]) -> None:
    s3_events = [e for e in _function(template).get("Events", {}).values() if e.get("Type") == "S3"]
    suffixes = set()
    for event in s3_events:
        properties = event["Properties"]
        assert properties["Bucket"] == {"Ref": "BagBucket"}
        assert "s3:ObjectCreated:*" in _as_list(properties["Events"])
        rules = {rule["Name"]: rule["Value"] for rule in properties["Filter"]["S3Key"]["Rules"]}
        assert rules.get("prefix") == {"Ref": "BagPrefix"}
        suffixes.add(rules["suffix"])
    # One rule per suffix (S3 takes one suffix a rule), none overlapping another.
    assert suffixes == BAG_SUFFIXES and len(s3_events) == len(BAG_SUFFIXES)
    assert not [(a, b) for a in suffixes for b in suffixes if a != b and a.endswith(b)]
    assert "BagPrefix" in template["Parameters"]


def test_outputs(template: dict[str, Any]) -> None:
    values = [output["Value"] for output in template["Outputs"].values()]
    assert {"Ref": "FailedInvocationsQueue"} in values
    assert {"Ref": "BagBucket"} in values
    assert {"Ref": "VerdictTopic"} in values
    assert {"Fn::GetAtt": ["VerifyBagFunction", "Arn"]} in values
    assert {"Ref": "VerifyBagStateMachine"} in values


def test_state_machine_resource_matches_definition(template: dict[str, Any], asl: dict[str, Any]) -> None:
    machine = _resources_of_type(template, "AWS::Serverless::StateMachine")["VerifyBagStateMachine"]
    properties = machine["Properties"]
    assert (ROOT / properties["DefinitionUri"]).resolve() == ASL
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL.read_text(encoding="utf-8")))
    assert placeholders == set(properties.get("DefinitionSubstitutions", {})), (
        "every ${...} in the definition needs a DefinitionSubstitutions entry, and no more"
    )
