"""Run the handler as `sam local invoke -e FILE` does: handler path from template.yaml, event from a file."""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_ID = "VerifyBagFunction"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form tags as their long forms: !Ref x → {"Ref": "x"}."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)  # type: ignore[arg-type]
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _any_tag)


def load_template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)


def function_environment(function_id: str = FUNCTION_ID) -> dict[str, str]:
    """The function's environment variables as `sam local invoke` sets them from template.yaml.

    Globals first, then the function's own; a `!Ref` to a parameter takes the parameter's default.
    Variables whose values need a deployed stack (`!Ref` to a resource, `!GetAtt`) are left out.
    """
    template = load_template()
    parameters = template.get("Parameters", {})
    variables = {
        **template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}),
        **template["Resources"][function_id]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    environment = {}
    for name, value in variables.items():
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
            value = parameters[value["Ref"]].get("Default")
        if isinstance(value, str | int | float | bool):
            environment[name] = str(value)
    return environment


@dataclass
class LocalContext:
    """The context object Lambda (and sam local) pass to a handler."""

    function_name: str = "bagverify-VerifyBagFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1769
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bagverify-VerifyBagFunction"
    log_group_name: str = "/aws/lambda/bagverify-VerifyBagFunction"
    log_stream_name: str = "local"
    timeout_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


def load_handler(function_id: str = FUNCTION_ID) -> Callable[[Any, Any], Any]:
    """Import the handler named by template.yaml (CodeUri + Handler), as the Lambda runtime would."""
    properties = load_template()["Resources"][function_id]["Properties"]
    code_dir = str(ROOT / properties["CodeUri"])
    module_name, function_name = properties["Handler"].rsplit(".", 1)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    return getattr(importlib.import_module(module_name), function_name)  # type: ignore[no-any-return]


def invoke(event_file: str | Path, context: LocalContext | None = None, **overrides: Any) -> Any:
    """`sam local invoke -e event_file`: the same file, the same handler, an optional override of fields."""
    event = json.loads(Path(event_file).read_text())
    event.update(overrides)
    return load_handler()(event, context or LocalContext())
