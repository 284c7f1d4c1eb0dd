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
        "locale/en/LC_MESSAGES/bagit-python.mo",  # bagit's messages, beside bagit.py as it looks for them
    ):
        assert (layer / expected).is_file(), f"built layer lacks python/{expected}"
    # The layer's native modules are for its architecture (template.yaml: arm64), not this machine's.
    for library in layer.rglob("*.so"):
        assert _elf_machine(library) == EM_AARCH64, f"{library.relative_to(layer)} is not an arm64 library"
    assert _unchecked_bytecode(layer) == sorted(
        str(source.relative_to(layer)) for source in layer.rglob("*.py")
    ), "not every module of the layer has its bytecode"

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
        assert _unchecked_bytecode(function) == sorted(source.name for source in FUNCTION_DIR.glob("*.py"))


EM_AARCH64 = 183  # ELF header e_machine (a 16-bit field at offset 18)
_PYC_FLAGS = slice(4, 8)  # a .pyc's flags word (PEP 552): 0b01 = hash-based, source not checked


def _elf_machine(library: Path) -> int:
    header = library.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{library} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


def _unchecked_bytecode(tree: Path) -> list[str]:
    """The modules under `tree` whose Python 3.12 bytecode is shipped beside them, valid without their
    sources' timestamps (sam's ZIP writes none, and Lambda's /opt and /var/task are read-only: a module
    without usable bytecode there is compiled again at every cold start)."""
    found = []
    for source in tree.rglob("*.py"):
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        if compiled.is_file() and int.from_bytes(compiled.read_bytes()[_PYC_FLAGS], "little") == 0b01:
            found.append(str(source.relative_to(tree)))
    return sorted(found)
