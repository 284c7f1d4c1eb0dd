"""Lambda handler: event in → engine → verdict out (logs, SNS, and the return value for Step Functions).

Thin on purpose: everything about bags lives in the `bagverify` engine (the layer).
Nothing here, nor in the engine, writes to /tmp or any disk.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bagverify import Kind, Problem, S3Location, Stats, Status, Verdict, verify_s3_object
from bagverify.notify import publish_verdict
from bagverify.sources import make_s3_client
from event_targets import UnrecognisedEvent, targets_from_event

logger = Logger()
# Clients are made once per execution environment and reused across invocations.
s3 = make_s3_client()
sns = boto3.client("sns")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        targets = targets_from_event(event)
    except UnrecognisedEvent as bad_event:
        verdicts = [_unrecognised_event_verdict(bad_event)]
    else:
        verdicts = [_verify(target) for target in targets]
    for verdict in verdicts:
        message_id = publish_verdict(sns, os.environ["TOPIC_ARN"], verdict)
        logger.info("verdict published", extra={"sns_message_id": message_id})
    results = [verdict.to_dict() for verdict in verdicts]
    return results[0] if len(results) == 1 else {"verdicts": results}


def _verify(target: S3Location) -> Verdict:
    logger.set_correlation_id(target.url)
    verdict = verify_s3_object(target, s3)
    for problem in verdict.problems:
        logger.warning("problem", extra={"problem": problem.to_dict()})
    logger.info(
        f"bag {verdict.status}",
        extra={
            "status": str(verdict.status),
            "object": verdict.object,
            "problem_count": len(verdict.problems),
            "warning_count": len(verdict.warnings),
            "stats": verdict.to_dict()["stats"],
        },
    )
    return verdict


def _unrecognised_event_verdict(bad_event: UnrecognisedEvent) -> Verdict:
    logger.error("unrecognised event", extra={"reason": str(bad_event)})
    problem = Problem(Kind.BAD_EVENT, str(bad_event))
    return Verdict(Status.ERROR, "", [problem], [], Stats())
