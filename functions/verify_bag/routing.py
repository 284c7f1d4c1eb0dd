"""Uploads too large for one invocation go to the distributed state machine (docs/large-bags.md).

VerifyBagFunction verifies what an S3 upload notification (or an EventBridge Object Created event)
names in one invocation, which cannot finish a bag past ~80 GB in Lambda's 15 minutes. An upload
whose event states a size at or above DISTRIBUTED_THRESHOLD_BYTES is handed to
VerifyBagDistributedStateMachine (DISTRIBUTED_STATE_MACHINE_ARN) instead: one StartExecution, whose
aggregator publishes the verdict to SNS as this function would. Direct and Step Functions input is
never routed here: that caller wants the verdict back from this invocation (VerifyBagStateMachine
routes a large bag itself, before it would invoke this function: a nested run it waits for).

Routing is off when either variable is unset or empty or the threshold is 0 (`sam local invoke`,
the demo: the ARN needs a deployed stack).

S3 delivers events at least once and Lambda retries an asynchronous invocation twice, so one upload
may arrive here several times. The execution's name is a digest of its input (bucket, key, version
id, eTag), so every delivery of one upload asks for the same execution: StartExecution on a STANDARD
machine returns the running execution for the same name and input, and refuses the name with
ExecutionAlreadyExists once that execution has ended (for 90 days); both mean the upload's run exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from bagverify import S3Location
from event_targets import Target

STATE_MACHINE_VARIABLE = "DISTRIBUTED_STATE_MACHINE_ARN"
THRESHOLD_VARIABLE = "DISTRIBUTED_THRESHOLD_BYTES"

# Step Functions execution names: at most 80 characters of A-Z a-z 0-9 - _.
MAX_NAME_LENGTH = 80
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_-]+")
# 40 hex digits (160 bits) of SHA-256 name the upload; up to 39 characters of the key's last
# segment before them make the execution recognisable in the console.
DIGEST_LENGTH = 40
READABLE_LENGTH = MAX_NAME_LENGTH - DIGEST_LENGTH - 1


@dataclass(frozen=True)
class Routing:
    """Where large uploads go, and from what size (0: never)."""

    state_machine_arn: str
    threshold_bytes: int

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Routing:
        threshold = environ.get(THRESHOLD_VARIABLE, "").strip()
        # A CloudFormation Number parameter may be given as 5e10 as well as 50000000000.
        return cls(environ.get(STATE_MACHINE_VARIABLE, "").strip(), int(float(threshold)) if threshold else 0)

    def can_route(self, target: Target) -> bool:
        """True when `target` may be handed to the distributed state machine at all: routing is on
        and an upload notification named it."""
        return bool(self.state_machine_arn) and self.threshold_bytes > 0 and target.uploaded

    def routes(self, target: Target) -> bool:
        """True when the distributed state machine, not this invocation, is to verify `target`."""
        return self.can_route(target) and target.size is not None and target.size >= self.threshold_bytes


@dataclass(frozen=True)
class Started:
    """The distributed run of one upload.

    `already_started`: StartExecution refused the name (ExecutionAlreadyExists): an earlier
    delivery of this upload started the run, which has since ended (or, with a hash collision of
    160 bits, another input has the name). False: StartExecution answered with the execution, new,
    or the one still running for this upload (Step Functions does not say which).
    """

    execution_arn: str
    execution_name: str
    already_started: bool


def execution_input(location: S3Location) -> dict[str, Any]:
    """The distributed state machine's input: {"bucket", "key", "version_id"?, "etag"?} (its PlanBag step
    passes it to the planner as {"bag": input, "run": execution name})."""
    payload: dict[str, Any] = {"bucket": location.bucket, "key": location.key}
    if location.version_id:
        payload["version_id"] = location.version_id
    if location.etag:
        payload["etag"] = location.etag.strip('"')
    return payload


def execution_name(location: S3Location) -> str:
    """Deterministic, from exactly what the input holds: equal names mean equal inputs."""
    digest = hashlib.sha256(_input_json(location).encode("utf-8")).hexdigest()[:DIGEST_LENGTH]
    leaf = location.key.rsplit("/", 1)[-1].removesuffix(".zip")
    readable = _NOT_IN_NAME.sub("-", leaf).strip("-_")[:READABLE_LENGTH].strip("-_")
    return f"{readable}-{digest}" if readable else digest


def start_distributed(stepfunctions: Any, state_machine_arn: str, location: S3Location) -> Started:
    """Start (or find started) the distributed verification of one upload.

    Any error but ExecutionAlreadyExists propagates on purpose: the invocation fails, Lambda retries
    the asynchronous event twice, and then FailedInvocationsQueue keeps it (FailedInvocationsAlarm),
    so an upload that could not be handed over is never dropped, nor verified here into a `timeout`.
    """
    name = execution_name(location)
    try:
        response = stepfunctions.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=_input_json(location)
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        return Started(_execution_arn(state_machine_arn, name), name, already_started=True)
    return Started(str(response["executionArn"]), name, already_started=False)


def _input_json(location: S3Location) -> str:
    # One serialisation, byte for byte the same for every delivery: Step Functions compares inputs.
    return json.dumps(execution_input(location), sort_keys=True, separators=(",", ":"))


def _execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:…:states:<region>:<account>:stateMachine:<machine> → arn:…:execution:<machine>:<name>."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"
