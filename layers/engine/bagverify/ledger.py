"""The fixity ledger: one DynamoDB item per verification, from every path, and what it says about
the one before: a *regression* (the bag was valid, now it is not) or a *recovery*.

Table (`BAGVERIFY_LEDGER_TABLE`): partition key `bag` (`s3://bucket/key`), sort key `verified_at`
(ISO 8601 UTC, microseconds, then `#` and a random suffix so that two records never collide), so
that a bag's history is one Query, newest first. Writing never changes a verdict: a ledger that
can't be reached is logged and counted by the caller (`LedgerUnavailable`), and the verdict goes out.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from importlib import metadata
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from bagverify.verdict import Kind, Status, Verdict, problem_count, problem_kinds

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE_VARIABLE = "BAGVERIFY_LEDGER_TABLE"
PARTITION_KEY, SORT_KEY = "bag", "verified_at"
# Of a record, the kinds of its first problems (in the order found, each once).
MAX_KINDS = 10
# Errors that mean the bag itself is gone, changed or unreadable: after a valid record, a regression.
# Any other error (S3 unavailable, a timeout, an endpoint that misanswers, refused credentials, a
# failed step) says nothing of the bag, so it is no regression.
BAG_ERRORS = frozenset({Kind.NOT_FOUND, Kind.OBJECT_CHANGED, Kind.ACCESS_DENIED, Kind.OBJECT_ARCHIVED})


# What a record read back holds for a field absent from its item (None is stored as no attribute).
_MISSING: dict[str, Any] = {
    "problem_kinds": [],
    "regression": False,
    "recovery": False,
    "in_regression": False,
}


class LedgerUnavailable(Exception):
    """The ledger could not be read or written."""


def bagverify_version() -> str:
    try:
        return metadata.version("bagverify")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Record:
    """One verification, as the ledger keeps it."""

    bag: str  # s3://bucket/key
    verified_at: str
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    size: int | None
    mode: str
    status: str
    problem_count: int
    problem_kinds: list[str] = field(default_factory=list)
    get_requests: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    bagverify_version: str = ""
    manifests_digest: str | None = None  # sha256 of the bag's manifests: same bag, or replaced
    trigger: str = ""  # upload, state_machine, distributed, audit, cli
    regression: bool = False
    recovery: bool = False
    in_regression: bool = False  # a regression not yet followed by a valid record

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None:
                continue
            if isinstance(value, bool):
                item[spec.name] = {"BOOL": value}
            elif isinstance(value, int | float):
                item[spec.name] = {"N": str(value)}
            elif isinstance(value, list):
                item[spec.name] = {"L": [{"S": str(v)} for v in value]}
            else:
                item[spec.name] = {"S": str(value)}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Record:
        values: dict[str, Any] = {}
        for spec in fields(cls):
            cell = item.get(spec.name)
            if cell is None:
                values[spec.name] = _MISSING.get(spec.name)
                continue
            ((kind, raw),) = cell.items()
            if kind == "BOOL":
                values[spec.name] = bool(raw)
            elif kind == "N":
                number = Decimal(raw)
                values[spec.name] = float(number) if spec.name == "seconds" else int(number)
            elif kind == "L":
                values[spec.name] = [entry["S"] for entry in raw]
            else:
                values[spec.name] = raw
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {spec.name: getattr(self, spec.name) for spec in fields(self)}


def record_of(
    verdict: Verdict, *, trigger: str, previous: Record | None, when: datetime | None = None
) -> Record:
    """The record of `verdict`, judged against the bag's `previous` record."""
    when = when or datetime.now(UTC)
    status = verdict.status
    was_valid = previous is not None and previous.status == Status.VALID
    regression = was_valid and (
        status == Status.INVALID
        or (status == Status.ERROR and any(p.kind in BAG_ERRORS for p in verdict.problems))
    )
    in_regression = regression or (previous is not None and previous.in_regression and status != Status.VALID)
    recovery = status == Status.VALID and previous is not None and previous.in_regression
    info = verdict.object
    return Record(
        bag=verdict.source,
        verified_at=when.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + "#" + uuid.uuid4().hex[:8],
        bucket=str(info.get("bucket", "")),
        key=str(info.get("key", "")),
        version_id=info.get("version_id"),
        etag=info.get("etag"),
        size=info.get("size"),
        mode=str(verdict.mode),
        status=str(status),
        problem_count=problem_count(verdict.problems),
        problem_kinds=problem_kinds(verdict.problems, MAX_KINDS),
        get_requests=verdict.stats.get_requests,
        bytes_read=verdict.stats.bytes_read,
        seconds=verdict.stats.seconds,
        bagverify_version=bagverify_version(),
        manifests_digest=verdict.manifests_digest,
        trigger=trigger,
        regression=regression,
        recovery=recovery,
        in_regression=in_regression,
    )


# The partition of the latest-record items: one per bag, its sort key the bag's s3:// URI.
LATEST = "#latest"


@dataclass(frozen=True)
class Latest:
    """A bag's latest verification, as an audit needs it to pick the bags that are due."""

    bag: str
    bucket: str
    key: str
    last_verified_at: str
    size: int | None
    status: str


class Ledger:
    """The table named `table`, through a DynamoDB client."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

    def create(self) -> bool:
        """Create the table (on demand), if it is not there; whether it was created."""
        try:
            self.client.create_table(
                TableName=self.table,
                AttributeDefinitions=[
                    {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
                    {"AttributeName": SORT_KEY, "AttributeType": "S"},
                ],
                KeySchema=[
                    {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceInUseException":
                return False
            raise LedgerUnavailable(f"{self.table}: {error}") from error
        self.client.get_waiter("table_exists").wait(TableName=self.table)
        return True

    def history(self, bag: str, limit: int | None = None) -> list[Record]:
        """The bag's records (`s3://bucket/key`), newest first."""
        records: list[Record] = []
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#bag = :bag",
            "ExpressionAttributeNames": {"#bag": PARTITION_KEY},
            "ExpressionAttributeValues": {":bag": {"S": bag}},
            "ScanIndexForward": False,
        }
        try:
            while True:
                if limit is not None:
                    arguments["Limit"] = limit - len(records)
                page = self.client.query(**arguments)
                records += [Record.from_item(item) for item in page.get("Items", [])]
                if "LastEvaluatedKey" not in page or (limit is not None and len(records) >= limit):
                    return records
                arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as error:
            raise LedgerUnavailable(f"{self.table}: {error}") from error

    def previous(self, bag: str) -> Record | None:
        found = self.history(bag, limit=1)
        return found[0] if found else None

    def put(self, record: Record) -> None:
        try:
            self.client.put_item(TableName=self.table, Item=record.to_item())
        except (ClientError, BotoCoreError) as error:
            raise LedgerUnavailable(f"{self.table}: {error}") from error

    def latest(self) -> list[Latest]:
        """Every bag's latest-record item (one Query of one partition, paginated)."""
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#bag = :latest",
            "ExpressionAttributeNames": {"#bag": PARTITION_KEY},
            "ExpressionAttributeValues": {":latest": {"S": LATEST}},
        }
        found: list[Latest] = []
        try:
            while True:
                page = self.client.query(**arguments)
                for item in page.get("Items", []):
                    found.append(
                        Latest(
                            bag=item[SORT_KEY]["S"],
                            bucket=item["bucket"]["S"],
                            key=item["key"]["S"],
                            last_verified_at=item["last_verified_at"]["S"],
                            size=int(item["size"]["N"]) if "size" in item else None,
                            status=item["status"]["S"],
                        )
                    )
                if "LastEvaluatedKey" not in page:
                    return found
                arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as error:
            raise LedgerUnavailable(f"{self.table}: {error}") from error

    def record(self, verdict: Verdict, *, trigger: str) -> Record:
        """Record `verdict` after the bag's last record, and mark the verdict a regression or recovery.
        Raises LedgerUnavailable; the verdict is then left as it was."""
        record = record_of(verdict, trigger=trigger, previous=self.previous(verdict.source))
        self.put(record)
        latest: dict[str, Any] = {
            PARTITION_KEY: {"S": LATEST},
            SORT_KEY: {"S": record.bag},
            "bucket": {"S": record.bucket},
            "key": {"S": record.key},
            "last_verified_at": {"S": record.verified_at},
            "status": {"S": record.status},
        }
        if record.size is not None:
            latest["size"] = {"N": str(record.size)}
        try:
            self.client.put_item(TableName=self.table, Item=latest)
        except (ClientError, BotoCoreError) as error:
            raise LedgerUnavailable(f"{self.table}: {error}") from error
        verdict.regression, verdict.recovery = record.regression, record.recovery
        return record


def manifests_digest(manifests: dict[str, bytes]) -> str | None:
    """sha256 over the bag's manifests (path and bytes, in path order): equal for the same bag."""
    if not manifests:
        return None
    digest = hashlib.sha256()
    for path in sorted(manifests):
        digest.update(path.encode("utf-8") + b"\x00" + str(len(manifests[path])).encode() + b"\x00")
        digest.update(manifests[path])
    return digest.hexdigest()
