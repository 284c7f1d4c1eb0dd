"""Before Lambda's deadline the handler stops verifying and publishes error/timeout with how far it got."""

from __future__ import annotations

import sys

import pytest

from devtools.lambda_runner import LocalContext
from devtools.sample_bags import make_bag_zip


@pytest.mark.parametrize(
    ("remaining_ms", "safety_seconds"),
    [(900_000, 45.0), (300_000, 15.0), (200_000, 10.0), (60_000, 10.0), (5_000, 10.0)],
)
def test_the_deadline_keeps_10_seconds_or_5_percent_whichever_is_larger(  # type: ignore[no-untyped-def]
    handler, remaining_ms, safety_seconds
) -> None:
    deadline_for = sys.modules["app"].deadline_for
    assert deadline_for(remaining_ms, now=1000.0) == pytest.approx(
        1000.0 + remaining_ms / 1000 - safety_seconds
    )


def test_a_bag_too_big_for_the_time_left_is_an_error_timeout_published_with_progress(  # type: ignore[no-untyped-def]
    handler, aws, s3, bucket, topic
) -> None:
    files = {f"pages/page-{number:04d}.txt": f"page {number}\n".encode() * 50 for number in range(300)}
    s3.put_object(Bucket=bucket, Key="incoming/many.zip", Body=make_bag_zip(files))
    event = {"bucket": bucket, "key": "incoming/many.zip"}

    # With Lambda's full 15 minutes the bag is valid ...
    assert handler(event, LocalContext())["status"] == "valid"
    aws.receive_notifications(topic[1])

    # ... with 2 seconds left (under the 10 s safety margin), it stops at once and says so.
    verdict = handler(event, LocalContext(timeout_ms=2_000))
    assert verdict["status"] == "error"
    [problem] = verdict["problems"]
    assert problem["kind"] == "timeout"
    assert "stopped before the deadline" in problem["message"]
    assert problem["files_verified"] < 300 and problem["bytes_verified"] >= 0
    stats = verdict["stats"]
    assert stats["archive_bytes"] > 0 and stats["get_requests"] >= 1, (
        "how far it got: it had opened the archive"
    )
    [notification] = aws.receive_notifications(topic[1])
    assert notification["Message"]["status"] == "error"
    assert notification["Message"]["problems"][0]["kind"] == "timeout"
    assert notification["MessageAttributes"]["status"]["Value"] == "error"
