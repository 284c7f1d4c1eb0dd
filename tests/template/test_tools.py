"""The linters and validators (sam validate --lint, cfn-lint, asl-validator) and what `sam build` makes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.template.helpers import (
    ASL,
    FUNCTION_DIR,
    ROOT,
    TEMPLATE,
    _explain,
    _run,
    _tool,
)


def test_sam_validate_lint() -> None:
    result = _run([_tool("sam"), "validate", "--lint", "--template", str(TEMPLATE)])
    assert result.returncode == 0, _explain(result)


def test_cfn_lint() -> None:
    result = _run([_tool("cfn-lint"), "template.yaml"])
    assert result.returncode == 0, _explain(result)


def test_asl_validator() -> None:
    if not (ROOT / "node_modules" / ".bin" / "asl-validator").exists():
        pytest.fail("node_modules/.bin/asl-validator is missing: run `npm ci` in the repository root first")
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail("npx not found: install Node.js, then run `npm ci` in the repository root")
    result = _run([npx, "--no-install", "asl-validator", "--json-path", str(ASL.relative_to(ROOT))])
    assert result.returncode == 0, _explain(result)


@pytest.mark.sam_build
def test_sam_build(tmp_path: Path) -> None:
    build_dir = tmp_path / "build"
    result = _run(
        [
            _tool("sam"),
            "build",
            "--template",
            "template.yaml",
            "--build-dir",
            str(build_dir),
            # samconfig.toml asks for cached builds, whose dependency cache is ./.aws-sam/deps whatever
            # --cache-dir says: build from scratch instead, leaving the working tree as it was.
            "--no-cached",
        ],
        timeout=900,
    )
    assert result.returncode == 0, _explain(result)

    layer = build_dir / "EngineLayer" / "python"
    for expected in (
        "bagverify/verify.py",
        "bagit.py",
        "aws_lambda_powertools/__init__.py",
        "aws_xray_sdk/__init__.py",  # Powertools Tracer needs the X-Ray SDK (extra [tracer])
        "boto3/__init__.py",
    ):
        assert (layer / expected).is_file(), f"built layer lacks python/{expected}"

    # The distributed state machine's three functions are built from the same code.
    for function_id in (
        "VerifyBagFunction",
        "PlanBagFunction",
        "VerifyShardFunction",
        "AggregateVerdictFunction",
    ):
        function = build_dir / function_id
        assert (function / "app.py").is_file(), f"built {function_id} lacks app.py"
        for source in FUNCTION_DIR.glob("*.py"):
            assert (function / source.name).is_file(), f"built {function_id} lacks {source.name}"
        # Dependencies belong to the layer only: nothing may be pip-installed into the function as well.
        for duplicate in ("bagverify", "bagit.py", "boto3", "aws_lambda_powertools"):
            assert not (function / duplicate).exists(), (
                f"{duplicate} is packaged in {function_id}, not only the layer"
            )
