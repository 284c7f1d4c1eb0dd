"""Checks of the deployment artefacts: template.yaml, the state machine and what `sam build` makes.

Self-contained (no conftest). The linters and `sam build` run as subprocesses from the repository root
with SAM telemetry off and a default region. The asl-validator test needs `npm ci` to have been run.
"""

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
from cfnlint.decode.cfn_yaml import load as load_cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "statemachines" / "verify_bag.asl.json"
FUNCTION_DIR = ROOT / "functions" / "verify_bag"
VENV_BIN = Path(sys.executable).parent

# states:StartExecution: large uploads are handed to the distributed state machine (that one only).
ALLOWED_FUNCTION_ACTIONS = {
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListBucket",
    "sns:Publish",
    "states:StartExecution",
}
# Only when the ReportBucket parameter is set (condition HasReportBucket), and only under reports/.
CONDITIONAL_FUNCTION_ACTIONS = {"HasReportBucket": {"s3:PutObject"}}
# Added by SAM for the on-failure destination (EventInvokeConfig), on that queue only.
SAM_ADDED_FUNCTION_ACTIONS = {"sqs:SendMessage"}
# Retrying these would re-run a verification that failed for a reason that does not go away.
NEVER_RETRIED = {"States.ALL", "States.TaskFailed"}
VERDICT_STATUSES = ("valid", "invalid", "error")


# --- helpers --------------------------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_cfn_yaml(str(TEMPLATE))


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return json.loads(ASL.read_text(encoding="utf-8"))


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


# --- linters and validators ----------------------------------------------------------------------


def test_sam_validate_lint() -> None:
    result = _run([_tool("sam"), "validate", "--lint", "--template", str(TEMPLATE)])
    assert result.returncode == 0, _explain(result)


def test_cfn_lint() -> None:
    result = _run([_tool("cfn-lint"), "template.yaml"])
    assert result.returncode == 0, _explain(result)


def test_asl_validator() -> None:
    if not (ROOT / "node_modules" / ".bin" / "asl-validator").exists():
        pytest.fail("node_modules/.bin/asl-validator is missing: run `npm ci` in the repository root first")
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail("npx not found: install Node.js, then run `npm ci` in the repository root")
    result = _run([npx, "--no-install", "asl-validator", "--json-path", str(ASL.relative_to(ROOT))])
    assert result.returncode == 0, _explain(result)


@pytest.mark.sam_build
def test_sam_build(tmp_path: Path) -> None:
    build_dir = tmp_path / "build"
    result = _run(
        [
            _tool("sam"),
            "build",
            "--template",
            "template.yaml",
            "--build-dir",
            str(build_dir),
            # samconfig.toml asks for cached builds, whose dependency cache is ./.aws-sam/deps whatever
            # --cache-dir says: build from scratch instead, leaving the working tree as it was.
            "--no-cached",
        ],
        timeout=900,
    )
    assert result.returncode == 0, _explain(result)

    layer = build_dir / "EngineLayer" / "python"
    for expected in (
        "bagverify/verify.py",
        "bagit.py",
        "aws_lambda_powertools/__init__.py",
        "aws_xray_sdk/__init__.py",  # Powertools Tracer needs the X-Ray SDK (extra [tracer])
        "boto3/__init__.py",
    ):
        assert (layer / expected).is_file(), f"built layer lacks python/{expected}"

    # The distributed state machine's three functions are built from the same code.
    for function_id in (
        "VerifyBagFunction",
        "PlanBagFunction",
        "VerifyShardFunction",
        "AggregateVerdictFunction",
    ):
        function = build_dir / function_id
        assert (function / "app.py").is_file(), f"built {function_id} lacks app.py"
        for source in FUNCTION_DIR.glob("*.py"):
            assert (function / source.name).is_file(), f"built {function_id} lacks {source.name}"
        # Dependencies belong to the layer only: nothing may be pip-installed into the function as well.
        for duplicate in ("bagverify", "bagit.py", "boto3", "aws_lambda_powertools"):
            assert not (function / duplicate).exists(), (
                f"{duplicate} is packaged in {function_id}, not only the layer"
            )


# --- template structure --------------------------------------------------------------------------


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


def test_s3_event_filters_zip_uploads_under_prefix(template: dict[str, Any]) -> None:
    s3_events = [e for e in _function(template).get("Events", {}).values() if e.get("Type") == "S3"]
    assert len(s3_events) == 1, "VerifyBagFunction needs exactly one S3 event"
    properties = s3_events[0]["Properties"]
    assert properties["Bucket"] == {"Ref": "BagBucket"}
    assert "s3:ObjectCreated:*" in _as_list(properties["Events"])
    rules = {rule["Name"]: rule["Value"] for rule in properties["Filter"]["S3Key"]["Rules"]}
    assert rules.get("suffix") == ".zip"
    assert rules.get("prefix") == {"Ref": "BagPrefix"}
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


# --- state machine -------------------------------------------------------------------------------


def test_tasks_never_retry_task_failures(asl: dict[str, Any]) -> None:
    """An invalid bag is a normal return; a failed verification must not be re-run (States.ALL/TaskFailed)."""
    for name, task in _tasks(asl).items():
        retried = {error for retrier in task.get("Retry", []) for error in retrier["ErrorEquals"]}
        assert not retried & NEVER_RETRIED, f"{name} retries {sorted(retried & NEVER_RETRIED)}"


def test_choice_routes_each_status_to_its_own_state(asl: dict[str, Any]) -> None:
    choices = [
        state
        for state in asl["States"].values()
        if state["Type"] == "Choice" and any(rule.get("Variable") == "$.status" for rule in state["Choices"])
    ]
    assert len(choices) == 1, "expected one Choice state on $.status"
    targets = {
        rule["StringEquals"]: rule["Next"]
        for rule in choices[0]["Choices"]
        if rule.get("Variable") == "$.status" and "StringEquals" in rule
    }
    missing = [status for status in VERDICT_STATUSES if status not in targets]
    assert not missing, f"no branch for status {missing}"
    routed = [targets[status] for status in VERDICT_STATUSES]
    assert len(set(routed)) == len(routed), (
        f"statuses share a state: {dict(zip(VERDICT_STATUSES, routed, strict=True))}"
    )
    for state in routed:
        assert state in asl["States"], f"branch target {state} does not exist"


# --- issue 5: reports, no silent loss, alarms, Powertools -----------------------------------------


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


# What SAM attaches to a function's role: CloudWatch Logs (Powertools' logs and EMF metrics are
# stdout lines) and, with Tracing: Active, X-Ray writes. Nothing else may be attached, to any function.
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


def _alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [alarm["Properties"] for alarm in _resources_of_type(template, "AWS::CloudWatch::Alarm").values()]


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


# --- issue 6: distributed verification ------------------------------------------------------------

DISTRIBUTED_ASL = ROOT / "statemachines" / "verify_bag_distributed.asl.json"
BAG_OBJECTS = "arn:${AWS::Partition}:s3:::${BucketNamePrefix}-bags-${AWS::AccountId}-${AWS::Region}/*"
BAG_BUCKET = "arn:${AWS::Partition}:s3:::${BucketNamePrefix}-bags-${AWS::AccountId}-${AWS::Region}"
RUNS = "${WorkBucket.Arn}/runs/*"
# (action, resource) pairs each function may have, resources as written in template.yaml.
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


@pytest.mark.parametrize("function_id", sorted(DISTRIBUTED_GRANTS))
def test_distributed_functions_are_least_privilege(template: dict[str, Any], function_id: str) -> None:
    properties = template["Resources"][function_id]["Properties"]
    assert properties["CodeUri"] == _function(template)["CodeUri"], "one code package for all handlers"
    assert properties["Handler"].startswith("distributed_app.")
    assert (FUNCTION_DIR / "distributed_app.py").is_file()
    always, conditional = _grants(properties)
    assert always == DISTRIBUTED_GRANTS[function_id]
    expected_conditional = (
        {"HasReportBucket": {("s3:PutObject", "arn:${AWS::Partition}:s3:::${ReportBucket}/reports/*")}}
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


def _states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, those inside Map item processors too."""
    found = {}
    for name, state in definition["States"].items():
        found[name] = state
        if "ItemProcessor" in state:
            found.update(_states(state["ItemProcessor"]))
    return found


def test_distributed_state_machine_resource_and_policies(template: dict[str, Any]) -> None:
    machine = template["Resources"]["VerifyBagDistributedStateMachine"]["Properties"]
    assert (ROOT / machine["DefinitionUri"]).resolve() == DISTRIBUTED_ASL
    placeholders = set(re.findall(r"\$\{(\w+)\}", DISTRIBUTED_ASL.read_text(encoding="utf-8")))
    assert placeholders == set(machine["DefinitionSubstitutions"])
    invoked = {
        policy["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for policy in machine["Policies"]
        if "LambdaInvokePolicy" in policy
    }
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


# --- a failed Lambda's error verdict is published too ----------------------------------------------

# SNS errors worth retrying: the service's own (internal, throttling, KMS throttling, unmodelled),
# the client's (network) and the task's timeout. Never NotFound, AuthorizationError, InvalidParameter.
TRANSIENT_SNS_ERRORS = {
    "SNS.InternalErrorException",
    "SNS.ThrottledException",
    "SNS.KMSThrottlingException",
    "SNS.AmazonSNSException",
    "SNS.SdkClientException",
    "States.Timeout",
}


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


# --- Step Functions input of a large bag: a nested run of the distributed state machine --------------

# The distributed machine's executions (it is named ${BucketNamePrefix}-verify-bag-distributed), and the
# EventBridge rule through which Step Functions learns that a .sync child execution ended.
DISTRIBUTED_EXECUTIONS = (
    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
    "${BucketNamePrefix}-verify-bag-distributed:*"
)
SYNC_RULE = (
    "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
    "StepFunctionsGetEventsForStepFunctionsExecutionRule"
)
# (action, resource) pairs VerifyBagStateMachine's inline statements grant, resources as written.
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
