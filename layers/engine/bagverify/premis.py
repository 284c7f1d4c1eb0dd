"""A verdict as one PREMIS 3.0 event: what a preservation system files with the object it describes.

`premis_event(verdict)` is pure (no I/O but reading the installed version once): one `<premis:event>`
element, the document's root, in the order the PREMIS 3 schema's `eventComplexType` requires:

1. eventIdentifier: `UUID`, the one given (for idempotent filing of at-least-once deliveries) or a new one;
2. eventType: `fixity check`, with the Library of Congress term's URI
   (http://id.loc.gov/vocabulary/preservation/eventType/fix);
3. eventDateTime: UTC, ISO 8601 with `Z`;
4. eventDetailInformation, three: `program="bagverify"; version="…"; mode="…"` (the key-value form
   Archivematica writes and its premisrw parses), what the mode proves (a mode other than `full`
   says it is no fixity proof: no payload byte's checksum was compared), what was read (stats);
5. eventOutcomeInformation: eventOutcome `pass` (valid) or `fail` (invalid *and* error), then one
   eventOutcomeDetail per note (the schema allows one note per detail):
   - first, which of the two a `fail` is: `invalid: the bag is at fault: …` or
     `error: could not be verified: <kind>`;
   - one `<kind>: <count>` per problem kind, counts exact (a count of problems not named,
     `details["not_named"]`, counts as that many), then `warning <kind>: <count>` per warning kind;
   - the first MESSAGES_NAMED problems' messages, `problem <n>: <kind>: <message>`;
6. linkingAgentIdentifier: type `software`, value `bagverify <version>`, role `executing program`
   (LoC eventRelatedAgentRole/exe, "the software that executed the event": the agent is a program,
   which is what the term names; `validator` is any agent "that checks whether specified
   requirements are met", a person or organisation as much as a program);
7. linkingObjectIdentifier: type `URI`, `s3://bucket/key` (percent-encoded, so that a key's `?` or `#`
   cannot be read as what follows) with `?versionId=…` if the object read was a version, else
   `#etag=…` (no quotes) if its ETag is known; a local bag's absolute path as a `file:` URI (a
   relative one as type `local path`); role `source` (LoC eventRelatedObjectRole/sou).

Why `fail` for *error* too: the check was not done, so it did not pass, and a consumer that knows
only `pass` and `fail` (the PREMIS outcomes most systems file) must not read it as a pass; the first
note says that the bag was not judged, and the kind says why.

Every text is made XML-safe: a character XML 1.0 cannot hold (a control character, a lone
surrogate in a path a hostile archive names) is written as its Python escape (`\\x01`, `\\udcff`).
No global state: the namespace prefixes are written literally, not registered with ElementTree.
"""

from __future__ import annotations

import functools
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import quote_from_bytes

from bagverify.verdict import Kind, Mode, Problem, Stats, Status, Verdict, problem_count

PREMIS_NAMESPACE = "http://www.loc.gov/premis/v3"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{PREMIS_NAMESPACE} https://www.loc.gov/standards/premis/v3/premis.xsd"
PREMIS_VERSION = "3.0"

_VOCABULARY = "http://id.loc.gov/vocabulary/preservation"
EVENT_TYPE = "fixity check"
EVENT_TYPE_AUTHORITY = {
    "authority": "eventType",
    "authorityURI": f"{_VOCABULARY}/eventType",
    "valueURI": f"{_VOCABULARY}/eventType/fix",
}
AGENT_ROLE = "executing program"
AGENT_ROLE_AUTHORITY = {
    "authority": "eventRelatedAgentRole",
    "authorityURI": f"{_VOCABULARY}/eventRelatedAgentRole",
    "valueURI": f"{_VOCABULARY}/eventRelatedAgentRole/exe",
}
OBJECT_ROLE = "source"
OBJECT_ROLE_AUTHORITY = {
    "authority": "eventRelatedObjectRole",
    "authorityURI": f"{_VOCABULARY}/eventRelatedObjectRole",
    "valueURI": f"{_VOCABULARY}/eventRelatedObjectRole/sou",
}

OUTCOMES = {Status.VALID: "pass", Status.INVALID: "fail", Status.ERROR: "fail"}

# The kinds that mean "could not be verified" (docs/kinds.md, Errors): what an *error* note names.
ERROR_KINDS = frozenset(
    {
        Kind.NOT_FOUND,
        Kind.ACCESS_DENIED,
        Kind.OBJECT_CHANGED,
        Kind.OBJECT_ARCHIVED,
        Kind.SOURCE_UNAVAILABLE,
        Kind.CREDENTIALS_REJECTED,
        Kind.RANGE_NOT_HONOURED,
        Kind.BAD_EVENT,
        Kind.PROFILE_INVALID,
        Kind.PROFILE_NOT_FOUND,
        Kind.TIMEOUT,
        Kind.TOO_MANY_FILES,
        Kind.NOT_SHARDABLE,
        Kind.STEP_FAILED,
        Kind.LAMBDA_FAILED,
    }
)

MODE_DETAILS = {
    Mode.FULL: "mode: full: every file read and every checksum compared",
    Mode.COMPLETENESS: (
        "mode: completeness: not a fixity proof: no payload byte read; every listed file present, "
        "every payload file listed, Payload-Oxum and the tag files' own checksums checked"
    ),
    Mode.FAST: (
        "mode: fast: not a fixity proof: no file's checksum compared; the bag is a bag and its "
        "Payload-Oxum agrees with the listing"
    ),
}

# Of the problems, how many have their message in the event (the full list is the verdict's).
MESSAGES_NAMED = 5
# A message longer than this (a profile_invalid names every fault of a profile) is cut.
MAX_MESSAGE_CHARS = 1000

# What XML 1.0 can hold: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def premis_event(
    verdict: Verdict, *, event_identifier: str | None = None, when: datetime | None = None
) -> bytes:
    """The verdict as one PREMIS 3.0 `<premis:event>` document, UTF-8 with an XML declaration.

    `event_identifier` must be a UUID (the identifier type written); a new uuid4 if None.
    `when` must be timezone-aware (a naive datetime is ambiguous); now if None.
    """
    identifier = str(uuid.UUID(event_identifier)) if event_identifier is not None else str(uuid.uuid4())
    program = f"bagverify {_bagverify_version()}"

    root = _element(
        None,
        "event",
        {
            "xmlns:premis": PREMIS_NAMESPACE,
            "xmlns:xsi": XSI_NAMESPACE,
            "xsi:schemaLocation": SCHEMA_LOCATION,
            "version": PREMIS_VERSION,
        },
    )
    event_id = _element(root, "eventIdentifier")
    _element(event_id, "eventIdentifierType", text="UUID")
    _element(event_id, "eventIdentifierValue", text=identifier)
    _element(root, "eventType", EVENT_TYPE_AUTHORITY, text=EVENT_TYPE)
    _element(root, "eventDateTime", text=_utc_iso(when))

    for detail in _event_details(verdict):
        _element(_element(root, "eventDetailInformation"), "eventDetail", text=detail)

    outcome = _element(root, "eventOutcomeInformation")
    _element(outcome, "eventOutcome", text=OUTCOMES[verdict.status])
    for note in _outcome_notes(verdict):
        _element(_element(outcome, "eventOutcomeDetail"), "eventOutcomeDetailNote", text=note)

    agent = _element(root, "linkingAgentIdentifier")
    _element(agent, "linkingAgentIdentifierType", text="software")
    _element(agent, "linkingAgentIdentifierValue", text=program)
    _element(agent, "linkingAgentRole", AGENT_ROLE_AUTHORITY, text=AGENT_ROLE)

    linked = _object_identifier(verdict)
    if linked is not None:
        identifier_type, value = linked
        obj = _element(root, "linkingObjectIdentifier")
        _element(obj, "linkingObjectIdentifierType", text=identifier_type)
        _element(obj, "linkingObjectIdentifierValue", text=value)
        _element(obj, "linkingObjectRole", OBJECT_ROLE_AUTHORITY, text=OBJECT_ROLE)

    document: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return document + b"\n"


@functools.cache
def _bagverify_version() -> str:
    try:
        return version("bagverify")
    except PackageNotFoundError:  # the Lambda layer holds the package, not its distribution metadata
        return "unknown"


def _element(
    parent: ET.Element | None, name: str, attributes: dict[str, str] | None = None, *, text: str = ""
) -> ET.Element:
    """`premis:<name>`, the prefix literal (the root declares it): no namespace registered globally."""
    tag = f"premis:{name}"
    attrib = dict(attributes or {})
    element = ET.Element(tag, attrib) if parent is None else ET.SubElement(parent, tag, attrib)
    if text:
        element.text = _xml_safe(text)
    return element


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def _utc_iso(when: datetime | None) -> str:
    if when is None:
        when = datetime.now(UTC)
    elif when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"when must be timezone-aware, not {when!r}")
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _event_details(verdict: Verdict) -> list[str]:
    stats: Stats = verdict.stats
    return [
        f'program="bagverify"; version="{_bagverify_version()}"; mode="{verdict.mode}"',
        MODE_DETAILS[verdict.mode],
        (
            f"read: {stats.files:,} payload files of {stats.bytes:,} bytes, in an archive of "
            f"{stats.archive_bytes:,} bytes; {stats.bytes_read:,} bytes in {stats.get_requests:,} "
            f"GET requests; {stats.seconds:g} s"
        ),
    ]


def _outcome_notes(verdict: Verdict) -> list[str]:
    problems = verdict.problems
    if verdict.status == Status.VALID:
        notes = ["valid: no problem found"]
    elif verdict.status == Status.INVALID:
        count = problem_count(problems)
        notes = [f"invalid: the bag is at fault: {count:,} problem{'' if count == 1 else 's'}"]
    else:
        notes = [f"error: could not be verified: {', '.join(_error_kinds(problems))}"]
    notes += [f"{kind}: {count}" for kind, count in _counts_by_kind(problems).items()]
    notes += [f"warning {kind}: {count}" for kind, count in _counts_by_kind(verdict.warnings).items()]
    named = [p for p in problems if not isinstance(p.details.get("not_named"), int)]
    for number, problem in enumerate(named[:MESSAGES_NAMED], 1):
        message = problem.message
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 1] + "…"
        notes.append(f"problem {number}: {problem.kind}: {message}")
    return notes


def _error_kinds(problems: list[Problem]) -> list[str]:
    """The kinds of the errors, in order: those of ERROR_KINDS; else the last problem's (both
    error_verdict and aggregate put the errors after the problems found before them)."""
    kinds = list(dict.fromkeys(str(p.kind) for p in problems if p.kind in ERROR_KINDS))
    if not kinds and problems:
        kinds = [str(problems[-1].kind)]
    return kinds or ["unknown"]


def _counts_by_kind(problems: Iterable[Problem]) -> dict[str, int]:
    """How many problems of each kind, kinds in the order first found; exact (problem_count)."""
    groups: dict[str, list[Problem]] = {}
    for problem in problems:
        groups.setdefault(str(problem.kind), []).append(problem)
    return {kind: problem_count(group) for kind, group in groups.items()}


def _object_identifier(verdict: Verdict) -> tuple[str, str] | None:
    """(type, value) of the object verified, None if the verdict names none (a bad event's)."""
    obj: dict[str, Any] = verdict.object
    bucket, key = obj.get("bucket"), obj.get("key")
    if bucket and key:
        uri = f"s3://{_quote(str(bucket), '')}/{_quote(str(key), '/')}"
    elif verdict.source.startswith("s3://"):
        uri = verdict.source
    elif verdict.source.startswith("/"):
        return "URI", f"file://{_quote(verdict.source, '/')}"
    elif verdict.source:
        return "local path", verdict.source
    else:
        return None
    version_id = obj.get("version_id")
    etag = str(obj.get("etag") or "").strip().strip('"')
    if version_id:
        uri += f"?versionId={_quote(str(version_id), '')}"
    elif etag:
        uri += f"#etag={_quote(etag, '')}"
    return "URI", uri


def _quote(text: str, safe: str) -> str:
    """Percent-encoded UTF-8; a path's undecodable bytes (surrogate escapes) as the bytes they were."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "backslashreplace")
    return quote_from_bytes(data, safe)
