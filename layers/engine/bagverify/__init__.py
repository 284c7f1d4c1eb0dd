"""bagverify: prove a zipped BagIt bag intact, reading it where it lies.

The engine knows nothing of Lambda; `functions/` adapts it to events.
"""

from bagverify.sources import S3Location
from bagverify.verdict import Kind, Problem, Stats, Status, Verdict
from bagverify.verify import verify_archive, verify_path, verify_s3_object

__all__ = [
    "Kind",
    "Problem",
    "S3Location",
    "Stats",
    "Status",
    "Verdict",
    "verify_archive",
    "verify_path",
    "verify_s3_object",
]
