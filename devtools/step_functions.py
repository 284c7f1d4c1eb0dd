"""Running real state machine definitions in moto's Step Functions, for the tests."""

from __future__ import annotations

import contextlib
import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import botocore.session
import requests
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.utils import camel_to_snake_case

from devtools.lambda_runner import ROOT, LocalContext, load_handler, load_template
from devtools.local_aws import LocalAws

if TYPE_CHECKING:
    import pytest

Dispatch = Callable[[str, dict[str, Any], LocalContext], Any]
"""(function name, event, context) → what the real handler returns."""

DISTRIBUTED_DEFINITION = ROOT / "statemachines" / "verify_bag_distributed.asl.json"
DISTRIBUTED_FUNCTIONS = ("PlanBagFunction", "VerifyShardFunction", "AggregateVerdictFunction")


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


def cased_step_functions_integration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let moto run `states:startExecution` tasks (.sync:2 included), as Step Functions does.

    A task's Parameters are PascalCase (StateMachineArn, Input, Name) and its result is too (ExecutionArn,
    Output, Status), whatever the case of the service's API. moto 5.2.5 leaves the translation to and
    from botocore's names out (StateTaskService._normalise_parameters and _normalise_response are
    empty), which its Lambda, SNS and S3 integrations do not notice (their APIs are PascalCase) but
    Step Functions' own does: boto3's start_execution rejects StateMachineArn (a States.Runtime
    `'StateMachineArn'`) and the .sync:2 poller reads no ExecutionArn. This restores the translation for
    that integration only, from botocore's service model by the helpers moto already has
    (`_to_boto_request`, `_from_boto_response`), as the source in getmoto/moto at f18c394 does for every
    integration; applied twice, it changes nothing. The execution it starts, waits for and reads is
    moto's own.
    """

    def operation(task: StateTaskServiceSfn, service: str | None, action: str | None) -> Any:
        model = botocore.session.get_session().get_service_model(task._get_boto_service_name(service))
        wanted = task._get_boto_service_action(action)
        [name] = [name for name in model.operation_names if camel_to_snake_case(name) == wanted]
        return model.operation_model(name)

    own_parameters = StateTaskServiceSfn._normalise_parameters

    def normalise_parameters(
        task: StateTaskServiceSfn,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        own_parameters(task, parameters, boto_service_name, service_action_name)  # Input as a string
        shape = operation(task, boto_service_name, service_action_name).input_shape
        if shape is not None:
            task._to_boto_request(parameters, shape)

    def normalise_response(
        task: StateTaskServiceSfn,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        shape = operation(task, boto_service_name, service_action_name).output_shape
        if shape is not None:
            task._from_boto_response(response, shape)

    monkeypatch.setattr(StateTaskServiceSfn, "_normalise_parameters", normalise_parameters)
    monkeypatch.setattr(StateTaskServiceSfn, "_normalise_response", normalise_response)


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


def execute(
    aws: LocalAws, machine_arn: str, payload: dict[str, Any], timeout: float = 120, name: str | None = None
) -> Execution:
    """Start an execution named `name` and wait for it to end; its final state, output and history.

    Without a name it gets a UUID, as Step Functions gives one: moto's executing backend leaves an
    unnamed execution's name None (its $$.Execution.Name null, its ARN ending in ":None")."""
    execution_arn = aws.client("stepfunctions").start_execution(
        stateMachineArn=machine_arn, input=json.dumps(payload), name=name or str(uuid.uuid4())
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


@dataclass
class Lambdas:
    """Functions created in moto, each running the real handler template.yaml names for its function id
    (VerifyBagFunction, PlanBagFunction, ...): every state machine of a test invokes them through one
    route_lambda_invocations, which `lambdas_in_moto` sets up."""

    aws: LocalAws
    role_arn: str
    suffix: str
    # function id → every event it was invoked with, in order
    invocations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # function id → a hook called with the event before the handler; it may raise to fail the call,
    # or return a result (not None) that the function answers with instead of running the handler
    faults: dict[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    # function id → a hook giving the milliseconds Lambda's context says are left, by event
    time_left: dict[str, Callable[[dict[str, Any]], int]] = field(default_factory=dict)
    _function_ids: dict[str, str] = field(default_factory=dict)
    _handlers: dict[str, Callable[[Any, Any], Any]] = field(default_factory=dict)

    def create(self, function_id: str) -> str:
        """Create the function `function_id` of template.yaml in moto; its ARN."""
        name = f"bagverify-{function_id}-{self.suffix}"
        self._handlers[function_id] = load_handler(function_id)
        self._function_ids[name] = function_id
        self.invocations.setdefault(function_id, [])
        handler = load_template()["Resources"][function_id]["Properties"]["Handler"]
        return create_function(self.aws, name, self.role_arn, handler)

    def dispatch(self, function_name: str, event: dict[str, Any], context: LocalContext) -> Any:
        function_id = self._function_ids[function_name]
        self.invocations[function_id].append(event)
        if function_id in self.time_left:
            context.timeout_ms = self.time_left[function_id](event)
        if function_id in self.faults:
            result = self.faults[function_id](event)
            if result is not None:
                return result
        return self._handlers[function_id](event, context)


@contextlib.contextmanager
def lambdas_in_moto(aws: LocalAws, monkeypatch: pytest.MonkeyPatch, role_name: str) -> Iterator[Lambdas]:
    """moto executes state machines, whose `lambda:invoke` tasks (and its own Step Functions, S3 and SNS
    calls) reach moto's server at localhost:$MOTO_PORT, for the functions `Lambdas.create` makes; a
    `states:startExecution` task starts and awaits a real execution (cased_step_functions_integration)."""
    monkeypatch.setenv("MOTO_PORT", aws.endpoint.rsplit(":", 1)[1])
    suffix = str(time.monotonic_ns())
    with executing_state_machines(aws):
        lambdas = Lambdas(aws, lambda_role(aws, f"{role_name}-{suffix}"), suffix)
        route_lambda_invocations(monkeypatch, lambdas.dispatch)
        cased_step_functions_integration(monkeypatch)
        yield lambdas


@dataclass
class DistributedMachine:
    """VerifyBagDistributedStateMachine created in moto from its real definition; its functions are in
    `lambdas`."""

    arn: str
    work_bucket: str
    lambdas: Lambdas
    # the definition with the functions substituted, ${VerdictTopicArn} not yet
    definition: str

    @property
    def invocations(self) -> dict[str, list[dict[str, Any]]]:
        return self.lambdas.invocations

    @property
    def faults(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return self.lambdas.faults

    @property
    def time_left(self) -> dict[str, Callable[[dict[str, Any]], int]]:
        return self.lambdas.time_left

    @property
    def role_arn(self) -> str:
        return self.lambdas.role_arn


def create_distributed_machine(
    lambdas: Lambdas, topic_arn: str, work_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> DistributedMachine:
    """The distributed state machine, its three functions and their environment (the work bucket, a
    shard concurrency of 4) as template.yaml sets them, with `topic_arn` for ${VerdictTopicArn}."""
    monkeypatch.setenv("WORK_BUCKET", work_bucket)
    monkeypatch.setenv("WORK_PREFIX", "runs/")
    monkeypatch.setenv("SHARD_CONCURRENCY", "4")
    definition = DISTRIBUTED_DEFINITION.read_text(encoding="utf-8")
    for function_id in DISTRIBUTED_FUNCTIONS:
        definition = definition.replace(f"${{{function_id}Arn}}", lambdas.create(function_id))
    substituted = definition.replace("${VerdictTopicArn}", topic_arn)
    assert "${" not in substituted, "the definition has a substitution this test does not make"
    arn = lambdas.aws.client("stepfunctions").create_state_machine(
        name=f"VerifyBagDistributed-{lambdas.suffix}",
        definition=substituted,
        roleArn=lambdas.role_arn,
        type="STANDARD",
    )["stateMachineArn"]
    return DistributedMachine(str(arn), work_bucket, lambdas, definition)
