"""`bagverify verify` as operators run it: local and s3:// sources, exit codes, JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from devtools.sample_bags import flip_byte, make_bag_zip

CLI = [sys.executable, "-m", "bagverify.cli", "verify"]
# rich's variables that would make it draw on a pipe (tests/unit/test_cli_output.py tests them)
RICH_OVERRIDES = ("FORCE_COLOR", "TTY_COMPATIBLE")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name not in RICH_OVERRIDES}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env=env)


def test_s3_valid_bag_exits_0_with_json(aws, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="bags/ok.zip", Body=make_bag_zip())
    result = run_cli(f"s3://{bucket}/bags/ok.zip", "--json")
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["status"] == "valid"
    assert verdict["stats"]["get_requests"] == 1


def test_s3_invalid_bag_exits_1_and_names_the_file(aws, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="bags/bad.zip", Body=make_bag_zip(tamper=flip_byte("data/README.txt")))
    result = run_cli(f"s3://{bucket}/bags/bad.zip")
    assert result.returncode == 1
    assert result.stdout.startswith("INVALID")
    assert "data/README.txt" in result.stdout


def test_s3_missing_key_exits_2(aws, bucket) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(f"s3://{bucket}/bags/none.zip", "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["problems"][0]["kind"] == "not_found"


def test_local_zip(tmp_path: Path) -> None:
    path = tmp_path / "bag.zip"
    path.write_bytes(make_bag_zip(zipper="infozip"))
    result = run_cli(str(path))
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("VALID")


def test_bad_s3_url_is_a_usage_error() -> None:
    result = run_cli("s3://bucket-only")
    assert result.returncode == 2
    assert "not an s3://bucket/key URL" in result.stderr
