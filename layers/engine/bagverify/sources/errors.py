"""Why a source could not be read. Each maps to one `Kind` of *error* verdict."""

from __future__ import annotations

from bagverify.verdict import Kind


class SourceError(Exception):
    """The archive could not be read; the bag is neither valid nor invalid."""

    kind: Kind = Kind.SOURCE_UNAVAILABLE

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class NotFound(SourceError):
    kind = Kind.NOT_FOUND


class AccessDenied(SourceError):
    kind = Kind.ACCESS_DENIED


class ObjectChanged(SourceError):
    kind = Kind.OBJECT_CHANGED


class ObjectArchived(SourceError):
    """In an archive storage class (or Intelligent-Tiering archive tier) that GET can't read until
    the object is restored."""

    kind = Kind.OBJECT_ARCHIVED


class SourceUnavailable(SourceError):
    kind = Kind.SOURCE_UNAVAILABLE
