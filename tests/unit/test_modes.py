"""The two cheap modes (bagit-python's CLI habits): what each proves, and that a cheap verdict says so.

- completeness: no payload byte read; every manifest entry present, every payload file listed,
  Payload-Oxum, the tag files parse (and the tag manifests hold);
- fast: the bag is a bag and its Payload-Oxum agrees with the archive's listing.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bagverify import Kind, Status, Verdict, verify_archive
from bagverify.notify import verdict_message
from bagverify.verdict import Mode
from devtools.sample_bags import (
    add_file,
    delete_file,
    flip_byte,
    make_bag_tar,
    make_bag_zip,
    refresh_tag_manifests,
)

FILES = {"a.txt": b"alpha\n" * 100, "b/c.txt": b"charlie\n" * 100}


def verify(archive: bytes, mode: Mode) -> Verdict:
    return verify_archive(io.BytesIO(archive), "bag", mode=mode)


def kinds(verdict: Verdict) -> set[Kind]:
    return {p.kind for p in verdict.problems}


PACKERS = {
    "zip": lambda **options: make_bag_zip(FILES, **options),
    "tar.gz": lambda **options: make_bag_tar(FILES, **options),
}


@pytest.mark.parametrize("packer", PACKERS)
def test_a_flipped_payload_byte_is_found_only_in_full_mode(packer: str) -> None:
    archive = PACKERS[packer](tamper=flip_byte("data/a.txt", 5))
    assert kinds(verify(archive, Mode.FULL)) == {Kind.CHECKSUM_MISMATCH}
    for mode in (Mode.COMPLETENESS, Mode.FAST):
        verdict = verify(archive, mode)
        assert verdict.status is Status.VALID, verdict.problems
        assert verdict.mode is mode and verdict.to_dict()["mode"] == str(mode)
        assert verdict_message(verdict)["mode"] == str(mode)


@pytest.mark.parametrize("packer", PACKERS)
def test_completeness_names_missing_and_unlisted_files_and_a_wrong_oxum(packer: str) -> None:
    missing = PACKERS[packer](tamper=delete_file("data/b/c.txt"))
    assert {Kind.MISSING_FILE, Kind.PAYLOAD_OXUM_MISMATCH} <= kinds(verify(missing, Mode.COMPLETENESS))
    unlisted = PACKERS[packer](tamper=add_file("data/stray.txt", b"x"))
    assert Kind.UNLISTED_FILE in kinds(verify(unlisted, Mode.COMPLETENESS))


def _drop_manifest_line(bag_dir: Path) -> None:
    """A payload file left out of one manifest, Payload-Oxum untouched: complete by size, not listed."""
    for manifest in bag_dir.glob("manifest-*.txt"):
        lines = manifest.read_text().splitlines(True)
        manifest.write_text("".join(line for line in lines if "data/a.txt" not in line))
    refresh_tag_manifests(bag_dir)


def test_fast_checks_the_oxum_and_that_it_is_a_bag_nothing_more() -> None:
    unlisted_same_size = make_bag_zip(FILES, tamper=_drop_manifest_line)
    assert Kind.UNLISTED_FILE in kinds(verify(unlisted_same_size, Mode.COMPLETENESS))
    assert verify(unlisted_same_size, Mode.FAST).status is Status.VALID  # Payload-Oxum still agrees
    assert kinds(verify(make_bag_zip(FILES, tamper=delete_file("data/a.txt")), Mode.FAST)) == {
        Kind.PAYLOAD_OXUM_MISMATCH
    }
    not_a_bag = make_bag_zip(FILES, tamper=delete_file("bagit.txt"))
    assert verify(not_a_bag, Mode.FAST).status is Status.INVALID


def test_completeness_still_checks_the_tag_manifests() -> None:
    def edit_bag_info(bag_dir: Path) -> None:
        path = bag_dir / "bag-info.txt"
        path.write_text(path.read_text() + "Contact-Name: changed after bagging\n")

    verdict = verify(make_bag_zip(FILES, tamper=edit_bag_info), Mode.COMPLETENESS)
    assert (Kind.CHECKSUM_MISMATCH, "bag-info.txt") in {(p.kind, p.path) for p in verdict.problems}
