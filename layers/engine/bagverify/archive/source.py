"""What the archive layer reads from: any seekable source of bytes.

A local file, a BytesIO and an `S3RangedFile` all are; naming the three methods used, instead of
`BinaryIO` (which also promises writing, lines, a context manager ...), lets each be passed as it is.
"""

from __future__ import annotations

from typing import Protocol


class ArchiveSource(Protocol):
    """Seekable, readable bytes: the archive."""

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def read(self, size: int = -1, /) -> bytes: ...

    def tell(self) -> int: ...
