"""A local AWS: moto's server over real HTTP on 127.0.0.1, with S3, SNS and SQS wired up."""

from __future__ import annotations

import json
import logging
import os
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from jsonschema import Draft202012Validator
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
MESSAGE_SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "verdict-message.schema.json"
# SNS's limit, message body and attributes (names, types and values) together.
SNS_MAX_BYTES = 256 * 1024


class NotificationContractError(AssertionError):
    """A message read back from SNS breaks the contract: the schema, the size limit or the attributes."""


@cache
def message_validator() -> Draft202012Validator:
    schema = json.loads(MESSAGE_SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def check_notification(envelope: dict[str, Any]) -> dict[str, Any]:
    """Check one SNS envelope (as SQS receives it, `Message` still a string); returns the parsed message.

    The message must validate against schemas/verdict-message.schema.json, fit SNS's 256 KiB with its
    attributes, and carry the attributes `status` and `bucket` (the latter when the verdict names one).
    """
    body: str = envelope["Message"]
    message = json.loads(body)
    errors = sorted(message_validator().iter_errors(message), key=lambda error: list(error.absolute_path))
    if errors:
        details = "; ".join(f"{list(error.absolute_path)}: {error.message[:300]}" for error in errors[:10])
        raise NotificationContractError(f"SNS message breaks {MESSAGE_SCHEMA.name}: {details}")
    attributes = envelope.get("MessageAttributes", {})
    size = len(body.encode("utf-8")) + sum(
        len(name.encode()) + len(str(a.get("Type", "")).encode()) + len(str(a.get("Value", "")).encode())
        for name, a in attributes.items()
    )
    if size > SNS_MAX_BYTES:
        raise NotificationContractError(f"SNS message of {size:,} bytes with attributes > {SNS_MAX_BYTES:,}")
    expected = {"status": message["status"]}
    if message["object"].get("bucket"):
        expected["bucket"] = message["object"]["bucket"]
    found = {name: attributes.get(name, {}).get("Value") for name in expected}
    if found != expected:
        raise NotificationContractError(f"message attributes {found} do not match the message: {expected}")
    return message  # type: ignore[no-any-return]


class LocalAws:
    """Starts moto's server on a free loopback port and points the AWS environment at it.

    The environment variables are those every boto3 client reads (AWS_ENDPOINT_URL and
    fake credentials), so the real handler and CLI talk to it unchanged.
    """

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""

    def start(self) -> LocalAws:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        os.environ.update(
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_SESSION_TOKEN="testing",
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
        )
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION)

    def create_bucket(self, name: str, *, versioned: bool = False) -> str:
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        if versioned:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def create_topic_with_queue(self, name: str) -> tuple[str, str]:
        """An SNS topic with an SQS queue subscribed (raw delivery off), so messages can be read back."""
        sns, sqs = self.client("sns"), self.client("sqs")
        topic_arn = sns.create_topic(Name=name)["TopicArn"]
        queue_url = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        return topic_arn, queue_url

    def receive_notifications(self, queue_url: str) -> list[dict[str, Any]]:
        """SNS envelopes from the queue, each with its `Message` parsed from JSON.

        Every message is checked against the contract first (`check_notification`: the JSON
        Schema in schemas/, SNS's 256 KiB, the status and bucket attributes); a message that
        breaks it raises `NotificationContractError`.
        """
        sqs = self.client("sqs")
        envelopes = []
        while True:
            response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = response.get("Messages", [])
            if not messages:
                return envelopes
            for message in messages:
                envelope = json.loads(message["Body"])
                envelope["Message"] = check_notification(envelope)
                envelopes.append(envelope)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
