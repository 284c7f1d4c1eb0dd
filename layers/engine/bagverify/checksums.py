"""Several digests of one byte stream, computed in one pass over its chunks.

For large members the digests run on their own threads, one per algorithm, while the
caller's thread reads and inflates the next chunk: hashlib and zlib release the GIL on
large buffers, so inflating, sha256 and sha512 of one file keep several cores busy. Small
members are hashed inline, where a thread hand-off would cost more than it saves.

A file's digests are kept as one `bytes`: the raw digests of its algorithms, concatenated in
their order (`DigestLayout` finds one). A million files with sha256 and sha512 then hold 129
bytes each, where a dict of hex strings held 474.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

# Chunks hashed inline before the rest of a member goes to the hashing threads.
INLINE_BYTES = 1024 * 1024
# Chunks handed to the hashing threads but not yet hashed, at most: bounds memory and lag.
MAX_CHUNKS_IN_FLIGHT = 3

_executors: dict[str, ThreadPoolExecutor] = {}
_executors_lock = threading.Lock()


@functools.cache
def hashlib_name(algorithm: str) -> str | None:
    """The hashlib constructor name for a BagIt algorithm name (`sha3-256` → `sha3_256`), or None
    when hashlib can't compute it (unknown, disabled, or of no fixed length)."""
    for candidate in (algorithm, algorithm.replace("-", "_"), algorithm.replace("-", "")):
        if candidate in hashlib.algorithms_available:
            try:
                hasher = hashlib.new(candidate)
            except ValueError:  # listed but disabled (FIPS builds)
                return None
            # shake_128/shake_256 have no fixed length, so no checksum a manifest line could be held
            # to: unsupported, like any algorithm hashlib lacks.
            return candidate if hasher.digest_size else None
    return None


@functools.cache
def _constructor(algorithm: str) -> Callable[..., Any]:
    """hashlib's own constructor (`hashlib.sha256`) where it has one: `hashlib.new` looks the name up
    on every call, which shows in a bag of 20,000 small files."""
    name = hashlib_name(algorithm) or algorithm
    constructor = getattr(hashlib, name, None)
    return constructor if callable(constructor) else functools.partial(hashlib.new, name)


class DigestLayout:
    """Where each algorithm's digest lies in the digests of `algorithms`, concatenated: `spans`
    maps an algorithm to its [start, end) (`digests[start:end].hex()` is its hex digest)."""

    def __init__(self, algorithms: Iterable[str]) -> None:
        self.spans: dict[str, tuple[int, int]] = {}
        start = 0
        for algorithm in algorithms:
            size = _constructor(algorithm)().digest_size
            self.spans[algorithm] = (start, start + size)
            start += size


def digest_bytes(data: bytes, algorithms: Iterable[str]) -> bytes:
    """The digests of bytes held whole (a small member), concatenated in the order of `algorithms`."""
    if isinstance(algorithms, list) and len(algorithms) == 1:  # a bag's usual single-algorithm case
        digest: bytes = _constructor(algorithms[0])(data).digest()
        return digest
    return b"".join([_constructor(algorithm)(data).digest() for algorithm in algorithms])


def digest_chunks(chunks: Iterable[bytes], algorithms: Iterable[str]) -> bytes:
    """The digests of a byte stream, concatenated in the order of `algorithms` (names `hashlib_name`
    accepted)."""
    hashers = {algorithm: _constructor(algorithm)() for algorithm in algorithms}
    iterator = iter(chunks)
    inline = 0
    for chunk in iterator:
        for hasher in hashers.values():
            hasher.update(chunk)
        inline += len(chunk)
        if inline >= INLINE_BYTES and hashers:
            _digest_on_threads(iterator, hashers)
            break
    return b"".join([hasher.digest() for hasher in hashers.values()])


def _digest_on_threads(chunks: Iterable[bytes], hashers: dict[str, Any]) -> None:
    """Feed the rest of `chunks` to one thread per algorithm, in order, a few chunks ahead at most."""
    # One single-threaded executor per algorithm keeps each hasher's updates in order.
    executors = {algorithm: _executor(algorithm) for algorithm in hashers}
    pending: deque[list[Future[None]]] = deque()
    try:
        for chunk in chunks:
            pending.append([executors[a].submit(hasher.update, chunk) for a, hasher in hashers.items()])
            while len(pending) > MAX_CHUNKS_IN_FLIGHT:
                for future in pending.popleft():
                    future.result()
    finally:
        # Also when reading the next chunk failed: no update may still run after we return.
        for futures in pending:
            for future in futures:
                future.result()


def _executor(algorithm: str) -> ThreadPoolExecutor:
    with _executors_lock:
        if algorithm not in _executors:
            _executors[algorithm] = ThreadPoolExecutor(1, thread_name_prefix=f"hash-{algorithm}")
        return _executors[algorithm]
