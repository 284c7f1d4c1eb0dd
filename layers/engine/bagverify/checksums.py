"""Several digests of one byte stream, computed in one pass over its chunks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def hashlib_name(algorithm: str) -> str | None:
    """The hashlib constructor name for a BagIt algorithm name (`sha3-256` → `sha3_256`), or None."""
    for candidate in (algorithm, algorithm.replace("-", "_"), algorithm.replace("-", "")):
        if candidate in hashlib.algorithms_available:
            try:
                hashlib.new(candidate)
            except ValueError:  # listed but disabled (FIPS builds)
                return None
            return candidate
    return None


def digest_chunks(chunks: Iterable[bytes], algorithms: Iterable[str]) -> dict[str, str]:
    """Lowercase hex digest per algorithm; `algorithms` must be names `hashlib_name` accepted."""
    hashers = {algorithm: hashlib.new(hashlib_name(algorithm) or algorithm) for algorithm in algorithms}
    for chunk in chunks:
        for hasher in hashers.values():
            hasher.update(chunk)
    return {algorithm: hasher.hexdigest() for algorithm, hasher in hashers.items()}
