"""Where bagit-python 1.9 departs from RFC 8493: one named test each, asserting what bagit-python does
(so that this file notices when bagit-python changes) and what bagverify does.

The differential test (test_differential_bagit_python.py) leaves out the generated cases that run into
one of these; the others are here because a generated bag made by bagit.make_bag never shows them.
Section numbers refer to RFC 8493. Each bag is made by bagit.make_bag, changed the way a faulty tool
would, validated by bagit-python as a folder and by bagverify as that folder zipped.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
from collections.abc import Callable
from pathlib import Path

import bagit
import pytest

from bagverify import Kind, Status, Verdict, verify_archive
from devtools.sample_bags import refresh_tag_manifests, zip_folder

FILES = {"a.txt": b"alpha\n", "b/c.txt": b"charlie\n"}


def make(
    tmp_path: Path,
    files: dict[str, bytes] = FILES,
    *,
    algorithms: tuple[str, ...] = ("sha256",),
    version: str = "1.0",
) -> Path:
    bag_dir = tmp_path / "bag"
    for relative, content in files.items():
        (bag_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (bag_dir / relative).write_bytes(content)
    bagit.make_bag(str(bag_dir), {"Source-Organization": "bagverify"}, checksums=list(algorithms))
    if version != "0.97":  # what bagit-python writes
        (bag_dir / "bagit.txt").write_text(f"BagIt-Version: {version}\nTag-File-Character-Encoding: UTF-8\n")
        refresh_tag_manifests(bag_dir)
    return bag_dir


def edit(bag_dir: Path, name: str, change: Callable[[str], str], *, refresh: bool = True) -> None:
    """Rewrite one tag file; then (by default) the tag manifests, so only this change remains."""
    path = bag_dir / name
    path.write_bytes(change(path.read_text(encoding="utf-8")).encode("utf-8"))
    if refresh:
        refresh_tag_manifests(bag_dir)


def without_oxum(text: str) -> str:
    return "".join(line for line in text.splitlines(True) if not line.startswith("Payload-Oxum"))


def bagit_python_valid(bag_dir: Path) -> bool:
    """bagit-python's verdict: validate() passes or raises a BagError; is_valid() must say the same."""
    try:
        bagit.Bag(str(bag_dir)).validate()
        valid = True
    except bagit.BagError:
        valid = False
    assert bagit.Bag(str(bag_dir)).is_valid() is valid
    return valid


def bagit_python_error(bag_dir: Path) -> bagit.BagError:
    with pytest.raises(bagit.BagError) as raised:
        bagit.Bag(str(bag_dir)).validate()
    return raised.value


def verify(bag_dir: Path) -> Verdict:
    return verify_archive(io.BytesIO(zip_folder(bag_dir, include_folder=False)), "bag.zip")


def problems(verdict: Verdict) -> set[tuple[str, str | None]]:
    return {(str(p.kind), p.path) for p in verdict.problems}


# -- bagit.txt (§2.1.1) ------------------------------------------------------------------


def test_accepts_a_space_before_the_colon_in_bagit_txt(tmp_path: Path) -> None:
    """§2.1.1: the first line is exactly `BagIt-Version: M.N`. bagit-python parses bagit.txt like
    bag-info.txt, stripping the label, so `BagIt-Version : 1.0` passes. bagverify: bagit_txt_invalid."""
    bag_dir = make(tmp_path)
    edit(bag_dir, "bagit.txt", lambda _: "BagIt-Version : 1.0\nTag-File-Character-Encoding: UTF-8\n")
    assert bagit_python_valid(bag_dir)
    assert bagit.Bag(str(bag_dir)).version_info == (1, 0)
    assert problems(verify(bag_dir)) == {("bagit_txt_invalid", "bagit.txt")}


def test_accepts_a_third_line_in_bagit_txt(tmp_path: Path) -> None:
    """§2.1.1: bagit.txt holds exactly two lines. bagit-python accepts any further `Label: value`
    lines. bagverify: bagit_txt_invalid."""
    bag_dir = make(tmp_path)
    edit(bag_dir, "bagit.txt", lambda text: text + "Extra-Line: yes\n")
    assert bagit_python_valid(bag_dir)
    assert problems(verify(bag_dir)) == {("bagit_txt_invalid", "bagit.txt")}


@pytest.mark.parametrize(
    "content",
    [
        "Tag-File-Character-Encoding: UTF-8\nBagIt-Version: 1.0\n",
        "BagIt-Version:  1.0\nTag-File-Character-Encoding: UTF-8\n",
    ],
    ids=["lines-swapped", "two-spaces"],
)
def test_accepts_bagit_txt_lines_in_either_order_and_with_two_spaces(tmp_path: Path, content: str) -> None:
    """§2.1.1: `BagIt-Version: M.N` then `Tag-File-Character-Encoding: ENC`, in that order, one space
    after each colon. bagit-python reads the two as tags in any order and strips their values.
    bagverify: bagit_txt_invalid."""
    bag_dir = make(tmp_path)
    edit(bag_dir, "bagit.txt", lambda _: content)
    assert bagit_python_valid(bag_dir)
    assert problems(verify(bag_dir)) == {("bagit_txt_invalid", "bagit.txt")}


# -- payload manifests (§2.1.3, §3, §5.1) --------------------------------------------------


def test_accepts_a_payload_file_missing_from_one_of_two_manifests(tmp_path: Path) -> None:
    """§3 (BagIt 1.0): every payload file is listed in every payload manifest. bagit-python merges
    the manifests and checks each file against the algorithms that list it, so a file missing from
    manifest-sha512.txt passes. bagverify: not_in_every_manifest in 1.0 (valid in 0.97, whose rule
    was "at least one manifest")."""
    for version in ("1.0", "0.97"):
        bag_dir = make(tmp_path / version, algorithms=("sha256", "sha512"), version=version)
        edit(
            bag_dir,
            "manifest-sha512.txt",
            lambda t: "".join(x for x in t.splitlines(True) if "a.txt" not in x),
        )
        assert bagit_python_valid(bag_dir)
        verdict = verify(bag_dir)
        if version == "1.0":
            assert problems(verdict) == {("not_in_every_manifest", "data/a.txt")}
        else:
            assert verdict.status is Status.VALID, verdict.problems


def test_accepts_manifest_paths_outside_data(tmp_path: Path) -> None:
    """§2.1.3: a payload manifest lists payload files, all under data/. bagit-python verifies a
    listed tag file like any other (it raises "listed multiple times" only when a tag manifest of the
    same algorithm lists it too). bagverify: manifest_line_invalid."""
    bag_dir = make(tmp_path)
    (bag_dir / "meta").mkdir()
    (bag_dir / "meta/notes.txt").write_bytes(b"notes\n")
    digest = hashlib.sha256(b"notes\n").hexdigest()
    edit(bag_dir, "manifest-sha256.txt", lambda t: t + f"{digest}  meta/notes.txt\n")
    assert bagit_python_valid(bag_dir)
    assert problems(verify(bag_dir)) == {("manifest_line_invalid", "meta/notes.txt")}


def test_accepts_a_byte_order_mark_in_manifests_and_bag_info(tmp_path: Path) -> None:
    """§2.1.1: tag files are in the declared encoding, without a byte order mark. bagit-python skips
    a manifest's BOM (logging a warning) and keeps bag-info.txt's as part of the first label, so a
    wrong Payload-Oxum on the first line is never checked. bagverify: tag_file_encoding for each, and
    what the files say is still checked, so the wrong Payload-Oxum is named too."""
    bag_dir = make(tmp_path)

    def oxum_first_and_wrong(text: str) -> str:
        return "Payload-Oxum: 999.9\n" + without_oxum(text)

    edit(bag_dir, "bag-info.txt", oxum_first_and_wrong, refresh=False)
    for name in ("manifest-sha256.txt", "bag-info.txt"):
        (bag_dir / name).write_bytes(codecs.BOM_UTF8 + (bag_dir / name).read_bytes())
    refresh_tag_manifests(bag_dir)
    assert bagit_python_valid(bag_dir)
    assert "\ufeffPayload-Oxum" in bagit.Bag(str(bag_dir)).info
    assert problems(verify(bag_dir)) == {
        ("tag_file_encoding", "manifest-sha256.txt"),
        ("tag_file_encoding", "bag-info.txt"),
        ("payload_oxum_mismatch", "bag-info.txt"),
    }


def test_does_not_decode_percent_25(tmp_path: Path) -> None:
    """§2.1.3: a '%' in a listed path is percent-encoded as %25. bagit-python decodes only %0A and
    %0D, so `data/100%25.txt` does not name the file `100%.txt`: FileMissing and UnexpectedFile.
    bagverify: valid."""
    bag_dir = make(tmp_path, {"100%.txt": b"sure\n"})
    edit(bag_dir, "manifest-sha256.txt", lambda t: t.replace("100%.txt", "100%25.txt"))
    error = bagit_python_error(bag_dir)
    assert {(type(d).__name__, d.path) for d in error.details} == {
        ("FileMissing", "data/100%25.txt"),
        ("UnexpectedFile", "data/100%.txt"),
    }
    assert verify(bag_dir).status is Status.VALID


def test_make_bag_does_not_percent_encode_percent_signs(tmp_path: Path) -> None:
    """§2.1.3, when writing: make_bag lists a file named `a%25b.txt` as `data/a%25b.txt`, which by the
    RFC names `a%b.txt`; bagit-python, which does not decode %25 either, accepts its own bag.
    bagverify: the listed file is missing and the real one unlisted."""
    bag_dir = make(tmp_path, {"a%25b.txt": b"x"})
    assert "  data/a%25b.txt\n" in (bag_dir / "manifest-sha256.txt").read_text()
    assert bagit_python_valid(bag_dir)
    assert problems(verify(bag_dir)) == {
        ("missing_file", "data/a%b.txt"),
        ("unlisted_file", "data/a%25b.txt"),
    }


def test_decodes_percent_0a_and_0d_only_in_upper_case_and_at_most_twice(tmp_path: Path) -> None:
    """§2.1.3: LF and CR in a listed path are written %0A and %0D (hex digits of either case, as in
    RFC 3986). bagit-python's decoder passes re.IGNORECASE where re.sub takes its count: it decodes
    upper case only, and at most two of each, so it rejects a bag it made itself from a name with
    three line feeds, and a manifest written with %0a. bagverify: valid, both times."""
    bag_dir = make(tmp_path / "three", {"a\nb\nc\nd.txt": b"x"})
    assert "data/a%0Ab%0Ac%0Ad.txt" in (bag_dir / "manifest-sha256.txt").read_text()
    assert {(type(d).__name__, d.path) for d in bagit_python_error(bag_dir).details} == {
        ("FileMissing", "data/a\nb\nc%0Ad.txt"),
        ("UnexpectedFile", "data/a\nb\nc\nd.txt"),
    }
    assert verify(bag_dir).status is Status.VALID

    bag_dir = make(tmp_path / "lower", {"a\nb.txt": b"x"})
    edit(bag_dir, "manifest-sha256.txt", lambda t: t.replace("%0A", "%0a"))
    assert {(type(d).__name__, d.path) for d in bagit_python_error(bag_dir).details} == {
        ("FileMissing", "data/a%0ab.txt"),
        ("UnexpectedFile", "data/a\nb.txt"),
    }
    assert verify(bag_dir).status is Status.VALID


def test_strips_whitespace_from_the_end_of_manifest_paths(tmp_path: Path) -> None:
    """§2.1.3: the path is the rest of the line after the checksum and its whitespace. bagit-python
    strips each line, so a name ending in a space is listed without it: it rejects a bag it made
    itself. bagverify: valid."""
    bag_dir = make(tmp_path, {"a.txt ": b"x", "b.txt": b"y"})
    assert {(type(d).__name__, d.path) for d in bagit_python_error(bag_dir).details} == {
        ("FileMissing", "data/a.txt"),
        ("UnexpectedFile", "data/a.txt "),
    }
    assert verify(bag_dir).status is Status.VALID


@pytest.mark.parametrize(
    "change",
    [
        lambda t: "# a comment\n" + t,
        lambda t: t + "\n\n",
        lambda t: t + "not-a-manifest-line\n",
        lambda t: " " + t,
    ],
    ids=["comment", "blank-lines", "malformed-line", "leading-space"],
)
def test_skips_comment_blank_and_malformed_manifest_lines(
    tmp_path: Path, change: Callable[[str], str]
) -> None:
    """§2.1.3: every line of a manifest is `checksum whitespace path`. bagit-python skips lines that
    begin with '#', blank lines and (logging an error) lines without two fields, and strips leading
    whitespace. bagverify: manifest_line_invalid."""
    bag_dir = make(tmp_path)
    edit(bag_dir, "manifest-sha256.txt", change)
    assert bagit_python_valid(bag_dir)
    assert ("manifest_line_invalid", "manifest-sha256.txt") in problems(verify(bag_dir))


def test_resolves_dot_dot_in_manifest_paths(tmp_path: Path) -> None:
    """§5.1: a listed path has no '..' segments. bagit-python normalizes each path (os.path.normpath)
    and refuses only what then points outside the bag, so `data/b/../a.txt` names data/a.txt.
    bagverify: unsafe_path, and data/a.txt is unlisted."""
    bag_dir = make(tmp_path)
    edit(bag_dir, "manifest-sha256.txt", lambda t: t.replace("data/a.txt", "data/b/../a.txt"))
    assert bagit_python_valid(bag_dir)
    assert problems(verify(bag_dir)) == {("unsafe_path", "data/b/../a.txt"), ("unlisted_file", "data/a.txt")}


def test_reads_a_file_outside_the_bag_in_a_folder_named_like_the_bag(tmp_path: Path) -> None:
    """§5.1: a listed path never leads out of the bag. bagit-python's check compares the resolved path
    with the bag's character by character (os.path.commonprefix), so from bag/ the path
    `../bag-next-door/secret.txt` passes: it hashes that file and calls the bag valid when the
    checksum matches. bagverify: unsafe_path."""
    bag_dir = make(tmp_path)
    (tmp_path / "bag-next-door").mkdir()
    (tmp_path / "bag-next-door/secret.txt").write_bytes(b"secret\n")
    digest = hashlib.sha256(b"secret\n").hexdigest()
    edit(bag_dir, "manifest-sha256.txt", lambda t: t + f"{digest}  ../bag-next-door/secret.txt\n")
    assert bagit_python_valid(bag_dir)
    assert problems(verify(bag_dir)) == {("unsafe_path", "../bag-next-door/secret.txt")}


def test_strips_md5sums_star_without_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """§6.1.3: md5sum's binary-mode '*' before a path is not part of the path; a validator warns.
    bagit-python strips it silently. bagverify: valid, with a non_standard_path warning."""
    bag_dir = make(tmp_path, algorithms=("md5",))
    edit(bag_dir, "manifest-md5.txt", lambda t: t.replace("  data/", " *data/"))
    with caplog.at_level(logging.WARNING, logger="bagit"):
        assert bagit_python_valid(bag_dir)
    assert caplog.records == []
    verdict = verify(bag_dir)
    assert verdict.status is Status.VALID
    assert [w.kind for w in verdict.warnings] == [Kind.NON_STANDARD_PATH] * 2


# -- tag manifests (§2.2.1) ------------------------------------------------------------------


def test_accepts_tag_manifests_that_list_tag_manifests(tmp_path: Path) -> None:
    """§2.2.1: a tag manifest lists no tag manifests. bagit-python verifies the listed one like any
    tag file. bagverify: tag_manifest_invalid."""
    bag_dir = make(tmp_path, algorithms=("sha256", "sha512"))
    digest = hashlib.sha256((bag_dir / "tagmanifest-sha512.txt").read_bytes()).hexdigest()
    edit(
        bag_dir, "tagmanifest-sha256.txt", lambda t: t + f"{digest}  tagmanifest-sha512.txt\n", refresh=False
    )
    assert bagit_python_valid(bag_dir)
    assert problems(verify(bag_dir)) == {("tag_manifest_invalid", "tagmanifest-sha512.txt")}


def test_accepts_tag_manifests_that_list_payload_files(tmp_path: Path) -> None:
    """§2.2.1: a tag manifest lists no payload files. bagit-python merges tag and payload manifests by
    algorithm: it verifies the payload file (and raises "listed multiple times" only when the payload
    manifest of the same algorithm lists it too). bagverify: tag_manifest_invalid."""
    bag_dir = make(tmp_path, algorithms=("sha256", "sha512"))
    (bag_dir / "manifest-sha512.txt").unlink()
    refresh_tag_manifests(bag_dir)
    digest = hashlib.sha512((bag_dir / "data/a.txt").read_bytes()).hexdigest()
    edit(bag_dir, "tagmanifest-sha512.txt", lambda t: t + f"{digest}  data/a.txt\n", refresh=False)
    assert bagit_python_valid(bag_dir)
    assert problems(verify(bag_dir)) == {("tag_manifest_invalid", "data/a.txt")}


def test_accepts_a_tag_manifest_that_omits_a_payload_manifest(tmp_path: Path) -> None:
    """§2.2.1: each tag manifest lists every payload manifest. bagit-python checks only what a tag
    manifest lists. bagverify: tag_manifest_invalid (BagIt 1.0)."""
    bag_dir = make(tmp_path)
    edit(
        bag_dir,
        "tagmanifest-sha256.txt",
        lambda t: "".join(x for x in t.splitlines(True) if "manifest-sha256.txt" not in x),
        refresh=False,
    )
    assert bagit_python_valid(bag_dir)
    assert problems(verify(bag_dir)) == {("tag_manifest_invalid", "manifest-sha256.txt")}


# -- bag-info.txt (§2.2.2) -----------------------------------------------------------------


def test_stops_at_a_wrong_payload_oxum_before_naming_broken_files(tmp_path: Path) -> None:
    """§2.2.2: Payload-Oxum is an optimization; a validator still performs the checksum validation.
    bagit-python raises at a wrong Payload-Oxum with no details, so the broken files go unnamed.
    bagverify: the wrong Payload-Oxum and every broken file."""
    bag_dir = make(tmp_path)
    for name in ("data/a.txt", "data/b/c.txt"):
        (bag_dir / name).write_bytes((bag_dir / name).read_bytes().upper())
    edit(bag_dir, "bag-info.txt", lambda t: t.replace("Payload-Oxum: ", "Payload-Oxum: 9"))
    error = bagit_python_error(bag_dir)
    assert isinstance(error, bagit.BagValidationError)
    assert error.message.startswith("Payload-Oxum validation failed")
    assert error.details == []
    assert problems(verify(bag_dir)) == {
        ("payload_oxum_mismatch", "bag-info.txt"),
        ("checksum_mismatch", "data/a.txt"),
        ("checksum_mismatch", "data/b/c.txt"),
    }


@pytest.mark.parametrize("value", ["abc", "12", ""])
def test_crashes_on_a_malformed_payload_oxum(tmp_path: Path, value: str) -> None:
    """§2.2.2: Payload-Oxum is `OctetCount.StreamCount`. bagit-python splits the value at '.' before
    checking it: without a '.', validate() and is_valid() both raise ValueError (with one, as in
    `1.2.3`, a BagError "Malformed Payload-Oxum value"). bagverify: bag_info_invalid."""
    bag_dir = make(tmp_path)
    edit(bag_dir, "bag-info.txt", lambda t: without_oxum(t) + f"Payload-Oxum: {value}\n")
    with pytest.raises(ValueError, match="not enough values to unpack"):
        bagit.Bag(str(bag_dir)).validate()
    with pytest.raises(ValueError):
        bagit.Bag(str(bag_dir)).is_valid()
    assert problems(verify(bag_dir)) == {("bag_info_invalid", "bag-info.txt")}


def test_accepts_a_repeated_payload_oxum(tmp_path: Path) -> None:
    """§2.2.2: Payload-Oxum MUST NOT be repeated. bagit-python logs a warning and checks only the
    first, so a wrong second value passes. bagverify: bag_info_invalid, and the wrong value is named."""
    bag_dir = make(tmp_path)
    edit(bag_dir, "bag-info.txt", lambda t: t + "Payload-Oxum: 1.1\n")
    assert bagit_python_valid(bag_dir)
    assert problems(verify(bag_dir)) == {
        ("bag_info_invalid", "bag-info.txt"),
        ("payload_oxum_mismatch", "bag-info.txt"),
    }


@pytest.mark.parametrize("line", ["Contact-Name:no-space", ": no label"], ids=["no-space", "no-label"])
def test_accepts_bag_info_lines_that_are_not_label_colon_space_value(tmp_path: Path, line: str) -> None:
    """§2.2.2: a metadata element is a label, a colon, one space or tab, and a value. bagit-python
    splits at the first colon and strips both sides. bagverify: bag_info_invalid."""
    bag_dir = make(tmp_path)
    edit(bag_dir, "bag-info.txt", lambda t: t + line + "\n")
    assert bagit_python_valid(bag_dir)
    assert problems(verify(bag_dir)) == {("bag_info_invalid", "bag-info.txt")}


# -- completeness (§3) ---------------------------------------------------------------------


def test_stops_at_an_incomplete_bag_before_naming_broken_files(tmp_path: Path) -> None:
    """§3: a valid bag is complete and every checksum matches. bagit-python raises at the first
    missing or unlisted file, with those as details, before computing any checksum. bagverify: the
    missing file and the broken one."""
    bag_dir = make(tmp_path)
    (bag_dir / "data/a.txt").unlink()
    (bag_dir / "data/b/c.txt").write_bytes(b"CHARLIE\n")
    edit(bag_dir, "bag-info.txt", without_oxum)  # else bagit-python stops even earlier, at the Oxum
    assert [(type(d).__name__, d.path) for d in bagit_python_error(bag_dir).details] == [
        ("FileMissing", "data/a.txt")
    ]
    assert problems(verify(bag_dir)) == {
        ("missing_file", "data/a.txt"),
        ("checksum_mismatch", "data/b/c.txt"),
    }


# -- fetch.txt (§2.2.3) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "https://example.org/a 6x data/a.txt",
        "https://example.org/a 6 bag-info.txt",
        "https://example.org/z 1 data/unlisted.txt",
    ],
    ids=["length-not-a-number", "tag-file", "not-in-the-manifests"],
)
def test_does_not_check_fetch_txt_lengths_or_paths(tmp_path: Path, line: str) -> None:
    """§2.2.3: LENGTH is a number of octets or '-'; fetch.txt lists no tag files, and every file it
    lists is in every payload manifest. bagit-python checks only each URL. bagverify: fetch_invalid."""
    bag_dir = make(tmp_path)
    (bag_dir / "fetch.txt").write_text(line + "\n")
    refresh_tag_manifests(bag_dir)
    assert bagit_python_valid(bag_dir)
    assert any(kind == "fetch_invalid" for kind, _ in problems(verify(bag_dir)))


def test_crashes_on_a_malformed_fetch_txt_line(tmp_path: Path) -> None:
    """§2.2.3: each line is `URL LENGTH FILENAME`. bagit-python unpacks the fields without checking
    how many there are: validate() and is_valid() raise ValueError. bagverify: fetch_invalid."""
    bag_dir = make(tmp_path)
    (bag_dir / "fetch.txt").write_text("just-one-field\n")
    refresh_tag_manifests(bag_dir)
    with pytest.raises(ValueError, match="not enough values to unpack"):
        bagit.Bag(str(bag_dir)).validate()
    with pytest.raises(ValueError):
        bagit.Bag(str(bag_dir)).is_valid()
    assert problems(verify(bag_dir)) == {("fetch_invalid", "fetch.txt")}


def test_rejects_fetch_urls_without_a_host(tmp_path: Path) -> None:
    """§2.2.3: the URL is an absolute URI (RFC 3986), such as `urn:isbn:...`. bagit-python also
    requires a host (except for file:) and raises "Malformed URL": stricter than the RFC. bagverify:
    valid (the file is in the bag)."""
    bag_dir = make(tmp_path)
    (bag_dir / "fetch.txt").write_text("urn:isbn:0451450523 6 data/a.txt\n")
    refresh_tag_manifests(bag_dir)
    assert "Malformed URL in fetch.txt" in str(bagit_python_error(bag_dir))
    assert verify(bag_dir).status is Status.VALID


# -- encodings (§2.1.1) ----------------------------------------------------------------------


def test_crashes_on_a_tag_file_not_in_its_declared_encoding(tmp_path: Path) -> None:
    """§2.1.1: tag files are in the encoding bagit.txt declares. bagit-python lets the decoder's
    UnicodeDecodeError out of Bag() itself, so neither validate() nor is_valid() can be called.
    bagverify: tag_file_encoding."""
    bag_dir = make(tmp_path)
    manifest = bag_dir / "manifest-sha256.txt"
    manifest.write_bytes(manifest.read_bytes() + b"\xff\xfe  data/x\n")
    refresh_tag_manifests(bag_dir)
    with pytest.raises(UnicodeDecodeError):
        bagit.Bag(str(bag_dir))
    assert problems(verify(bag_dir)) == {("tag_file_encoding", "manifest-sha256.txt")}
