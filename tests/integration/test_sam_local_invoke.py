"""The handler as `sam local invoke -e FILE` runs it: handler path from template.yaml, the event file as is.

devtools.lambda_runner reads CodeUri and Handler of VerifyBagFunction from template.yaml, imports
the module from CodeUri and calls the function with the file's JSON and a Lambda-like context.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.lambda_runner import FUNCTION_ID, ROOT, invoke, load_handler, load_template
from devtools.sample_bags import make_bag_zip
from event_targets import targets_from_event

EVENTS = sorted((ROOT / "events").glob("*.json"))


def _code_uri_and_handler() -> tuple[Path, str, str]:
    properties = load_template()["Resources"][FUNCTION_ID]["Properties"]
    module, function = properties["Handler"].rsplit(".", 1)
    return ROOT / properties["CodeUri"], module, function


def test_events_cover_what_the_function_receives() -> None:
    assert {path.name for path in EVENTS} >= {
        "s3-put.json",
        "s3-put-key-with-spaces.json",
        "eventbridge-object-created.json",
        "stepfunctions-input.json",
    }


def test_template_handler_resolves_to_an_importable_callable(aws) -> None:  # type: ignore[no-untyped-def]
    code_dir, module, function = _code_uri_and_handler()
    assert code_dir.is_dir(), f"CodeUri {code_dir} is not a directory"
    assert (code_dir / f"{module}.py").is_file(), f"Handler names {module}.py, which is not in CodeUri"
    handler = load_handler()
    assert callable(handler) and handler.__name__ == function
    source = inspect.getsourcefile(inspect.unwrap(handler))
    assert source and Path(source).resolve() == (code_dir / f"{module}.py").resolve()
    assert list(inspect.signature(inspect.unwrap(handler)).parameters) == ["event", "context"]


def test_the_handler_imports_with_only_its_code_uri_and_the_layer_on_the_path() -> None:
    """As deployed: CodeUri is the task root and layers/engine the layer's python/; no repo root."""
    code_dir, module, function = _code_uri_and_handler()
    check = (
        f"import sys; sys.path[:0] = [{str(code_dir)!r}, {str(ROOT / 'layers' / 'engine')!r}]; "
        f"import {module}; assert callable({module}.{function}); "
        "assert not [name for name in sys.modules if name.split('.')[0] in ('devtools', 'tests')]"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    child = subprocess.run(
        [sys.executable, "-P", "-c", check], cwd=code_dir, env=env, capture_output=True, text=True, timeout=60
    )
    assert child.returncode == 0, child.stderr[-2000:]


@pytest.mark.parametrize("event_file", EVENTS, ids=[path.name for path in EVENTS])
def test_every_event_file_runs_as_sam_local_invoke_would(aws, s3, topic, event_file: Path) -> None:  # type: ignore[no-untyped-def]
    targets = targets_from_event(json.loads(event_file.read_text()))
    assert targets, f"{event_file.name} names no bag"
    for target in targets:
        aws.create_bucket(target.bucket)
        s3.put_object(Bucket=target.bucket, Key=target.key, Body=make_bag_zip())
    verdict = invoke(event_file)  # the file as is, the handler template.yaml names
    assert verdict["status"] == "valid", verdict["problems"]
    assert [verdict["object"]["key"]] == [target.key for target in targets]
    notifications = aws.receive_notifications(topic[1])
    assert len(notifications) == len(targets)


def test_the_key_with_spaces_event_is_url_decoded() -> None:
    [target] = targets_from_event(json.loads((ROOT / "events" / "s3-put-key-with-spaces.json").read_text()))
    assert target.key == "incoming/sample bag (2024).zip"
