"""The audit's rules, pure: the byte budget, a report row from either shape of returned verdict, and the
trigger an input may name (event_targets)."""

from __future__ import annotations

import pytest

from bagverify.audit import AuditRun, Due, row_of, within_budget
from bagverify.sources import S3Location
from event_targets import Target, UnrecognisedEvent, event_targets


def bags(*sizes: int) -> list[Due]:
    return [Due(S3Location("b", f"bag-{n}.zip"), size) for n, size in enumerate(sizes)]


@pytest.mark.parametrize(
    ("sizes", "budget", "taken", "left"),
    [
        ((10, 10, 10), 20, 2, 1),
        ((10, 10, 10), 25, 2, 1),
        ((10, 10, 10), 30, 3, 0),
        ((50, 10), 20, 1, 1),  # the first is taken even past the budget: else it would never be audited
        ((10, 50, 5), 20, 1, 2),  # oldest first: the budget stops the run, it does not skip ahead
        ((10, 10), 0, 2, 0),  # 0: no budget
        ((10, 10), None, 2, 0),
        ((), 10, 0, 0),
    ],
)
def test_within_budget(sizes: tuple[int, ...], budget: int | None, taken: int, left: int) -> None:
    chosen, skipped = within_budget(bags(*sizes), budget)
    assert (len(chosen), skipped) == (taken, left)
    assert chosen == bags(*sizes)[:taken]


def test_a_row_from_a_full_verdict_names_each_kind_once() -> None:
    verdict = {
        "status": "invalid",
        "regression": True,
        "problems": [{"kind": "checksum_mismatch"}, {"kind": "missing_file"}, {"kind": "checksum_mismatch"}],
        "stats": {"seconds": 1.5, "archive_bytes": 300},
    }
    row = row_of("s3://b/k.zip", verdict, 999)
    assert (row.status, row.regression, row.problem_kinds, row.problem_count) == (
        "invalid",
        True,
        ["checksum_mismatch", "missing_file"],
        3,
    )
    assert (row.seconds, row.bytes) == (1.5, 300)


def test_a_row_from_a_message_shaped_verdict_keeps_the_exact_count() -> None:
    message = {
        "status": "invalid",
        "problem_count": 20_000,
        "problems": [{"kind": "missing_file"}],
        "stats": {},
    }
    row = row_of("s3://b/k.zip", message, 123)
    assert (row.problem_count, row.problem_kinds, row.bytes, row.regression) == (
        20_000,
        ["missing_file"],
        123,
        False,
    )


def test_a_row_without_a_status_is_an_error() -> None:
    assert row_of("s3://b/k.zip", {}, 0).status == "error"


def test_the_summary_counts_each_status() -> None:
    run = AuditRun(
        rows=[row_of("a", {"status": s}) for s in ("valid", "valid", "invalid", "error")], skipped=2
    )
    summary = run.summary()
    assert (summary["verified"], summary["valid"], summary["invalid"], summary["error"]) == (4, 2, 1, 1)
    assert summary["skipped"] == 2


def test_an_input_may_name_the_audit_as_its_trigger() -> None:
    [target] = event_targets({"bucket": "b", "key": "k.zip", "trigger": "audit"})
    assert target.trigger == "audit"
    [plain] = event_targets({"bucket": "b", "key": "k.zip"})
    assert plain.trigger == "state_machine"
    upload = {"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "k.zip", "size": 1}}}]}
    assert [t.trigger for t in event_targets(upload)] == ["upload"]
    assert Target(S3Location("b", "k")).trigger == "state_machine"


@pytest.mark.parametrize("trigger", ["upload", "cli", "", 1, None])
def test_an_input_naming_another_trigger_is_a_bad_event(trigger: object) -> None:
    with pytest.raises(UnrecognisedEvent, match="trigger must be one of"):
        event_targets({"bucket": "b", "key": "k.zip", "trigger": trigger})
