"""One test per row of docs/bagit-versions.md where BagIt 0.93-0.97 differ from RFC 8493: each makes a
bag that its declared version calls valid and 1.0 does not (or the reverse), and fails if the rule of
that row (bag/versions.py) is dropped.

Bags are made by bagit.make_bag, given the declared version in bagit.txt, changed the way the makers
of that version wrote them, and zipped for real (devtools.sample_bags).
"""

from __future__ import annotations

import codecs
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from bagverify import Kind, Status, Verdict, verify_archive
from devtools.sample_bags import make_bag_zip, refresh_tag_manifests

FILES = {"a.txt": b"alpha\n", "b/c.txt": b"charlie\n"}
PRE_1_0 = ["0.93", "0.94", "0.95", "0.96", "0.97"]


def bag(
    version: str, tamper: Callable[[Path], None] | None = None, files: dict[str, bytes] = FILES, **options
) -> Verdict:  # type: ignore[no-untyped-def]
    archive = make_bag_zip(files, tamper=tamper, bagit_version=version, **options)
    return verify_archive(io.BytesIO(archive), "bag.zip")


def edit(name: str, change: Callable[[str], str], *, refresh: bool = True) -> Callable[[Path], None]:
    def tamper(bag_dir: Path) -> None:
        path = bag_dir / name
        path.write_bytes(change(path.read_bytes().decode("utf-8")).encode("utf-8"))
        if refresh:
            refresh_tag_manifests(bag_dir)

    return tamper


def kinds(findings: list) -> set[tuple[str, str | None]]:  # type: ignore[type-arg]
    return {(str(p.kind), p.path) for p in findings}


def info_name(version: str) -> str:
    return "package-info.txt" if version in ("0.93", "0.94", "0.95") else "bag-info.txt"


def renamed_info(version: str) -> Callable[[Path], None]:
    """bagit-python always writes bag-info.txt; 0.93-0.95 bags call it package-info.txt (V8)."""

    def tamper(bag_dir: Path) -> None:
        if info_name(version) != "bag-info.txt":
            (bag_dir / "bag-info.txt").rename(bag_dir / "package-info.txt")
            refresh_tag_manifests(bag_dir)

    return tamper


def then(*tampers: Callable[[Path], None]) -> Callable[[Path], None]:
    def tamper(bag_dir: Path) -> None:
        for each in tampers:
            each(bag_dir)

    return tamper


# -- V1: a BOM in bagit.txt ------------------------------------------------------------------------


def bom_in_bagit_txt(bag_dir: Path) -> None:
    path = bag_dir / "bagit.txt"
    path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())
    refresh_tag_manifests(bag_dir)


@pytest.mark.parametrize("version", ["0.93", "0.94", "0.95", "0.96"])
def test_v1_a_bom_in_bagit_txt_before_0_97_is_a_warning(version: str) -> None:
    verdict = bag(version, bom_in_bagit_txt)
    assert verdict.status is Status.VALID, verdict.problems
    assert ("byte_order_mark", "bagit.txt") in kinds(verdict.warnings)


@pytest.mark.parametrize("version", ["0.97", "1.0"])
def test_v1_a_bom_in_bagit_txt_from_0_97_is_a_problem(version: str) -> None:
    assert ("bagit_txt_invalid", "bagit.txt") in kinds(bag(version, bom_in_bagit_txt).problems)


# -- V4, V5: whitespace around bag-info's colon ----------------------------------------------------

SPACED = ["Contact-Name : Ada", "Contact-Name   :   Ada", "Contact-Name:Ada", "Contact-Name\t:\tAda"]


def add_info_line(line: str, version: str) -> Callable[[Path], None]:
    return then(edit("bag-info.txt", lambda text: text + line + "\n"), renamed_info(version))


@pytest.mark.parametrize("line", SPACED)
@pytest.mark.parametrize("version", PRE_1_0)
def test_v4_bag_info_whitespace_around_the_colon_is_allowed_before_1_0(version: str, line: str) -> None:
    verdict = bag(version, add_info_line(line, version))
    assert verdict.status is Status.VALID, verdict.problems


@pytest.mark.parametrize("line", SPACED)
def test_v4_bag_info_whitespace_around_the_colon_is_invalid_in_1_0(line: str) -> None:
    assert ("bag_info_invalid", "bag-info.txt") in kinds(bag("1.0", add_info_line(line, "1.0")).problems)


def test_v5_a_label_before_spaces_and_a_colon_is_the_label_without_them() -> None:
    """`Payload-Oxum : 1.1` in a 0.97 bag is the Payload-Oxum (and a wrong one), not an unknown label."""

    def oxum_spaced(text: str) -> str:
        return "".join(
            "Payload-Oxum : 1.1\n" if line.startswith("Payload-Oxum") else line
            for line in text.splitlines(True)
        )

    verdict = bag("0.97", edit("bag-info.txt", oxum_spaced))
    assert kinds(verdict.problems) == {("payload_oxum_mismatch", "bag-info.txt")}


# -- V7: a repeated Payload-Oxum --------------------------------------------------------------------


def repeat_oxum(version: str) -> Callable[[Path], None]:
    def twice(text: str) -> str:
        oxum = next(line for line in text.splitlines(True) if line.startswith("Payload-Oxum"))
        return text + oxum

    return then(edit("bag-info.txt", twice), renamed_info(version))


@pytest.mark.parametrize("version", PRE_1_0)
def test_v7_a_repeated_payload_oxum_before_1_0_is_a_warning(version: str) -> None:
    verdict = bag(version, repeat_oxum(version))
    assert verdict.status is Status.VALID, verdict.problems
    assert ("legacy_rule", info_name(version)) in kinds(verdict.warnings)


def test_v7_a_repeated_payload_oxum_in_1_0_is_a_problem() -> None:
    assert ("bag_info_invalid", "bag-info.txt") in kinds(bag("1.0", repeat_oxum("1.0")).problems)


# -- V8: package-info.txt up to 0.95 ----------------------------------------------------------------


def wrong_oxum(name: str) -> Callable[[Path], None]:
    def tamper(bag_dir: Path) -> None:
        path = bag_dir / "bag-info.txt"
        text = path.read_text(encoding="utf-8")
        path.unlink()
        lines = (
            "Payload-Oxum: 1.1\n" if line.startswith("Payload-Oxum") else line
            for line in text.splitlines(True)
        )
        (bag_dir / name).write_text("".join(lines), encoding="utf-8")
        refresh_tag_manifests(bag_dir)

    return tamper


@pytest.mark.parametrize("version", ["0.93", "0.94", "0.95"])
def test_v8_package_info_txt_is_the_bag_info_up_to_0_95(version: str) -> None:
    verdict = bag(version, wrong_oxum("package-info.txt"))
    assert kinds(verdict.problems) == {("payload_oxum_mismatch", "package-info.txt")}


@pytest.mark.parametrize("version", ["0.96", "0.97", "1.0"])
def test_v8_package_info_txt_is_just_a_tag_file_from_0_96(version: str) -> None:
    verdict = bag(version, wrong_oxum("package-info.txt"))
    assert verdict.status is Status.VALID, verdict.problems


# -- V9: reserved labels in any case ----------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.97", "1.0"])
def test_v9_payload_oxum_is_found_in_any_case(version: str) -> None:
    def lower(text: str) -> str:
        return "".join(
            "payload-oxum: 1.1\n" if line.startswith("Payload-Oxum") else line
            for line in text.splitlines(True)
        )

    verdict = bag(version, edit("bag-info.txt", lower))
    assert kinds(verdict.problems) == {("payload_oxum_mismatch", "bag-info.txt")}


# -- V10: byte order marks in other tag files -------------------------------------------------------


def in_utf16(encoding_name: str, python_codec: str) -> Callable[[Path], None]:
    """Every tag file but bagit.txt re-encoded as `python_codec` ('utf-16' writes a BOM), bagit.txt
    declaring `encoding_name`."""

    def tamper(bag_dir: Path) -> None:
        version = (bag_dir / "bagit.txt").read_text().splitlines()[0]
        (bag_dir / "bagit.txt").write_text(f"{version}\nTag-File-Character-Encoding: {encoding_name}\n")
        for path in bag_dir.iterdir():
            if path.is_file() and path.name != "bagit.txt" and not path.name.startswith("tagmanifest-"):
                path.write_bytes(path.read_text(encoding="utf-8").encode(python_codec))
        refresh_tag_manifests(bag_dir)
        for manifest in bag_dir.glob("tagmanifest-*.txt"):
            manifest.write_bytes(manifest.read_text(encoding="utf-8").encode(python_codec))

    return tamper


@pytest.mark.parametrize("version", ["0.97", "1.0"])
def test_v10_utf16_tag_files_begin_with_the_bom_that_gives_their_byte_order(version: str) -> None:
    verdict = bag(version, in_utf16("UTF-16", "utf-16"), bag_info={"Source-Organization": "Tüte"})
    assert verdict.status is Status.VALID, verdict.problems
    assert not [w for w in verdict.warnings if w.kind == Kind.BYTE_ORDER_MARK]


def bom_in_manifest(bag_dir: Path) -> None:
    path = bag_dir / "manifest-sha256.txt"
    path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())
    refresh_tag_manifests(bag_dir)


@pytest.mark.parametrize("version", PRE_1_0)
def test_v10_a_utf8_bom_in_a_manifest_before_1_0_is_a_warning(version: str) -> None:
    verdict = bag(version, bom_in_manifest, algorithms=["sha256"])
    assert verdict.status is Status.VALID, verdict.problems
    assert ("byte_order_mark", "manifest-sha256.txt") in kinds(verdict.warnings)


def test_v10_a_utf8_bom_in_a_manifest_in_1_0_is_a_problem() -> None:
    verdict = bag("1.0", bom_in_manifest, algorithms=["sha256"])
    assert kinds(verdict.problems) == {("tag_file_encoding", "manifest-sha256.txt")}


# -- V12: percent-encoded paths ---------------------------------------------------------------------


def list_literally(listed: str, actual: str) -> Callable[[Path], None]:
    """The manifest lists `actual` (a payload path) as `listed`, as that version's makers wrote it."""
    return edit("manifest-sha256.txt", lambda text: text.replace(f" data/{actual}\n", f" data/{listed}\n"))


@pytest.mark.parametrize("version", PRE_1_0)
def test_v12_before_1_0_a_percent_in_a_path_is_the_file_of_that_name(version: str) -> None:
    files = {"100%25.txt": b"a file named with a literal %25\n"}
    verdict = bag(version, list_literally("100%25.txt", "100%25.txt"), files=files, algorithms=["sha256"])
    assert verdict.status is Status.VALID, verdict.problems


def test_v12_in_1_0_a_percent_25_in_a_path_is_a_percent_sign() -> None:
    files = {"100%25.txt": b"a file named with a literal %25\n"}
    verdict = bag("1.0", list_literally("100%25.txt", "100%25.txt"), files=files, algorithms=["sha256"])
    assert ("missing_file", "data/100%.txt") in kinds(verdict.problems)


@pytest.mark.parametrize("version", ["0.97", "1.0"])
def test_v12_a_cr_that_bagit_python_encoded_as_percent_0d_is_found(version: str) -> None:
    # bagit-python writes %0D for a CR whatever the version (Bagger too): the file is found either way.
    verdict = bag(version, files={"Icon\r": b"macOS folder icon\n"}, algorithms=["sha256"])
    assert verdict.status is Status.VALID, verdict.problems


# -- V13: backslashes in 0.93-0.95 manifests --------------------------------------------------------


def backslashed(bag_dir: Path) -> None:
    path = bag_dir / "manifest-sha256.txt"
    path.write_text(path.read_text().replace("data/b/c.txt", "data\\b\\c.txt"))
    refresh_tag_manifests(bag_dir)


@pytest.mark.parametrize("version", ["0.93", "0.94", "0.95"])
def test_v13_backslashes_in_0_95_manifests_are_separators(version: str) -> None:
    verdict = bag(version, then(backslashed, renamed_info(version)), algorithms=["sha256"])
    assert verdict.status is Status.VALID, verdict.problems
    assert ("legacy_rule", "data/b/c.txt") in kinds(verdict.warnings)


@pytest.mark.parametrize("version", ["0.96", "0.97", "1.0"])
def test_v13_backslashes_from_0_96_are_unsafe(version: str) -> None:
    verdict = bag(version, backslashed, algorithms=["sha256"])
    assert ("unsafe_path", "data\\b\\c.txt") in kinds(verdict.problems)


# -- V17: what a tag manifest may list --------------------------------------------------------------


def tag_manifest_lists_the_other(bag_dir: Path) -> None:
    refresh_tag_manifests(bag_dir)
    sha256 = (bag_dir / "tagmanifest-sha256.txt").read_bytes()
    path = bag_dir / "tagmanifest-sha512.txt"
    path.write_text(path.read_text() + f"{hashlib.sha512(sha256).hexdigest()}  tagmanifest-sha256.txt\n")


@pytest.mark.parametrize("version", PRE_1_0)
def test_v17_a_tag_manifest_listing_a_tag_manifest_before_1_0_is_a_warning_and_checked(version: str) -> None:
    verdict = bag(version, then(renamed_info(version), tag_manifest_lists_the_other))
    assert verdict.status is Status.VALID, verdict.problems
    assert ("legacy_rule", "tagmanifest-sha256.txt") in kinds(verdict.warnings)


def test_v17_the_tag_manifest_a_pre_1_0_tag_manifest_lists_is_verified() -> None:
    def stale(bag_dir: Path) -> None:
        tag_manifest_lists_the_other(bag_dir)
        path = bag_dir / "tagmanifest-sha256.txt"
        path.write_text(path.read_text() + "\n")  # changed after it was listed

    verdict = bag("0.97", stale)
    assert ("checksum_mismatch", "tagmanifest-sha256.txt") in kinds(verdict.problems)


def test_v17_a_tag_manifest_listing_a_tag_manifest_in_1_0_is_a_problem() -> None:
    verdict = bag("1.0", tag_manifest_lists_the_other)
    assert ("tag_manifest_invalid", "tagmanifest-sha256.txt") in kinds(verdict.problems)


@pytest.mark.parametrize("version", PRE_1_0)
def test_v17_a_tag_manifest_need_not_list_the_payload_manifests_before_1_0(version: str) -> None:
    def unlist(text: str) -> str:
        return "".join(line for line in text.splitlines(True) if " manifest-" not in line)

    verdict = bag(version, then(renamed_info(version), edit("tagmanifest-sha256.txt", unlist, refresh=False)))
    assert verdict.status is Status.VALID, verdict.problems


# -- V19: fetched files and the payload manifests ---------------------------------------------------


def fetched_in_one_manifest(bag_dir: Path) -> None:
    """a.txt (present in the archive) is in fetch.txt, and in manifest-sha256.txt only."""
    (bag_dir / "fetch.txt").write_text("https://example.org/a.txt 6 data/a.txt\n")
    path = bag_dir / "manifest-sha512.txt"
    path.write_text("".join(line for line in path.read_text().splitlines(True) if "data/a.txt" not in line))
    refresh_tag_manifests(bag_dir)


@pytest.mark.parametrize("version", PRE_1_0)
def test_v19_a_fetched_file_in_one_payload_manifest_is_enough_before_1_0(version: str) -> None:
    verdict = bag(version, then(renamed_info(version), fetched_in_one_manifest))
    assert verdict.status is Status.VALID, verdict.problems


def test_v19_a_fetched_file_must_be_in_every_payload_manifest_in_1_0() -> None:
    verdict = bag("1.0", fetched_in_one_manifest)
    assert ("fetch_invalid", "data/a.txt") in kinds(verdict.problems)
