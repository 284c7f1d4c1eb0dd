"""For verifications under faults: what must not change, as one comparable value (`outcome`), and a
time limit that turns a hang into a failure (`bounded`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from bagverify.verdict import Verdict

T = TypeVar("T")
Outcome = tuple[str, list[tuple[str, str | None, dict[str, Any]]], int, int]


def outcome(verdict: Verdict) -> Outcome:
    """Status, every problem named (kind, path, details), files and bytes."""
    problems = [(str(p.kind), p.path, p.details) for p in verdict.problems]
    return str(verdict.status), problems, verdict.stats.files, verdict.stats.bytes


def bounded(call: Callable[[], T], limit: float) -> T:
    """`call()` on a thread; fails the test if it has not returned within `limit` seconds."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as error:
            failure.append(error)

    worker = threading.Thread(target=run, name="bounded-verification", daemon=True)
    worker.start()
    worker.join(limit)
    assert not worker.is_alive(), f"still running after {limit} s: a hang"
    if failure:
        raise failure[0]
    return result[0]
