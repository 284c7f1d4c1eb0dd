"""Shared fixtures: a local AWS (moto's server over real HTTP), buckets, a topic with a queue, the handler."""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.lambda_runner import function_environment, load_handler
from devtools.local_aws import LocalAws
from devtools.sample_bags import make_bag_zip, refresh_tag_manifests

_names = itertools.count()

# The function's environment from template.yaml (Powertools service name, metrics namespace, log
# level, REPORT_BUCKET empty), as `sam local invoke` would set it, before anything imports the handler.
for _name, _value in function_environment().items():
    os.environ.setdefault(_name, _value)


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
    return load_handler()


MISSING_FILES = 20_000


def _bag_listing_missing_files(count: int) -> bytes:
    def list_missing_files(bag_dir: Path) -> None:
        with (bag_dir / "manifest-sha256.txt").open("a", encoding="utf-8") as manifest:
            for number in range(count):
                manifest.write(f"{number:064x}  data/missing/scan-{number:05d}.tif\n")
        refresh_tag_manifests(bag_dir)

    return make_bag_zip({"README.txt": b"present\n"}, algorithms=("sha256",), tamper=list_missing_files)


@pytest.fixture(scope="session")
def many_missing_bag() -> bytes:
    """A bag whose manifest lists 20,000 files that are not there: 20,000 problems, ~3 MB of JSON."""
    return _bag_listing_missing_files(MISSING_FILES)


@pytest.fixture(scope="session")
def some_missing_bag() -> bytes:
    """The same with 3,000 missing files: still over SNS's 256 KiB (~0.5 MB of problems), and quicker."""
    return _bag_listing_missing_files(3_000)


class _CurrentStdout:
    """Whatever sys.stdout is at the time of writing (pytest swaps it between test phases)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def stdout_lines(handler: Any, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """A function returning the JSON lines the handler printed so far (logs and EMF) as dicts."""
    log_handler = sys.modules["app"].logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    previous = log_handler.setStream(_CurrentStdout())  # type: ignore[arg-type]
    capsys.readouterr()

    def read() -> list[dict[str, Any]]:
        out = capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    yield read
    log_handler.setStream(previous)
