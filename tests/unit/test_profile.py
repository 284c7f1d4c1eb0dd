"""BagIt Profiles 1.4.0 (bagverify.bag.profile): one test per field, each failing if its check is
dropped; malformed profiles refused with every fault named; the path patterns' semantics; the example
profiles in docs/profiles/ loaded and used.

Bags here are BagFacts written out by hand: what the scan of an archive hands the checks. The same
checks on real bags, beside the reference validator bagit-profile, are in test_bagit_profile_departures.py.
"""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bagverify import Problem
from bagverify.bag.profile import (
    BagFacts,
    BagInfoRule,
    Profile,
    ProfileInvalid,
    check_profile,
    glob_match,
    glob_match_automaton,
    glob_matches_under,
    load_profile,
    mime_type,
)

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "docs" / "profiles"
ID = "https://example.org/bagit-profiles/test-v1.json"

BASE: dict[str, Any] = {
    "BagIt-Profile-Info": {
        "BagIt-Profile-Identifier": ID,
        "BagIt-Profile-Version": "1.4.0",
        "Source-Organization": "example.org",
        "External-Description": "a profile of the tests",
        "Version": "1",
    },
    "Accept-BagIt-Version": ["1.0"],
}


def profile(**fields: Any) -> Profile:
    """BASE with top-level fields set (a value of None removes the field)."""
    document = copy.deepcopy(BASE)
    for key, value in fields.items():
        key = key.replace("_txt", ".txt").replace("_", "-")
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return load(document)


def load(document: Any) -> Profile:
    return load_profile(json.dumps(document).encode("utf-8"), "test.json")


def facts(**changes: Any) -> BagFacts:
    """A bag that meets BASE: a ZIP, BagIt 1.0, its bag-info naming the profile."""
    bag = BagFacts(
        bagit_version=(1, 0),
        bag_info=[("Source-Organization", "example.org"), ("BagIt-Profile-Identifier", ID)],
        payload_manifest_algorithms=["sha256"],
        tag_manifest_algorithms=["sha256"],
        tag_files=["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt"],
        payload_files={"data/a.txt": 6, "data/b/c.txt": 8},
        has_fetch=False,
        serialization="application/zip",
    )
    return replace(bag, **changes)


def found(problems: list[Problem]) -> set[tuple[str, str | None]]:
    return {(str(p.kind), p.path) for p in problems}


def kinds(problems: list[Problem]) -> set[str]:
    return {str(p.kind) for p in problems}


def invalid(document: Any) -> str:
    with pytest.raises(ProfileInvalid) as caught:
        load(document)
    return str(caught.value)


def test_the_baseline_bag_meets_the_baseline_profile() -> None:
    assert check_profile(profile(), facts()) == []


def test_every_problem_is_a_profile_kind_naming_its_field() -> None:
    bag = facts(bag_info=[], serialization="application/x-tar", bagit_version=(0, 97), has_fetch=True)
    problems = check_profile(profile(Allow_Fetch_txt=False, Accept_Serialization=["application/zip"]), bag)
    assert problems
    for problem in problems:
        assert str(problem.kind).startswith("profile_"), problem
        assert problem.message.startswith(problem.details["profile_field"] + ": "), problem


# -- BagIt-Profile-Identifier --------------------------------------------------------------------------


def test_the_bag_must_name_the_profile() -> None:
    assert found(check_profile(profile(), facts(bag_info=[]))) == {("profile_identifier", "bag-info.txt")}


def test_the_bag_must_name_this_profile_not_another() -> None:
    bag = facts(bag_info=[("BagIt-Profile-Identifier", "https://example.org/other.json")])
    problems = check_profile(profile(), bag)
    assert kinds(problems) == {"profile_identifier"}
    assert "https://example.org/other.json" in problems[0].message


def test_a_repeated_profile_identifier_is_enough_when_one_names_the_profile() -> None:
    """'This tag MAY be repeated if the Bag conforms to multiple BagIt Profiles.'"""
    bag = facts(
        bag_info=[
            ("BagIt-Profile-Identifier", "https://example.org/other.json"),
            ("BagIt-Profile-Identifier", ID),
        ]
    )
    assert check_profile(profile(), bag) == []


def test_the_identifier_label_is_found_in_any_case_and_its_value_without_blanks() -> None:
    assert check_profile(profile(), facts(bag_info=[("bagit-profile-identifier", f" {ID} ")])) == []


def test_a_package_info_txt_bag_is_told_of_package_info_txt() -> None:
    """BagIt 0.95 and before call bag-info.txt package-info.txt (docs/bagit-versions.md V8)."""
    bag = facts(bag_info=[], bagit_version=(0, 95))
    assert ("profile_identifier", "package-info.txt") in found(check_profile(profile(), bag))


# -- Bag-Info ------------------------------------------------------------------------------------------


def test_a_required_tag_must_be_there() -> None:
    p = profile(Bag_Info={"Contact-Email": {"required": True}})
    assert found(check_profile(p, facts())) == {("profile_bag_info", "bag-info.txt")}
    tags = [*facts().bag_info, ("Contact-Email", "a@example.org")]
    assert check_profile(p, facts(bag_info=tags)) == []


def test_a_tag_not_required_may_be_absent() -> None:
    p = profile(Bag_Info={"Contact-Email": {"required": False}, "Contact-Name": {}})
    assert check_profile(p, facts()) == []


def test_a_tag_must_have_one_of_its_values() -> None:
    p = profile(Bag_Info={"Source-Organization": {"values": ["example.org", "example.com"]}})
    assert check_profile(p, facts()) == []
    problems = check_profile(
        p, facts(bag_info=[("Source-Organization", "elsewhere"), ("BagIt-Profile-Identifier", ID)])
    )
    assert found(problems) == {("profile_bag_info", "bag-info.txt")}
    assert problems[0].details["actual"] == "elsewhere"


def test_empty_values_accept_any_value() -> None:
    """'"values" is a list of acceptable values. If empty, any value is accepted.'"""
    assert check_profile(profile(Bag_Info={"Source-Organization": {"values": []}}), facts()) == []


def test_every_occurrence_of_a_repeated_tag_must_have_an_allowed_value() -> None:
    p = profile(Bag_Info={"Contact-Name": {"values": ["A", "B"]}})
    tags = [*facts().bag_info, ("Contact-Name", "A"), ("Contact-Name", "C")]
    problems = check_profile(p, facts(bag_info=tags))
    assert [problem.details["actual"] for problem in problems] == ["C"]


def test_a_tag_not_repeatable_must_appear_at_most_once() -> None:
    p = profile(Bag_Info={"Contact-Name": {"repeatable": False}})
    once = [*facts().bag_info, ("Contact-Name", "A")]
    assert check_profile(p, facts(bag_info=once)) == []
    twice = [*once, ("contact-name", "B")]
    assert found(check_profile(p, facts(bag_info=twice))) == {("profile_bag_info", "bag-info.txt")}


def test_tags_are_repeatable_unless_the_profile_says_not() -> None:
    tags = [*facts().bag_info, ("Contact-Name", "A"), ("Contact-Name", "B")]
    assert check_profile(profile(Bag_Info={"Contact-Name": {}}), facts(bag_info=tags)) == []


def test_bag_info_labels_are_compared_without_case() -> None:
    p = profile(Bag_Info={"SOURCE-ORGANIZATION": {"required": True, "values": ["example.org"]}})
    assert check_profile(p, facts()) == []


def test_unknown_tag_properties_are_ignored() -> None:
    """BTR's profile writes "recommended"; bagit-utils reads "regex": extensions, not faults."""
    p = profile(Bag_Info={"Contact-Name": {"required": False, "recommended": True, "regex": ".*"}})
    assert p.bag_info == (BagInfoRule("Contact-Name"),)


# -- Manifests-Required / -Allowed, Tag-Manifests-Required / -Allowed ----------------------------------


def test_a_required_payload_manifest_must_be_there() -> None:
    problems = check_profile(profile(Manifests_Required=["md5", "sha256"]), facts())
    assert found(problems) == {("profile_manifests", "manifest-md5.txt")}


def test_only_allowed_payload_manifests_may_be_there() -> None:
    p = profile(Manifests_Allowed=["sha256", "sha512"])
    assert check_profile(p, facts()) == []
    bag = facts(payload_manifest_algorithms=["sha256", "md5"])
    assert found(check_profile(p, bag)) == {("profile_manifests", "manifest-md5.txt")}


def test_a_required_tag_manifest_must_be_there() -> None:
    problems = check_profile(profile(Tag_Manifests_Required=["sha512"]), facts())
    assert found(problems) == {("profile_tag_manifests", "tagmanifest-sha512.txt")}


def test_only_allowed_tag_manifests_may_be_there() -> None:
    p = profile(Tag_Manifests_Allowed=["sha512"])
    assert found(check_profile(p, facts())) == {("profile_tag_manifests", "tagmanifest-sha256.txt")}
    assert check_profile(profile(Tag_Manifests_Allowed=[]), facts(tag_manifest_algorithms=[])) == []


def test_manifest_algorithms_are_compared_in_lower_case() -> None:
    p = profile(Manifests_Required=["SHA256"], Manifests_Allowed=["Sha256"])
    assert check_profile(p, facts(payload_manifest_algorithms=["sha256"])) == []


# -- Allow-Fetch.txt / Fetch.txt-Required --------------------------------------------------------------


def test_fetch_txt_is_allowed_unless_the_profile_says_not() -> None:
    assert check_profile(profile(), facts(has_fetch=True)) == []
    problems = check_profile(profile(Allow_Fetch_txt=False), facts(has_fetch=True))
    assert found(problems) == {("profile_fetch", "fetch.txt")}


def test_a_required_fetch_txt_must_be_there() -> None:
    p = profile(Fetch_txt_Required=True)
    assert found(check_profile(p, facts())) == {("profile_fetch", "fetch.txt")}
    assert check_profile(p, facts(has_fetch=True)) == []


# -- Data-Empty ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [{}, {"data/.keep": 0}], ids=["no file", "one empty file"])
def test_an_empty_payload_meets_data_empty(payload: dict[str, int]) -> None:
    assert check_profile(profile(Data_Empty=True), facts(payload_files=payload)) == []


def test_data_empty_refuses_two_files_even_empty_ones() -> None:
    problems = check_profile(profile(Data_Empty=True), facts(payload_files={"data/a": 0, "data/b": 0}))
    assert found(problems) == {("profile_data_empty", "data/")}


def test_data_empty_refuses_one_file_with_octets() -> None:
    problems = check_profile(profile(Data_Empty=True), facts(payload_files={"data/a.txt": 1}))
    assert found(problems) == {("profile_data_empty", "data/a.txt")}


def test_data_empty_false_places_no_constraint() -> None:
    assert check_profile(profile(Data_Empty=False), facts()) == []


# -- Serialization / Accept-Serialization --------------------------------------------------------------


def test_forbidden_serialization_fails_every_archive_and_says_why() -> None:
    problems = check_profile(profile(Serialization="forbidden"), facts())
    assert kinds(problems) == {"profile_serialization"}
    assert "bagverify reads bags only as archives" in problems[0].message
    assert check_profile(profile(Serialization="forbidden"), facts(serialization=None)) == []


def test_required_serialization_fails_a_bag_that_is_not_serialized() -> None:
    p = profile(Serialization="required", Accept_Serialization=["application/zip"])
    assert check_profile(p, facts()) == []
    assert kinds(check_profile(p, facts(serialization=None))) == {"profile_serialization"}


def test_optional_serialization_takes_either() -> None:
    p = profile(Serialization="optional", Accept_Serialization=["application/zip"])
    assert check_profile(p, facts()) == []
    assert check_profile(p, facts(serialization=None)) == []


def test_the_archive_format_must_be_accepted() -> None:
    p = profile(Accept_Serialization=["application/zip"])
    problems = check_profile(p, facts(serialization="application/x-tar"))
    assert kinds(problems) == {"profile_serialization"}
    assert problems[0].details == {
        "profile_field": "Accept-Serialization",
        "actual": "application/x-tar",
        "expected": ["application/zip"],
    }


def test_without_accept_serialization_any_format_is_accepted() -> None:
    assert check_profile(profile(), facts(serialization="application/x-xz")) == []


def test_a_compressed_tar_is_not_a_plain_tar() -> None:
    p = profile(Accept_Serialization=["application/tar"])
    assert check_profile(p, facts(serialization="application/x-tar")) == []
    assert kinds(check_profile(p, facts(serialization="application/gzip"))) == {"profile_serialization"}


@pytest.mark.parametrize(
    ("written", "actual"),
    [
        ("application/tar", "application/x-tar"),
        ("application/x-tar", "application/x-tar"),
        ("application/x-gzip", "application/gzip"),
        ("application/gzip", "application/gzip"),
        ("application/tar+gzip", "application/gzip"),
        ("Application/ZIP", "application/zip"),
        ("application/zip; type=bagit", "application/zip"),
        ("application/x-zip-compressed", "application/zip"),
        ("application/x-bzip2", "application/x-bzip2"),
        ("application/x-xz", "application/x-xz"),
        ("application/x-zstd", "application/zstd"),
    ],
)
def test_accept_serialization_reads_each_name_of_a_format_as_that_format(written: str, actual: str) -> None:
    assert mime_type(written) == mime_type(actual)
    assert check_profile(profile(Accept_Serialization=[written]), facts(serialization=actual)) == []


# -- Accept-BagIt-Version ------------------------------------------------------------------------------


def test_the_bagit_version_must_be_accepted() -> None:
    problems = check_profile(profile(), facts(bagit_version=(0, 97)))
    assert found(problems) == {("profile_bagit_version", "bagit.txt")}
    assert check_profile(profile(Accept_BagIt_Version=["0.97", "1.0"]), facts(bagit_version=(0, 97))) == []


def test_versions_are_compared_as_numbers() -> None:
    assert check_profile(profile(Accept_BagIt_Version=["1.00"]), facts()) == []


# -- Tag-Files-Required / -Allowed ---------------------------------------------------------------------


def test_a_required_tag_file_must_be_there() -> None:
    p = profile(Tag_Files_Required=["aptrust-info.txt"])
    assert found(check_profile(p, facts())) == {("profile_tag_files", "aptrust-info.txt")}
    assert check_profile(p, facts(tag_files=[*facts().tag_files, "aptrust-info.txt"])) == []


def test_a_required_tag_directory_must_hold_a_file() -> None:
    p = profile(Tag_Files_Required=["meta/"])
    assert found(check_profile(p, facts())) == {("profile_tag_files", "meta/")}
    assert check_profile(p, facts(tag_files=[*facts().tag_files, "meta/x/y.xml"])) == []


def test_a_required_tag_file_that_is_a_directory_is_not_there_and_the_message_says_so() -> None:
    problems = check_profile(
        profile(Tag_Files_Required=["meta"]), facts(tag_files=["bagit.txt", "meta/a.xml"])
    )
    assert found(problems) == {("profile_tag_files", "meta")}
    assert "a directory of that name is there" in problems[0].message


def test_only_allowed_tag_files_may_be_there() -> None:
    p = profile(Tag_Files_Allowed=["meta/*"])
    assert check_profile(p, facts(tag_files=[*facts().tag_files, "meta/a/b.xml"])) == []
    problems = check_profile(p, facts(tag_files=[*facts().tag_files, "README.md", "other/x"]))
    assert found(problems) == {("profile_tag_files", "README.md"), ("profile_tag_files", "other/x")}


def test_bagits_own_files_are_not_judged_by_tag_files_allowed() -> None:
    bag = facts(has_fetch=True, tag_files=[*facts().tag_files, "fetch.txt", "manifest-md5.txt"])
    assert check_profile(profile(Tag_Files_Allowed=[]), bag) == []
    # ... but only at the root: a manifest's name in a tag directory is a tag file like another.
    nested = facts(tag_files=[*facts().tag_files, "meta/bagit.txt", "meta/manifest-md5.txt"])
    assert len(check_profile(profile(Tag_Files_Allowed=[]), nested)) == 2


def test_package_info_txt_is_bagits_own_file_in_a_0_95_bag() -> None:
    bag = facts(bagit_version=(0, 95), tag_files=["bagit.txt", "package-info.txt", "manifest-md5.txt"])
    p = profile(Tag_Files_Allowed=[], Accept_BagIt_Version=["0.95", "0.96"])
    assert check_profile(p, bag) == []
    assert len(check_profile(p, replace(bag, bagit_version=(0, 96)))) == 1  # from 0.96 it is bag-info.txt


# -- Payload-Files-Required / -Allowed -----------------------------------------------------------------


def test_a_required_payload_file_must_be_there() -> None:
    p = profile(Payload_Files_Required=["data/ro-crate-metadata.json"])
    assert found(check_profile(p, facts())) == {("profile_payload_files", "data/ro-crate-metadata.json")}
    payload = {**facts().payload_files, "data/ro-crate-metadata.json": 10}
    assert check_profile(p, facts(payload_files=payload)) == []


def test_a_required_payload_directory_must_hold_a_file() -> None:
    p = profile(Payload_Files_Required=["data/b/", "data/src/"])
    assert found(check_profile(p, facts())) == {("profile_payload_files", "data/src/")}


def test_only_allowed_payload_files_may_be_there() -> None:
    p = profile(Payload_Files_Allowed=["data/*.txt"])
    assert check_profile(p, facts()) == []  # data/b/c.txt too: '*' crosses '/'
    problems = check_profile(p, facts(payload_files={"data/a.txt": 1, "data/b.tif": 1}))
    assert found(problems) == {("profile_payload_files", "data/b.tif")}


# -- every violation in one run ------------------------------------------------------------------------


def test_every_violation_is_named_in_one_run_serialization_and_version_first() -> None:
    p = profile(
        Serialization="required",
        Accept_Serialization=["application/x-tar"],
        Manifests_Required=["md5"],
        Bag_Info={"Contact-Name": {"required": True}},
        Allow_Fetch_txt=False,
        Data_Empty=True,
        Tag_Files_Required=["meta.xml"],
        Tag_Files_Allowed=["meta.xml"],
    )
    bag = facts(bagit_version=(0, 97), has_fetch=True, tag_files=[*facts().tag_files, "x.txt"])
    problems = check_profile(p, bag)
    assert [str(problem.kind) for problem in problems] == [
        "profile_serialization",
        "profile_bagit_version",
        "profile_bag_info",
        "profile_manifests",
        "profile_fetch",
        "profile_data_empty",
        "profile_tag_files",  # meta.xml missing
        "profile_tag_files",  # x.txt not allowed
    ]


# -- the profile itself --------------------------------------------------------------------------------


def test_a_loaded_profile_has_its_fields_typed_and_its_defaults() -> None:
    p = profile()
    assert p.identifier == ID
    assert p.document == BASE
    assert p.source == "test.json"
    assert p.profile_version == "1.4.0"
    assert (p.serialization, p.accept_serialization) == ("optional", None)
    assert (p.allow_fetch, p.fetch_required, p.data_empty) == (True, False, False)
    assert (p.manifests_allowed, p.tag_manifests_allowed) == (None, None)
    assert (p.tag_files_allowed, p.payload_files_allowed) == (("*",), ("*",))
    assert p.accept_bagit_versions == ((1, 0),)


def test_a_profile_without_bagit_profile_version_is_1_1_0_and_its_fields_still_count() -> None:
    document = copy.deepcopy(BASE)
    del document["BagIt-Profile-Info"]["BagIt-Profile-Version"]
    document["Manifests-Allowed"] = ["md5"]
    p = load(document)
    assert p.profile_version == "1.1.0"
    assert kinds(check_profile(p, facts())) == {"profile_manifests"}


def test_unknown_top_level_fields_are_ignored() -> None:
    """APTrust's profile for Fedora carries "Other-Info"; a profile may carry extensions."""
    assert profile(Other_Info=[{"APTrust-Info": {}}]).document["Other-Info"] == [{"APTrust-Info": {}}]


INFO = BASE["BagIt-Profile-Info"]


@pytest.mark.parametrize(
    ("document", "named"),
    [
        (b"{", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b'{"a": NaN}', "not JSON"),
        ([BASE], "not a JSON object but a list"),
        ({"Accept-BagIt-Version": ["1.0"]}, "no BagIt-Profile-Info"),
        ({**BASE, "BagIt-Profile-Info": "x"}, "BagIt-Profile-Info must be an object"),
        *(
            ({**BASE, "BagIt-Profile-Info": {k: v for k, v in INFO.items() if k != tag}}, f"lacks {tag}")
            for tag in ("Source-Organization", "External-Description", "Version", "BagIt-Profile-Identifier")
        ),
        ({**BASE, "BagIt-Profile-Info": {**INFO, "Version": 2}}, "Version must be a string"),
        ({**BASE, "BagIt-Profile-Info": {**INFO, "BagIt-Profile-Identifier": " "}}, "Identifier is empty"),
        ({**BASE, "Bag-Info": []}, "Bag-Info must be an object"),
        ({**BASE, "Bag-Info": {"A": True}}, "Bag-Info's 'A' must be an object"),
        ({**BASE, "Bag-Info": {"A": {"required": "yes"}}}, "'required' must be true or false"),
        ({**BASE, "Bag-Info": {"A": {"repeatable": 0}}}, "'repeatable' must be true or false"),
        ({**BASE, "Bag-Info": {"A": {"values": "x"}}}, "'values' must be a list of strings"),
        ({**BASE, "Bag-Info": {"A": {"values": [1]}}}, "'values' must be a list of strings"),
        ({**BASE, "Bag-Info": {"A": {"description": 1}}}, "'description' must be a string"),
        ({**BASE, "Bag-Info": {"A:B": {}}}, "not a bag-info.txt label"),
        ({**BASE, "Bag-Info": {"Contact-Name": {}, "contact-name": {}}}, "labels are compared without case"),
        ({**BASE, "Manifests-Required": "md5"}, "Manifests-Required must be a list of strings"),
        ({**BASE, "Manifests-Required": ["md5"], "Manifests-Allowed": ["sha256"]}, "which Manifests-Allowed"),
        ({**BASE, "Manifests-Allowed": []}, "Manifests-Allowed is empty"),
        (
            {**BASE, "Tag-Manifests-Required": ["md5"], "Tag-Manifests-Allowed": []},
            "which Tag-Manifests-Allowed",
        ),
        ({**BASE, "Allow-Fetch.txt": "false"}, "Allow-Fetch.txt must be true or false"),
        ({**BASE, "Allow-Fetch.txt": False, "Fetch.txt-Required": True}, "Allow-Fetch.txt is false"),
        ({**BASE, "Data-Empty": 1}, "Data-Empty must be true or false"),
        (
            {**BASE, "Serialization": "sometimes"},
            "Serialization must be one of forbidden, required, optional",
        ),
        ({**BASE, "Serialization": "required"}, "Accept-Serialization names no MIME type"),
        ({**BASE, "Accept-Serialization": []}, "Accept-Serialization is empty"),
        ({**BASE, "Accept-Serialization": ["application/zip", " "]}, "an empty MIME type"),
        ({k: v for k, v in BASE.items() if k != "Accept-BagIt-Version"}, "no Accept-BagIt-Version"),
        ({**BASE, "Accept-BagIt-Version": []}, "Accept-BagIt-Version is empty"),
        ({**BASE, "Accept-BagIt-Version": [1.0]}, "Accept-BagIt-Version must be a list of strings"),
        ({**BASE, "Accept-BagIt-Version": ["v1"]}, "not a BagIt version"),
        (
            {**BASE, "Tag-Files-Required": ["meta.xml"], "Tag-Files-Allowed": ["*.txt"]},
            "which Tag-Files-Allowed",
        ),
        ({**BASE, "Tag-Files-Required": ["data/x"]}, "a payload path"),
        ({**BASE, "Tag-Files-Required": ["../x"]}, "not a path relative to the bag root"),
        ({**BASE, "Tag-Files-Required": ["/etc/x"]}, "not a path relative to the bag root"),
        ({**BASE, "Tag-Files-Allowed": ["meta/"]}, "matches no file: a directory is 'meta/*'"),
        ({**BASE, "Tag-Files-Allowed": [""]}, "an empty pattern"),
        ({**BASE, "Payload-Files-Required": ["a.txt"]}, "a payload path begins with data/"),
        ({**BASE, "Payload-Files-Required": ["data/"]}, "a payload path begins with data/"),
        (
            {**BASE, "Payload-Files-Required": ["data/a.txt"], "Payload-Files-Allowed": ["data/b/*"]},
            "which Payload",
        ),
        ({**BASE, "Payload-Files-Required": ["data/src/"], "Payload-Files-Allowed": ["data/s*"]}, None),
        (
            {**BASE, "Payload-Files-Required": ["data/src/"], "Payload-Files-Allowed": ["data/src"]},
            "which Payload",
        ),
        ({**BASE, "Payload-Files-Allowed": ["images/*"]}, "matches no path under data/"),
        ({**BASE, "Data-Empty": True, "Payload-Files-Required": ["data/a", "data/b"]}, "Data-Empty is true"),
        (
            {**BASE, "Data-Empty": True, "Payload-Files-Required": ["data/x/", "data/y/.keep"]},
            "Data-Empty is true",
        ),
        ({**BASE, "Data-Empty": True, "Payload-Files-Required": ["data/x/", "data/x/.keep"]}, None),
    ],
)
def test_a_malformed_profile_is_refused_saying_what(document: Any, named: str | None) -> None:
    data = document if isinstance(document, bytes) else json.dumps(document).encode("utf-8")
    if named is None:  # the control: a near miss that is well formed
        load_profile(data, "test.json")
        return
    with pytest.raises(ProfileInvalid) as caught:
        load_profile(data, "test.json")
    assert str(caught.value).startswith("test.json: not a valid BagIt profile: ")
    assert named in str(caught.value), str(caught.value)


def test_a_key_given_twice_is_a_fault() -> None:
    data = json.dumps(BASE)[:-1].encode() + b', "Data-Empty": true, "Data-Empty": false}'
    with pytest.raises(ProfileInvalid, match="'Data-Empty' appears twice"):
        load_profile(data, "test.json")


def test_profile_invalid_pickles_with_its_faults() -> None:
    error = pickle.loads(pickle.dumps(ProfileInvalid("p.json", ["a", "b"])))
    assert (str(error), error.faults) == ("p.json: not a valid BagIt profile: a; b", ["a", "b"])


def test_every_fault_of_a_profile_is_named_in_one_message() -> None:
    document = {
        "BagIt-Profile-Info": {"BagIt-Profile-Identifier": ID},
        "Serialization": "always",
        "Manifests-Required": ["md5"],
        "Manifests-Allowed": ["sha256"],
        "Tag-Files-Required": ["meta.xml"],
        "Tag-Files-Allowed": ["*.txt"],
        "Data-Empty": True,
        "Payload-Files-Required": ["data/a", "data/b"],
    }
    with pytest.raises(ProfileInvalid) as caught:
        load(document)
    assert len(caught.value.faults) == 8, caught.value.faults
    for named in [
        "lacks Source-Organization",
        "lacks External-Description",
        "lacks Version",
        "Manifests-Allowed does not allow",
        "Serialization must be one of",
        "no Accept-BagIt-Version",
        "Tag-Files-Allowed does not allow",
        "Data-Empty is true",
    ]:
        assert named in str(caught.value), named


def test_bagit_profile_identifier_is_not_expected_in_bag_info_but_tolerated() -> None:
    """It 'SHOULD NOT be listed under Bag-Info': a SHOULD NOT, so not a fault."""
    p = profile(Bag_Info={"BagIt-Profile-Identifier": {"repeatable": False}})
    assert check_profile(p, facts()) == []


# -- path patterns -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*", "aptrust-info.txt", True),
        ("*", "meta/deep/file.xml", True),  # the default ['*'] allows *all* tag files
        ("*.txt", "meta/notes.txt", True),  # '*' crosses '/'
        ("meta/*", "meta/a/b.xml", True),  # a permitted directory: everything below it
        ("meta/*", "meta", False),
        ("meta/*", "metadata/a", False),
        ("meta/*/*", "meta/a", False),
        ("meta/*/*", "meta/a/b", True),
        ("data/*", "data/x", True),
        ("data/**/README", "data/README", True),  # '**/' may match no directory
        ("data/**/README", "data/a/b/README", True),
        ("data/**/README", "data/aREADME", False),
        ("**/*.tif", "a.tif", True),
        ("**/*.tif", "data/x/a.tif", True),
        ("data/**", "data/a/b", True),  # '**' not a segment is '*'
        ("a**b", "a/x/b", True),
        ("aptrust-info.txt", "aptrust-info.txt", True),  # a full path name is itself
        ("aptrust-info.txt", "APTRUST-INFO.TXT", False),  # case-sensitive
        ("aptrust-info.txt", "x/aptrust-info.txt", False),  # the whole path
        ("notes[1].txt", "notes[1].txt", True),  # '[' is no wildcard
        ("notes[1].txt", "notes1.txt", False),
        ("a?c", "a?c", True),  # '?' is no wildcard
        ("a?c", "abc", False),
        ("a.c", "abc", False),  # nor '.' (no regex leaks through)
        ("data/*", "data/line\nbreak", True),  # names may hold a newline (%0A in a manifest)
        ("*x*y*", "axbxcyd", True),
        ("*x*y*", "ayx", False),
    ],
)
def test_path_patterns(pattern: str, path: str, matches: bool) -> None:
    assert glob_match(pattern, path) is matches
    assert glob_match_automaton(pattern, path) is matches


@pytest.mark.parametrize(
    ("pattern", "directory", "can"),
    [
        ("data/src/*", "data/src/", True),
        ("data/src/*.txt", "data/src/", True),
        ("data/*", "data/src/", True),
        ("*", "data/src/", True),
        ("data/s*", "data/src/", True),
        ("data/src/a.txt", "data/src/", True),
        ("data/src", "data/src/", False),
        ("data/other/*", "data/src/", False),
        ("data/**/x", "data/a/b/", True),
        ("**/x", "data/", True),
        ("images/*", "data/", False),
    ],
)
def test_whether_a_pattern_can_match_below_a_directory(pattern: str, directory: str, can: bool) -> None:
    assert glob_matches_under(pattern, directory) is can


# -- the example profiles ------------------------------------------------------------------------------


def example(name: str) -> Profile:
    return load_profile((PROFILES / name).read_bytes(), f"docs/profiles/{name}")


def test_every_example_profile_loads() -> None:
    names = sorted(path.name for path in PROFILES.glob("*.json"))
    assert {"aptrust-v2.2.json", "minimal.json"} <= set(names), names
    for name in names:
        assert example(name).identifier.startswith("https://"), name


def test_the_minimal_profile_takes_any_bagit_1_0_bag_that_names_it() -> None:
    p = example("minimal.json")
    bag = facts(bag_info=[("BagIt-Profile-Identifier", p.identifier)], serialization="application/x-xz")
    assert check_profile(p, bag) == []
    assert kinds(check_profile(p, replace(bag, bagit_version=(0, 97)))) == {"profile_bagit_version"}


def aptrust_bag(**changes: Any) -> BagFacts:
    p = example("aptrust-v2.2.json")
    bag = BagFacts(
        bagit_version=(0, 97),
        bag_info=[
            ("Source-Organization", "Test University"),
            ("Bagging-Date", "2026-01-01"),
            ("BagIt-Profile-Identifier", p.identifier),
        ],
        payload_manifest_algorithms=["md5", "sha256"],
        tag_manifest_algorithms=["sha256"],
        tag_files=[
            "bagit.txt",
            "bag-info.txt",
            "aptrust-info.txt",
            "manifest-md5.txt",
            "manifest-sha256.txt",
        ],
        payload_files={"data/a.pdf": 100},
        has_fetch=False,
        serialization="application/x-tar",
    )
    return replace(bag, **changes)


def test_the_aptrust_profile_takes_an_aptrust_tar_bag() -> None:
    assert check_profile(example("aptrust-v2.2.json"), aptrust_bag()) == []


def test_the_aptrust_profile_refuses_what_aptrust_refuses() -> None:
    bag = aptrust_bag(
        serialization="application/zip",
        payload_manifest_algorithms=["sha256", "sha512"],
        tag_files=["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt"],
        has_fetch=True,
        bag_info=[("BagIt-Profile-Identifier", example("aptrust-v2.2.json").identifier)],
    )
    assert found(check_profile(example("aptrust-v2.2.json"), bag)) == {
        ("profile_serialization", None),  # tar only
        ("profile_bag_info", "bag-info.txt"),  # Source-Organization required
        ("profile_manifests", "manifest-md5.txt"),  # md5 required
        ("profile_manifests", "manifest-sha512.txt"),  # md5 and sha256 only
        ("profile_fetch", "fetch.txt"),
        ("profile_tag_files", "aptrust-info.txt"),
    }


def test_the_every_field_profile_uses_every_field_of_the_specification() -> None:
    p = example("every-field.json")
    fields = {
        "BagIt-Profile-Info",
        "Bag-Info",
        "Manifests-Required",
        "Manifests-Allowed",
        "Allow-Fetch.txt",
        "Fetch.txt-Required",
        "Data-Empty",
        "Serialization",
        "Accept-Serialization",
        "Accept-BagIt-Version",
        "Tag-Manifests-Required",
        "Tag-Manifests-Allowed",
        "Tag-Files-Required",
        "Tag-Files-Allowed",
        "Payload-Files-Required",
        "Payload-Files-Allowed",
    }
    assert set(p.document) == fields
    bag = facts(
        bag_info=[
            ("BagIt-Profile-Identifier", p.identifier),
            ("Source-Organization", "example.org"),
            ("Contact-Email", "archive@example.org"),
            ("Bagging-Date", "2026-01-01"),
        ],
        tag_files=[*facts().tag_files, "metadata/datacite.xml"],
        payload_files={"data/ro-crate-metadata.json": 900, "data/images/a.tif": 10, "data/README.md": 5},
    )
    assert check_profile(p, bag) == []


def test_profile_is_frozen() -> None:
    with pytest.raises(AttributeError):
        profile().identifier = "x"  # type: ignore[misc]
