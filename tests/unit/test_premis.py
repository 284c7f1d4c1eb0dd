"""A verdict as one PREMIS 3.0 event (bagverify.premis): its shape, its values, and what a real
consumer reads of it: Archivematica's premisrw (metsrw), alone and embedded in a METS document."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path

import metsrw
import pytest
from lxml import etree
from metsrw.plugins import premisrw

from bagverify.premis import ERROR_KINDS, MAX_MESSAGE_CHARS, MESSAGES_NAMED, premis_event
from bagverify.verdict import Kind, Mode, Problem, Stats, Status, Verdict, error_verdict

NS = "http://www.loc.gov/premis/v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
P = f"{{{NS}}}"
WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
EVENT_ID = "0b8f5e52-3c1e-4d59-9a4e-6f1c2f9d7a10"
VERSION = version("bagverify")
LOC = "http://id.loc.gov/vocabulary/preservation"
DOCS = Path(__file__).resolve().parents[2] / "docs"

# What PREMIS 3's premis.xsd allows in each complex type used here: the children in order, with the
# most of each (None: unbounded), and those required (minOccurs 1). eventOutcomeInformation and
# eventOutcomeDetail are a choice in the schema; the branch written here is the one with a note.
SEQUENCES: dict[str, tuple[list[tuple[str, int | None]], set[str]]] = {
    "event": (
        [
            ("eventIdentifier", 1),
            ("eventType", 1),
            ("eventDateTime", 1),
            ("eventDetailInformation", None),
            ("eventOutcomeInformation", None),
            ("linkingAgentIdentifier", None),
            ("linkingObjectIdentifier", None),
        ],
        {"eventIdentifier", "eventType", "eventDateTime"},
    ),
    "eventIdentifier": (
        [("eventIdentifierType", 1), ("eventIdentifierValue", 1)],
        {"eventIdentifierType", "eventIdentifierValue"},
    ),
    "eventDetailInformation": ([("eventDetail", 1), ("eventDetailExtension", None)], set()),
    "eventOutcomeInformation": ([("eventOutcome", 1), ("eventOutcomeDetail", None)], {"eventOutcome"}),
    "eventOutcomeDetail": (
        [("eventOutcomeDetailNote", 1), ("eventOutcomeDetailExtension", None)],
        {"eventOutcomeDetailNote"},
    ),
    "linkingAgentIdentifier": (
        [("linkingAgentIdentifierType", 1), ("linkingAgentIdentifierValue", 1), ("linkingAgentRole", None)],
        {"linkingAgentIdentifierType", "linkingAgentIdentifierValue"},
    ),
    "linkingObjectIdentifier": (
        [
            ("linkingObjectIdentifierType", 1),
            ("linkingObjectIdentifierValue", 1),
            ("linkingObjectRole", None),
        ],
        {"linkingObjectIdentifierType", "linkingObjectIdentifierValue"},
    ),
}
# stringPlusAuthority (PREMIS 3): text with optional authority, authorityURI and valueURI.
AUTHORITY_ATTRIBUTES = {"authority", "authorityURI", "valueURI"}
STRING_PLUS_AUTHORITY = {"eventType", "eventOutcome", "linkingAgentRole", "linkingObjectRole"}


def local(element: ET.Element) -> str:
    assert element.tag.startswith(P), f"{element.tag} is not in the PREMIS 3 namespace"
    return element.tag[len(P) :]


def assert_schema_shaped(element: ET.Element) -> None:
    """Every element in the PREMIS 3 namespace, children in the order and number its type allows,
    leaves text only, and attributes only those the schema gives it."""
    name = local(element)
    children = list(element)
    if name in SEQUENCES:
        sequence, required = SEQUENCES[name]
        order = [child for child, _ in sequence]
        names = [local(child) for child in children]
        assert all(n in order for n in names), f"{name}: {names} not all in {order}"
        indices = [order.index(n) for n in names]
        assert indices == sorted(indices), f"{name}: children out of schema order: {names}"
        for child, most in sequence:
            if most is not None:
                assert names.count(child) <= most, f"{name}: {child} {names.count(child)} times"
        assert required <= set(names), f"{name}: lacks {required - set(names)}"
        assert not (element.text or "").strip(), f"{name} holds text besides elements"
        for child_element in children:
            assert_schema_shaped(child_element)
    else:
        assert not children, f"{name} is a leaf in PREMIS 3 and has children"
        assert (element.text or "").strip(), f"{name} is empty"
    if name != "event":
        allowed = AUTHORITY_ATTRIBUTES if name in STRING_PLUS_AUTHORITY else set()
        assert set(element.attrib) <= allowed, f"{name}: attributes {set(element.attrib) - allowed}"


def valid() -> Verdict:
    return Verdict(
        Status.VALID,
        "s3://bags/2024/bag.zip",
        [],
        [],
        Stats(files=12, bytes=3_456, archive_bytes=4_096, get_requests=3, bytes_read=4_000, seconds=0.25),
        {
            "bucket": "bags",
            "key": "2024/bag.zip",
            "version_id": "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd",
            "etag": '"e1"',
        },
    )


def invalid() -> Verdict:
    """Three checksum mismatches named and 997 more counted (a NamedProblems count), one missing file."""
    problems = [
        Problem(
            Kind.CHECKSUM_MISMATCH,
            f"data/{n}.txt: sha256 is {n}a, manifest-sha256.txt says {n}b",
            f"data/{n}.txt",
            {"algorithm": "sha256"},
        )
        for n in range(3)
    ]
    problems.append(
        Problem(
            Kind.MISSING_FILE, "data/gone.txt: listed in manifest-sha256.txt, not in the bag", "data/gone.txt"
        )
    )
    problems.append(
        Problem(Kind.CHECKSUM_MISMATCH, "997 more checksum_mismatch not named here", None, {"not_named": 997})
    )
    warnings = [Problem(Kind.NON_STANDARD_PATH, "data/a\\b: a backslash", "data/a\\b")] * 2
    return Verdict(
        Status.INVALID,
        "s3://bags/bad.zip",
        problems,
        warnings,
        Stats(
            files=1_000, bytes=10_000, archive_bytes=20_000, get_requests=7, bytes_read=20_000, seconds=1.5
        ),
        {"bucket": "bags", "key": "bad.zip", "version_id": None, "etag": '"abc-2"', "size": 20_000},
    )


def errored() -> Verdict:
    return error_verdict(
        Problem(Kind.NOT_FOUND, "s3://bags/none.zip: no such key"),
        "s3://bags/none.zip",
        {"bucket": "bags", "key": "none.zip", "version_id": None, "etag": None},
    )


def completeness() -> Verdict:
    verdict = valid()
    verdict.mode = Mode.COMPLETENESS
    return verdict


def event(verdict: Verdict, **kwargs: object) -> ET.Element:
    return ET.fromstring(premis_event(verdict, **{"event_identifier": EVENT_ID, "when": WHEN, **kwargs}))


def text(root: ET.Element, path: str) -> str:
    found = root.find(path.replace("p:", P))
    assert found is not None, path
    return found.text or ""


def texts(root: ET.Element, path: str) -> list[str]:
    return [e.text or "" for e in root.findall(path.replace("p:", P))]


def notes(root: ET.Element) -> list[str]:
    return texts(root, "p:eventOutcomeInformation/p:eventOutcomeDetail/p:eventOutcomeDetailNote")


def counts(root: ET.Element) -> dict[str, int]:
    """The `<kind>: <count>` notes."""
    return {m[1]: int(m[2]) for note in notes(root) if (m := re.fullmatch(r"(\w+): (\d+)", note))}


ALL = pytest.mark.parametrize("make", [valid, invalid, errored, completeness])


@ALL
def test_one_premis_3_event_document(make):
    xml = premis_event(make(), event_identifier=EVENT_ID, when=WHEN)
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    xml.decode("utf-8")
    assert b'xmlns:premis="http://www.loc.gov/premis/v3"' in xml
    root = ET.fromstring(xml)
    assert root.tag == f"{P}event"
    assert root.get("version") == "3.0"
    assert root.get(f"{{{XSI}}}schemaLocation") == (
        "http://www.loc.gov/premis/v3 https://www.loc.gov/standards/premis/v3/premis.xsd"
    )
    assert set(root.attrib) == {"version", f"{{{XSI}}}schemaLocation"}


@ALL
def test_shaped_as_the_schema_requires(make):
    root = event(make())
    assert_schema_shaped(root)
    assert [local(child) for child in root][:3] == ["eventIdentifier", "eventType", "eventDateTime"]
    assert len(root.findall(f"{P}eventOutcomeInformation")) == 1
    assert len(root.findall(f"{P}linkingAgentIdentifier")) == 1
    assert len(root.findall(f"{P}linkingObjectIdentifier")) == 1


def test_event_type_is_the_loc_fixity_check():
    element = event(valid()).find(f"{P}eventType")
    assert element is not None
    assert element.text == "fixity check"
    assert element.attrib == {
        "authority": "eventType",
        "authorityURI": f"{LOC}/eventType",
        "valueURI": f"{LOC}/eventType/fix",
    }


def test_identifier_and_date_given():
    root = event(
        valid(),
        event_identifier=EVENT_ID.upper(),
        when=datetime(2024, 5, 6, 9, 8, 9, 500, tzinfo=timezone(timedelta(hours=2))),
    )
    assert text(root, "p:eventIdentifier/p:eventIdentifierType") == "UUID"
    assert text(root, "p:eventIdentifier/p:eventIdentifierValue") == EVENT_ID
    assert text(root, "p:eventDateTime") == "2024-05-06T07:08:09.000500Z"
    assert text(event(valid()), "p:eventDateTime") == "2024-05-06T07:08:09Z"


def test_identifier_and_date_by_default():
    before = datetime.now(UTC).replace(microsecond=0)
    root = ET.fromstring(premis_event(valid()))
    after = datetime.now(UTC)
    assert uuid.UUID(text(root, "p:eventIdentifier/p:eventIdentifierValue")).version == 4
    stamp = text(root, "p:eventDateTime")
    assert stamp.endswith("Z")
    assert before <= datetime.fromisoformat(stamp) <= after
    other = ET.fromstring(premis_event(valid()))
    assert text(other, "p:eventIdentifier/p:eventIdentifierValue") != text(
        root, "p:eventIdentifier/p:eventIdentifierValue"
    )


def test_identifier_must_be_a_uuid_and_time_aware():
    with pytest.raises(ValueError):
        premis_event(valid(), event_identifier="not-a-uuid")
    with pytest.raises(ValueError, match="timezone-aware"):
        premis_event(valid(), when=datetime(2024, 5, 6, 7, 8, 9))


def test_details_name_program_version_mode_and_what_was_read():
    assert texts(event(valid()), "p:eventDetailInformation/p:eventDetail") == [
        f'program="bagverify"; version="{VERSION}"; mode="full"',
        "mode: full: every file read and every checksum compared",
        "read: 12 payload files of 3,456 bytes, in an archive of 4,096 bytes; 4,000 bytes in 3 GET requests;"
        " 0.25 s",
    ]


@pytest.mark.parametrize("mode", [Mode.COMPLETENESS, Mode.FAST])
def test_other_modes_say_they_are_no_fixity_proof(mode):
    verdict = valid()
    verdict.mode = mode
    root = event(verdict)
    details = texts(root, "p:eventDetailInformation/p:eventDetail")
    assert details[0] == f'program="bagverify"; version="{VERSION}"; mode="{mode}"'
    assert details[1].startswith(f"mode: {mode}: not a fixity proof: ")
    assert text(root, "p:eventOutcomeInformation/p:eventOutcome") == "pass"


def test_valid_passes():
    root = event(valid())
    assert text(root, "p:eventOutcomeInformation/p:eventOutcome") == "pass"
    assert notes(root) == ["valid: no problem found"]


def test_invalid_fails_with_exact_counts_per_kind():
    root = event(invalid())
    assert text(root, "p:eventOutcomeInformation/p:eventOutcome") == "fail"
    found = notes(root)
    assert found[0] == "invalid: the bag is at fault: 1,001 problems"
    # Kinds in the order first found; the 997 not named count, the warnings apart.
    assert found[1:4] == ["checksum_mismatch: 1000", "missing_file: 1", "warning non_standard_path: 2"]
    assert counts(root) == {"checksum_mismatch": 1000, "missing_file": 1}
    # The messages of the problems named, not of the count of those not named.
    assert found[4:] == [
        "problem 1: checksum_mismatch: data/0.txt: sha256 is 0a, manifest-sha256.txt says 0b",
        "problem 2: checksum_mismatch: data/1.txt: sha256 is 1a, manifest-sha256.txt says 1b",
        "problem 3: checksum_mismatch: data/2.txt: sha256 is 2a, manifest-sha256.txt says 2b",
        "problem 4: missing_file: data/gone.txt: listed in manifest-sha256.txt, not in the bag",
    ]


def test_error_fails_and_says_it_could_not_be_verified():
    root = event(errored())
    assert text(root, "p:eventOutcomeInformation/p:eventOutcome") == "fail"
    assert notes(root) == [
        "error: could not be verified: not_found",
        "not_found: 1",
        "problem 1: not_found: s3://bags/none.zip: no such key",
    ]


def test_error_names_the_error_not_the_problems_found_before_it():
    verdict = invalid()
    verdict.status = Status.ERROR
    verdict.problems.append(Problem(Kind.TIMEOUT, "stopped before the deadline"))
    found = notes(event(verdict))
    assert found[0] == "error: could not be verified: timeout"
    assert counts(event(verdict)) == {"checksum_mismatch": 1000, "missing_file": 1, "timeout": 1}


def test_error_kinds_are_those_docs_list_as_errors():
    section = (DOCS / "kinds.md").read_text(encoding="utf-8").split("## Errors", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE))
    assert {str(kind) for kind in ERROR_KINDS} == documented


def test_only_the_first_messages_and_each_cut():
    problems = [Problem(Kind.MISSING_FILE, f"data/{n}: gone", f"data/{n}") for n in range(MESSAGES_NAMED + 2)]
    problems[0] = Problem(Kind.PROFILE_BAG_INFO, "x" * (MAX_MESSAGE_CHARS + 50))
    verdict = Verdict(Status.INVALID, "s3://b/k", problems, [], Stats(), {"bucket": "b", "key": "k"})
    messages = [n for n in notes(event(verdict)) if n.startswith("problem ")]
    assert len(messages) == MESSAGES_NAMED
    assert messages[0] == "problem 1: profile_bag_info: " + "x" * (MAX_MESSAGE_CHARS - 1) + "…"
    assert messages[-1] == f"problem {MESSAGES_NAMED}: missing_file: data/{MESSAGES_NAMED - 1}: gone"
    assert counts(event(verdict)) == {"profile_bag_info": 1, "missing_file": MESSAGES_NAMED + 1}


def test_agent_is_bagverify_as_executing_program():
    agent = event(valid()).find(f"{P}linkingAgentIdentifier")
    assert agent is not None
    assert text(agent, "p:linkingAgentIdentifierType") == "software"
    assert text(agent, "p:linkingAgentIdentifierValue") == f"bagverify {VERSION}"
    role = agent.find(f"{P}linkingAgentRole")
    assert role is not None
    assert role.text == "executing program"
    assert role.get("valueURI") == f"{LOC}/eventRelatedAgentRole/exe"


@pytest.mark.parametrize(
    ("obj", "source", "expected"),
    [
        (
            {"bucket": "b", "key": "k.zip", "version_id": "v 1", "etag": '"e"'},
            "s3://b/k.zip",
            ("URI", "s3://b/k.zip?versionId=v%201"),
        ),
        (
            {"bucket": "b", "key": "k.zip", "version_id": None, "etag": '"abc-2"'},
            "s3://b/k.zip",
            ("URI", "s3://b/k.zip#etag=abc-2"),
        ),
        ({"bucket": "b", "key": "dir/k.zip"}, "s3://b/dir/k.zip", ("URI", "s3://b/dir/k.zip")),
        # A key's space, `?` and `#` are percent-encoded: what follows the path is ours alone.
        (
            {"bucket": "b", "key": "my bag?#1.zip", "etag": "e"},
            "s3://b/my bag?#1.zip",
            ("URI", "s3://b/my%20bag%3F%231.zip#etag=e"),
        ),
        ({"bucket": "b", "key": "é.zip"}, "s3://b/é.zip", ("URI", "s3://b/%C3%A9.zip")),
        ({}, "s3://b/k.zip", ("URI", "s3://b/k.zip")),
        ({"path": "/srv/bags/a bag.zip"}, "/srv/bags/a bag.zip", ("URI", "file:///srv/bags/a%20bag.zip")),
        ({"path": "bags/bag.zip"}, "bags/bag.zip", ("local path", "bags/bag.zip")),
    ],
)
def test_object_identified(obj, source, expected):
    verdict = valid()
    verdict.object, verdict.source = obj, source
    linked = event(verdict).find(f"{P}linkingObjectIdentifier")
    assert linked is not None
    assert (
        text(linked, "p:linkingObjectIdentifierType"),
        text(linked, "p:linkingObjectIdentifierValue"),
    ) == expected
    role = linked.find(f"{P}linkingObjectRole")
    assert role is not None
    assert (role.text, role.get("valueURI")) == ("source", f"{LOC}/eventRelatedObjectRole/sou")


def test_no_object_no_link():
    verdict = error_verdict(Problem(Kind.BAD_EVENT, "the event names no bag"), "")
    root = event(verdict)
    assert root.find(f"{P}linkingObjectIdentifier") is None
    assert_schema_shaped(root)


def test_hostile_text_stays_xml():
    name = "data/\x00\x1b\udcff.txt"
    verdict = Verdict(
        Status.INVALID,
        "/srv/\udcffbag.zip",
        [Problem(Kind.MISSING_FILE, f"{name}: gone", name)],
        [],
        Stats(),
        {"path": "/srv/\udcffbag.zip"},
    )
    root = event(verdict)
    assert notes(root)[-1] == "problem 1: missing_file: data/\\x00\\x1b\\udcff.txt: gone"
    assert text(root, "p:linkingObjectIdentifier/p:linkingObjectIdentifierValue") == "file:///srv/%FFbag.zip"


# premisrw: Archivematica's reader, as Archivematica and its storage service read PREMIS events.


def read_back(verdict: Verdict) -> premisrw.PREMISEvent:
    return premisrw.PREMISEvent.fromtree(
        etree.fromstring(premis_event(verdict, event_identifier=EVENT_ID, when=WHEN))
    )


@pytest.mark.parametrize(
    ("make", "outcome", "mode"),
    [
        (valid, "pass", "full"),
        (invalid, "fail", "full"),
        (errored, "fail", "full"),
        (completeness, "pass", "completeness"),
    ],
)
def test_premisrw_reads_it(make, outcome, mode):
    read = read_back(make())
    assert read.premis_version == "3.0"
    assert read.event_type == "fixity check"
    assert read.find("event_type")[1]["valueURI"] == f"{LOC}/eventType/fix"
    assert (read.event_identifier_type, read.event_identifier_value) == ("UUID", EVENT_ID)
    assert read.event_date_time == "2024-05-06T07:08:09Z"
    assert read.event_outcome == outcome
    assert read.parsed_event_detail == {"program": "bagverify", "version": VERSION, "mode": mode}
    assert [
        d.event_outcome_detail_note for d in read.findall("event_outcome_information/event_outcome_detail")
    ] == notes(event(make()))
    assert (read.linking_agent_identifier_type, read.linking_agent_identifier_value) == (
        "software",
        f"bagverify {VERSION}",
    )
    assert read.findtext("linking_agent_identifier/linking_agent_role") == "executing program"
    assert read.findtext("linking_object_identifier/linking_object_identifier_type") == "URI"
    assert read.findtext("linking_object_identifier/linking_object_identifier_value").startswith("s3://bags/")


def test_premisrw_reads_the_counts():
    read = read_back(invalid())
    read_notes = [
        d.event_outcome_detail_note for d in read.findall("event_outcome_information/event_outcome_detail")
    ]
    assert "checksum_mismatch: 1000" in read_notes
    assert read_notes[0].startswith("invalid: ")
    assert (
        read_back(errored())
        .findall("event_outcome_information/event_outcome_detail")[0]
        .event_outcome_detail_note
        == "error: could not be verified: not_found"
    )


@pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")  # metsrw's own
def test_metsrw_files_it_in_a_mets_document_and_reads_it_back():
    """As Archivematica files an event: in a digiprovMD of the file's amdSec, then reads the METS."""
    mets = metsrw.METSDocument()
    entry = metsrw.FSEntry(
        label="bag.zip", path="objects/bag.zip", type="Item", use="original", file_uuid=str(uuid.uuid4())
    )
    entry.add_premis_event(etree.fromstring(premis_event(invalid(), event_identifier=EVENT_ID, when=WHEN)))
    mets.append_file(entry)
    parsed = metsrw.METSDocument.fromstring(mets.tostring())
    events = parsed.get_file(file_uuid=entry.file_uuid).get_premis_events()
    assert len(events) == 1
    filed = parsed.get_file(file_uuid=entry.file_uuid).get_premis_event(EVENT_ID)
    assert filed is not None
    assert (filed.event_type, filed.event_outcome, filed.event_date_time) == (
        "fixity check",
        "fail",
        "2024-05-06T07:08:09Z",
    )
    assert (
        filed.findtext("linking_object_identifier/linking_object_identifier_value")
        == "s3://bags/bad.zip#etag=abc-2"
    )
