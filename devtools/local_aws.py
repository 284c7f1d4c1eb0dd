"""A local AWS: moto's server over real HTTP on 127.0.0.1, with S3, SNS and SQS wired up."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"


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
        """SNS envelopes from the queue, each with its `Message` parsed from JSON."""
        sqs = self.client("sqs")
        envelopes = []
        while True:
            response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = response.get("Messages", [])
            if not messages:
                return envelopes
            for message in messages:
                envelope = json.loads(message["Body"])
                envelope["Message"] = json.loads(envelope["Message"])
                envelopes.append(envelope)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
