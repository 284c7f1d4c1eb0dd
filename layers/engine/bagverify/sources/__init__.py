"""Where a bag ZIP's bytes come from: a local file, or an S3 object read by ranged GETs."""

from bagverify.sources.errors import (
    AccessDenied,
    NotFound,
    ObjectArchived,
    ObjectChanged,
    SourceError,
    SourceUnavailable,
)
from bagverify.sources.location import S3Location, make_s3_client
from bagverify.sources.s3_ranged_file import S3RangedFile

__all__ = [
    "AccessDenied",
    "NotFound",
    "ObjectArchived",
    "ObjectChanged",
    "S3Location",
    "S3RangedFile",
    "SourceError",
    "SourceUnavailable",
    "make_s3_client",
]
