"""Delivering a verdict, the same from every handler (app.py, distributed_app.py): the log lines, the SNS
message (within 256 KiB, with a full report in ReportBucket when the lists were cut), the metrics, and
the result returned to Step Functions, capped to its budget.

Also the Powertools objects and the clients every handler of this code package shares: made once per
execution environment and reused across invocations. What only some invocations need (the ledger's,
the reports', the profiles' code) is imported where it is used, not at every cold start
(bench/cold_start.py measures it).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from bagverify import Status, Verdict
from bagverify.notify import MAX_MESSAGE_BYTES, json_size, publish_verdict, verdict_message
from bagverify.sources import make_s3_client
from bagverify.verdict import problem_count

if TYPE_CHECKING:
    from bagverify.bag.profile_choice import ProfileChoice

logger = Logger()
# CloudWatch EMF, printed to stdout; the namespace comes from POWERTOOLS_METRICS_NAMESPACE.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "bagverify")
# X-Ray: patches boto3, so each S3 and SNS call is a subsegment. Disabled outside Lambda, under
# `sam local` and with POWERTOOLS_TRACE_DISABLED=true. Left as Powertools makes it (patch_all): a
# narrower patch_modules saves ~7 ms of a cold start but changes what is traced.
tracer = Tracer()
s3 = make_s3_client()
sns = boto3.client("sns")

# What a handler returns (the Step Functions task result) must stay under 256 KiB as well.
MAX_RESULT_BYTES = MAX_MESSAGE_BYTES


def log_verdict(verdict: Verdict) -> None:
    """One WARNING line per problem, then the INFO summary `bag <status>`."""
    for problem in verdict.problems:
        logger.warning("problem", extra={"problem": problem.to_dict()})
    logger.info(
        f"bag {verdict.status}",
        extra={
            "status": str(verdict.status),
            "mode": str(verdict.mode),
            "object": verdict.object,
            "problem_count": problem_count(verdict.problems),
            "warning_count": problem_count(verdict.warnings),
            "stats": verdict.to_dict()["stats"],
        },
    )


def profiles_for(requested: str | None) -> ProfileChoice | None:
    """The profiles a bag may be checked against, as every handler chooses them: the input's
    (`requested`), or those under ProfilesLocation (read anew each time, so one added there counts
    at once). Raises ProfileInvalid or ProfileUnavailable."""
    location = os.environ.get("PROFILES_LOCATION") or None
    required = os.environ.get("REQUIRE_PROFILE") == "true"
    if not (location or requested or required):
        return None
    from bagverify.sources.profiles import choice_from

    return choice_from(requested, location, required=required, client=s3)


def record(verdict: Verdict, *, trigger: str) -> None:
    """Record the verification in the ledger (BAGVERIFY_LEDGER_TABLE), marking the verdict a regression
    or recovery. Never changes the verdict otherwise: a ledger that fails is logged and counted
    (LedgerWriteFailures), and the verdict is still published."""
    # Imported on the first verification recorded, with the DynamoDB client (`dynamodb`).
    from bagverify.ledger import TABLE_VARIABLE, Ledger, LedgerUnavailable

    table = os.environ.get(TABLE_VARIABLE)
    if not table or not verdict.source.startswith("s3://"):
        return
    try:
        entry = Ledger(dynamodb(), table).record(verdict, trigger=trigger)
    except LedgerUnavailable:
        logger.exception("could not record the verification in the ledger", extra={"table": table})
        metrics.add_metric(name="LedgerWriteFailures", unit=MetricUnit.Count, value=1)
        return
    logger.info(
        "verification recorded",
        extra={"table": table, "verified_at": entry.verified_at, "regression": entry.regression},
    )


@functools.cache
def dynamodb() -> Any:
    """Made on the first verification recorded: most cold starts need no DynamoDB model."""
    return boto3.client("dynamodb")


def deliver(verdict: Verdict, result_budget: int) -> dict[str, Any]:
    """Publish the verdict, record its metrics, and return it capped to `result_budget` bytes of JSON."""
    message = verdict_message(verdict)
    report_bucket = os.environ.get("REPORT_BUCKET")
    if message["problems_truncated"] and report_bucket:
        report = _write_report(report_bucket, verdict)
        if report:
            message = verdict_message(verdict, report=report)
    if report_bucket and verdict.source.startswith("s3://"):
        _write_premis(report_bucket, verdict)
    message_id = _publish(verdict, message)
    logger.info("verdict published", extra={"sns_message_id": message_id, "report": message.get("report")})
    _record_metrics(verdict)
    full = verdict.to_dict()
    if json_size(full) <= result_budget:
        return full
    # Too big for Step Functions: the message-shaped verdict, with counts, first problems and report.
    return verdict_message(verdict, result_budget, report=message.get("report"))


@tracer.capture_method(capture_response=False)
def _publish(verdict: Verdict, message: dict[str, Any]) -> str:
    return publish_verdict(sns, os.environ["TOPIC_ARN"], verdict, message)


@tracer.capture_method(capture_response=False)
def _write_report(bucket: str, verdict: Verdict) -> str | None:
    from bagverify.report import write_report  # only with a ReportBucket

    try:
        return write_report(s3, bucket, verdict)
    except (ClientError, BotoCoreError):
        # The message still goes out, with exact counts and the first problems.
        logger.exception("could not write the full report", extra={"report_bucket": bucket})
        return None


def _write_premis(bucket: str, verdict: Verdict) -> None:
    from bagverify.report import write_premis_event  # only with a ReportBucket

    try:
        url = write_premis_event(s3, bucket, verdict)
    except (ClientError, BotoCoreError):
        logger.exception("could not write the PREMIS event", extra={"report_bucket": bucket})
        return
    logger.info("PREMIS event written", extra={"premis_event": url})


def _record_metrics(verdict: Verdict) -> None:
    """One EMF document per bag, with the verdict's status as dimension (besides Powertools' service)."""
    metrics.add_dimension(name="status", value=str(verdict.status))
    metrics.add_metric(name="BagsVerified", unit=MetricUnit.Count, value=1)
    if verdict.status == Status.INVALID:
        metrics.add_metric(name="BagsInvalid", unit=MetricUnit.Count, value=1)
    elif verdict.status == Status.ERROR:
        metrics.add_metric(name="BagsErrored", unit=MetricUnit.Count, value=1)
    if verdict.regression:
        metrics.add_metric(name="BagsRegressed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="BytesVerified", unit=MetricUnit.Bytes, value=verdict.stats.bytes)
    metrics.add_metric(name="GetRequests", unit=MetricUnit.Count, value=verdict.stats.get_requests)
    metrics.add_metric(name="VerificationSeconds", unit=MetricUnit.Seconds, value=verdict.stats.seconds)
    # A property of the EMF document, not a dimension: the alarms' dimensions stay (status, service).
    metrics.add_metadata(key="mode", value=str(verdict.mode))
    metrics.flush_metrics()
