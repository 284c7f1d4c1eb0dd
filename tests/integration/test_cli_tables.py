"""`bagverify history` and `bagverify audit` on moto: a rich table on a terminal, the plain lines on a
pipe or without rich, and --json the same bytes either way (tests/unit/test_cli_output.py has the
terminal and the rest)."""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

import pytest

from devtools.sample_bags import flip_byte, make_bag_zip
from tests.unit.test_cli_output import ANSI, CLI, CLI_WITHOUT_RICH, environment, run_in_terminal, run_piped

_tables = itertools.count()


@pytest.fixture
def with_history(aws: Any, s3: Any, bucket: str) -> tuple[dict[str, str], str]:
    """(the environment naming a new ledger, the bag's URL): the bag verified valid, then replaced by
    a broken copy and verified again (a regression)."""
    env = environment(BAGVERIFY_LEDGER_TABLE=f"bagverify-cli-tables-{os.getpid()}-{next(_tables)}")
    assert run_piped([*CLI, "ledger", "create"], env).returncode == 0
    url = f"s3://{bucket}/bags/kept.zip"
    s3.put_object(Bucket=bucket, Key="bags/kept.zip", Body=make_bag_zip())
    assert run_piped([*CLI, "verify", url, "--json"], env).returncode == 0
    s3.put_object(Bucket=bucket, Key="bags/kept.zip", Body=make_bag_zip(tamper=flip_byte("data/README.txt")))
    assert run_piped([*CLI, "verify", url, "--json"], env).returncode == 1
    return env, url


def test_history_on_a_terminal_is_a_table_of_the_records(with_history: tuple[dict[str, str], str]) -> None:
    env, url = with_history
    shown = run_in_terminal([*CLI, "history", url], env)
    assert shown.returncode == 0, shown.output
    assert ANSI.search(shown.output)
    plain = ANSI.sub("", shown.output)
    assert url in plain.splitlines()[0]  # the title
    header = next(line for line in plain.splitlines() if "verified at" in line)
    assert all(name in header for name in ("status", "mode", "problems", "kinds", "version", "etag"))
    rows = [line for line in plain.splitlines() if "│" in line and "verified at" not in line]
    assert len(rows) == 2, plain
    newest, oldest = rows
    assert "invalid" in newest and "checksum_mismatch" in newest and "REGRESSION" in newest
    assert "valid" in oldest and "invalid" not in oldest and "REGRESSION" not in oldest
    records = json.loads(run_piped([*CLI, "history", url, "--json"], env).stdout)
    for line, record in zip(rows, records, strict=True):
        assert record["verified_at"].split("#")[0] in line and record["etag"] in line


def test_history_on_a_pipe_or_without_rich_is_the_plain_lines(
    with_history: tuple[dict[str, str], str],
) -> None:
    env, url = with_history
    piped = run_piped([*CLI, "history", url], env)
    assert piped.returncode == 0 and piped.stderr == ""
    assert not ANSI.search(piped.stdout)
    lines = piped.stdout.splitlines()
    assert len(lines) == 2
    assert " invalid " in lines[0] and "checksum_mismatch" in lines[0] and lines[0].endswith(" REGRESSION")
    assert " valid " in lines[1] and "problems  -  version" in lines[1]
    without = run_in_terminal([*CLI_WITHOUT_RICH, "history", url], env)
    assert without.returncode == 0 and not ANSI.search(without.output)
    assert without.output.splitlines()[-2:] == lines


def test_history_json_is_the_same_bytes_on_a_terminal(with_history: tuple[dict[str, str], str]) -> None:
    env, url = with_history
    piped = run_piped([*CLI, "history", url, "--json"], env)
    shown = run_in_terminal([*CLI, "history", url, "--json"], env)
    assert shown.returncode == piped.returncode == 0
    assert shown.output == piped.stdout  # the terminal's \r\n read back as \n
    assert len(json.loads(piped.stdout)) == 2


def test_an_audit_on_a_terminal_is_a_table_of_bags_and_one_of_counts(aws: Any, s3: Any, bucket: str) -> None:
    for number in range(3):
        tamper = flip_byte("data/README.txt") if number == 1 else None
        s3.put_object(Bucket=bucket, Key=f"collection/bag-{number}.zip", Body=make_bag_zip(tamper=tamper))
    prefix = f"s3://{bucket}/collection/"
    env = environment()
    shown = run_in_terminal([*CLI, "audit", "--prefix", prefix], env)
    assert shown.returncode == 1, shown.output  # one bag is invalid
    plain = ANSI.sub("", shown.output)
    assert "bags audited" in plain and "summary" in plain
    rows = [line for line in plain.splitlines() if "│" in line and "collection/bag-" in line]
    assert len(rows) == 3, plain
    assert [("invalid" in row, "checksum_mismatch" in row) for row in rows] == [
        (False, False),
        (True, True),
        (False, False),
    ]
    counts = plain[plain.index("summary") :].splitlines()
    header = next(line for line in counts if "verified" in line)
    assert all(name in header for name in ("valid", "invalid", "error", "regressions", "skipped", "bytes"))
    values = next(line for line in counts if "│" in line and line.split("│")[1].strip().isdigit())
    assert [cell.strip() for cell in values.split("│")[1:5]] == ["3", "2", "1", "0"]
    piped = run_piped([*CLI, "audit", "--prefix", prefix], env)
    assert piped.returncode == 1 and not ANSI.search(piped.stdout)
    assert piped.stdout.startswith("3 verified, 2 valid, 1 invalid, 0 error, 0 regressions")
    assert len(piped.stdout.splitlines()) == 4
