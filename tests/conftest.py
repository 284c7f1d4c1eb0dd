"""Shared fixtures: a local AWS (moto's server over real HTTP), buckets, a topic with a queue, the handler."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.lambda_runner import load_handler
from devtools.local_aws import LocalAws

_names = itertools.count()


@pytest.fixture(scope="session")
def aws() -> Iterator[LocalAws]:
    with LocalAws() as local:
        yield local


@pytest.fixture
def s3(aws: LocalAws) -> Any:
    return aws.client("s3")


@pytest.fixture
def bucket(aws: LocalAws) -> str:
    return aws.create_bucket(f"bags-{os.getpid()}-{next(_names)}")


@pytest.fixture
def versioned_bucket(aws: LocalAws) -> str:
    return aws.create_bucket(f"versioned-bags-{os.getpid()}-{next(_names)}", versioned=True)


@pytest.fixture
def topic(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(topic ARN, queue URL): the handler publishes to the topic; tests read the queue."""
    topic_arn, queue_url = aws.create_topic_with_queue(f"verdicts-{next(_names)}")
    monkeypatch.setenv("TOPIC_ARN", topic_arn)
    return topic_arn, queue_url


@pytest.fixture(scope="session")
def handler(aws: LocalAws) -> Any:
    """The real handler, imported from the path template.yaml names, after the environment points at moto."""
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bagverify")
    return load_handler()
