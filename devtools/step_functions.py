"""Running real state machine definitions in moto's Step Functions, for the tests."""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass
from typing import Any

import requests

from devtools.local_aws import LocalAws


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


def execute(aws: LocalAws, machine_arn: str, payload: dict[str, Any], timeout: float = 120) -> Execution:
    """Start an execution and wait for it to end; its final state, output and history."""
    sfn = aws.client("stepfunctions")
    execution_arn = sfn.start_execution(stateMachineArn=machine_arn, input=json.dumps(payload))[
        "executionArn"
    ]
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
