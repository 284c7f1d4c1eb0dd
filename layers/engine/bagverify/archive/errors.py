"""The one exception of the ZIP layer: the archive itself is wrong."""

from __future__ import annotations

from bagverify.verdict import Kind


class ArchiveFault(Exception):
    """The archive (not the source) is broken: a definite *invalid* with a specific kind.

    `path` is the entry's name in the archive when one entry is concerned.
    """

    def __init__(self, kind: Kind, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.path = path
