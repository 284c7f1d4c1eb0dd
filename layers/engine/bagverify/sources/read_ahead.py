"""Parallel sequential read-ahead: the next parts of a byte range, fetched by several GETs at once.

One S3 connection carries roughly 85-90 MB/s; hashing and inflating run faster than
that on two cores. So while the reader consumes part *n*, parts *n+1 ... n+depth* are
already in flight on their own connections. Parts are handed over strictly in order,
and at most `depth` of them exist besides the one being read, which bounds memory at
(depth + 1) x part size whatever the archive's size.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

MiB = 1024 * 1024

Fetch = Callable[[int, int], "bytes | bytearray | memoryview"]
"""Fetches bytes [start, end) of the object."""


@dataclass(frozen=True)
class Part:
    """Bytes [start, start + len(data)) of the object, held in memory."""

    start: int
    data: bytes | bytearray | memoryview

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


class ReadAhead:
    """Parts of [start, end), fetched `depth` at a time, taken in order by one reader."""

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
    ) -> None:
        """`speculative`: nobody reads here yet, so fetch one part only until a reader takes it: a
        guess that turns out wrong (not a ZIP, or its first member elsewhere) costs one GET, not `depth`."""
        self._fetch = fetch
        self._next = start
        self._end = end
        self._part_size = part_size
        self._depth = depth
        self._in_flight_limit = 1 if speculative else depth
        self._executor = executor
        self._in_flight: deque[tuple[int, Future[bytes | bytearray | memoryview]]] = deque()
        self._schedule()

    def take(self, position: int) -> Part | None:
        """The part holding `position`, waiting for it if needed; None when `position` is not ahead.

        Parts wholly before `position` are dropped: a reader that skips forward (a member
        it does not need) only costs the bytes already requested.
        """
        while self._in_flight:
            start, future = self._in_flight[0]
            end = min(start + self._part_size, self._end)
            if position < start:
                return None
            self._in_flight.popleft()
            if position < end:
                part = Part(start, future.result())
                self._in_flight_limit = self._depth  # a reader is here: no longer a guess
                self._schedule()
                return part
            future.cancel()
        return None

    def close(self) -> None:
        for _, future in self._in_flight:
            future.cancel()
        self._in_flight.clear()

    def _schedule(self) -> None:
        while len(self._in_flight) < self._in_flight_limit and self._next < self._end:
            start, end = self._next, min(self._next + self._part_size, self._end)
            self._in_flight.append((start, self._executor.submit(self._fetch, start, end)))
            self._next = end
