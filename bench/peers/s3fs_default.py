"""Peer: `s3fs.S3FileSystem()` with its defaults, its file object passed to zipfile.

Defaults as shipped: `readahead` cache, 50 MiB blocks (`default_block_size`), one HEAD for the
object's details, then ranged GETs pinned with IfMatch (s3fs's `version_aware` is off).
The endpoint comes from AWS_ENDPOINT_URL, like every other tool here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, cast

import s3fs

from bench.peers.common import main_for


@contextmanager
def open_source(bucket: str, key: str) -> Iterator[IO[bytes]]:
    filesystem = s3fs.S3FileSystem()
    with filesystem.open(f"{bucket}/{key}", "rb") as fileobj:
        yield cast(IO[bytes], fileobj)


if __name__ == "__main__":
    raise SystemExit(main_for(open_source))
