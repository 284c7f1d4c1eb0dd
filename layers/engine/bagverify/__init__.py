"""bagverify: prove a zipped BagIt bag intact, reading it where it lies.

The engine knows nothing of Lambda; `functions/` adapts it to events.

The verify functions are imported on first use (PEP 562): `from bagverify import Verdict` in a handler
that verifies nothing (the audit's, the distributed run's) does not load the whole pipeline.
"""

from typing import TYPE_CHECKING, Any

from bagverify.sources import S3Location
from bagverify.verdict import Kind, Problem, Stats, Status, Verdict

if TYPE_CHECKING:
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

_FROM_VERIFY = ("verify_archive", "verify_path", "verify_s3_object")


def __getattr__(name: str) -> Any:
    if name in _FROM_VERIFY:
        from bagverify import verify

        return getattr(verify, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
