"""Peer: a seekable S3 file object that issues one ranged GET per read() call, passed to zipfile.

This is the `S3File(io.RawIOBase)` of the well-known blog post on reading large S3 objects in
Python ("Working with really large objects in S3"), kept as published: the size comes from the
boto3 resource's `content_length` (one HEAD, cached by the resource), `seek` only moves the
position, and every `read(n)` is `GetObject(Range=bytes=pos-pos+n-1)`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, cast

import boto3

from bench.peers.common import main_for


class S3File(io.RawIOBase):
    def __init__(self, s3_object: Any) -> None:
        self.s3_object = s3_object
        self.position = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} s3_object={self.s3_object!r} >"

    @property
    def size(self) -> int:
        return int(self.s3_object.content_length)

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self.position = offset
        elif whence == io.SEEK_CUR:
            self.position += offset
        elif whence == io.SEEK_END:
            self.position = self.size + offset
        else:
            raise ValueError(
                f"invalid whence ({whence}, should be {io.SEEK_SET}, {io.SEEK_CUR}, {io.SEEK_END})"
            )
        return self.position

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size == -1:
            # Read to the end of the file
            range_header = f"bytes={self.position}-"
            self.seek(offset=0, whence=io.SEEK_END)
        else:
            new_position = self.position + size
            # If we're going to read beyond the end of the object, return the entire object.
            if new_position >= self.size:
                return self.read()
            range_header = f"bytes={self.position}-{new_position - 1}"
            self.seek(offset=size, whence=io.SEEK_CUR)
        return cast(bytes, self.s3_object.get(Range=range_header)["Body"].read())

    def readable(self) -> bool:
        return True


@contextmanager
def open_source(bucket: str, key: str) -> Iterator[IO[bytes]]:
    s3_object = boto3.resource("s3").Object(bucket_name=bucket, key=key)
    yield cast(IO[bytes], S3File(s3_object))


if __name__ == "__main__":
    raise SystemExit(main_for(open_source))
