"""What a verification under a survivable fault must not change, as one comparable value."""

from __future__ import annotations

from typing import Any

from bagverify.verdict import Verdict

Outcome = tuple[str, list[tuple[str, str | None, dict[str, Any]]], int, int]


def outcome(verdict: Verdict) -> Outcome:
    """Status, every problem named (kind, path, details), files and bytes."""
    problems = [(str(p.kind), p.path, p.details) for p in verdict.problems]
    return str(verdict.status), problems, verdict.stats.files, verdict.stats.bytes
