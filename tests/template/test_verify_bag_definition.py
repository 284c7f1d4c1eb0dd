"""VerifyBagStateMachine's definition: retries and the routing of each status."""

from __future__ import annotations

from typing import Any

from tests.template.helpers import (
    NEVER_RETRIED,
    VERDICT_STATUSES,
    _tasks,
)


def test_tasks_never_retry_task_failures(asl: dict[str, Any]) -> None:
    """An invalid bag is a normal return; a failed verification must not be re-run (States.ALL/TaskFailed)."""
    for name, task in _tasks(asl).items():
        retried = {error for retrier in task.get("Retry", []) for error in retrier["ErrorEquals"]}
        assert not retried & NEVER_RETRIED, f"{name} retries {sorted(retried & NEVER_RETRIED)}"


def test_choice_routes_each_status_to_its_own_state(asl: dict[str, Any]) -> None:
    choices = [
        state
        for state in asl["States"].values()
        if state["Type"] == "Choice" and any(rule.get("Variable") == "$.status" for rule in state["Choices"])
    ]
    assert len(choices) == 1, "expected one Choice state on $.status"
    targets = {
        rule["StringEquals"]: rule["Next"]
        for rule in choices[0]["Choices"]
        if rule.get("Variable") == "$.status" and "StringEquals" in rule
    }
    missing = [status for status in VERDICT_STATUSES if status not in targets]
    assert not missing, f"no branch for status {missing}"
    routed = [targets[status] for status in VERDICT_STATUSES]
    assert len(set(routed)) == len(routed), (
        f"statuses share a state: {dict(zip(VERDICT_STATUSES, routed, strict=True))}"
    )
    for state in routed:
        assert state in asl["States"], f"branch target {state} does not exist"
