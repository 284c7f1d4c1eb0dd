"""A failed Lambda's error verdict is published by the state machines themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.template.helpers import (
    ASL,
    DISTRIBUTED_ASL,
    TRANSIENT_SNS_ERRORS,
    _as_list,
    _transformed,
)


@pytest.mark.parametrize(
    ("machine_id", "definition_file"),
    [("VerifyBagStateMachine", ASL), ("VerifyBagDistributedStateMachine", DISTRIBUTED_ASL)],
)
def test_error_verdict_is_published_by_the_state_machine(
    template: dict[str, Any], machine_id: str, definition_file: Path
) -> None:
    """LambdaFailed → BuildErrorVerdict → BuildErrorMessage → PublishErrorVerdict → VerificationError;
    the machine's role may publish to the verdict topic, that topic only."""
    machine = template["Resources"][machine_id]["Properties"]
    assert machine["DefinitionSubstitutions"]["VerdictTopicArn"] == {"Ref": "VerdictTopic"}
    statements = [s for p in machine["Policies"] if "Statement" in p for s in _as_list(p["Statement"])]
    publishing = [s for s in statements if "sns:Publish" in _as_list(s["Action"])]
    assert [(_as_list(s["Action"]), _as_list(s["Resource"])) for s in publishing] == [
        (["sns:Publish"], [{"Ref": "VerdictTopic"}])
    ]
    states = json.loads(definition_file.read_text(encoding="utf-8"))["States"]
    path, name = [], "LambdaFailed"
    while name != "VerificationError":
        path.append(name)
        name = states[name]["Next"]
    assert path == ["LambdaFailed", "BuildErrorVerdict", "BuildErrorMessage", "PublishErrorVerdict"]
    publish = states["PublishErrorVerdict"]
    assert publish["Resource"] == "arn:aws:states:::sns:publish"
    assert publish["Parameters"]["TopicArn"] == "${VerdictTopicArn}"
    assert publish["Parameters"]["Message.$"] == "States.JsonToString($.message)"
    # The attributes bagverify.notify.message_attributes gives.
    assert set(publish["Parameters"]["MessageAttributes"]) == {"status", "bucket"}
    # The output is the verdict, published or not.
    assert (publish["ResultPath"], publish["OutputPath"]) == (None, "$.verdict")
    retried = {error for retrier in publish["Retry"] for error in retrier["ErrorEquals"]}
    assert retried == TRANSIENT_SNS_ERRORS
    assert all(retrier["JitterStrategy"] == "FULL" for retrier in publish["Retry"])
    [catcher] = publish["Catch"]
    assert catcher["ErrorEquals"] == ["States.ALL"] and catcher["Next"] == "ErrorVerdictNotPublished"
    not_published = states["ErrorVerdictNotPublished"]
    assert (not_published["OutputPath"], not_published["Next"]) == ("$.verdict", "VerificationError")


def test_deployed_state_machine_roles_may_publish_to_the_verdict_topic_only(template: dict[str, Any]) -> None:
    resources = _transformed(template)["Resources"]
    for machine_id in ("VerifyBagStateMachine", "VerifyBagDistributedStateMachine"):
        role = resources[resources[machine_id]["Properties"]["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
        publishing = [
            statement
            for policy in role.get("Policies", [])
            for statement in _as_list(policy["PolicyDocument"]["Statement"])
            if "sns:Publish" in _as_list(statement["Action"])
        ]
        assert [_as_list(s["Resource"]) for s in publishing] == [[{"Ref": "VerdictTopic"}]], machine_id
