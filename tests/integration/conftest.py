"""Fixtures for the state machines executed by moto (test_state_machine.py, test_distributed.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.fault_proxy import FaultProxy
from devtools.local_aws import LocalAws
from devtools.step_functions import DistributedMachine, Lambdas, create_distributed_machine, lambdas_in_moto


@pytest.fixture
def lambdas(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lambdas]:
    """moto executes state machines; the functions created in `lambdas` run the real handlers."""
    with lambdas_in_moto(aws, monkeypatch, "verify-bag") as created:
        yield created


@pytest.fixture
def distributed_machine(
    aws: LocalAws, topic: tuple[str, str], lambdas: Lambdas, monkeypatch: pytest.MonkeyPatch
) -> DistributedMachine:
    """VerifyBagDistributedStateMachine from its real definition, publishing to `topic`."""
    work_bucket = aws.create_bucket(f"work-{lambdas.suffix}")
    return create_distributed_machine(lambdas, topic[0], work_bucket, monkeypatch)


@pytest.fixture
def proxy(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """The fault proxy in front of moto; the engine's clients (from the environment) go through it."""
    with FaultProxy(aws.endpoint) as running:
        monkeypatch.setenv("AWS_ENDPOINT_URL", running.url)
        monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        yield running
