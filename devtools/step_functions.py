"""Running real state machine definitions in moto's Step Functions, for the tests."""

from __future__ import annotations

import contextlib
import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from moto.awslambda_simple.models import LambdaSimpleBackend

from devtools.lambda_runner import LocalContext
from devtools.local_aws import LocalAws

if TYPE_CHECKING:
    import pytest

Dispatch = Callable[[str, dict[str, Any], LocalContext], Any]
"""(function name, event, context) → what the real handler returns."""


@dataclass
class Execution:
    status: str
    final_state: str
    output: Any
    history: list[dict[str, Any]]

    @property
    def entered(self) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"] for e in self.history if "stateEnteredEventDetails" in e
        ]


def set_moto_config(aws: LocalAws, config: dict[str, Any]) -> None:
    response = requests.post(f"{aws.endpoint}/moto-api/config", json=config, timeout=10)
    response.raise_for_status()


@contextlib.contextmanager
def executing_state_machines(aws: LocalAws) -> Iterator[None]:
    """moto's Step Functions runs the definitions it is given (and its Lambda needs no Docker), until
    the block ends."""
    set_moto_config(aws, {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
    try:
        yield
    finally:
        set_moto_config(
            aws, {"stepfunctions": {"execute_state_machine": False}, "lambda": {"use_docker": True}}
        )


def route_lambda_invocations(monkeypatch: pytest.MonkeyPatch, dispatch: Dispatch) -> None:
    """Every Lambda invocation moto makes goes to `dispatch`, with a LocalContext naming the function;
    an exception comes back as Lambda's unhandled function error, a result as its JSON payload."""

    def invoke(
        backend: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        # An unknown function fails as Lambda does (404 ResourceNotFoundException).
        function = backend.get_function(function_name, qualifier)
        context = LocalContext(
            function_name=function.function_name, invoked_function_arn=function.function_arn
        )
        try:
            result = dispatch(function.function_name, json.loads(body), context)
        except Exception as failure:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(failure).__name__, "errorMessage": str(failure)}).encode()
        return json.dumps(result).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)


def create_function(aws: LocalAws, name: str, role_arn: str, handler: str) -> str:
    """A Lambda function in moto whose invocations route_lambda_invocations sends on; its ARN."""
    module_file = handler.rsplit(".", 1)[0] + ".py"
    created = aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler=handler,
        Code={"ZipFile": placeholder_code(module_file)},
    )
    return str(created["FunctionArn"])


def execute(aws: LocalAws, machine_arn: str, payload: dict[str, Any], timeout: float = 120) -> Execution:
    """Start an execution and wait for it to end; its final state, output and history."""
    execution_arn = aws.client("stepfunctions").start_execution(
        stateMachineArn=machine_arn, input=json.dumps(payload)
    )["executionArn"]
    return wait_for_execution(aws, execution_arn, timeout)


def wait_for_execution(aws: LocalAws, execution_arn: str, timeout: float = 120) -> Execution:
    """Wait for an execution, however it was started, to end; its final state, output and history."""
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + timeout
    # moto marks an execution SUCCEEDED a moment before it stores its output (a race seen with large
    # outputs), so a SUCCEEDED execution is read again until its output is there.
    while (description := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING" or (
        description["status"] == "SUCCEEDED" and not description.get("output")
    ):
        assert time.monotonic() < deadline, f"execution still running after {timeout} s"
        time.sleep(0.1)
    history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    output = json.loads(description["output"]) if description.get("output") else None
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    return Execution(description["status"], entered[-1] if entered else "", output, history)


def lambda_role(aws: LocalAws, name: str) -> str:
    """An IAM role Lambda and Step Functions may assume (moto requires one to create either)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = aws.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    return str(role["Role"]["Arn"])


def placeholder_code(module_file: str) -> bytes:
    """A deployment package moto accepts; never run: the tests route invocations to the real handlers."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr(module_file, "")
    return code.getvalue()
