"""bagverify's BagIt Profiles checks beside the reference validator, bagit-profile 1.3.1 (pinned in the dev
extra): where they agree, on generated bags and profiles; and one named test per departure found,
asserting what bagit-profile does (so that this file notices when it changes) and what check_profile does.

bagit-profile implements the 1.3.0 specification, validates a bag folder (bagit.Bag) and judges
serialization by a file's name; check_profile implements 1.4.0 and is handed the archive's actual format.
Each bag is made by bagit.make_bag in tmp_path; its BagFacts are read off the folder the way the scan of an
archive reads them off the archive. Hermetic: every profile is passed as a dict, and bagit-profile's
urlopen is replaced by one that fails the test.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bagit
import bagit_profile
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bagverify import Problem
from bagverify.bag.profile import BagFacts, Profile, ProfileInvalid, check_profile, load_profile
from bagverify.bag.tag_files import parse_bag_info

ID = "https://example.org/bagit-profiles/departures-v1.json"
FILES = {"a.txt": b"alpha\n", "b/c.txt": b"charlie\n"}
BASE: dict[str, Any] = {
    "BagIt-Profile-Info": {
        "BagIt-Profile-Identifier": ID,
        "BagIt-Profile-Version": "1.3.0",
        "Source-Organization": "example.org",
        "External-Description": "profiles of the differential tests",
        "Version": "1",
    },
    "Bag-Info": {},
    "Manifests-Required": [],  # bagit-profile needs these three: see the crash tests below
    "Accept-BagIt-Version": ["0.97", "1.0"],
}


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"bagit-profile tried to fetch {args!r}")

    monkeypatch.setattr(bagit_profile, "urlopen", no_network)
    logging.disable(logging.CRITICAL)  # bagit-profile logs every failure as an error
    yield
    logging.disable(logging.NOTSET)


def make(
    tmp_path: Path,
    info: dict[str, Any] | None = None,
    *,
    files: dict[str, bytes] = FILES,
    algorithms: tuple[str, ...] = ("sha256",),
    tag_files: dict[str, bytes] | None = None,
) -> bagit.Bag:
    bag_dir = tmp_path / "bag"
    for relative, content in files.items():
        (bag_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (bag_dir / relative).write_bytes(content)
    bag_info = (
        {"Source-Organization": "example.org", "BagIt-Profile-Identifier": ID} if info is None else info
    )
    bag = bagit.make_bag(str(bag_dir), bag_info, checksums=list(algorithms))
    # Tag files added after: the tag manifests do not list them, which no profile field is about.
    for relative, content in (tag_files or {}).items():
        (bag_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (bag_dir / relative).write_bytes(content)
    return bagit.Bag(str(bag.path))


def facts_of(bag_dir: Path, serialization: str | None) -> BagFacts:
    """What the scan of an archive of this folder would hand check_profile."""
    files = sorted(p.relative_to(bag_dir).as_posix() for p in bag_dir.rglob("*") if p.is_file())
    declared = (bag_dir / "bagit.txt").read_text("utf-8").splitlines()[0].split(":", 1)[1].strip()
    major, minor = declared.split(".")
    info_path = bag_dir / "bag-info.txt"
    tags = parse_bag_info(info_path.read_text("utf-8"))[0] if info_path.exists() else []
    root = [name for name in files if "/" not in name]
    return BagFacts(
        bagit_version=(int(major), int(minor)),
        bag_info=tags,
        payload_manifest_algorithms=[n[len("manifest-") : -4] for n in root if n.startswith("manifest-")],
        tag_manifest_algorithms=[n[len("tagmanifest-") : -4] for n in root if n.startswith("tagmanifest-")],
        tag_files=[name for name in files if not name.startswith("data/")],
        payload_files={name: (bag_dir / name).stat().st_size for name in files if name.startswith("data/")},
        has_fetch="fetch.txt" in root,
        serialization=serialization,
    )


def sniffed(archive: Path) -> str:
    """The archive's format from its first bytes, as bagverify decides it (never from the name)."""
    head = archive.read_bytes()[:512]
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head[257:262] == b"ustar":
        return "application/x-tar"
    raise AssertionError(f"{archive}: no format known")


def archive(bag: bagit.Bag, fmt: str, name: str) -> Path:
    """The bag folder archived in `fmt` (shutil's: zip, tar, gztar) under the file name `name`."""
    folder = Path(bag.path)
    made = Path(shutil.make_archive(str(folder.parent / "made"), fmt, folder.parent, folder.name))
    return made.rename(folder.parent / name)


def document(**fields: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    for key, value in fields.items():
        key = key.replace("_txt", ".txt").replace("_", "-")
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def ours(doc: dict[str, Any]) -> Profile:
    return load_profile(json.dumps(doc).encode("utf-8"), "profile.json")


def theirs(doc: dict[str, Any], url: str = ID) -> bagit_profile.Profile:
    return bagit_profile.Profile(url, profile=copy.deepcopy(doc))


def their_errors(doc: dict[str, Any], bag: bagit.Bag, url: str = ID) -> list[str]:
    validator = theirs(doc, url)
    validator.validate(bag)
    return [str(error) for error in validator.report.errors]


def our_kinds(problems: list[Problem]) -> set[str]:
    return {str(problem.kind) for problem in problems}


# -- where they agree ----------------------------------------------------------------------------------


def _fetch(bag_dir: Path) -> None:
    (bag_dir / "fetch.txt").write_text("https://example.org/x 1 data/x\n", "utf-8")


AGREED: list[tuple[str, dict[str, Any], dict[str, Any], Any, set[str]]] = [
    # (id, profile fields, make() options, change to the folder, check_profile's kinds)
    ("baseline", {}, {}, None, set()),
    ("no identifier", {}, {"info": {"Source-Organization": "example.org"}}, None, {"profile_identifier"}),
    (
        "other identifier",
        {},
        {"info": {"BagIt-Profile-Identifier": "https://example.org/o"}},
        None,
        {"profile_identifier"},
    ),
    ("required tag present", {"Bag_Info": {"Source-Organization": {"required": True}}}, {}, None, set()),
    (
        "required tag absent",
        {"Bag_Info": {"Contact-Name": {"required": True}}},
        {},
        None,
        {"profile_bag_info"},
    ),
    ("value allowed", {"Bag_Info": {"Source-Organization": {"values": ["example.org"]}}}, {}, None, set()),
    (
        "value not allowed",
        {"Bag_Info": {"Source-Organization": {"values": ["x"]}}},
        {},
        None,
        {"profile_bag_info"},
    ),
    (
        "not repeatable, repeated",
        {"Bag_Info": {"Contact-Name": {"repeatable": False}}},
        {"info": {"BagIt-Profile-Identifier": ID, "Contact-Name": ["A", "B"]}},
        None,
        {"profile_bag_info"},
    ),
    ("manifest required, there", {"Manifests_Required": ["sha256"]}, {}, None, set()),
    ("manifest required, absent", {"Manifests_Required": ["md5"]}, {}, None, {"profile_manifests"}),
    ("manifest not allowed", {"Manifests_Allowed": ["md5"]}, {}, None, {"profile_manifests"}),
    (
        "two manifests allowed",
        {"Manifests_Allowed": ["md5", "sha256"]},
        {"algorithms": ("md5", "sha256")},
        None,
        set(),
    ),
    ("tag manifest required", {"Tag_Manifests_Required": ["sha512"]}, {}, None, {"profile_tag_manifests"}),
    ("tag manifest not allowed", {"Tag_Manifests_Allowed": ["md5"]}, {}, None, {"profile_tag_manifests"}),
    ("fetch forbidden, absent", {"Allow_Fetch_txt": False}, {}, None, set()),
    ("fetch forbidden, there", {"Allow_Fetch_txt": False}, {}, _fetch, {"profile_fetch"}),
    ("fetch allowed, there", {"Allow_Fetch_txt": True}, {}, _fetch, set()),
    ("version not accepted", {"Accept_BagIt_Version": ["1.0"]}, {}, None, {"profile_bagit_version"}),
    (
        "tag file required, there",
        {"Tag_Files_Required": ["meta/x.xml"]},
        {"tag_files": {"meta/x.xml": b"<x/>"}},
        None,
        set(),
    ),
    ("tag file required, absent", {"Tag_Files_Required": ["meta/x.xml"]}, {}, None, {"profile_tag_files"}),
    (
        "tag file allowed",
        {"Tag_Files_Allowed": ["meta/*"]},
        {"tag_files": {"meta/a/x.xml": b"<x/>"}},
        None,
        set(),
    ),
    (
        "tag file not allowed",
        {"Tag_Files_Allowed": ["meta/*"]},
        {"tag_files": {"README.md": b"r"}},
        None,
        {"profile_tag_files"},
    ),
    ("bagit's own files need no pattern", {"Tag_Files_Allowed": []}, {}, None, set()),
]


@pytest.mark.parametrize(
    ("fields", "options", "change", "expected"), [a[1:] for a in AGREED], ids=[a[0] for a in AGREED]
)
def test_bagit_profile_and_check_profile_agree(
    tmp_path: Path, fields: dict[str, Any], options: dict[str, Any], change: Any, expected: set[str]
) -> None:
    bag = make(tmp_path, **options)
    if change is not None:
        change(Path(bag.path))
        bag = bagit.Bag(bag.path)
    doc = document(**fields)
    valid = theirs(doc).validate(bag)
    problems = check_profile(ours(doc), facts_of(Path(bag.path), None))
    assert our_kinds(problems) == expected
    assert valid is (not problems), (valid, problems)


ALGORITHMS = ["md5", "sha256", "sha512"]
TAG_FILES = {"README.md": b"read me\n", "meta/x.xml": b"<x/>\n"}


@st.composite
def generated(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(make() options, whether the bag has fetch.txt, profile fields) over what both validators read
    alike: none of the departures below (no repeated tag with 'values', no empty 'values', no repeated
    identifier, no 1.4.0 field, every profile at 1.3.0, tag files without '[')."""
    algorithms = draw(st.lists(st.sampled_from(ALGORITHMS), min_size=1, max_size=3, unique=True))
    names = draw(st.lists(st.sampled_from(["A", "B", "C"]), max_size=2))
    info: dict[str, Any] = {"Source-Organization": "example.org"}
    identifier = draw(st.sampled_from([ID, "https://example.org/other.json", None]))
    if identifier is not None:
        info["BagIt-Profile-Identifier"] = identifier
    if names:
        info["Contact-Name"] = names if len(names) > 1 else names[0]
    tag_files = {
        name: TAG_FILES[name] for name in draw(st.lists(st.sampled_from(sorted(TAG_FILES)), unique=True))
    }
    bag = {"algorithms": tuple(algorithms), "info": info, "tag_files": tag_files}

    fields: dict[str, Any] = {}
    for name in ("Manifests", "Tag_Manifests"):
        if draw(st.booleans()):
            fields[f"{name}_Required"] = draw(st.lists(st.sampled_from(ALGORITHMS), max_size=2, unique=True))
        if draw(st.booleans()):
            fields[f"{name}_Allowed"] = draw(st.lists(st.sampled_from(ALGORITHMS), min_size=1, unique=True))
    rule: dict[str, Any] = {}
    if draw(st.booleans()):
        rule["required"] = draw(st.booleans())
    if draw(st.booleans()):
        rule["repeatable"] = draw(st.booleans())
    if len(names) < 2 and draw(st.booleans()):
        rule["values"] = draw(st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=2, unique=True))
    if draw(st.booleans()):
        fields["Bag_Info"] = {"Contact-Name": rule}
    if draw(st.booleans()):
        fields["Allow_Fetch_txt"] = draw(st.booleans())
    fields["Accept_BagIt_Version"] = draw(st.lists(st.sampled_from(["0.97", "1.0"]), min_size=1, unique=True))
    if draw(st.booleans()):
        fields["Tag_Files_Required"] = draw(st.lists(st.sampled_from(sorted(TAG_FILES)), unique=True))
    if draw(st.booleans()):
        patterns = ["*", "meta/*", "README.md", "*.md", "*.xml"]
        fields["Tag_Files_Allowed"] = draw(st.lists(st.sampled_from(patterns), unique=True))
    return bag, {"fetch": draw(st.booleans())}, fields


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(generated())
def test_generated_bags_and_profiles_get_one_answer_from_both(
    case: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
) -> None:
    """Valid to one, valid to the other; and a profile load_profile refuses (a required manifest or tag
    file its own allowed list excludes) is one bagit-profile fails every bag against."""
    options, fetch, fields = case
    with tempfile.TemporaryDirectory() as folder:
        bag = make(Path(folder), **options)
        if fetch["fetch"]:
            _fetch(Path(bag.path))
            bag = bagit.Bag(bag.path)
        doc = document(**fields)
        valid = theirs(doc).validate(bag)
        try:
            profile = ours(doc)
        except ProfileInvalid:
            assert valid is False
            return
        problems = check_profile(profile, facts_of(Path(bag.path), None))
        assert valid is (not problems), (theirs(doc).report, problems)


@pytest.mark.parametrize(
    ("fmt", "name", "accepted", "agreed"),
    [
        ("zip", "bag.zip", ["application/zip"], True),
        ("zip", "bag.zip", ["application/x-tar"], False),
        ("tar", "bag.tar", ["application/x-tar"], True),
        ("tar", "bag.tar", ["application/zip"], False),
    ],
)
def test_they_agree_on_a_well_named_archive(
    tmp_path: Path, fmt: str, name: str, accepted: list[str], agreed: bool
) -> None:
    bag = make(tmp_path)
    path = archive(bag, fmt, name)
    doc = document(Serialization="required", Accept_Serialization=accepted)
    assert _their_serialization(doc, path) is agreed
    assert (check_profile(ours(doc), facts_of(Path(bag.path), sniffed(path))) == []) is agreed


def _their_serialization(doc: dict[str, Any], path: Path) -> bool:
    try:
        return bool(theirs(doc).validate_serialization(str(path)))
    except bagit_profile.ProfileValidationError:
        return False


def test_they_agree_that_forbidden_serialization_fails_an_archive(tmp_path: Path) -> None:
    bag = make(tmp_path)
    path = archive(bag, "zip", "bag.zip")
    doc = document(Serialization="forbidden")
    assert _their_serialization(doc, path) is False
    assert _their_serialization(doc, Path(bag.path)) is True  # a folder is not serialized
    assert our_kinds(check_profile(ours(doc), facts_of(Path(bag.path), sniffed(path)))) == {
        "profile_serialization"
    }


# -- departures: the bag-info.txt tags -------------------------------------------------------------------


def test_bagit_profile_rejects_a_repeated_profile_identifier(tmp_path: Path) -> None:
    """The specification: BagIt-Profile-Identifier 'MAY be repeated if the Bag conforms to multiple BagIt
    Profiles'. bagit-profile compares the list bagit-python makes of a repeated tag with its URL."""
    bag = make(tmp_path, {"BagIt-Profile-Identifier": ["https://example.org/other.json", ID]})
    assert any("does not contain this profile's URI" in e for e in their_errors(document(), bag))
    assert check_profile(ours(document()), facts_of(Path(bag.path), None)) == []


def test_bagit_profile_compares_the_identifier_with_the_url_it_was_given(tmp_path: Path) -> None:
    """bagit-profile wants the bag to name the URL the profile was fetched from; the specification, the
    profile's own BagIt-Profile-Identifier (which 'will have the same value' as the bag's)."""
    bag = make(tmp_path)
    mirror = "https://mirror.example.net/departures-v1.json"
    assert any("does not contain this profile's URI" in e for e in their_errors(document(), bag, url=mirror))
    assert check_profile(ours(document()), facts_of(Path(bag.path), None)) == []


def test_bagit_profile_matches_bag_info_labels_case_sensitively(tmp_path: Path) -> None:
    """RFC 8493 §2.2.2: reserved labels are case-insensitive; bagit-profile matches case unless told
    (ignore_baginfo_tag_case). check_profile compares every label without case."""
    bag = make(tmp_path, {"bagit-profile-identifier": ID, "source-organization": "example.org"})
    doc = document(Bag_Info={"Source-Organization": {"required": True}})
    errors = their_errors(doc, bag)
    assert any("Required 'BagIt-Profile-Identifier' tag is not in bag-info.txt" in e for e in errors)
    assert check_profile(ours(doc), facts_of(Path(bag.path), None)) == []


def test_bagit_profile_rejects_a_repeated_tag_whose_values_are_all_allowed(tmp_path: Path) -> None:
    """'values' lists the acceptable values; a repeatable tag given twice, each time an allowed value,
    is still a list to bagit-profile, and a list is in no list of strings."""
    bag = make(tmp_path, {"BagIt-Profile-Identifier": ID, "Contact-Name": ["A", "B"]})
    doc = document(Bag_Info={"Contact-Name": {"values": ["A", "B"]}})
    assert any("does not have an allowed value" in e for e in their_errors(doc, bag))
    assert check_profile(ours(doc), facts_of(Path(bag.path), None)) == []


def test_bagit_profile_refuses_every_value_when_values_is_empty(tmp_path: Path) -> None:
    """'"values" is a list of acceptable values. If empty, any value is accepted.' bagit-profile looks the
    value up in the empty list. (Found by the generated test above.)"""
    bag = make(tmp_path, {"BagIt-Profile-Identifier": ID, "Contact-Name": "A"})
    doc = document(Bag_Info={"Contact-Name": {"values": []}})
    assert any("does not have an allowed value" in e for e in their_errors(doc, bag))
    assert check_profile(ours(doc), facts_of(Path(bag.path), None)) == []


# -- departures: crashes on profiles the specification allows ------------------------------------------


@pytest.mark.parametrize("field", ["Manifests-Required", "Bag-Info"])
def test_bagit_profile_crashes_on_a_profile_without_an_optional_field(tmp_path: Path, field: str) -> None:
    """Neither Manifests-Required nor Bag-Info is required by the specification; bagit-profile's validate
    raises KeyError (no report) without either."""
    bag = make(tmp_path)
    doc = document(**{field.replace("-", "_"): None})
    with pytest.raises(KeyError, match=field):
        theirs(doc).validate(bag)
    assert check_profile(ours(doc), facts_of(Path(bag.path), None)) == []


def test_bagit_profile_crashes_on_a_profile_without_accept_bagit_version(tmp_path: Path) -> None:
    """'At least one version is required': bagit-profile loads the profile and crashes validating a bag
    (KeyError); load_profile refuses the profile, naming the field."""
    bag = make(tmp_path)
    doc = document(Accept_BagIt_Version=None)
    with pytest.raises(KeyError, match="Accept-BagIt-Version"):
        theirs(doc).validate(bag)
    with pytest.raises(ProfileInvalid, match="no Accept-BagIt-Version"):
        ours(doc)


def test_bagit_profile_crashes_on_a_profile_version_that_is_not_numbers() -> None:
    """The specification writes versions as 'v1.2.0' in its own prose; bagit-profile's int() of each part
    raises ValueError at loading. check_profile honours every field whatever the version says."""
    doc = document()
    doc["BagIt-Profile-Info"]["BagIt-Profile-Version"] = "v1.4.0"
    with pytest.raises(ValueError, match="invalid literal for int"):
        theirs(doc)
    assert ours(doc).profile_version == "v1.4.0"


def test_bagit_profile_crashes_on_optional_serialization_without_accept_serialization(tmp_path: Path) -> None:
    """Serialization optional (the default) and no Accept-Serialization: bagit-profile's
    validate_serialization of an archive raises KeyError; check_profile accepts any format."""
    bag = make(tmp_path)
    path = archive(bag, "zip", "bag.zip")
    with pytest.raises(KeyError, match="Accept-Serialization"):
        theirs(document()).validate_serialization(str(path))
    assert check_profile(ours(document()), facts_of(Path(bag.path), sniffed(path))) == []


# -- departures: the profile itself ---------------------------------------------------------------------


def test_bagit_profile_accepts_a_serialization_value_outside_the_three() -> None:
    """Serialization: forbidden|required|optional. bagit-profile takes any value (and then checks
    nothing); load_profile refuses it."""
    doc = document(Serialization="sometimes")
    theirs(doc)
    with pytest.raises(ProfileInvalid, match="Serialization must be one of forbidden, required, optional"):
        ours(doc)


def test_bagit_profile_accepts_a_profile_info_without_external_description() -> None:
    """BagIt-Profile-Info requires Source-Organization, External-Description, Version and
    BagIt-Profile-Identifier; bagit-profile never looks for External-Description."""
    doc = document()
    del doc["BagIt-Profile-Info"]["External-Description"]
    theirs(doc)
    with pytest.raises(ProfileInvalid, match="lacks External-Description"):
        ours(doc)


def test_bagit_profile_accepts_a_profile_info_without_version_or_identifier() -> None:
    """bagit-profile stops looking at the first tag missing after Source-Organization: without Version it
    logs and returns before looking for BagIt-Profile-Identifier."""
    doc = document()
    del doc["BagIt-Profile-Info"]["Version"]
    del doc["BagIt-Profile-Info"]["BagIt-Profile-Identifier"]
    theirs(doc)
    with pytest.raises(ProfileInvalid) as caught:
        ours(doc)
    assert caught.value.faults == [
        "BagIt-Profile-Info lacks Version, which the specification requires there",
        "BagIt-Profile-Info lacks BagIt-Profile-Identifier, which the specification requires there",
    ]


def test_bagit_profile_blames_the_bag_for_a_required_manifest_the_profile_does_not_allow(
    tmp_path: Path,
) -> None:
    """'Manifests-Allowed must include at least all of the manifest types listed in Manifests-Required':
    a fault of the profile. bagit-profile loads it and reports it against every bag."""
    bag = make(tmp_path, algorithms=("md5",))
    doc = document(Manifests_Required=["md5"], Manifests_Allowed=["sha256"])
    assert any("not allowed by Manifests-Allowed" in e for e in their_errors(doc, bag))
    with pytest.raises(ProfileInvalid, match="Manifests-Required lists md5, which Manifests-Allowed"):
        ours(doc)


def test_bagit_profile_accepts_fetch_txt_required_with_fetch_txt_forbidden(tmp_path: Path) -> None:
    """Fetch.txt-Required (1.4.0): 'Only specify when Allow-Fetch.txt is true'. bagit-profile knows
    neither the field nor the contradiction."""
    doc = document(Allow_Fetch_txt=False, Fetch_txt_Required=True)
    assert theirs(doc).validate(make(tmp_path)) is True
    with pytest.raises(ProfileInvalid, match=r"Fetch\.txt-Required is true but Allow-Fetch\.txt is false"):
        ours(doc)


# -- departures: fields bagit-profile skips ---------------------------------------------------------------


def test_bagit_profile_ignores_manifests_allowed_in_a_profile_older_than_1_3(tmp_path: Path) -> None:
    """A profile without BagIt-Profile-Version is 1.1.0, and bagit-profile skips Manifests-Allowed (and
    Tag-Manifests-Allowed) below 1.3.0. A profile that writes the field means it: check_profile applies it."""
    bag = make(tmp_path, algorithms=("md5",))
    doc = document(Manifests_Allowed=["sha256"])
    del doc["BagIt-Profile-Info"]["BagIt-Profile-Version"]
    assert theirs(doc).validate(bag) is True
    assert our_kinds(check_profile(ours(doc), facts_of(Path(bag.path), None))) == {"profile_manifests"}


def test_bagit_profile_ignores_tag_files_allowed_in_a_profile_older_than_1_2(tmp_path: Path) -> None:
    bag = make(tmp_path, tag_files={"README.md": b"read me\n"})
    doc = document(Tag_Files_Allowed=["meta/*"])
    doc["BagIt-Profile-Info"]["BagIt-Profile-Version"] = "1.1.0"
    assert theirs(doc).validate(bag) is True
    assert our_kinds(check_profile(ours(doc), facts_of(Path(bag.path), None))) == {"profile_tag_files"}


def test_bagit_profile_ignores_fetch_txt_required(tmp_path: Path) -> None:
    """Fetch.txt-Required is new in 1.4.0."""
    bag = make(tmp_path)
    doc = document(Fetch_txt_Required=True)
    assert theirs(doc).validate(bag) is True
    assert our_kinds(check_profile(ours(doc), facts_of(Path(bag.path), None))) == {"profile_fetch"}


def test_bagit_profile_ignores_data_empty(tmp_path: Path) -> None:
    """Data-Empty is new in 1.4.0: data/ holds no file or one empty file."""
    bag = make(tmp_path)
    doc = document(Data_Empty=True)
    assert theirs(doc).validate(bag) is True
    assert our_kinds(check_profile(ours(doc), facts_of(Path(bag.path), None))) == {"profile_data_empty"}
    empty = make(tmp_path / "empty", files={".keep": b""})
    assert check_profile(ours(doc), facts_of(Path(empty.path), None)) == []


def test_bagit_profile_ignores_payload_files_required_and_allowed(tmp_path: Path) -> None:
    """Payload-Files-Required and Payload-Files-Allowed are new in 1.4.0."""
    bag = make(tmp_path)
    doc = document(
        Payload_Files_Required=["data/ro-crate-metadata.json"],
        Payload_Files_Allowed=["data/ro-crate-metadata.json"],
    )
    assert theirs(doc).validate(bag) is True
    problems = check_profile(ours(doc), facts_of(Path(bag.path), None))
    assert {(str(p.kind), p.path) for p in problems} == {
        ("profile_payload_files", "data/ro-crate-metadata.json"),  # required, not there
        ("profile_payload_files", "data/a.txt"),  # there, not allowed
        ("profile_payload_files", "data/b/c.txt"),
    }


# -- departures: tag files and their patterns ----------------------------------------------------------------


def test_bagit_profile_skips_tag_files_in_a_directory_whose_name_begins_with_data(tmp_path: Path) -> None:
    """bagit-profile leaves out of Tag-Files-Allowed every folder fnmatch-ing 'data*': payload, and
    tag directories such as database/ or data-dictionary/ too."""
    bag = make(tmp_path, tag_files={"database/schema.sql": b"create table t (x int);\n"})
    doc = document(Tag_Files_Allowed=["meta/*"])
    assert theirs(doc).validate(bag) is True
    problems = check_profile(ours(doc), facts_of(Path(bag.path), None))
    assert {(str(p.kind), p.path) for p in problems} == {("profile_tag_files", "database/schema.sql")}


def test_bagit_profile_reads_brackets_in_tag_file_patterns_as_a_class(tmp_path: Path) -> None:
    """Entries are 'full path names ... or patterns in which asterisks can represent zero or more
    characters': only '*' is a wildcard, so a full path name matches itself. bagit-profile's fnmatch reads
    '[1]' as a class, and the tag file named in the profile is not allowed."""
    bag = make(tmp_path, tag_files={"notes[1].txt": b"n\n"})
    doc = document(Tag_Files_Required=["notes[1].txt"], Tag_Files_Allowed=["notes[1].txt"])
    errors = their_errors(doc, bag)
    assert any("not listed in Tag-Files-Allowed" in e for e in errors), errors
    assert check_profile(ours(doc), facts_of(Path(bag.path), None)) == []


def test_bagit_profile_takes_a_directory_for_a_required_tag_file(tmp_path: Path) -> None:
    """Tag-Files-Required lists tag files; bagit-profile's exists() is true of a directory too. Here a
    directory is required by writing it with a '/' last (as 1.4.0 writes payload directories)."""
    bag = make(tmp_path, tag_files={"meta/x.xml": b"<x/>"})
    doc = document(Tag_Files_Required=["meta"])
    assert theirs(doc).validate(bag) is True
    problems = check_profile(ours(doc), facts_of(Path(bag.path), None))
    assert {(str(p.kind), p.path) for p in problems} == {("profile_tag_files", "meta")}
    assert check_profile(ours(document(Tag_Files_Required=["meta/"])), facts_of(Path(bag.path), None)) == []


def test_bagit_profile_wants_bagits_own_files_in_tag_files_allowed(tmp_path: Path) -> None:
    """Tag-Files-Required 'SHOULD NOT include bag-info.txt', yet may; bagit-profile then wants it matched by
    Tag-Files-Allowed, though it never judges bag-info.txt by that list. check_profile judges neither."""
    bag = make(tmp_path, tag_files={"aptrust-info.txt": b"Title: t\n"})
    doc = document(
        Tag_Files_Required=["bag-info.txt", "aptrust-info.txt"], Tag_Files_Allowed=["aptrust-info.txt"]
    )
    assert any("not listed in Tag-Files-Allowed" in e for e in their_errors(doc, bag))
    assert check_profile(ours(doc), facts_of(Path(bag.path), None)) == []


# -- departures: serialization by file name -----------------------------------------------------------------


def test_bagit_profile_judges_serialization_by_the_file_name(tmp_path: Path) -> None:
    """A ZIP named bag.tar: mimetypes says application/x-tar and bagit-profile accepts it for a tar-only
    profile. check_profile is handed what the bytes are."""
    bag = make(tmp_path)
    path = archive(bag, "zip", "bag.tar")
    doc = document(Serialization="required", Accept_Serialization=["application/x-tar"])
    assert _their_serialization(doc, path) is True
    problems = check_profile(ours(doc), facts_of(Path(bag.path), sniffed(path)))
    assert [p.details.get("actual") for p in problems] == ["application/zip"]


def test_bagit_profile_takes_a_gzip_compressed_tar_for_a_plain_tar(tmp_path: Path) -> None:
    """mimetypes gives bag.tar.gz the type application/x-tar (and gzip as its encoding, unread): a profile
    accepting only plain tar accepts it. check_profile sees application/gzip."""
    bag = make(tmp_path)
    path = archive(bag, "gztar", "bag.tar.gz")
    doc = document(Serialization="required", Accept_Serialization=["application/x-tar"])
    assert _their_serialization(doc, path) is True
    assert sniffed(path) == "application/gzip"
    assert our_kinds(check_profile(ours(doc), facts_of(Path(bag.path), sniffed(path)))) == {
        "profile_serialization"
    }


def test_bagit_profile_refuses_a_tar_to_a_profile_that_writes_application_tar(tmp_path: Path) -> None:
    """The specification's own example, and APTrust's profile, write "application/tar"; mimetypes says
    "application/x-tar", so bagit-profile refuses every tar. check_profile reads the two as one format."""
    bag = make(tmp_path)
    path = archive(bag, "tar", "bag.tar")
    doc = document(Serialization="required", Accept_Serialization=["application/tar"])
    assert _their_serialization(doc, path) is False
    assert check_profile(ours(doc), facts_of(Path(bag.path), sniffed(path))) == []
