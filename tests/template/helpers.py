"""What the template tests share: paths, the allowed actions, and readers of template.yaml and the
state machines' definitions. The linters and `sam build` run as subprocesses from the repository root with
SAM telemetry off and a default region; the asl-validator tests need `npm ci` to have been run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


TEMPLATE = ROOT / "template.yaml"


ASL = ROOT / "statemachines" / "verify_bag.asl.json"


FUNCTION_DIR = ROOT / "functions" / "verify_bag"


VENV_BIN = Path(sys.executable).parent


ALLOWED_FUNCTION_ACTIONS = {
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListBucket",
    "sns:Publish",
    "states:StartExecution",
    # The ledger: a record per verification, and the bag's last one (bagverify/ledger.py).
    "dynamodb:PutItem",
    "dynamodb:Query",
}


CONDITIONAL_FUNCTION_ACTIONS = {
    "HasReportBucket": {"s3:PutObject"},
    # Only with a ProfilesLocation: its profile files, and the names of its bucket's keys.
    "HasProfilesLocation": {"s3:GetObject", "s3:ListBucket"},
}


SAM_ADDED_FUNCTION_ACTIONS = {"sqs:SendMessage"}


NEVER_RETRIED = {"States.ALL", "States.TaskFailed"}


VERDICT_STATUSES = ("valid", "invalid", "error")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["SAM_CLI_TELEMETRY"] = "0"
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    if "PYENV_VERSION" not in env and shutil.which("pyenv"):
        # sam build runs `python3.12`; with pyenv shims it exists only if a 3.12 version is active.
        versions = subprocess.run(
            ["pyenv", "versions", "--bare"], capture_output=True, text=True, check=False
        ).stdout.split()
        if versions:
            env["PYENV_VERSION"] = ":".join(versions)
    return env


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(VENV_BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found in {VENV_BIN} nor on PATH: install the dev extras (pip install -e .[dev])"
        )
    return path


def _run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def _explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"`{' '.join(result.args)}` exited {result.returncode}\n{result.stdout}\n{result.stderr}"


def _walk(node: Any) -> Any:
    """Every node of a parsed template fragment, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resources_of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    found = {name: res for name, res in template["Resources"].items() if res.get("Type") == type_}
    assert found, f"template.yaml has no {type_}"
    return found


def _function(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["VerifyBagFunction"]["Properties"]


def _function_setting(template: dict[str, Any], name: str) -> Any:
    """A function property as deployed: the function's own value, else the Globals one."""
    own = _function(template).get(name)
    if own is not None:
        return own
    return template.get("Globals", {}).get("Function", {}).get(name)


def _statements(template: dict[str, Any]) -> Any:
    """(statement, condition) for every statement of the function's inline policies; `condition` is
    the name of the Fn::If condition a statement depends on, or None. The AWS::NoValue branch is skipped."""
    for policy in _as_list(_function(template).get("Policies", [])):
        for statement in _as_list(policy["Statement"]):
            if isinstance(statement, dict) and "Fn::If" in statement:
                condition, when_true, when_false = statement["Fn::If"]
                assert when_false == {"Ref": "AWS::NoValue"}, "a conditional statement must vanish when false"
                yield when_true, condition
            else:
                yield statement, None


def _globals_env(template: dict[str, Any]) -> dict[str, Any]:
    return template["Globals"]["Function"]["Environment"]["Variables"]  # type: ignore[no-any-return]


def _tasks(asl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tasks = {name: state for name, state in asl["States"].items() if state["Type"] == "Task"}
    assert tasks, "the state machine has no Task state"
    return tasks


def _transformed(template: dict[str, Any]) -> dict[str, Any]:
    """The template as CloudFormation receives it after the SAM transform (samtranslator, offline)."""
    from samtranslator.translator.transform import transform

    document = json.loads(json.dumps(template, default=str))
    # Local paths are uploaded by `sam deploy`; the transform wants S3 URIs in their place.
    local_paths = {
        "AWS::Serverless::Function": ("CodeUri", "s3://bucket/function.zip"),
        "AWS::Serverless::LayerVersion": ("ContentUri", "s3://bucket/layer.zip"),
        "AWS::Serverless::StateMachine": ("DefinitionUri", "s3://bucket/asl.json"),
    }
    for resource in document["Resources"].values():
        if resource.get("Type") in local_paths:
            name, uri = local_paths[resource["Type"]]
            if isinstance(resource["Properties"].get(name), str):
                resource["Properties"][name] = uri

    class _ManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    region = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region or "us-east-1"
    try:
        return transform(document, {}, _ManagedPolicies())  # type: ignore[no-any-return]
    finally:
        if region is None:
            del os.environ["AWS_DEFAULT_REGION"]


ALLOWED_MANAGED_POLICIES = {"service-role/AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}


def _managed_policy_arn(arn: Any) -> str:
    """The name after `arn:<partition>:iam::aws:policy/` (the partition written out or as ${...})."""
    text = str(arn["Fn::Sub"]) if isinstance(arn, dict) and "Fn::Sub" in arn else str(arn)
    match = re.fullmatch(r"arn:[^:]+:iam::aws:policy/(.+)", text)
    assert match, f"not an AWS managed policy: {arn}"
    return match.group(1)


def _references(node: Any) -> set[str]:
    """Names a template fragment refers to: Ref, Fn::GetAtt, ${Name} or ${Name.Attr} in Fn::Sub."""
    found: set[str] = set()
    for item in _walk(node):
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("Ref"), str):
            found.add(item["Ref"])
        if "Fn::GetAtt" in item:
            found.add(str(_as_list(item["Fn::GetAtt"])[0]).split(".")[0])
        if "Fn::Sub" in item:
            text = str(_as_list(item["Fn::Sub"])[0])
            found.update(name.split(".")[0] for name in re.findall(r"\$\{([^!}][^}]*)\}", text))
    return found


def _alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [alarm["Properties"] for alarm in _resources_of_type(template, "AWS::CloudWatch::Alarm").values()]


DISTRIBUTED_ASL = ROOT / "statemachines" / "verify_bag_distributed.asl.json"


BAG_OBJECTS = "arn:${AWS::Partition}:s3:::${BucketNamePrefix}-bags-${AWS::AccountId}-${AWS::Region}/*"


BAG_BUCKET = "arn:${AWS::Partition}:s3:::${BucketNamePrefix}-bags-${AWS::AccountId}-${AWS::Region}"


RUNS = "${WorkBucket.Arn}/runs/*"


DISTRIBUTED_GRANTS = {
    "PlanBagFunction": {
        ("s3:GetObject", BAG_OBJECTS),
        ("s3:GetObjectVersion", BAG_OBJECTS),
        ("s3:ListBucket", BAG_BUCKET),
        ("s3:PutObject", RUNS),
    },
    "VerifyShardFunction": {
        ("s3:GetObject", BAG_OBJECTS),
        ("s3:GetObjectVersion", BAG_OBJECTS),
        ("s3:ListBucket", BAG_BUCKET),
        ("s3:GetObject", RUNS),
        ("s3:PutObject", RUNS),
    },
    # Never the bags: it reads what the shards wrote.
    "AggregateVerdictFunction": {
        ("s3:GetObject", RUNS),
        ("s3:ListBucket", "WorkBucket.Arn"),
        ("sns:Publish", "VerdictTopic"),
        ("dynamodb:PutItem", "LedgerTable.Arn"),
        ("dynamodb:Query", "LedgerTable.Arn"),
    },
}


def _resource_name(resource: Any) -> str:
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        return str(resource["Fn::Sub"])
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return ".".join(_as_list(resource["Fn::GetAtt"]))
    if isinstance(resource, dict) and "Ref" in resource:
        return str(resource["Ref"])
    return str(resource)


def _grants(properties: dict[str, Any]) -> tuple[set[tuple[str, str]], dict[str, set[tuple[str, str]]]]:
    """(unconditional (action, resource) pairs, {condition: pairs}) of a function's inline policies."""
    always: set[tuple[str, str]] = set()
    conditional: dict[str, set[tuple[str, str]]] = {}
    for policy in _as_list(properties.get("Policies", [])):
        assert isinstance(policy, dict) and "Statement" in policy, f"not an inline policy: {policy!r}"
        for statement in _as_list(policy["Statement"]):
            target = always
            if "Fn::If" in statement:
                condition, statement, otherwise = statement["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}
                target = conditional.setdefault(condition, set())
            assert statement["Effect"] == "Allow" and "NotAction" not in statement
            for action in _as_list(statement["Action"]):
                for resource in _as_list(statement["Resource"]):
                    target.add((action, _resource_name(resource)))
    return always, conditional


def _states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, those inside Map item processors too."""
    found = {}
    for name, state in definition["States"].items():
        found[name] = state
        if "ItemProcessor" in state:
            found.update(_states(state["ItemProcessor"]))
    return found


TRANSIENT_SNS_ERRORS = {
    "SNS.InternalErrorException",
    "SNS.ThrottledException",
    "SNS.KMSThrottlingException",
    "SNS.AmazonSNSException",
    "SNS.SdkClientException",
    "States.Timeout",
}


DISTRIBUTED_EXECUTIONS = (
    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
    "${BucketNamePrefix}-verify-bag-distributed:*"
)


SYNC_RULE = (
    "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
    "StepFunctionsGetEventsForStepFunctionsExecutionRule"
)


VERIFY_BAG_MACHINE_GRANTS = {
    ("sns:Publish", "VerdictTopic"),  # PublishErrorVerdict
    # MeasureBag / MeasureBagVersion: HeadObject, of a version too; ListBucket so a missing key is 404
    ("s3:GetObject", BAG_OBJECTS),
    ("s3:GetObjectVersion", BAG_OBJECTS),
    ("s3:ListBucket", BAG_BUCKET),
    # VerifyBagDistributed: startExecution.sync:2 of the distributed machine only, followed to its end
    ("states:StartExecution", "VerifyBagDistributedStateMachine"),
    ("states:DescribeExecution", DISTRIBUTED_EXECUTIONS),
    ("states:StopExecution", DISTRIBUTED_EXECUTIONS),
    ("events:PutTargets", SYNC_RULE),
    ("events:PutRule", SYNC_RULE),
    ("events:DescribeRule", SYNC_RULE),
}


def _invoked_by_machine(template: dict[str, Any], name: str, asl: Path) -> set[str]:
    """The functions a state machine's policies let it invoke, once its definition is checked to be
    `asl` with every placeholder substituted."""
    machine = template["Resources"][name]["Properties"]
    assert (ROOT / machine["DefinitionUri"]).resolve() == asl
    placeholders = set(re.findall(r"\$\{(\w+)\}", asl.read_text(encoding="utf-8")))
    assert placeholders == set(machine["DefinitionSubstitutions"])
    return {
        policy["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for policy in machine["Policies"]
        if "LambdaInvokePolicy" in policy
    }
