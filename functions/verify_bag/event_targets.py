"""Which bag(s) an invocation is about: S3 notification, EventBridge, or direct / Step Functions input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from bagverify import S3Location
from bagverify.verdict import Mode


class UnrecognisedEvent(ValueError):
    """The event names no bag: not an S3 notification, EventBridge event or {"bucket", "key"} input."""


@dataclass(frozen=True)
class Target:
    """One bag an event names, and what the event says about it besides where it is."""

    location: S3Location
    # True when an upload notification named it (S3 event notification or EventBridge Object
    # Created), an asynchronous invocation whose result nobody reads; False for direct or Step
    # Functions input, whose caller wants the verdict back.
    uploaded: bool = False
    # The object's size in bytes as the notification states it; None when it does not (direct input).
    size: int | None = None
    # How much to prove (direct or Step Functions input's "mode"); an upload is always verified in full.
    mode: Mode = Mode.FULL
    # A BagIt profile to check the bag against (direct or Step Functions input's "profile": an
    # identifier of a profile under ProfilesLocation, or an s3:// URL); None: the bag's own, if any.
    profile: str | None = None
    # What the ledger records as having started this verification: "upload", "state_machine", or the
    # input's "trigger" ("audit": a Map item of AuditStateMachine).
    trigger: str = "state_machine"


# What a direct or Step Functions input may name as its trigger.
INPUT_TRIGGERS = ("state_machine", "audit")


def targets_from_event(event: Any) -> list[S3Location]:
    return [target.location for target in event_targets(event)]


def event_targets(event: Any) -> list[Target]:
    if not isinstance(event, dict):
        raise UnrecognisedEvent(f"expected a JSON object, got {type(event).__name__}")
    if "Records" in event:
        # S3 event notification. Keys arrive URL-encoded (a space as '+'). The version id pins the
        # exact upload, so a late, repeated delivery still verifies what was uploaded; without one
        # (unversioned bucket) the eTag does: a since-replaced object is reported, not verified.
        return [
            Target(
                S3Location(
                    record["s3"]["bucket"]["name"],
                    unquote_plus(record["s3"]["object"]["key"]),
                    record["s3"]["object"].get("versionId") or None,
                    record["s3"]["object"].get("eTag") or None,
                ),
                uploaded=True,
                size=_size(record["s3"]["object"].get("size")),
                trigger="upload",
            )
            for record in event["Records"]
            if "s3" in record
        ] or _unrecognised(event)
    if event.get("source") == "aws.s3" and isinstance(event.get("detail"), dict):
        detail = event["detail"]
        return [
            Target(
                S3Location(
                    detail["bucket"]["name"],
                    unquote_plus(detail["object"]["key"]),
                    detail["object"].get("version-id") or None,
                    detail["object"].get("etag") or None,
                ),
                uploaded=True,
                size=_size(detail["object"].get("size")),
                trigger="upload",
            )
        ]
    if isinstance(event.get("bucket"), str) and isinstance(event.get("key"), str):
        # Direct or Step Functions input: the key is taken literally, as the caller wrote it.
        version_id, etag = event.get("version_id") or None, event.get("etag") or None
        profile = event.get("profile")
        if profile is not None and not (isinstance(profile, str) and profile):
            raise UnrecognisedEvent(f"profile must be a profile's identifier or s3:// URL, not {profile!r}")
        location = S3Location(event["bucket"], event["key"], version_id, etag)
        return [Target(location, mode=_mode(event), profile=profile, trigger=_trigger(event))]
    return _unrecognised(event)


def _mode(event: dict[str, Any]) -> Mode:
    value = event.get("mode", "full")
    try:
        return Mode(value)
    except ValueError:
        raise UnrecognisedEvent(
            f"mode must be one of {', '.join(str(mode) for mode in Mode)}, not {value!r}"
        ) from None


def _trigger(event: dict[str, Any]) -> str:
    value = event.get("trigger", "state_machine")
    if value not in INPUT_TRIGGERS:
        raise UnrecognisedEvent(f"trigger must be one of {', '.join(INPUT_TRIGGERS)}, not {value!r}")
    return str(value)


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _unrecognised(event: dict[str, Any]) -> list[Any]:
    raise UnrecognisedEvent(
        "event names no bag: expected an S3 notification (Records[].s3), an EventBridge "
        f'\'Object Created\' event (source aws.s3) or {{"bucket", "key"}}; got keys {sorted(event)}'
    )
