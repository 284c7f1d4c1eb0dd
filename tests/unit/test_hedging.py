"""Hedging slow parts (sources/read_ahead.py): when a part counts as slow, the budget, and the
read-ahead that hedges, with real threads and a fetch that is slow on command (no S3, no mocks).

The integration tests (tests/integration/test_hedging.py) do the same through S3RangedFile against
moto's server and a proxy that trickles one GET.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bagverify.sources.read_ahead import (
    HEDGE_BUDGET,
    HEDGE_FLOOR_SECONDS,
    HEDGE_WITHOUT_PEERS_SECONDS,
    Abandoned,
    Buffer,
    HedgePolicy,
    ReadAhead,
    Transfer,
)

KiB = 1024
MiB = 1024 * KiB
PART = 1 * MiB


# -- the threshold -----------------------------------------------------------------------------


def test_no_threshold_until_enough_parts_are_known() -> None:
    policy = HedgePolicy(min_samples=3)
    assert policy.threshold(PART) is None
    policy.record(0.1, PART)
    policy.record(0.1, PART)
    assert policy.threshold(PART) is None
    policy.record(0.1, PART)
    assert policy.threshold(PART) is not None


def test_without_peers_a_get_is_judged_on_the_absolute_bar() -> None:
    """The tail GET, or the first part fetched while it is read: nothing to compare with, so slow
    once past HEDGE_WITHOUT_PEERS_SECONDS unless its bytes now flow."""
    policy = HedgePolicy(min_samples=3)
    policy.plan(10)
    bar = HEDGE_WITHOUT_PEERS_SECONDS
    assert policy.threshold(PART) is None
    assert not policy.should_hedge(bar - 0.01, PART)
    assert policy.should_hedge(bar + 0.01, PART)  # no second chunk yet
    assert policy.should_hedge(bar + 0.01, PART, seconds_left=30.0)
    assert not policy.should_hedge(bar + 0.01, PART, seconds_left=0.2)


def test_the_floor_keeps_fast_parts_from_being_hedged() -> None:
    policy = HedgePolicy()
    for _ in range(10):
        policy.record(0.05, PART)  # 4 x 0.05 s = 0.2 s: far below the floor
    assert policy.threshold(PART) == HEDGE_FLOOR_SECONDS
    assert not policy.should_hedge(HEDGE_FLOOR_SECONDS - 0.01, PART)
    assert policy.should_hedge(HEDGE_FLOOR_SECONDS + 0.01, PART)


def test_the_threshold_is_a_multiple_of_the_median_per_byte_and_scales_with_the_part() -> None:
    policy = HedgePolicy(multiple=4.0, floor_seconds=0.0)
    for seconds in (1.0, 2.0, 3.0):  # per MiB; median 2 s
        policy.record(seconds, PART)
    assert policy.threshold(PART) == pytest.approx(8.0)
    assert policy.threshold(PART // 2) == pytest.approx(4.0)  # a short last part is held to its length
    policy.record(4.0, PART)  # even count: the mean of the middle two
    assert policy.threshold(PART) == pytest.approx(4.0 * 2.5)


def test_slow_parts_among_the_samples_do_not_raise_the_bar() -> None:
    """The median, not a high percentile: parts that trickled unhedged (budget spent) are samples too."""
    policy = HedgePolicy(multiple=4.0, floor_seconds=0.0)
    for _ in range(7):
        policy.record(0.1, PART)
    for _ in range(3):
        policy.record(32.0, PART)  # 8 MiB at 256 KiB/s
    assert policy.threshold(PART) == pytest.approx(0.4)


def test_the_samples_are_the_recent_parts() -> None:
    policy = HedgePolicy(multiple=1.0, floor_seconds=0.0)
    for _ in range(100):
        policy.record(10.0, PART)
    for _ in range(100):
        policy.record(1.0, PART)  # the endpoint got faster: the old samples are forgotten
    assert policy.threshold(PART) == pytest.approx(1.0)


def test_a_late_get_whose_bytes_now_flow_is_not_hedged() -> None:
    """Past the threshold, the pace of the bytes since the first chunk decides: a GET that will be
    done within what a part takes its peers is left alone; one that crawls, or has no bytes yet, is not."""
    policy = HedgePolicy(multiple=4.0, floor_seconds=0.0)
    policy.record(1.0, PART)
    policy.record(1.0, PART)  # a part takes 1 s; the threshold is 4 s
    assert not policy.should_hedge(3.9, PART, seconds_left=None)
    assert policy.should_hedge(4.1, PART, seconds_left=None)  # no second chunk yet
    assert policy.should_hedge(4.1, PART, seconds_left=30.0)  # trickling
    assert not policy.should_hedge(4.1, PART, seconds_left=0.5)  # a late first byte, then full speed


def test_seconds_left_is_measured_from_the_first_chunk() -> None:
    transfer = Transfer(0, 0, 10 * PART)
    assert transfer.seconds_left(5.0) is None  # nothing yet
    transfer.first_chunk, transfer.filled = (10.0, PART), PART
    assert transfer.seconds_left(10.5) is None  # one chunk says nothing of the pace
    transfer.filled = 2 * PART  # one part's bytes in the 2 s since the first chunk: 8 parts left
    assert transfer.seconds_left(12.0) == pytest.approx(16.0)


# -- the budget --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "allowed"), [(0, 1), (1, 1), (4, 1), (9, 1), (10, 2), (65, 13), (1000, 200)]
)
def test_the_budget_is_a_fifth_of_the_parts_planned_and_at_least_one(parts: int, allowed: int) -> None:
    policy = HedgePolicy()
    policy.plan(parts // 2)
    policy.plan(parts - parts // 2)  # every run of the file counts
    assert HEDGE_BUDGET == 0.20
    assert policy.budget == allowed


def test_no_hedge_past_the_budget_or_past_the_hedges_in_flight() -> None:
    policy = HedgePolicy(floor_seconds=0.0, max_in_flight=2)
    policy.plan(15)
    for _ in range(5):
        policy.record(0.1, PART)
    assert policy.budget == 3
    policy.hedge_started()
    policy.hedge_started()
    assert not policy.should_hedge(100.0, PART)  # two in flight
    policy.hedge_finished()
    assert policy.should_hedge(100.0, PART)
    policy.hedge_started()
    policy.hedge_finished()
    policy.hedge_finished()
    assert policy.hedges == 3 and policy.in_flight == 0
    assert not policy.should_hedge(100.0, PART)  # three of three spent


@pytest.mark.parametrize(("setting", "enabled"), [("", True), ("on", True), ("off", False), ("0", False)])
def test_bagverify_hedge_off_turns_it_off(
    setting: str, enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAGVERIFY_HEDGE", setting)
    policy = HedgePolicy.from_environment()
    assert policy.enabled is enabled
    policy.record(0.1, PART)
    policy.record(0.1, PART)
    assert policy.should_hedge(100.0, PART) is enabled


@pytest.mark.parametrize(
    ("setting", "budget"),
    [("0.3", 0.3), ("1", 1.0), ("", HEDGE_BUDGET), ("2", HEDGE_BUDGET), ("x", HEDGE_BUDGET)],
)
def test_bagverify_hedge_may_set_the_budget(
    setting: str, budget: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAGVERIFY_HEDGE", setting)
    policy = HedgePolicy.from_environment()
    assert policy.enabled and policy.budget_fraction == budget
    policy.plan(100)
    assert policy.budget == int(100 * budget)


# -- the read-ahead that hedges -----------------------------------------------------------------


def pattern(size: int) -> bytes:
    return random.Random(size).randbytes(size)  # no two parts alike: a misplaced byte shows


class Endpoint:
    """A fetch over `data`, every GET recorded. The first GET of a part in `slow` delivers its first
    `slow_bytes`, then stalls: for `slow[start]` seconds, or (None) until abandoned, a trickle that
    would never end. With `wrong_hedges`, every hedge fails as S3RangedFile's fetch fails on an
    answer that is not the bytes asked for."""

    def __init__(self, data: bytes, slow: dict[int, float | None], slow_bytes: int = 256 * KiB) -> None:
        self.data = data
        self.slow = dict(slow)
        self.slow_bytes = slow_bytes
        self.gets: list[tuple[int, int, bool]] = []  # (start, end, hedge)
        self.abandoned: list[int] = []
        self.wrong_hedges = False
        # First GETs whose answer (status, headers) comes only at this monotonic time: retried, say.
        self.unanswered: dict[int, float] = {}
        self._lock = threading.Lock()

    @property
    def hedges(self) -> list[tuple[int, int]]:
        return [(start, end) for start, end, hedge in self.gets if hedge]

    def fetch(self, transfer: Transfer) -> Buffer:
        with self._lock:
            self.gets.append((transfer.start, transfer.end, transfer.hedge))
            stalls = not transfer.hedge and transfer.start in self.slow
            stall_for = self.slow.pop(transfer.start, None) if stalls else None
        if transfer.hedge and self.wrong_hedges:
            raise RuntimeError("answered other bytes than asked for: never used")
        if transfer.start not in self.unanswered:
            transfer.attach(object())  # the answer's headers are in; its body follows
        else:
            while not transfer.abandoned and time.monotonic() < self.unanswered[transfer.start]:
                time.sleep(0.005)
            transfer.attach(object())
        buffer = memoryview(bytearray(transfer.end - transfer.part_start))
        transfer.buffer = buffer
        offset = transfer.start - transfer.part_start
        source = self.data[transfer.start : transfer.end]
        for done in range(0, len(source), 64 * KiB):
            if stalls and done == self.slow_bytes:
                until = None if stall_for is None else time.monotonic() + stall_for
                while not transfer.abandoned and (until is None or time.monotonic() < until):
                    time.sleep(0.005)
            if transfer.abandoned:
                with self._lock:
                    self.abandoned.append(transfer.start)
                raise Abandoned(str(transfer.start))
            piece = source[done : done + 64 * KiB]
            buffer[offset + done : offset + done + len(piece)] = piece
            transfer.filled = done + len(piece)
        return buffer


@pytest.fixture
def executors() -> Iterator[tuple[ThreadPoolExecutor, ThreadPoolExecutor]]:
    parts = ThreadPoolExecutor(4, thread_name_prefix="test-read-ahead")
    hedges = ThreadPoolExecutor(2, thread_name_prefix="test-hedge")
    yield parts, hedges
    parts.shutdown(wait=True, cancel_futures=True)
    hedges.shutdown(wait=True, cancel_futures=True)


def read_all(endpoint: Endpoint, policy: HedgePolicy, executors: tuple[ThreadPoolExecutor, ...]) -> bytes:
    """Every byte, part after part, as S3RangedFile's reader takes them."""
    parts, hedges = executors
    run = ReadAhead(
        endpoint.fetch,
        0,
        len(endpoint.data),
        part_size=PART,
        depth=4,
        executor=parts,
        hedging=policy,
        hedge_executor=hedges,
    )
    out = bytearray()
    try:
        while len(out) < len(endpoint.data):
            part = run.take(len(out))
            assert part is not None and part.start == len(out)
            out += part.data
    finally:
        run.close()
    return bytes(out)


def eventually(condition: Callable[[], bool], within: float = 5.0) -> bool:
    """`condition()` once it holds (an abandoned GET's thread notices within milliseconds), else False."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def quick_policy() -> HedgePolicy:
    # A small floor keeps the tests short; the parts themselves take milliseconds.
    return HedgePolicy(floor_seconds=0.2)


def test_a_stalled_part_is_hedged_from_the_byte_reached_and_the_bytes_are_exact(
    executors: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
) -> None:
    data = pattern(12 * PART + 1234)
    endpoint = Endpoint(data, slow={3 * PART: None}, slow_bytes=320 * KiB)

    assert read_all(endpoint, quick_policy(), executors) == data  # the first 320 KiB from the first GET

    # The rest of the part, from where it stalled; the stalled first GET let go once the hedge won.
    assert endpoint.hedges == [(3 * PART + 320 * KiB, 4 * PART)]
    assert eventually(lambda: 3 * PART in endpoint.abandoned)
    assert len(endpoint.gets) == 13 + 1


def test_a_get_still_waiting_for_its_answer_is_not_hedged(
    executors: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
) -> None:
    """Slow to answer (botocore retrying a 503 SlowDown, backing off as S3 asks) is not slow bytes:
    a hedge then would only add load. Once the answer comes and its bytes flow, nothing to hedge."""
    data = pattern(12 * PART + 1234)
    endpoint = Endpoint(data, slow={})
    endpoint.unanswered = {3 * PART: time.monotonic() + 1.0}  # 5 x the floor before its headers come

    assert read_all(endpoint, quick_policy(), executors) == data

    assert endpoint.hedges == []
    assert len(endpoint.gets) == 13


def test_no_more_hedges_than_the_budget_however_many_parts_are_slow(
    executors: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
) -> None:
    data = pattern(40 * PART)
    slow: dict[int, float | None] = {n * PART: 0.6 for n in range(1, 40, 3)}  # 13 of 40 parts, 3 x the floor
    endpoint = Endpoint(data, slow=slow)
    policy = quick_policy()

    assert read_all(endpoint, policy, executors) == data

    assert policy.budget == 8  # a fifth of 40 parts
    assert len(endpoint.hedges) == policy.hedges == 8  # 13 slow: the budget spent, and no more
    assert len(endpoint.gets) == 40 + policy.hedges


def test_a_hedge_that_fails_is_never_used_and_the_first_get_is_waited_for(
    executors: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
) -> None:
    data = pattern(8 * PART)
    endpoint = Endpoint(data, slow={3 * PART: 0.8})
    endpoint.wrong_hedges = True
    policy = quick_policy()

    assert read_all(endpoint, policy, executors) == data

    assert endpoint.hedges == [(3 * PART + 256 * KiB, 4 * PART)]
    assert endpoint.abandoned == []  # the first GET was not let go: it is what the part came from


def test_the_first_get_finishing_first_wins_and_the_hedge_is_abandoned(
    executors: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
) -> None:
    data = pattern(8 * PART)
    endpoint = Endpoint(data, slow={3 * PART: 0.5})
    original = endpoint.fetch

    def hedges_stall(transfer: Transfer) -> Buffer:
        if transfer.hedge:  # a hedge that is slower still: the first GET ends first
            while not transfer.abandoned:
                time.sleep(0.005)
            endpoint.abandoned.append(-transfer.start)
            raise Abandoned("hedge")
        return original(transfer)

    endpoint.fetch = hedges_stall  # type: ignore[method-assign]
    assert read_all(endpoint, quick_policy(), executors) == data
    assert eventually(lambda: bool(endpoint.abandoned))
    assert endpoint.abandoned == [-(3 * PART + 256 * KiB)]


def test_closing_the_run_abandons_every_get_in_flight(
    executors: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
) -> None:
    data = pattern(8 * PART)
    endpoint = Endpoint(data, slow={PART: None, 2 * PART: None})  # would never end by themselves
    parts, _ = executors
    run = ReadAhead(endpoint.fetch, 0, len(data), part_size=PART, depth=4, executor=parts)
    assert run.take(0) is not None
    run.close()
    parts.shutdown(wait=True)  # returns: the stalled GETs stopped when abandoned
    assert sorted(endpoint.abandoned) == [PART, 2 * PART]


def test_without_a_policy_nothing_is_hedged(executors: tuple[ThreadPoolExecutor, ThreadPoolExecutor]) -> None:
    data = pattern(5 * PART)
    endpoint = Endpoint(data, slow={2 * PART: 0.5})
    assert read_all(endpoint, HedgePolicy(enabled=False), executors) == data
    assert endpoint.hedges == []


def test_a_hedge_that_stalls_too_is_followed_by_one_more_from_the_first_gets_progress(
    executors: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
) -> None:
    """Same odds for a hedge as for any GET: a slow hedge gets a successor, and the bytes still fit."""
    data = pattern(10 * PART)  # a budget of 2
    endpoint = Endpoint(data, slow={4 * PART: None}, slow_bytes=192 * KiB)
    original = endpoint.fetch
    first_hedge = threading.Event()

    def first_hedge_stalls(transfer: Transfer) -> Buffer:
        if transfer.hedge and not first_hedge.is_set():
            first_hedge.set()
            transfer.attach(object())  # answered, and then its bytes stall
            while not transfer.abandoned:
                time.sleep(0.005)
            endpoint.abandoned.append(-1)
            raise Abandoned("first hedge")
        return original(transfer)

    endpoint.fetch = first_hedge_stalls  # type: ignore[method-assign]
    policy = quick_policy()

    assert read_all(endpoint, policy, executors) == data

    # The second hedge (the first never reached the endpoint's record), from the same byte: the
    # first GET had not moved on.
    assert endpoint.hedges == [(4 * PART + 192 * KiB, 5 * PART)]
    assert policy.hedges == policy.budget == 2
    assert eventually(lambda: len(endpoint.abandoned) == 2)
    assert sorted(endpoint.abandoned) == [-1, 4 * PART]  # the stalled first GET and first hedge
