"""Verification never writes to /tmp or any disk: proven with an audit hook in a fresh process.

The handler runs in a child process (as in Lambda), with a `sys.addaudithook` hook installed
before anything is imported. Any file opened for writing, any directory or temporary file
made, kills the child with exit code 99 and names the path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from devtools.lambda_runner import ROOT
from devtools.sample_bags import flip_byte, make_bag_zip

CHILD = r"""
import os, sys

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
FORBIDDEN = {"os.mkdir", "os.rename", "os.remove", "os.truncate", "shutil.copyfile", "shutil.move",
             "tempfile.mkstemp", "tempfile.mkdtemp", "os.symlink", "os.link"}

def refuse_writes(event, args):
    if event == "open":
        path, mode, flags = (list(args) + [None, None, None])[:3]
        writes_mode = isinstance(mode, str) and any(c in mode for c in "wax+")
        writes_flags = isinstance(flags, int) and flags & WRITE_FLAGS
        if writes_mode or writes_flags:
            os.write(2, f"DISK WRITE: open {path!r} mode={mode!r} flags={flags!r}\n".encode())
            os._exit(99)
    elif event in FORBIDDEN:
        os.write(2, f"DISK WRITE: {event} {args!r}\n".encode())
        os._exit(99)

sys.addaudithook(refuse_writes)

import json
sys.path.insert(0, sys.argv[1])
from devtools.lambda_runner import LocalContext, load_handler
verdict = load_handler()(json.loads(sys.argv[2]), LocalContext())
print("VERDICT " + json.dumps(verdict))
"""


def run_child(event: dict) -> tuple[int, dict | None, str]:  # type: ignore[type-arg]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), json.dumps(event)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    verdicts = [line[len("VERDICT ") :] for line in child.stdout.splitlines() if line.startswith("VERDICT ")]
    return child.returncode, json.loads(verdicts[0]) if verdicts else None, child.stderr


@pytest.mark.parametrize(
    "tamper", [None, flip_byte("data/big/random.bin", 9_000_000)], ids=["valid", "invalid"]
)
def test_handler_writes_nothing_to_disk(aws, s3, bucket, topic, tamper) -> None:  # type: ignore[no-untyped-def]
    # ~12 MiB of incompressible payload: several ranged GETs, not just the tail.
    files = {"big/random.bin": os.urandom(12 * 1024 * 1024), "small.txt": b"small\n"}
    s3.put_object(Bucket=bucket, Key="incoming/big.zip", Body=make_bag_zip(files, tamper=tamper))
    returncode, verdict, stderr = run_child({"bucket": bucket, "key": "incoming/big.zip"})
    assert returncode == 0, stderr
    assert verdict is not None
    assert verdict["status"] == ("valid" if tamper is None else "invalid"), verdict["problems"]
    assert verdict["stats"]["get_requests"] >= 2


def test_the_hook_does_catch_a_write(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The guard itself must be able to fail: a child that writes a file is killed with 99.
    code = CHILD.split("import json")[0] + f"open({str(tmp_path / 'x')!r}, 'w')\n"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert child.returncode == 99
    assert "DISK WRITE" in child.stderr
