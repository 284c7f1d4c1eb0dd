"""The fixity ledger on moto's DynamoDB: a record from every path, history newest first, regressions
and recoveries, and a ledger that refuses writes never costs a verdict."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from bagverify.ledger import Ledger
from devtools.lambda_runner import LocalContext
from devtools.sample_bags import flip_byte, make_bag_zip
from devtools.step_functions import execute
from tests.integration.test_handler import s3_event

_tables = itertools.count()
REQUIRED = {"status", "verified_at", "version_id", "etag", "mode", "problem_count"}


def cli(*args: str, table: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BAGVERIFY_LEDGER_TABLE": table}
    return subprocess.run(
        [sys.executable, "-m", "bagverify.cli", *args], capture_output=True, text=True, env=env
    )


@pytest.fixture
def ledger(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    table = f"bagverify-ledger-{os.getpid()}-{next(_tables)}"
    created = cli("ledger", "create", table=table)
    assert created.returncode == 0 and "created" in created.stdout, created.stderr
    again = cli("ledger", "create", table=table)  # idempotent
    assert again.returncode == 0 and "already there" in again.stdout
    monkeypatch.setenv("BAGVERIFY_LEDGER_TABLE", table)
    return Ledger(aws.client("dynamodb"), table)


def test_a_bag_replaced_by_a_broken_one_is_a_regression_then_a_recovery(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, ledger
) -> None:
    key = "incoming/bag.zip"
    good, bad = make_bag_zip(), make_bag_zip(tamper=flip_byte("data/images/scan-0001.tif", 10))
    other = make_bag_zip({"another.txt": b"another bag\n"})
    verdicts = []
    for archive in (good, bad, other):
        s3.put_object(Bucket=bucket, Key=key, Body=archive)
        verdicts.append(handler(s3_event(bucket, key), LocalContext()))
    assert [(v["status"], v["regression"], v["recovery"]) for v in verdicts] == [
        ("valid", False, False),
        ("invalid", True, False),
        ("valid", False, True),
    ]
    # The same bag rotten has the same manifests; a bag put in its place has others.
    assert (
        verdicts[0]["manifests_digest"] == verdicts[1]["manifests_digest"] != verdicts[2]["manifests_digest"]
    )
    notifications = aws.receive_notifications(topic[1])
    assert [n["MessageAttributes"]["regression"]["Value"] for n in notifications] == [
        "false",
        "true",
        "false",
    ]
    history = ledger.history(f"s3://{bucket}/{key}")
    assert [(r.status, r.regression, r.recovery, r.trigger) for r in history] == [
        ("valid", False, True, "upload"),
        ("invalid", True, False, "upload"),
        ("valid", False, False, "upload"),
    ]
    shown = cli("history", f"s3://{bucket}/{key}", "--json", table=ledger.table)
    records = json.loads(shown.stdout)
    assert len(records) == 3 and all(set(record) >= REQUIRED for record in records)
    assert records[0]["verified_at"] > records[1]["verified_at"] > records[2]["verified_at"]


def test_a_transient_error_after_a_valid_record_is_no_regression(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, ledger
) -> None:
    key = "incoming/gone.zip"
    s3.put_object(Bucket=bucket, Key=key, Body=make_bag_zip())
    assert handler(s3_event(bucket, key), LocalContext())["regression"] is False
    s3.delete_object(Bucket=bucket, Key=key)
    gone = handler(s3_event(bucket, key), LocalContext())
    assert (gone["status"], gone["problems"][0]["kind"], gone["regression"]) == ("error", "not_found", True)


def test_a_ledger_that_refuses_writes_still_gives_the_verdict(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, monkeypatch, capsys, caplog
) -> None:
    monkeypatch.setenv("BAGVERIFY_LEDGER_TABLE", "no-such-table")
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    verdict = handler(s3_event(bucket, "incoming/bag.zip"), LocalContext())
    assert verdict["status"] == "valid" and verdict["regression"] is False
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["status"] == "valid"
    captured = capsys.readouterr()
    assert '"LedgerWriteFailures"' in captured.out
    assert "could not record the verification in the ledger" in captured.out + captured.err + caplog.text


def test_the_cli_and_the_distributed_run_record_themselves(  # type: ignore[no-untyped-def]
    aws, s3, bucket, topic, ledger, distributed_machine
) -> None:
    key = "incoming/both.zip"
    s3.put_object(Bucket=bucket, Key=key, Body=make_bag_zip())
    verified = cli("verify", f"s3://{bucket}/{key}", "--json", table=ledger.table)
    assert verified.returncode == 0, verified.stderr
    execution = execute(aws, distributed_machine.arn, {"bucket": bucket, "key": key}, timeout=120)
    assert execution.output["status"] == "valid"
    assert [r.trigger for r in ledger.history(f"s3://{bucket}/{key}")] == ["distributed", "cli"]


def test_each_verification_writes_its_premis_event_beside_the_report(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic, monkeypatch
) -> None:
    import xml.etree.ElementTree as ElementTree

    reports = aws.create_bucket(f"reports-{os.getpid()}-{next(_tables)}")
    monkeypatch.setenv("REPORT_BUCKET", reports)
    s3.put_object(Bucket=bucket, Key="incoming/bag.zip", Body=make_bag_zip())
    for _ in range(2):  # verified twice (an audit, a repeated event): two events
        handler(s3_event(bucket, "incoming/bag.zip"), LocalContext())
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=reports)["Contents"]]
    events = [key for key in keys if ".premis-" in key]
    assert len(events) == 2 and all(key.startswith(f"reports/{bucket}/incoming/bag.zip/") for key in events)
    root = ElementTree.fromstring(s3.get_object(Bucket=reports, Key=events[0])["Body"].read())
    outcome = root.find(
        "{http://www.loc.gov/premis/v3}eventOutcomeInformation/{http://www.loc.gov/premis/v3}eventOutcome"
    )
    assert outcome is not None and outcome.text == "pass"
