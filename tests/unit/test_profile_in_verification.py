"""A BagIt profile in a verification: named by the operator, or chosen from the deployment's catalog
by the bag's own BagIt-Profile-Identifier (never fetched), in every mode, judged from the archive's
real format; a malformed or missing profile is the operator's error, not the bag's fault."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bagverify import Kind, Status, Verdict, verify_archive
from bagverify.bag.profile import ProfileInvalid, load_profile
from bagverify.bag.profile_choice import ProfileChoice
from bagverify.verdict import Mode
from devtools.sample_bags import make_bag_tar, make_bag_zip, refresh_tag_manifests

IDENTIFIER = "https://example.org/profiles/test-v1.json"
FILES = {"a.txt": b"alpha\n"}


def profile(**fields: Any) -> bytes:
    document = {
        "BagIt-Profile-Info": {
            "BagIt-Profile-Identifier": IDENTIFIER,
            "BagIt-Profile-Version": "1.4.0",
            "Source-Organization": "example.org",
            "External-Description": "for tests",
            "Version": "1",
        },
        "Accept-BagIt-Version": ["1.0"],
        **fields,
    }
    return json.dumps(document).encode()


CONTACT_REQUIRED = profile(
    **{
        "Bag-Info": {"Contact-Name": {"required": True}},
        "Serialization": "required",
        "Accept-Serialization": ["application/zip"],
    }
)


def bag(bag_info: dict[str, str] | None = None, *, tar: bool = False) -> bytes:
    info = {"Source-Organization": "bagverify", **(bag_info or {})}
    if tar:
        return make_bag_tar(FILES, tamper=lambda d: _add_info(d, info))
    return make_bag_zip(FILES, bag_info=info)


def _add_info(bag_dir: Path, info: dict[str, str]) -> None:

    path = bag_dir / "bag-info.txt"
    path.write_text(
        path.read_text() + "".join(f"{k}: {v}\n" for k, v in info.items() if k != "Source-Organization")
    )
    (bag_dir / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    refresh_tag_manifests(bag_dir)


def verify(archive: bytes, choice: ProfileChoice, mode: Mode = Mode.FULL) -> Verdict:
    return verify_archive(io.BytesIO(archive), "bag", profiles=choice, mode=mode)


def kinds(verdict: Verdict) -> set[Kind]:
    return {p.kind for p in verdict.problems}


def test_an_explicit_profile_names_each_violation_in_every_mode() -> None:
    choice = ProfileChoice(explicit=load_profile(CONTACT_REQUIRED, "test"))
    for mode in Mode:
        verdict = verify(bag(), choice, mode)
        assert kinds(verdict) == {Kind.PROFILE_BAG_INFO, Kind.PROFILE_IDENTIFIER}, (mode, verdict.problems)
    complying = bag({"Contact-Name": "Ada", "BagIt-Profile-Identifier": IDENTIFIER})
    assert verify(complying, choice).status is Status.VALID


def test_serialization_is_judged_from_the_content_not_the_name() -> None:
    choice = ProfileChoice(explicit=load_profile(CONTACT_REQUIRED, "test"))
    as_tar = bag({"Contact-Name": "Ada", "BagIt-Profile-Identifier": IDENTIFIER}, tar=True)
    verdict = verify_archive(io.BytesIO(as_tar), "bag.zip", profiles=choice)  # named .zip, a tar.gz
    assert kinds(verdict) == {Kind.PROFILE_SERIALIZATION}
    assert "application/gzip" in verdict.problems[0].message


def test_the_bag_chooses_its_profile_from_the_catalog_by_identifier() -> None:
    catalog = {IDENTIFIER: load_profile(CONTACT_REQUIRED, "catalog")}
    choice = ProfileChoice(catalog=dict(catalog))
    named = bag({"BagIt-Profile-Identifier": IDENTIFIER})
    assert kinds(verify(named, choice)) == {Kind.PROFILE_BAG_INFO}
    unnamed = verify(bag(), choice)
    assert unnamed.status is Status.VALID and not unnamed.warnings  # names none: checked as a bag
    unknown = verify(bag({"BagIt-Profile-Identifier": "https://elsewhere.example/p.json"}), choice)
    assert unknown.status is Status.VALID
    assert [w.kind for w in unknown.warnings] == [Kind.PROFILE_UNKNOWN]


def test_a_required_profile_that_the_bag_does_not_name_is_an_error() -> None:
    choice = ProfileChoice(catalog={IDENTIFIER: load_profile(CONTACT_REQUIRED, "catalog")}, required=True)
    verdict = verify(bag({"BagIt-Profile-Identifier": "https://elsewhere.example/p.json"}), choice)
    assert verdict.status is Status.ERROR
    assert Kind.PROFILE_NOT_FOUND in kinds(verdict)


def test_a_malformed_catalog_profile_the_bag_names_is_an_error_not_invalid() -> None:
    try:
        load_profile(profile(Serialization="sometimes"), "catalog")
    except ProfileInvalid as invalid:
        choice = ProfileChoice(catalog={IDENTIFIER: invalid})
    verdict = verify(bag({"BagIt-Profile-Identifier": IDENTIFIER}), choice)
    assert verdict.status is Status.ERROR
    assert [p.kind for p in verdict.problems] == [Kind.PROFILE_INVALID]


def test_the_cli_takes_a_profile_file_and_a_malformed_one_is_an_error(tmp_path: Path) -> None:
    archive = tmp_path / "bag.zip"
    archive.write_bytes(bag())
    good = tmp_path / "profile.json"
    good.write_bytes(CONTACT_REQUIRED)
    run = subprocess.run(
        [sys.executable, "-m", "bagverify.cli", "verify", str(archive), "--profile", str(good), "--json"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stderr
    assert {p["kind"] for p in json.loads(run.stdout)["problems"]} == {
        "profile_bag_info",
        "profile_identifier",
    }
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    run = subprocess.run(
        [sys.executable, "-m", "bagverify.cli", "verify", str(archive), "--profile", str(bad), "--json"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert [p["kind"] for p in json.loads(run.stdout)["problems"]] == ["profile_invalid"]
