"""The full verdict as JSON in S3, for when the SNS message (or a Step Functions output) had to be cut;
and each verification's PREMIS event beside it.

Written from memory by one PutObject: nothing touches a local disk.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import TYPE_CHECKING

from bagverify.premis import premis_event
from bagverify.verdict import Verdict

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3 keys are at most 1,024 bytes (UTF-8).
MAX_KEY_BYTES = 1024


def report_key(verdict: Verdict) -> str:
    """`reports/<bucket>/<key>/<version id, else ETag without quotes>.json` for the object verified.

    The version id or ETag makes the name unique per upload, so a repeated (at-least-once) event
    overwrites its own report with the same content rather than another upload's.
    """
    obj = verdict.object
    identity = obj.get("version_id") or str(obj.get("etag") or "").strip('"') or "unidentified"
    key = f"reports/{obj.get('bucket', '')}/{obj.get('key', '')}/{identity}.json"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        # A source key near S3's limit: name the report by the key's digest instead.
        digest = hashlib.sha256(str(obj.get("key", "")).encode("utf-8")).hexdigest()
        key = f"reports/{obj.get('bucket', '')}/sha256-{digest}/{identity}.json"
    return key


def write_report(client: S3Client, bucket: str, verdict: Verdict) -> str:
    """PutObject the whole verdict (every problem and warning) as JSON; returns its s3:// URL."""
    key = report_key(verdict)
    client.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(verdict.to_dict(), ensure_ascii=False).encode("utf-8"),
        ContentType="application/json",
    )
    return f"s3://{bucket}/{key}"


def write_premis_event(client: S3Client, bucket: str, verdict: Verdict) -> str:
    """PutObject the verification's PREMIS 3 event next to its report (one per verification, by its
    UUID: a bag verified again, by an audit, gets another); returns its s3:// URL."""
    event_id = str(uuid.uuid4())
    key = report_key(verdict).removesuffix(".json") + f".premis-{event_id}.xml"
    client.put_object(
        Bucket=bucket,
        Key=key,
        Body=premis_event(verdict, event_identifier=event_id),
        ContentType="application/xml",
    )
    return f"s3://{bucket}/{key}"
