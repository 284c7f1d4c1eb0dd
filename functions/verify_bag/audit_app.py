"""Lambda handlers of AuditStateMachine (statemachines/audit.asl.json): which bags are due, one row per
bag verified, and the run's report and summary. Thin: the audit's rules live in `bagverify.audit`.

The bags themselves are verified by VerifyBagFunction (or, when large, by the distributed state machine)
with `"trigger": "audit"`, so an audited bag is verified, recorded and published exactly as any other.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from bagverify import Kind, Problem
from bagverify.audit import (
    DEFAULT_INTERVAL_DAYS,
    AuditRun,
    Due,
    Row,
    due_bags,
    row_of,
    within_budget,
)
from bagverify.ledger import TABLE_VARIABLE, Ledger
from bagverify.pipeline.work import run_folder
from bagverify.sources import S3Location
from bagverify.verdict import error_verdict
from delivery import MAX_RESULT_BYTES, deliver, dynamodb, log_verdict, logger, record, s3, sns

AUDITS_PREFIX = "audits/"
# Rows read at once by the report: small objects, so the time is the round trips.
ROW_READERS = 16


@logger.inject_lambda_context(clear_state=True)
def select_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input {"input": the execution's input ({"interval_days"?, "max_bytes"?}), "run": its name}: the
    bags whose last record is older than the interval, oldest first, within the byte budget, written
    to the work bucket as the Map's items (audits/<run>/bags.json); returns where, and the counts."""
    given = event.get("input") or {}
    interval = _number(
        given.get("interval_days"), os.environ.get("AUDIT_INTERVAL_DAYS"), DEFAULT_INTERVAL_DAYS
    )
    budget = int(_number(given.get("max_bytes"), os.environ.get("AUDIT_MAX_BYTES_PER_RUN"), 0))
    due, not_due = due_bags(Ledger(dynamodb(), os.environ[TABLE_VARIABLE]).latest(), interval_days=interval)
    chosen, skipped = within_budget(due, budget)
    key = f"{_run_prefix(event)}bags.json"
    s3.put_object(
        Bucket=os.environ["WORK_BUCKET"],
        Key=key,
        Body=json.dumps([_item(bag) for bag in chosen]).encode(),
        ContentType="application/json",
    )
    selection = {
        "work": {"bucket": os.environ["WORK_BUCKET"]},
        "bags_key": key,
        "count": len(chosen),
        "bytes": sum(bag.size for bag in chosen),
        "not_due": not_due,
        "skipped": skipped,
    }
    logger.info("bags selected", extra={**selection, "interval_days": interval, "max_bytes": budget})
    return selection


@logger.inject_lambda_context(clear_state=True)
def record_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input: a Map item {"bag": {"bucket", "key", "size"}, "run"} with the bag's verdict ("result":
    {"verdict"}) or the failure of the task that should have given one ("failure": {Error, Cause}).
    Writes the bag's row of the report to audits/<run>/rows/; returns it.

    A failed task gave no verdict, so nothing was published or recorded for the bag: an error verdict
    naming the failure is, here, so that no bag of the run goes unreported."""
    bag = event["bag"]
    location = S3Location(bag["bucket"], bag["key"])
    logger.set_correlation_id(location.url)
    if "failure" in event:
        verdict = error_verdict(_failure_problem(event["failure"]), location.url, location.object_info())
        record(verdict, trigger="audit")
        log_verdict(verdict)
        result = deliver(verdict, MAX_RESULT_BYTES)
    else:
        result = event["result"]["verdict"]
    row = row_of(location.url, result, int(bag.get("size") or 0))
    s3.put_object(
        Bucket=os.environ["WORK_BUCKET"],
        Key=f"{_run_prefix(event)}rows/{hashlib.sha256(location.url.encode()).hexdigest()}.json",
        Body=json.dumps(row.__dict__, ensure_ascii=False).encode(),
        ContentType="application/json",
    )
    return row.__dict__


@logger.inject_lambda_context(clear_state=True)
def report_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input {"run", "input", "selection", "map_failure"}: the run's report (audits/<run>.json and .csv)
    in ReportBucket (else the work bucket, under audits/<run>/) and one summary message to the audit
    topic."""
    work = os.environ["WORK_BUCKET"]
    selection = event.get("selection") or {}
    run = AuditRun(
        rows=sorted(_rows(work, f"{_run_prefix(event)}rows/"), key=lambda row: row.bag),
        skipped=int(selection.get("skipped") or 0),
        not_due=int(selection.get("not_due") or 0),
    )
    bucket = os.environ.get("REPORT_BUCKET") or work
    name = run_folder(event["run"])
    stem = f"{AUDITS_PREFIX}{name}" if os.environ.get("REPORT_BUCKET") else f"{_run_prefix(event)}report"
    for suffix, body, content_type in (
        (".json", run.report_json(), "application/json"),
        (".csv", run.report_csv(), "text/csv"),
    ):
        s3.put_object(Bucket=bucket, Key=stem + suffix, Body=body, ContentType=content_type)
    given = event.get("input") or {}
    summary = {
        "type": "audit_summary",
        "run": name,
        "scope": {"bucket": given["bucket"], "prefix": given["prefix"]} if "prefix" in given else "due",
        "summary": run.summary(),
        "report": {"json": f"s3://{bucket}/{stem}.json", "csv": f"s3://{bucket}/{stem}.csv"},
    }
    if event.get("map_failure"):
        # The Map stopped (its listing or items could not be read): the rows are only those written.
        failure = event["map_failure"]
        summary["failure"] = {"Error": str(failure.get("Error")), "Cause": str(failure.get("Cause"))[:1000]}
    sns.publish(
        TopicArn=os.environ["AUDIT_TOPIC_ARN"],
        Message=json.dumps(summary, ensure_ascii=False),
        MessageAttributes={"type": {"DataType": "String", "StringValue": "audit_summary"}},
    )
    logger.info("audit reported", extra=summary)
    return summary


def _rows(bucket: str, prefix: str) -> list[Row]:
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]

    def read(key: str) -> Row:
        return Row(**json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))

    with ThreadPoolExecutor(ROW_READERS) as pool:
        return list(pool.map(read, keys))


def _failure_problem(failure: dict[str, Any]) -> Problem:
    error = str(failure.get("Error") or "unknown")
    return Problem(
        Kind.STEP_FAILED,
        f"the audit's verification of this bag failed: {error}",
        details={"error": {"Error": error, "Cause": str(failure.get("Cause") or "")[:1000]}},
    )


def _item(bag: Due) -> dict[str, Any]:
    return {
        "bucket": bag.location.bucket,
        "key": bag.location.key,
        "size": bag.size,
        "last_verified_at": bag.last_verified_at,
    }


def _run_prefix(event: dict[str, Any]) -> str:
    return f"{AUDITS_PREFIX}{run_folder(event['run'])}/"


def _number(given: object, configured: str | None, default: float) -> float:
    for value in (given, configured):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and value.strip():
            return float(value)
    return default
