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


class CredentialsRejected(SourceError):
    """S3 refused the credentials themselves (expired, revoked, unknown key): no permission is missing,
    so `access_denied` would send the operator to the wrong place."""

    kind = Kind.CREDENTIALS_REJECTED


class RangeNotHonoured(SourceError):
    """The endpoint answered a ranged GET with other bytes than asked (a 200 with the whole object, a
    206 naming another range or size): a gateway, cache or S3-compatible store in the way. Never a
    verdict on those bytes, which are not the bag's bytes at that offset."""

    kind = Kind.RANGE_NOT_HONOURED


class SourceUnavailable(SourceError):
    kind = Kind.SOURCE_UNAVAILABLE
