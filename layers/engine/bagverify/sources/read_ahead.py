"""Parallel sequential read-ahead: the next parts of a byte range, fetched by several GETs at once.

One S3 connection carries roughly 85-90 MB/s; hashing and inflating run faster than
that on two cores. So while the reader consumes part *n*, parts *n+1 ... n+depth* are
already in flight on their own connections. Parts are handed over strictly in order,
and at most `depth` of them exist besides the one being read, which bounds memory at
(depth + 1) x part size whatever the archive's size.

Handing parts over in order means one slow GET holds up everything: real S3 has requests
that run far longer than their peers (AWS's guidance is to re-issue them), and an endpoint
trickling one part at 256 KiB/s stalls the reader for 32 s while every other connection
idles. So a part that has run well past what its peers take is **hedged**: requested again,
from the byte it has reached, on another connection (`HedgePolicy` says when and how often);
whichever answer completes first is used and the other abandoned (its connection shut).
A hedge is an ordinary ranged GET made by the same `S3RangedFile`, so it is pinned and its
answer checked like any other; a hedge that fails in any way is dropped and the part waits
for its first GET, as it would have without hedging.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

MiB = 1024 * 1024

Buffer = bytes | bytearray | memoryview
Fetch = Callable[["Transfer"], Buffer]
"""Fetches bytes [transfer.start, transfer.end) of the object into a buffer for the whole part
[transfer.part_start, transfer.end), reporting its progress on the `Transfer` and giving up
(`Abandoned`) once it is abandoned."""


@dataclass(frozen=True)
class Part:
    """Bytes [start, start + len(data)) of the object, held in memory."""

    start: int
    data: Buffer

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def holds(self, position: int) -> bool:
        return self.start <= position < self.end


def default_depth(part_size: int, memory_bytes: int | None = None) -> int:
    """Parts in flight: enough connections to outrun the CPUs, few enough to stay small in memory.

    With the process's memory known (`memory_bytes`: the handler passes the function's), the budget
    is a sixteenth of it (1,769 MB → 12 parts of 8 MiB, capped at 8); else 8. Never fewer than 2, so
    one part is always on its way. BAGVERIFY_READ_AHEAD_PARTS overrides it.
    """
    if (configured := os.environ.get("BAGVERIFY_READ_AHEAD_PARTS", "")).isdigit():
        return int(configured)
    budget = memory_bytes // 16 if memory_bytes else 8 * part_size
    return max(2, min(8, budget // part_size))


# Hedging: when a part counts as slow, and how many extra GETs that may cost.
HEDGE_MULTIPLE = 3.0
"""A part is slow once it has run this many times as long as its peers' median per byte predicts:
the median, not a high percentile, because slow parts that were not hedged (the budget spent) are
among the samples too, and must not raise the bar for the next ones. Three times, not more: the
pace of its bytes (`should_hedge`) already spares a part that is late but flowing."""
HEDGE_FLOOR_SECONDS = 0.3
"""Never hedge a part younger than this: from a few samples the median says little, and on a fast
endpoint (a part in 0.1 s) scheduling jitter alone can be a few times that. Low, because what a
part costs the reader is the time until its hedge is sent: a part trickling at 256 KiB/s needs
32 s for its 8 MiB, and is hedged after ~0.5 s here. The pace of a part's bytes (`should_hedge`)
keeps a part that is merely late from being asked for twice."""
HEDGE_MIN_SAMPLES = 2
"""Parts completed before a part is judged against its peers (before that: HEDGE_WITHOUT_PEERS_SECONDS)."""
HEDGE_BUDGET = 0.20
"""Extra GETs at most this share of the parts the runs plan (and at least 1): hedging is for the
stragglers; an endpoint where every part is slow gets no faster by asking twice. A fifth, not a
tenth: an endpoint slowing one GET in ten already needs ~11% (hedges can be slow too), and what a
hedge saves is dear beside what it costs: a GET is $0.0004 per 1,000, a second of the 1,769 MB
arm64 function waiting for a part $0.000023, as much as 58 GETs (docs/reading-s3.md). Planned, not
requested so far: with the share of parts requested, the second slow part among the first ten would
find the budget spent and stall the reader, which then requests no more parts."""
HEDGES_IN_FLIGHT = 3
"""Hedges running at once: each holds one more part buffer, so memory stays at (depth + 1 + this)
parts. As many as one part may have (HEDGES_PER_PART): with fewer, a part whose hedges all crawl
blocks its own next hedge (measured: a 30 s stall at one GET in ten)."""
HEDGES_PER_PART = 3
"""A hedge that runs slow too may be followed by another, up to this many per part (see
`ReadAhead._hedge_slow`): at one slow GET in five, a part whose first GET and two hedges all crawl
came up in about one run in three of 65 parts (bench/tail_latency.py), and waited its 30 s."""
HEDGE_WITHOUT_PEERS_SECONDS = 1.0
"""A GET with no peers to be compared with (the tail GET, the first of a file; a part asked for
before HEDGE_MIN_SAMPLES parts have completed, such as the first part, fetched while the tail is
read) is judged on an absolute bar: slow once it has run this long and the pace of its bytes does
not promise the rest within as long again (an 8 MiB part under ~8 MB/s). Higher than the floor: a
first GET also opens its connection (TLS included, on S3)."""
HEDGE_CHECK_SECONDS = 0.1
"""While the reader waits for a part, it looks at every part in flight this often."""
_SAMPLE_WINDOW = 32  # recent parts only: an endpoint's speed drifts with load and time


class HedgePolicy:
    """When a part in flight is slow enough to be asked for again, and whether the budget allows it.

    The threshold comes from the parts seen so far (`record`): seconds per byte of each completed
    GET, from the request sent to its last byte. A part of `n` bytes that has run longer than
    max(floor, multiple x median per byte x n) is slow. Hedges stay within `budget_fraction` of the
    parts planned (at least 1) and `max_in_flight` at once. Shared by every run of one file, and
    thread-safe (samples arrive from the fetching threads).
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        multiple: float = HEDGE_MULTIPLE,
        floor_seconds: float = HEDGE_FLOOR_SECONDS,
        min_samples: int = HEDGE_MIN_SAMPLES,
        budget_fraction: float = HEDGE_BUDGET,
        max_in_flight: int = HEDGES_IN_FLIGHT,
    ) -> None:
        self.enabled = enabled
        self.multiple = multiple
        self.floor_seconds = floor_seconds
        self.min_samples = max(1, min_samples)
        self.budget_fraction = budget_fraction
        self.max_in_flight = max(1, max_in_flight)
        self._lock = threading.Lock()
        self._per_byte: deque[float] = deque(maxlen=_SAMPLE_WINDOW)
        self.parts = 0  # parts the runs plan to fetch, the base of the budget
        self.hedges = 0  # hedges started
        self.in_flight = 0

    @classmethod
    def from_environment(cls) -> HedgePolicy:
        """The default policy. BAGVERIFY_HEDGE=off (or 0, false, no) turns hedging off; a number in
        (0, 1] is the budget instead of HEDGE_BUDGET (0.3: hedges up to 30 % of the parts, for an
        endpoint known to be slow more often than one GET in ten). Any other value: the defaults."""
        setting = os.environ.get("BAGVERIFY_HEDGE", "").strip().lower()
        if setting in ("off", "0", "false", "no"):
            return cls(enabled=False)
        try:
            budget = float(setting)
        except ValueError:
            return cls()
        return cls(budget_fraction=budget) if 0 < budget <= 1 else cls()

    def plan(self, parts: int) -> None:
        """A run will fetch `parts` parts."""
        with self._lock:
            self.parts += parts

    def record(self, seconds: float, length: int) -> None:
        """A part's first GET completed: `length` bytes in `seconds`."""
        if length > 0:
            with self._lock:
                self._per_byte.append(max(seconds, 0.0) / length)

    def threshold(self, length: int) -> float | None:
        """Seconds after which a part of `length` bytes is slow; None while too few parts are known."""
        with self._lock:
            samples = sorted(self._per_byte)
        if len(samples) < self.min_samples:
            return None
        middle = len(samples) // 2
        median = samples[middle] if len(samples) % 2 else (samples[middle - 1] + samples[middle]) / 2
        return max(self.floor_seconds, self.multiple * median * length)

    @property
    def budget(self) -> int:
        """Hedges allowed: a share of the parts planned, at least one."""
        with self._lock:
            return max(1, int(self.parts * self.budget_fraction))

    def may_hedge(self) -> bool:
        """Whether one more hedge may be sent now: on, within the budget and the hedges in flight."""
        return self.enabled and self.in_flight < self.max_in_flight and self.hedges < self.budget

    def should_hedge(self, elapsed: float, length: int, *, seconds_left: float | None = None) -> bool:
        """Whether a GET of `length` bytes that has run `elapsed` seconds is to be hedged now.

        Past the threshold, a GET is hedged unless the pace of its bytes so far (`seconds_left`, the
        time it still needs at that pace; None before its first byte) says it will be done within
        what a whole part takes its peers: a GET whose first byte came late but whose bytes now flow
        finishes before a new one would.
        """
        if not self.may_hedge():
            return False
        limit = self.threshold(length)
        if limit is None:  # no peers yet: the absolute bar
            return elapsed > HEDGE_WITHOUT_PEERS_SECONDS and (
                seconds_left is None or seconds_left > HEDGE_WITHOUT_PEERS_SECONDS
            )
        if elapsed <= limit:
            return False
        return seconds_left is None or seconds_left > limit / self.multiple

    def hedge_started(self) -> None:
        with self._lock:
            self.hedges += 1
            self.in_flight += 1

    def hedge_finished(self) -> None:
        with self._lock:
            self.in_flight -= 1


class Abandoned(Exception):
    """Raised in a fetching thread whose transfer nobody wants any more (its twin won, or the run closed)."""


class Transfer:
    """One GET filling (the rest of) one part: shared by the thread that fills it and the reader.

    `part_start` is where the part begins, `start` the first byte this GET asks for: equal for a
    part's first GET; for a hedge, the byte the first GET had reached, the part's buffer left
    empty before it (the reader copies those bytes in from the first GET if the hedge wins).
    """

    def __init__(self, part_start: int, start: int, end: int, *, hedge: bool = False) -> None:
        self.part_start = part_start
        self.start = start
        self.end = end
        self.hedge = hedge
        self.started: float | None = None  # time.monotonic() when the GET was sent; None while queued
        self.filled = 0  # bytes from `start` in the buffer, written front to back by one thread
        # When its first chunk was in, and how large it was: the pace of the bytes is measured from
        # there (a first byte that came late says nothing about the rest).
        self.first_chunk: tuple[float, int] | None = None
        self.buffer: memoryview | None = None  # the whole part's buffer, [part_start, end)
        self._abandoned = threading.Event()
        self._lock = threading.Lock()
        self._body: Any = None
        # time.monotonic() when its (latest) answer's status and headers came, its body to follow;
        # None while botocore is still sending or retrying the request.
        self.answered: float | None = None

    @property
    def reached(self) -> int:
        """The first byte not yet received."""
        return self.start + self.filled

    def seconds_left(self, now: float) -> float | None:
        """The time this GET still needs at the pace of its bytes since its first chunk; None until a
        second chunk is in."""
        first, filled = self.first_chunk, self.filled  # read once: the filling thread moves them on
        if first is None or filled <= first[1]:
            return None
        since, before = first
        return (self.end - self.start - filled) * max(now - since, 1e-6) / (filled - before)

    @property
    def abandoned(self) -> bool:
        return self._abandoned.is_set()

    def attach(self, body: Any) -> None:
        """The response body now being read; shut at once if the transfer was abandoned meanwhile."""
        with self._lock:
            self._body = body
            self.answered = time.monotonic()
            abandoned = self.abandoned
        if abandoned:
            _shut_down(body)

    def abandon(self) -> None:
        """Nobody will use this transfer: make its thread stop as soon as it can (see `_shut_down`)."""
        with self._lock:
            self._abandoned.set()
            body = self._body
        if body is not None:
            _shut_down(body)


def _shut_down(body: Any) -> None:
    """Stop a body being read on another thread, at once.

    Closing the body from here would not do: its buffered reader takes a lock the reading thread
    holds until its read returns, which on a trickling connection is seconds away. Shutting the
    socket down makes that read return now (end of stream), and the reading thread, seeing its
    transfer abandoned, closes the body itself, so the connection is not reused. The socket is
    botocore's StreamingBody → urllib3's response → its connection; any of that missing (another
    HTTP stack), the reading thread still stops at its next chunk.

    Should the body have just finished and its connection gone back to the pool, the pool finds
    the socket shut at its next checkout (urllib3 checks a kept-alive connection before reuse) and
    opens a new one.
    """
    raw = getattr(body, "_raw_stream", body)
    connection = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@dataclass
class Slot:
    """One part in flight: its first GET and, once that ran slow, its hedges (the latest one live).
    `ReadAhead` holds one per part; `S3RangedFile` one for its tail GET."""

    start: int
    end: int
    primary: Transfer
    primary_future: Future[Buffer]
    hedges: list[tuple[Transfer, Future[Buffer]]] = field(default_factory=list)

    def futures(self) -> list[Future[Buffer]]:
        return [self.primary_future, *(future for _, future in self.hedges)]

    def abandon_hedges(self, *, keep: Transfer | None = None) -> None:
        for transfer, _ in self.hedges:
            if transfer is not keep:
                transfer.abandon()

    def abandon(self) -> None:
        self.primary_future.cancel()
        self.primary.abandon()
        self.abandon_hedges()

    def settle(self, hedge_slow: Callable[[], None] | None) -> tuple[Buffer, bool]:
        """The part's bytes from whichever of its GETs completes first, and whether a hedge's; the
        others are abandoned. `hedge_slow` is called while waiting (every HEDGE_CHECK_SECONDS).

        A hedge that fails (an error, an answer that is not the bytes asked for) is dropped and
        the other GETs waited for; a first GET that fails while a hedge runs waits for the hedge,
        and raises only if every hedge fails too.
        """
        while True:
            primary = self.primary_future
            if primary.done() and primary.exception() is None:
                self.abandon_hedges()
                return primary.result(), False
            for transfer, future in self.hedges:
                if future.done() and future.exception() is None:
                    return self._use_hedge(transfer, future.result()), True
            pending = [future for future in self.futures() if not future.done()]
            if not pending:
                return primary.result(), False  # every GET of it failed: the first one's error
            wait(pending, timeout=HEDGE_CHECK_SECONDS if hedge_slow else None, return_when=FIRST_COMPLETED)
            if hedge_slow is not None:
                hedge_slow()

    def _use_hedge(self, hedge: Transfer, data: Buffer) -> Buffer:
        """A hedge won: the bytes before where it started come from the first GET, which stops.

        Those bytes were in the first GET's buffer before the hedge was sent, and its thread only
        writes further on, so they are copied as received. Its buffer is then left to that thread
        (not reused for another part: it may still be writing into it until it notices).
        """
        before = hedge.start - self.start
        if before:
            assert self.primary.buffer is not None
            memoryview(data)[:before] = self.primary.buffer[:before]
        self.primary.abandon()
        self.abandon_hedges(keep=hedge)
        return data

    def hedge_if_slow(
        self, policy: HedgePolicy, submit: Callable[[Transfer], Future[Buffer]], now: float
    ) -> None:
        """Hedge this part if the policy finds its latest GET slow, from the byte its first GET reached.

        A hedge can be slow too (the endpoint's odds are the same for it): once it has run past the
        threshold for what it asked for, one more is sent, again from the first GET's progress (the
        bytes before it must come from one buffer), up to HEDGES_PER_PART, within the same budget.
        A hedge that failed is not followed by another: an endpoint that mangles ranges would only
        mangle the next one too.
        """
        primary = self.primary
        if primary.started is None or self.primary_future.done() or len(self.hedges) >= HEDGES_PER_PART:
            return
        latest = self.hedges[-1][0] if self.hedges else primary
        if latest is not primary and (latest.started is None or self.hedges[-1][1].done()):
            return
        # Timed from its answer, not its request: until then it is slow to answer, not slow bytes,
        # and botocore's timeouts and retries are at work (S3's 503 SlowDown among them, backed off
        # as S3 asks), where a hedge would only add load.
        answered = latest.answered
        if answered is None:
            return
        reached = primary.reached  # read once: the filling thread moves it on
        if reached >= self.end or not policy.should_hedge(
            now - answered, self.end - latest.start, seconds_left=latest.seconds_left(now)
        ):
            return
        hedge = Transfer(self.start, reached, self.end, hedge=True)
        policy.hedge_started()
        self.hedges.append((hedge, submit(hedge)))


def timed(fetch: Fetch, transfer: Transfer, policy: HedgePolicy | None) -> Buffer:
    """One GET on a worker thread, timed from when it is sent (a queued part is not slow; a
    `transfer.started` already set is kept): a first GET's time is a sample for `policy`, a hedge's
    end frees its place in flight."""
    if transfer.started is None:
        transfer.started = time.monotonic()
    started = transfer.started
    try:
        data = fetch(transfer)
    finally:
        if transfer.hedge and policy is not None:
            policy.hedge_finished()
    if not transfer.hedge and policy is not None:
        policy.record(time.monotonic() - started, transfer.end - transfer.start)
    return data


class ReadAhead:
    """Parts of [start, end), fetched `depth` at a time, taken in order by one reader; slow ones hedged."""

    def __init__(
        self,
        fetch: Fetch,
        start: int,
        end: int,
        *,
        part_size: int,
        depth: int,
        executor: ThreadPoolExecutor,
        speculative: bool = False,
        hedging: HedgePolicy | None = None,
        hedge_executor: ThreadPoolExecutor | None = None,
    ) -> None:
        """`speculative`: nobody reads here yet, so fetch one part only until a reader takes it: a
        guess that turns out wrong (not a ZIP, or its first member elsewhere) costs one GET, not `depth`.

        `hedging` with a `hedge_executor` (its own threads: a hedge must not queue behind the very
        parts it is meant to overtake): slow parts are asked for again as the policy says."""
        self._fetch = fetch
        self._next = start
        self._end = end
        self._part_size = part_size
        self._depth = depth
        self._in_flight_limit = 1 if speculative else depth
        self._executor = executor
        self._hedging = hedging if hedging is not None and hedging.enabled and hedge_executor else None
        self._hedge_executor = hedge_executor
        self._in_flight: deque[Slot] = deque()
        self.hedges_used = 0  # parts served by their hedge
        if self._hedging is not None:
            self._hedging.plan(-(-(end - start) // part_size))
        self._schedule()

    def take(self, position: int) -> Part | None:
        """The part holding `position`, waiting for it if needed; None when `position` is not ahead.

        Parts wholly before `position` are dropped: a reader that skips forward (a member
        it does not need) only costs the bytes already requested.
        """
        self._hedge_slow()
        while self._in_flight:
            slot = self._in_flight[0]
            if position < slot.start:
                return None
            self._in_flight.popleft()
            if position < slot.end:
                data, by_hedge = slot.settle(
                    functools.partial(self._hedge_slow, slot) if self._hedging is not None else None
                )  # the part waited for first, then the others
                self.hedges_used += by_hedge
                part = Part(slot.start, data)
                self._in_flight_limit = self._depth  # a reader is here: no longer a guess
                self._schedule()
                return part
            slot.primary_future.cancel()
            slot.abandon_hedges()
        return None

    def close(self) -> None:
        # Abandoned, not only cancelled: a part already on its way would otherwise keep its
        # connection (and the executor's shutdown) waiting until its last byte, a trickling one
        # for half a minute, for bytes nobody will read.
        for slot in self._in_flight:
            slot.abandon()
        self._in_flight.clear()

    def _schedule(self) -> None:
        while len(self._in_flight) < self._in_flight_limit and self._next < self._end:
            start, end = self._next, min(self._next + self._part_size, self._end)
            transfer = Transfer(start, start, end)
            self._in_flight.append(Slot(start, end, transfer, self._executor.submit(self._run, transfer)))
            self._next = end

    def _run(self, transfer: Transfer) -> Buffer:
        return timed(self._fetch, transfer, self._hedging)

    def _hedge_slow(self, waited_for: Slot | None = None) -> None:
        """Hedge each part in flight the policy finds slow (`Slot.hedge_if_slow`); `waited_for`, the
        part the reader waits for and no longer among those queued, first."""
        policy, executor = self._hedging, self._hedge_executor
        if policy is None or executor is None:
            return
        now = time.monotonic()
        for slot in (waited_for, *self._in_flight) if waited_for is not None else self._in_flight:
            slot.hedge_if_slow(policy, lambda hedge: executor.submit(self._run, hedge), now)
