"""The CLI's terminal output: rich (the optional `cli` extra) draws the progress bar and the summary
on a terminal, plain text goes to pipes and files, and without rich the CLI still works in plain text.
rich is never imported by `import bagverify.cli`, and the Lambda layer does not carry it.

A terminal is a real pseudo-terminal (`pty`); the tables of `history` and `audit` are in
tests/integration/test_cli_tables.py (they need moto's DynamoDB and S3)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.sample_bags import flip_byte, make_bag_zip

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "bagverify.cli"]
# The CLI with rich made unimportable, as where the `cli` extra is not installed.
CLI_WITHOUT_RICH = [
    sys.executable,
    "-c",
    "import sys; sys.modules['rich'] = None; from bagverify.cli import main; raise SystemExit(main())",
]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Whatever in the caller's environment would make rich treat a pipe as a terminal, or not colour.
RICH_OVERRIDES = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")


def environment(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in RICH_OVERRIDES}
    return {**env, "TERM": "xterm-256color", **extra}


@dataclass
class Ran:
    returncode: int
    output: str  # stdout and stderr, as a terminal shows them


def run_in_terminal(command: list[str], env: Mapping[str, str], columns: int = 200) -> Ran:
    """`command` with stdin, stdout and stderr on one pseudo-terminal `columns` wide."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, env=dict(env), close_fds=True
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer has gone
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    returncode = process.wait(timeout=30)
    return Ran(returncode, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n"))


def run_piped(command: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=dict(env))


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bags")
    made = {"valid": make_bag_zip(), "invalid": make_bag_zip(tamper=flip_byte("data/README.txt"))}
    for name, body in made.items():
        (folder / f"{name}.zip").write_bytes(body)
    return {name: folder / f"{name}.zip" for name in made}


def test_piped_output_is_plain_text(bags: dict[str, Path]) -> None:
    result = run_piped([*CLI, "verify", str(bags["invalid"])], environment())
    assert result.returncode == 1
    assert not ANSI.search(result.stdout) and not ANSI.search(result.stderr), (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert lines[0] == f"INVALID: {bags['invalid']}"
    assert lines[1].startswith("  4 payload files, ")
    assert lines[2].startswith("  problem [checksum_mismatch] data/README.txt: sha256 is ")
    assert result.stderr == ""  # no progress bar, no hint: stderr is no terminal


def test_a_terminal_gets_rich_progress_and_summary(bags: dict[str, Path]) -> None:
    result = run_in_terminal([*CLI, "verify", str(bags["invalid"])], environment())
    assert result.returncode == 1, result.output
    assert ANSI.search(result.output), result.output
    plain = ANSI.sub("", result.output)
    assert "verifying" in plain and " files" in plain and "━" in plain  # rich's progress bar
    assert "\x1b[1;31mINVALID\x1b[0m" in result.output  # the status in bold red
    assert f"INVALID: {bags['invalid']}" in plain
    assert "problem [checksum_mismatch] data/README.txt: sha256 is" in plain
    assert "pip install" not in plain


def test_valid_on_a_terminal_is_green(bags: dict[str, Path]) -> None:
    result = run_in_terminal([*CLI, "verify", str(bags["valid"])], environment())
    assert result.returncode == 0, result.output
    assert "\x1b[1;32mVALID\x1b[0m" in result.output


def test_json_on_a_terminal_is_the_json(bags: dict[str, Path]) -> None:
    """--json draws nothing: no progress bar, no colour; the verdict as JSON only."""
    result = run_in_terminal([*CLI, "verify", str(bags["invalid"]), "--json"], environment())
    assert result.returncode == 1
    assert not ANSI.search(result.output), result.output
    verdict = json.loads(result.output)
    assert verdict["status"] == "invalid"


def test_rich_overrides_are_honoured(bags: dict[str, Path]) -> None:
    """rich's own variables: FORCE_COLOR makes a pipe a terminal, TTY_COMPATIBLE=0 a terminal none."""
    forced = run_piped([*CLI, "verify", str(bags["valid"])], environment(FORCE_COLOR="1"))
    assert forced.returncode == 0
    assert forced.stdout.startswith("\x1b[1;32mVALID\x1b[0m: "), forced.stdout
    assert "verifying" in ANSI.sub("", forced.stderr)
    refused = run_in_terminal([*CLI, "verify", str(bags["valid"])], environment(TTY_COMPATIBLE="0"))
    assert refused.returncode == 0
    assert not ANSI.search(refused.output), refused.output
    assert refused.output.startswith(f"VALID: {bags['valid']}\n")


def test_without_rich_a_terminal_gets_plain_text_and_a_hint(bags: dict[str, Path]) -> None:
    result = run_in_terminal([*CLI_WITHOUT_RICH, "verify", str(bags["invalid"])], environment())
    assert result.returncode == 1, result.output
    assert not ANSI.search(result.output), result.output
    lines = result.output.splitlines()
    assert (
        lines.count("bagverify: for a progress bar and tables on a terminal: pip install 'bagverify[cli]'")
        == 1
    )
    assert f"INVALID: {bags['invalid']}" in lines
    assert any(line.startswith("  problem [checksum_mismatch] data/README.txt") for line in lines)


def test_without_rich_pipes_get_what_they_get_with_it(bags: dict[str, Path]) -> None:
    env = environment()
    for name in ("valid", "invalid"):
        without = run_piped([*CLI_WITHOUT_RICH, "verify", str(bags[name])], env)
        with_rich = run_piped([*CLI, "verify", str(bags[name])], env)
        assert without.returncode == with_rich.returncode
        assert without.stderr == with_rich.stderr == ""
        # the summary's last field is the seconds taken
        same = [re.sub(r"[\d.]+ s$", "s", line) for line in without.stdout.splitlines()]
        assert same == [re.sub(r"[\d.]+ s$", "s", line) for line in with_rich.stdout.splitlines()]
    as_json = run_piped([*CLI_WITHOUT_RICH, "verify", str(bags["valid"]), "--json"], env)
    assert json.loads(as_json.stdout)["status"] == "valid"


def test_importing_the_cli_does_not_import_rich() -> None:
    probe = "import sys, bagverify.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))"
    result = run_piped([sys.executable, "-c", probe], environment(FORCE_COLOR="1"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_rich_is_the_cli_extra_and_not_in_the_lambda_layer() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    assert any(requirement.startswith("rich") for requirement in extras["cli"])
    assert any(requirement.startswith("rich") for requirement in extras["dev"])
    assert not any(requirement.startswith("rich") for requirement in project["dependencies"])
    layer = (ROOT / "layers" / "engine" / "requirements.txt").read_text(encoding="utf-8")
    requirements = [line.split("#")[0].strip().lower() for line in layer.splitlines()]
    assert not [line for line in requirements if re.match(r"rich\b", line)], layer
