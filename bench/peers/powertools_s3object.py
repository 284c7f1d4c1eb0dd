"""Peer: Powertools for AWS Lambda's streaming `S3Object` (defaults) passed to zipfile.

`S3Object` reads one open-ended `Range: bytes=pos-` stream and reopens it only when a seek
changes the position; its size comes from one HEAD.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, cast

from aws_lambda_powertools.utilities.streaming import S3Object

from bench.peers.common import main_for


@contextmanager
def open_source(bucket: str, key: str) -> Iterator[IO[bytes]]:
    with S3Object(bucket=bucket, key=key) as s3_object:
        yield cast(IO[bytes], s3_object)


if __name__ == "__main__":
    raise SystemExit(main_for(open_source))
