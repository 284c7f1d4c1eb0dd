"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import bagverify.pipeline.scan as scan


@pytest.fixture(params=["whole", "streamed"])
def each_member_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Runs a test once per way of reading a member: whole (`MemberReader.read_small`, what members
    of up to 256 KiB take) and streamed (`iter_chunks`, what larger ones take). Both must find the
    same faults, so the tests of broken and hostile archives run through both."""
    if request.param == "streamed":
        monkeypatch.setattr(scan, "SMALL_MEMBER_BYTES", -1)
    yield request.param
