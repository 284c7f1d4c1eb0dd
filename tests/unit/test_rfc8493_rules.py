"""One test per RFC 8493 rule bagverify enforces; each fails if its rule is dropped.

Bags are made by bagit.make_bag and zipped for real; `edit` changes a tag file the way a
faulty tool would, then (by default) rewrites the tag manifests so only that fault remains.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from bagverify import Kind, Status, Verdict, verify_archive
from devtools.sample_bags import flip_byte, make_bag_zip, refresh_tag_manifests

FILES = {"a.txt": b"alpha\n", "b/c.txt": b"charlie\n", "d.bin": bytes(range(256))}


def edit(name: str, change: Callable[[str], str], *, refresh: bool = True) -> Callable[[Path], None]:
    def tamper(bag_dir: Path) -> None:
        path = bag_dir / name
        path.write_bytes(change(path.read_bytes().decode("utf-8")).encode("utf-8"))
        if refresh:
            refresh_tag_manifests(bag_dir)

    return tamper


def bag(tamper: Callable[[Path], None] | None = None, **options) -> Verdict:  # type: ignore[no-untyped-def]
    archive = make_bag_zip(FILES, tamper=tamper, **options)
    return verify_archive(io.BytesIO(archive), "bag.zip")


def problems(verdict: Verdict) -> set[tuple[str, str | None]]:
    return {(str(p.kind), p.path) for p in verdict.problems}


def warnings(verdict: Verdict) -> set[str]:
    return {str(w.kind) for w in verdict.warnings}


def test_baseline_bag_is_valid_without_warnings() -> None:
    verdict = bag()
    assert verdict.status is Status.VALID, verdict.problems
    assert verdict.warnings == []


# -- bagit.txt (§2.1.1) --------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "BagIt-Version : 1.0\nTag-File-Character-Encoding: UTF-8\n",  # space before the colon
        "BagIt-Version:  1.0\nTag-File-Character-Encoding: UTF-8\n",  # two spaces after it
        "Tag-File-Character-Encoding: UTF-8\nBagIt-Version: 1.0\n",  # wrong order
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\nExtra: line\n",  # a third line
        "BagIt-Version: 1.0\n",  # one line
        "\ufeffBagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",  # BOM
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: NO-SUCH-CODEC\n",
        "BagIt-Version: 2.7\nTag-File-Character-Encoding: UTF-8\n",  # unknown version
    ],
    ids=["space-before-colon", "two-spaces", "order", "third-line", "one-line", "bom", "codec", "version"],
)
def test_bagit_txt_must_be_exactly_two_declarations(content: str) -> None:
    verdict = bag(edit("bagit.txt", lambda _: content))
    assert ("bagit_txt_invalid", "bagit.txt") in problems(verdict)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_tag_lines_may_end_in_lf_cr_or_crlf(newline: str) -> None:
    def convert(text: str) -> str:
        return text.replace("\n", newline)

    def tamper(bag_dir: Path) -> None:
        for name in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt"):
            edit(name, convert, refresh=False)(bag_dir)
        refresh_tag_manifests(bag_dir)

    assert bag(tamper).status is Status.VALID


def test_tag_files_are_decoded_in_the_declared_encoding() -> None:
    latin = "Contact-Name: Jos\xe9 Mar\xeda\n"

    def tamper(bag_dir: Path) -> None:
        (bag_dir / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: ISO-8859-1\n")
        (bag_dir / "bag-info.txt").write_bytes(latin.encode("iso-8859-1"))
        refresh_tag_manifests(bag_dir)

    assert bag(tamper).status is Status.VALID

    def undeclared(bag_dir: Path) -> None:
        (bag_dir / "bag-info.txt").write_bytes(latin.encode("iso-8859-1"))  # but bagit.txt says UTF-8
        refresh_tag_manifests(bag_dir)

    assert ("tag_file_encoding", "bag-info.txt") in problems(bag(undeclared))


def test_a_byte_order_mark_does_not_stop_the_checks_of_its_file() -> None:
    """A BOM in a manifest or bag-info.txt is a problem, and what the file says is still checked:
    the broken file the manifest lists and the wrong Payload-Oxum are named too."""

    def tamper(bag_dir: Path) -> None:
        flip_byte("data/a.txt")(bag_dir)
        edit("bag-info.txt", lambda t: t.replace("Payload-Oxum: ", "Payload-Oxum: 9"), refresh=False)(bag_dir)
        for name in ("manifest-sha256.txt", "bag-info.txt"):
            (bag_dir / name).write_bytes(codecs.BOM_UTF8 + (bag_dir / name).read_bytes())
        refresh_tag_manifests(bag_dir)

    assert problems(bag(tamper, algorithms=["sha256"])) == {
        ("tag_file_encoding", "manifest-sha256.txt"),
        ("tag_file_encoding", "bag-info.txt"),
        ("checksum_mismatch", "data/a.txt"),
        ("payload_oxum_mismatch", "bag-info.txt"),
    }


def test_bagit_txt_with_a_bom_is_still_checked_by_its_declared_version() -> None:
    """The BOM is a problem; the bag declares 0.97, so an identical repeated manifest line stays a
    warning (it would be a problem by 1.0's rules)."""

    def tamper(bag_dir: Path) -> None:
        (bag_dir / "bagit.txt").write_bytes(
            codecs.BOM_UTF8 + b"BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"
        )
        edit("manifest-sha256.txt", lambda t: t + t.splitlines(True)[0])(bag_dir)

    verdict = bag(tamper)
    assert problems(verdict) == {("bagit_txt_invalid", "bagit.txt")}
    assert "duplicate_manifest_entry" in warnings(verdict)


# -- payload manifests (§2.1.3, §3, §5.1) ------------------------------------------


def test_at_least_one_payload_manifest() -> None:
    def tamper(bag_dir: Path) -> None:
        for manifest in bag_dir.glob("manifest-*.txt"):
            manifest.unlink()
        refresh_tag_manifests(bag_dir)

    assert ("no_payload_manifest", None) in problems(bag(tamper))


def test_checksum_separated_by_tabs_and_hex_in_either_case() -> None:
    def tamper(text: str) -> str:
        lines = [line.split("  ", 1) for line in text.splitlines()]
        return "".join(f"{checksum.upper()}\t \t{path}\n" for checksum, path in lines)

    assert bag(edit("manifest-sha256.txt", tamper)).status is Status.VALID


def test_malformed_manifest_line_is_named() -> None:
    verdict = bag(edit("manifest-sha256.txt", lambda text: text + "not-a-checksum-line\n"))
    assert ("manifest_line_invalid", "manifest-sha256.txt") in problems(verdict)


def test_checksum_of_the_wrong_length_is_a_problem() -> None:
    verdict = bag(edit("manifest-sha256.txt", lambda text: text.replace(text[:64], text[:60], 1)))
    assert any(kind == "manifest_line_invalid" for kind, _ in problems(verdict))


def test_conflicting_duplicate_entry_is_invalid() -> None:
    verdict = bag(edit("manifest-sha256.txt", lambda text: text + "0" * 64 + "  data/a.txt\n"))
    assert ("duplicate_manifest_entry", "data/a.txt") in problems(verdict)


def test_identical_duplicate_is_invalid_in_1_0_and_a_warning_before() -> None:
    def repeat_first_line(text: str) -> str:
        return text + text.splitlines(True)[0]

    strict = bag(edit("manifest-sha256.txt", repeat_first_line))
    assert [str(p.kind) for p in strict.problems] == ["duplicate_manifest_entry"]
    older = bag(edit("manifest-sha256.txt", repeat_first_line), bagit_version="0.97")
    assert older.status is Status.VALID
    assert "duplicate_manifest_entry" in warnings(older)


def test_every_payload_file_in_every_manifest_in_1_0_only() -> None:
    drop = edit(
        "manifest-sha512.txt", lambda text: "".join(x for x in text.splitlines(True) if "a.txt" not in x)
    )
    assert problems(bag(drop)) == {("not_in_every_manifest", "data/a.txt")}
    assert bag(drop, bagit_version="0.97").status is Status.VALID


def test_manifest_paths_only_under_data() -> None:
    extra = "0" * 64 + "  bag-info.txt\n"
    verdict = bag(edit("manifest-sha256.txt", lambda text: text + extra))
    assert ("manifest_line_invalid", "bag-info.txt") in problems(verdict)


@pytest.mark.parametrize("path", ["data/../../etc/passwd", "/etc/passwd", "~root/x", "C:/x", "data\\x.txt"])
def test_unsafe_manifest_paths_are_refused(path: str) -> None:
    verdict = bag(edit("manifest-sha256.txt", lambda text: text + "0" * 64 + f"  {path}\n"))
    assert ("unsafe_path", path) in problems(verdict)


def test_only_percent_0d_0a_25_are_decoded() -> None:
    def encode_percent(bag_dir: Path) -> None:
        # RFC 8493 §2.1.3: '%' in a listed path is written %25; '%20' stays as it is.
        for manifest in bag_dir.glob("manifest-*.txt"):
            manifest.write_text(manifest.read_text().replace("100% sure", "100%25 sure"))
        refresh_tag_manifests(bag_dir)

    files = {"100% sure.txt": b"x", "a%20b.txt": b"y"}
    verdict = verify_archive(io.BytesIO(make_bag_zip(files, tamper=encode_percent)), "bag.zip")
    assert verdict.status is Status.VALID, verdict.problems


@pytest.mark.parametrize("algorithm", ["whirlpool9", "shake_128", "shake-256"])
def test_unknown_algorithm_is_a_problem_not_a_crash(algorithm: str) -> None:
    # shake_*: hashlib knows them, but they have no fixed length (hexdigest() needs one).
    def tamper(bag_dir: Path) -> None:
        (bag_dir / "manifest-sha256.txt").rename(bag_dir / f"manifest-{algorithm}.txt")
        refresh_tag_manifests(bag_dir)

    verdict = bag(tamper)
    assert ("unsupported_algorithm", f"manifest-{algorithm}.txt") in problems(verdict)


@pytest.mark.parametrize("algorithm", sorted(hashlib.algorithms_available))
def test_every_algorithm_hashlib_lists_gives_a_verdict(algorithm: str) -> None:
    # Each name hashlib lists (OpenSSL's vary by build) is either computed or unsupported, never a
    # crash: the sha256 checksums under another algorithm's name are then a mismatch.
    def tamper(bag_dir: Path) -> None:
        (bag_dir / "manifest-sha256.txt").rename(bag_dir / f"manifest-{algorithm}.txt")
        refresh_tag_manifests(bag_dir)

    verdict = bag(tamper)
    if algorithm == "sha256":
        assert verdict.status is Status.VALID, verdict.problems
        return
    found = {kind for kind, _ in problems(verdict)}
    assert found & {"unsupported_algorithm", "checksum_mismatch", "manifest_line_invalid"}, found


@pytest.mark.parametrize(
    "algorithms", [["md5"], ["sha1"], ["sha256"], ["sha512"], ["md5", "sha1", "sha256", "sha512"]]
)
def test_required_algorithms(algorithms: list[str]) -> None:
    assert bag(algorithms=algorithms).status is Status.VALID
    broken = bag(flip_byte("data/d.bin"), algorithms=algorithms)
    assert {(p.details["algorithm"]) for p in broken.problems} == set(algorithms)


# -- tag manifests (§2.2.1) ---------------------------------------------------------


def test_tag_manifests_are_verified() -> None:
    verdict = bag(edit("bag-info.txt", lambda text: text + "Extra: field\n", refresh=False))
    assert ("checksum_mismatch", "bag-info.txt") in problems(verdict)


def test_tag_manifest_must_list_every_payload_manifest() -> None:
    verdict = bag(
        edit(
            "tagmanifest-sha256.txt",
            lambda t: "".join(x for x in t.splitlines(True) if "manifest-" not in x),
            refresh=False,
        )
    )
    assert ("tag_manifest_invalid", "manifest-sha256.txt") in problems(verdict)


def test_tag_manifest_must_not_list_tag_manifests_or_payload() -> None:
    def tamper(bag_dir: Path) -> None:
        digest = hashlib.sha256((bag_dir / "data/a.txt").read_bytes()).hexdigest()
        with (bag_dir / "tagmanifest-sha256.txt").open("a") as f:
            f.write(f"{digest}  data/a.txt\n{'0' * 64}  tagmanifest-sha512.txt\n")

    found = problems(bag(tamper))
    assert ("tag_manifest_invalid", "data/a.txt") in found
    assert ("tag_manifest_invalid", "tagmanifest-sha512.txt") in found


# -- bag-info.txt (§2.2.2) -----------------------------------------------------------


def test_bag_info_labels_values_and_continuation_lines() -> None:
    tamper = edit("bag-info.txt", lambda t: t + "External-Description: a long\n  value on two lines\n")
    assert bag(tamper).status is Status.VALID
    bad = edit("bag-info.txt", lambda t: t + "no colon on this line\n")
    assert ("bag_info_invalid", "bag-info.txt") in problems(bag(bad))


def test_wrong_oxum_and_three_broken_files_give_four_problems() -> None:
    def tamper(bag_dir: Path) -> None:
        for name in ("data/a.txt", "data/b/c.txt", "data/d.bin"):
            flip_byte(name)(bag_dir)
        edit("bag-info.txt", lambda t: t.replace("Payload-Oxum: ", "Payload-Oxum: 9"))(bag_dir)

    verdict = bag(tamper, algorithms=["sha256"])
    assert problems(verdict) == {
        ("checksum_mismatch", "data/a.txt"),
        ("checksum_mismatch", "data/b/c.txt"),
        ("checksum_mismatch", "data/d.bin"),
        ("payload_oxum_mismatch", "bag-info.txt"),
    }


@pytest.mark.parametrize("value", ["abc", "12", "1.2.3", "-1.3", ""])
def test_malformed_payload_oxum_is_a_problem_not_a_crash(value: str) -> None:
    verdict = bag(
        edit(
            "bag-info.txt",
            lambda t: "".join(
                f"Payload-Oxum: {value}\n" if x.startswith("Payload-Oxum") else x for x in t.splitlines(True)
            ),
        )
    )
    assert ("bag_info_invalid", "bag-info.txt") in problems(verdict)


# -- fetch.txt (§2.2.3) --------------------------------------------------------------


def _fetch_bag(lines: str, *, remove: str | None = None) -> Verdict:
    def tamper(bag_dir: Path) -> None:
        (bag_dir / "fetch.txt").write_text(lines)
        if remove:
            (bag_dir / remove).unlink()
        refresh_tag_manifests(bag_dir)

    return bag(tamper)


def test_fetch_entry_present_in_the_zip_is_fine() -> None:
    assert _fetch_bag("https://example.org/a.txt 6 data/a.txt\n").status is Status.VALID


def test_fetch_entry_not_in_the_zip_makes_the_bag_incomplete() -> None:
    verdict = _fetch_bag("https://example.org/a.txt 6 data/a.txt\n", remove="data/a.txt")
    assert problems(verdict) >= {("missing_file", "data/a.txt")}
    assert "https://example.org/a.txt" in next(p.message for p in verdict.problems if p.path == "data/a.txt")


@pytest.mark.parametrize(
    "line",
    [
        "relative/url 6 data/a.txt",
        "https://example.org/a 6x data/a.txt",
        "https://example.org/a 6 bag-info.txt",
        "https://example.org/z 1 data/unlisted.txt",
        "just-one-field",
    ],
    ids=["relative-url", "bad-length", "tag-file", "not-in-manifests", "malformed"],
)
def test_fetch_rules(line: str) -> None:
    verdict = _fetch_bag(line + "\n")
    assert any(kind == "fetch_invalid" for kind, _ in problems(verdict)), verdict.problems


# -- warnings (§6.1) -----------------------------------------------------------------


def test_md5sum_star_and_dot_slash_prefixes_are_warnings() -> None:
    def tamper(text: str) -> str:
        return text.replace("  data/a.txt", " *data/a.txt").replace("  data/d.bin", "  ./data/d.bin")

    verdict = bag(edit("manifest-sha256.txt", tamper))
    assert verdict.status is Status.VALID, verdict.problems
    assert [w.message for w in verdict.warnings if w.kind is Kind.NON_STANDARD_PATH].__len__() == 2


def test_names_differing_only_by_case_are_a_warning() -> None:
    verdict = verify_archive(io.BytesIO(make_bag_zip({"Readme.txt": b"1", "README.txt": b"2"})), "bag.zip")
    assert verdict.status is Status.VALID
    assert "name_collision" in warnings(verdict)


def test_nfc_manifest_matches_nfd_zip_name_with_a_warning() -> None:
    nfc, nfd = unicodedata.normalize("NFC", "café.txt"), unicodedata.normalize("NFD", "café.txt")

    def tamper(bag_dir: Path) -> None:
        # The file on "disk" (so in the ZIP) is NFD, as macOS writes it; the manifests keep NFC.
        (bag_dir / "data" / nfc).rename(bag_dir / "data" / nfd)

    verdict = verify_archive(io.BytesIO(make_bag_zip({nfc: b"coffee"}, tamper=tamper)), "bag.zip")
    assert verdict.status is Status.VALID, verdict.problems
    assert "normalization_mismatch" in warnings(verdict)


# -- older versions ---------------------------------------------------------------------


def test_bagit_0_93_uses_package_info_txt() -> None:
    def tamper(bag_dir: Path) -> None:
        (bag_dir / "bag-info.txt").rename(bag_dir / "package-info.txt")
        edit("package-info.txt", lambda t: t.replace("Payload-Oxum: ", "Payload-Oxum: 9"), refresh=False)(
            bag_dir
        )
        refresh_tag_manifests(bag_dir)

    assert ("payload_oxum_mismatch", "package-info.txt") in problems(bag(tamper, bagit_version="0.93"))
