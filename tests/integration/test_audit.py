"""Audits on moto: every bag under a prefix (one broken among a dozen), the ledger's due bags oldest
first within a byte budget, recent ones skipped; each verification recorded, a report in JSON and CSV."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from bagverify.audit import due_bags
from bagverify.ledger import Latest, Ledger
from devtools.sample_bags import flip_byte, make_bag_zip

_names = itertools.count()


def cli(*args: str, table: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if table:
        env["BAGVERIFY_LEDGER_TABLE"] = table
    return subprocess.run(
        [sys.executable, "-m", "bagverify.cli", *args], capture_output=True, text=True, env=env
    )


@pytest.fixture
def ledger(aws: Any) -> Ledger:
    table = Ledger(aws.client("dynamodb"), f"audit-ledger-{os.getpid()}-{next(_names)}")
    table.create()
    return table


def test_a_prefix_run_over_a_dozen_bags_names_the_broken_one_and_reports(  # type: ignore[no-untyped-def]
    aws, s3, bucket, ledger
) -> None:
    good = make_bag_zip({"a.txt": b"alpha\n"})
    for number in range(12):
        body = make_bag_zip({"a.txt": b"alpha\n"}, tamper=flip_byte("data/a.txt", 1)) if number == 7 else good
        s3.put_object(Bucket=bucket, Key=f"collection/bag-{number:02d}.zip", Body=body)
    s3.put_object(Bucket=bucket, Key="collection/notes.txt", Body=b"not a bag")
    reports = aws.create_bucket(f"audit-reports-{os.getpid()}-{next(_names)}")
    run = cli(
        "audit", "--prefix", f"s3://{bucket}/collection/", "--report", f"s3://{reports}/runs/", "--json",
        table=ledger.table,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr  # one bag is not valid
    document = json.loads(run.stdout)
    summary = document["summary"]
    assert (summary["verified"], summary["valid"], summary["invalid"], summary["error"]) == (12, 11, 1, 0)
    assert (summary["regressions"], summary["skipped"], summary["not_due"]) == (0, 0, 0)
    assert summary["bytes"] == 11 * len(good) + len(
        s3.get_object(Bucket=bucket, Key="collection/bag-07.zip")["Body"].read()
    )
    [broken] = [row for row in document["bags"] if row["status"] == "invalid"]
    assert broken["bag"].endswith("bag-07.zip") and broken["problem_kinds"] == ["checksum_mismatch"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=reports)["Contents"])
    assert [key.rsplit(".", 1)[1] for key in keys] == ["csv", "json"] and all(
        k.startswith("runs/audits/") for k in keys
    )
    rows = list(
        csv.DictReader(io.StringIO(s3.get_object(Bucket=reports, Key=keys[0])["Body"].read().decode()))
    )
    assert len(rows) == 12 and {row["status"] for row in rows} == {"valid", "invalid"}
    assert len(ledger.latest()) == 12 and ledger.history(broken["bag"])[0].trigger == "audit"


def test_due_bags_are_oldest_first_recent_ones_skipped() -> None:
    def latest(key: str, when: str, size: int) -> Latest:
        return Latest(f"s3://b/{key}", "b", key, when, size, "valid")

    now = datetime(2026, 12, 2, tzinfo=UTC)
    items = [
        latest("recent.zip", "2026-11-30T00:00:00.000000Z#1", 10),
        latest("older.zip", "2026-06-01T00:00:00.000000Z#1", 10),
        latest("oldest.zip", "2025-01-01T00:00:00.000000Z#1", 10),
    ]
    due, recent = due_bags(items, interval_days=90, now=now)
    assert [bag.location.key for bag in due] == ["oldest.zip", "older.zip"] and recent == 1


def test_a_due_run_stops_at_its_byte_budget_and_a_second_run_goes_on(  # type: ignore[no-untyped-def]
    aws, s3, bucket, ledger
) -> None:
    bag = make_bag_zip({"a.txt": b"alpha\n"})
    for number in range(3):
        s3.put_object(Bucket=bucket, Key=f"due/bag-{number}.zip", Body=bag)
        assert cli("verify", f"s3://{bucket}/due/bag-{number}.zip", table=ledger.table).returncode == 0
    budget = str(2 * len(bag))
    first = json.loads(
        cli("audit", "--interval-days", "0", "--max-bytes", budget, "--json", table=ledger.table).stdout
    )
    assert (first["summary"]["verified"], first["summary"]["skipped"]) == (2, 1)
    assert [row["bag"].rsplit("/", 1)[1] for row in first["bags"]] == [
        "bag-0.zip",
        "bag-1.zip",
    ]  # oldest first
    second = json.loads(
        cli("audit", "--interval-days", "0", "--max-bytes", budget, "--json", table=ledger.table).stdout
    )
    assert second["bags"][0]["bag"].endswith("/bag-2.zip")  # the one left, now the oldest
    recent = json.loads(cli("audit", "--json", table=ledger.table).stdout)  # 90 days: nothing due
    assert recent["summary"]["verified"] == 0 and recent["summary"]["not_due"] == 3
