"""Fixtures of the template tests: template.yaml and VerifyBagStateMachine's definition, read once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import load as load_cfn_yaml

from tests.template.helpers import (
    ASL,
    TEMPLATE,
)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_cfn_yaml(str(TEMPLATE))


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return json.loads(ASL.read_text(encoding="utf-8"))
