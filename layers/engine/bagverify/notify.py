"""The verdict as an SNS message: a JSON summary that always fits, plus attributes to filter on.

The message's shape is specified by `schemas/verdict-message.schema.json` (JSON Schema 2020-12).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bagverify.verdict import Verdict, problem_count

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

# SNS allows 256 KiB per message, attributes included; keep a margin for them.
MAX_MESSAGE_BYTES = 256 * 1024 - 8 * 1024


def verdict_message(
    verdict: Verdict, max_bytes: int = MAX_MESSAGE_BYTES, *, report: str | None = None
) -> dict[str, Any]:
    """The verdict summary, with as many problems and warnings as fit in `max_bytes` of JSON.

    The counts are always exact; `problems_truncated` says whether the lists were cut.
    `report` (an s3:// URL of the full verdict) is included when given.
    """
    full = verdict.to_dict()
    message: dict[str, Any] = {
        "status": full["status"],
        "source": full["source"],
        "object": full["object"],
        "problem_count": problem_count(verdict.problems),
        "warning_count": problem_count(verdict.warnings),
        "problems": full["problems"],
        "warnings": full["warnings"],
        "problems_truncated": False,
        "stats": full["stats"],
        "mode": full["mode"],
        "regression": full["regression"],
        "recovery": full["recovery"],
    }
    if "manifests_digest" in full:
        message["manifests_digest"] = full["manifests_digest"]
    if report:
        message["report"] = report
    while _size(message) > max_bytes and (message["problems"] or message["warnings"]):
        # Halve the longer list until the message fits: logarithmic, and keeps the first problems.
        longer = "problems" if len(message["problems"]) >= len(message["warnings"]) else "warnings"
        message[longer] = message[longer][: len(message[longer]) // 2]
        message["problems_truncated"] = True
    return message


def message_attributes(verdict: Verdict) -> dict[str, MessageAttributeValueTypeDef]:
    """String attributes for SNS subscription filter policies."""
    attributes = {"status": str(verdict.status), "regression": "true" if verdict.regression else "false"}
    if verdict.object.get("bucket"):
        attributes["bucket"] = str(verdict.object["bucket"])
    return {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()}


def publish_verdict(
    client: SNSClient, topic_arn: str, verdict: Verdict, message: dict[str, Any] | None = None
) -> str:
    """Publish one message for the bag (`message`, else `verdict_message(verdict)`); returns its id."""
    response = client.publish(
        TopicArn=topic_arn,
        Message=json.dumps(verdict_message(verdict) if message is None else message, ensure_ascii=False),
        MessageAttributes=message_attributes(verdict),
    )
    return response["MessageId"]


def json_size(message: dict[str, Any]) -> int:
    """Bytes of `message` as published: UTF-8 JSON."""
    return _size(message)


def _size(message: dict[str, Any]) -> int:
    return len(json.dumps(message, ensure_ascii=False).encode("utf-8"))
