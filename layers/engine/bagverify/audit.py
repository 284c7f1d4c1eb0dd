"""Audits: re-verify the bags whose last record is older than an interval, oldest first, within a
byte budget per run; or every bag under a prefix (a first audit of a collection, a migration).

Which bags are due comes from the ledger's latest-record items (`Ledger.latest`: one per bag,
overwritten by each verification), so a run reads one partition, not every record. Each bag is
verified and recorded as any verification is (trigger `audit`, regressions marked), and the run
gives a report (one row per bag; JSON and CSV) and a summary of counts.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bagverify.archive import BAG_SUFFIXES
from bagverify.ledger import Latest, Ledger, LedgerUnavailable
from bagverify.sources import S3Location
from bagverify.verdict import Status, Verdict, problem_count, problem_kinds

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_INTERVAL_DAYS = 90


@dataclass(frozen=True)
class Due:
    """A bag to verify in this run, and how many bytes it is."""

    location: S3Location
    size: int
    last_verified_at: str | None = None


@dataclass
class Row:
    bag: str
    status: str
    regression: bool
    problem_kinds: list[str]
    problem_count: int
    seconds: float
    bytes: int


@dataclass
class AuditRun:
    rows: list[Row] = field(default_factory=list)
    skipped: int = 0  # due or listed, but past the byte budget (or checked within the interval)
    not_due: int = 0

    @property
    def bytes_verified(self) -> int:
        return sum(row.bytes for row in self.rows)

    def summary(self) -> dict[str, int]:
        statuses = [row.status for row in self.rows]
        return {
            "verified": len(self.rows),
            "valid": statuses.count(str(Status.VALID)),
            "invalid": statuses.count(str(Status.INVALID)),
            "error": statuses.count(str(Status.ERROR)),
            "regressions": sum(row.regression for row in self.rows),
            "skipped": self.skipped,
            "not_due": self.not_due,
            "bytes": self.bytes_verified,
        }

    def report_json(self) -> bytes:
        return json.dumps(
            {"summary": self.summary(), "bags": [asdict(row) for row in self.rows]},
            indent=1,
            ensure_ascii=False,
        ).encode("utf-8")

    def report_csv(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["bag", "status", "regression", "problem_kinds", "problem_count", "seconds", "bytes"])
        for row in self.rows:
            writer.writerow(
                [
                    row.bag,
                    row.status,
                    row.regression,
                    " ".join(row.problem_kinds),
                    row.problem_count,
                    row.seconds,
                    row.bytes,
                ]
            )
        return out.getvalue().encode("utf-8")


def due_bags(
    latest: Iterable[Latest], *, interval_days: float = DEFAULT_INTERVAL_DAYS, now: datetime | None = None
) -> tuple[list[Due], int]:
    """(the bags last verified before `interval_days` ago, oldest first; how many were checked since)."""
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=interval_days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    due, recent = [], 0
    for item in latest:
        if item.last_verified_at < cutoff:
            due.append(Due(S3Location(item.bucket, item.key), item.size or 0, item.last_verified_at))
        else:
            recent += 1
    due.sort(key=lambda bag: bag.last_verified_at or "")
    return due, recent


def listed_bags(client: S3Client, bucket: str, prefix: str) -> list[Due]:
    """Every bag archive (by its key's suffix) under `prefix` in `bucket`."""
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(BAG_SUFFIXES):
                found.append(Due(S3Location(bucket, item["Key"]), int(item["Size"])))
    return found


def within_budget(bags: list[Due], max_bytes: int | None) -> tuple[list[Due], int]:
    """(the first `bags` whose sizes add up to at most `max_bytes`; how many are left for a later run).

    The first bag is always taken, even past the budget: else a bag larger than the budget would never
    be audited again. None or 0: no budget."""
    if not max_bytes:
        return bags, 0
    total = 0
    for position, bag in enumerate(bags):
        if position and total + bag.size > max_bytes:
            return bags[:position], len(bags) - position
        total += bag.size
    return bags, 0


def row_of(bag: str, result: dict[str, Any], size: int = 0) -> Row:
    """The report's row for one bag from its verdict as a handler returns it: `Verdict.to_dict()`, or
    the message-shaped verdict (exact `problem_count`, the first problems) when that was too big."""
    problems = result.get("problems") or []
    stats = result.get("stats") or {}
    count = result.get("problem_count")
    return Row(
        bag,
        str(result.get("status", Status.ERROR)),
        bool(result.get("regression")),
        list(dict.fromkeys(str(p.get("kind")) for p in problems if isinstance(p, dict))),
        count if isinstance(count, int) else len(problems),
        float(stats.get("seconds") or 0),
        int(stats.get("archive_bytes") or size),
    )


def run_audit(
    bags: list[Due],
    verify: Callable[[S3Location], Verdict],
    ledger: Ledger | None,
    *,
    max_bytes: int | None = None,
    not_due: int = 0,
) -> AuditRun:
    """Verify `bags` in order until the next would pass `max_bytes`; record each (trigger audit)."""
    chosen, skipped = within_budget(bags, max_bytes)
    run = AuditRun(skipped=skipped, not_due=not_due)
    for bag in chosen:
        started = time.monotonic()
        verdict = verify(bag.location)
        if ledger is not None:
            # A ledger that fails costs no verdict: the row is still reported (regression unknown: False).
            with contextlib.suppress(LedgerUnavailable):
                ledger.record(verdict, trigger="audit")
        run.rows.append(
            Row(
                bag.location.url,
                str(verdict.status),
                verdict.regression,
                problem_kinds(verdict.problems),
                problem_count(verdict.problems),
                round(time.monotonic() - started, 3),
                verdict.stats.archive_bytes or bag.size,
            )
        )
    return run


def report_name(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).strftime("audits/%Y-%m-%dT%H-%M-%SZ")


def as_dict(run: AuditRun) -> dict[str, Any]:
    return {"summary": run.summary(), "bags": [asdict(row) for row in run.rows]}
