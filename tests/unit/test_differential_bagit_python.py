"""Differential test: bagverify's verdict on a bag's ZIP against bagit-python's on the same bag's folder.

Each generated case is a bag made by `bagit.make_bag` in a temporary folder (names with spaces, percent
signs and non-ASCII letters, in nested folders; sizes from 0 bytes to ~100 KB; md5/sha1/sha256/sha512
combinations; BagIt 0.97 as bagit-python writes it, or 1.0), changed by one mutation (a flipped byte, a
deleted or added file, a dropped manifest line, an edited or deleted bag-info.txt, tag files rewritten
with other line endings or in another declared encoding, or none), zipped by Python's zipfile or Info-ZIP
(the bag at the ZIP root or in a top folder), and judged twice:

- bagit-python: `bagit.Bag(folder).validate()`, with `is_valid()` agreeing;
- bagverify: `verify_archive()` on the ZIP's bytes.

bagit-python validates in stages and stops at the first that fails (Payload-Oxum, then completeness:
FileMissing and UnexpectedFile, then checksums: ChecksumMismatch); bagverify names every problem at once.
So the two agree when both are valid, or when bagit-python failed at stage S and bagverify
(1) reports nothing that bagit-python checked before S and found right,
(2) names exactly the files that bagit-python names at S, and
(3) reports no kind of problem that no stage of bagit-python looks for.

Cases in which bagit-python departs from RFC 8493 are not compared; `departure()` names the rule that
excludes each, and test_bagit_python_departures.py has a named test for every one.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bagit
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bagverify import Kind, Status, Verdict, verify_archive
from devtools.sample_bags import refresh_tag_manifests, zip_folder

ALGORITHMS = ("md5", "sha1", "sha256", "sha512")
ZIPPERS = ("python", "infozip")
MUTATIONS = (
    "none",
    "flip_byte",
    "delete_file",
    "add_file",
    "drop_manifest_line",
    "change_bag_info",
    "reformat_tag_files",
)

# -- departures of bagit-python from RFC 8493 that generated cases can run into --------------------
# Each is its own test in test_bagit_python_departures.py, named in the comment above it.

# test_make_bag_does_not_percent_encode_percent_signs, test_does_not_decode_percent_25,
# test_decodes_percent_0a_and_0d_only_in_upper_case_and_at_most_twice: RFC 8493 §2.1.3 writes '%' in a
# listed path as %25. make_bag writes it as it is, so a name holding "%25", "%0A" or "%0D" (any case) is
# listed as another name; bagit-python does not decode %25, and decodes %0A/%0D only in upper case.
PERCENT_ESCAPE = re.compile(r"%(25|0[AaDd])")
DEPARTURE_PERCENT = "make_bag does not percent-encode '%' in manifest paths (§2.1.3)"
# test_strips_whitespace_from_the_end_of_manifest_paths: bagit-python strips each manifest line, so a
# name ending in a space or tab is listed without it.
DEPARTURE_TRAILING_SPACE = "bagit-python strips whitespace from the end of a manifest path (§2.1.3)"
# test_accepts_a_payload_file_missing_from_one_of_two_manifests: RFC 8493 §3, in BagIt 1.0 every
# payload file is listed in every payload manifest.
DEPARTURE_NOT_IN_EVERY_MANIFEST = (
    "bagit-python accepts a payload file missing from one of several manifests (§3)"
)
# test_accepts_a_tag_manifest_that_omits_a_payload_manifest: RFC 8493 §2.2.1, each tag manifest lists
# every payload manifest.
DEPARTURE_TAG_MANIFEST_OMITS_MANIFEST = (
    "bagit-python accepts a tag manifest that omits a payload manifest (§2.2.1)"
)

# -- what bagit-python checks, stage by stage, and bagverify's problem kinds for each ---------------

STAGES = ("oxum", "completeness", "checksums")
STAGE_KINDS = {
    "oxum": {Kind.PAYLOAD_OXUM_MISMATCH},
    "completeness": {Kind.MISSING_FILE, Kind.UNLISTED_FILE},
    "checksums": {Kind.CHECKSUM_MISMATCH},
}


@dataclass(frozen=True)
class PayloadFile:
    path: str  # relative to data/
    size: int
    seed: int

    def content(self) -> bytes:
        return random.Random(self.seed).randbytes(self.size)


@dataclass(frozen=True)
class Mutation:
    """One change to the bag folder after bagging. `pick` chooses among the candidates (modulo their count);
    `variant` says which kind of change where there are several; `refresh` rewrites the tag manifests
    afterwards so that only this fault remains."""

    kind: str
    pick: int = 0
    variant: str = ""
    refresh: bool = True


@dataclass(frozen=True)
class Case:
    files: tuple[PayloadFile, ...]
    algorithms: tuple[str, ...]
    version: str
    keep_oxum: bool
    top_folder: str | None
    zipper: str
    mutation: Mutation


# -- strategies ------------------------------------------------------------------------------------

# Pieces of names: letters, spaces, percent signs (alone and as escapes), punctuation, non-ASCII letters
# in NFC and NFD, CJK, an emoji. Not generated: '/', NUL (impossible in a name), '\' (a Windows path
# separator, which bagverify refuses as unsafe, RFC 8493 §5.1), '*', '?', '[' (Info-ZIP expands them as
# wildcards), CR and LF (covered by test_rfc8493_rules.py).
NAME_PIECES = st.sampled_from(
    [
        # Plain letters most often, and "%25" (which bagit-python cannot list, see DEPARTURE_PERCENT)
        # seldom, so that few cases go uncompared.
        *"abcdefxyzABCXYZ0129" * 8,
        *(" ", "  ", "\t", "-", "_", ".", ",", "'", "(", ")", "+", "=", "@", "#", "~", "!", "&", ";"),
        *("%", "%", "%20", "%41", "100% ", "%25"),
        *("é", "e\u0301", "ü", "ß", "ø", "Ω", "ж", "日本", "한", "🙂"),
        *("manifest-md5.txt", "bagit.txt", "data"),
    ]
)
EXTENSIONS = st.sampled_from(["", ".txt", ".tif", ".bin", ".tar.gz", "."])
SIZES = st.one_of(st.integers(0, 64), st.integers(0, 100_000), st.sampled_from([0, 1, 4096, 65_536, 100_000]))


def _name(pieces: list[str], extension: str) -> str:
    name = "".join(pieces) + extension
    return name if name not in (".", "..") else name + "x"


names = st.builds(_name, st.lists(NAME_PIECES, min_size=1, max_size=6), EXTENSIONS)


@st.composite
def payload_files(draw: st.DrawFn, *, min_files: int) -> tuple[PayloadFile, ...]:
    """1-6 files in up to three folders (shared, so folders nest and hold several files); the first is
    not empty, so there is always a byte to flip; no two names equal after NFC; no file is also a folder."""
    folders = draw(st.lists(names, min_size=0, max_size=3))
    count = draw(st.integers(min_files, 6))
    files: list[PayloadFile] = []
    taken: set[str] = set()
    for index in range(count * 3):
        if len(files) == count:
            break
        depth = draw(st.integers(0, min(2, len(folders))))
        parts = [*draw(st.permutations(folders))[:depth], draw(names)]
        path = "/".join(parts)
        nfc_parts = [unicodedata.normalize("NFC", p) for p in parts]
        prefixes = {"/".join(nfc_parts[:i]) for i in range(1, len(parts))}
        nfc = "/".join(nfc_parts)
        if nfc in taken or prefixes & taken or any(t.startswith(nfc + "/") for t in taken):
            continue
        taken.add(nfc)
        taken.update(f"{prefix}/" for prefix in prefixes)  # folder markers never equal a file path
        size = draw(st.integers(1, 100_000) if index == 0 else SIZES)
        files.append(PayloadFile(path, size, draw(st.integers(0, 2**32 - 1))))
    if len(files) < min_files:  # names kept colliding: fall back to plain ones
        files += [PayloadFile(f"fallback-{i}.txt", i + 1, i) for i in range(min_files - len(files))]
    return tuple(files)


@st.composite
def mutations(draw: st.DrawFn, kind: str) -> Mutation:
    pick = draw(st.integers(0, 10**6))
    if kind == "add_file":
        variants = ["payload", "payload-new-folder", "tag", "tag-folder", "tag-listed", "tag-listed-wrongly"]
        return Mutation(kind, pick, draw(st.sampled_from(variants)))
    if kind == "drop_manifest_line":
        variant = draw(st.sampled_from(["manifest", "tagmanifest"]))
        # Re-making the tag manifests would undo a dropped tag-manifest line.
        return Mutation(kind, pick, variant, refresh=variant == "manifest" and draw(st.booleans()))
    if kind == "change_bag_info":
        variant = draw(st.sampled_from(["add_tag", "change_value", "wrong_oxum", "delete"]))
        return Mutation(kind, pick, variant, draw(st.booleans()))
    if kind == "reformat_tag_files":
        variants = ["crlf", "cr", "uppercase-hex-and-tabs", "UTF-16BE", "ISO-8859-1"]
        return Mutation(kind, pick, draw(st.sampled_from(variants)))
    return Mutation(kind, pick)


@st.composite
def cases(draw: st.DrawFn, kind: str, zipper: str, version: str) -> Case:
    return Case(
        files=draw(payload_files(min_files=2 if kind == "delete_file" else 1)),
        algorithms=tuple(sorted(draw(st.sets(st.sampled_from(ALGORITHMS), min_size=1)))),
        version=version,
        keep_oxum=draw(st.booleans()),
        top_folder=draw(st.sampled_from([None, "bag", "my bag", "sämple-bag"])),
        zipper=zipper,
        mutation=draw(mutations(kind)),
    )


# -- making the bag ----------------------------------------------------------------------------------


def _pick(candidates: list[Path], pick: int) -> Path:
    return sorted(candidates)[pick % len(candidates)]


def _edit_lines(path: Path, change: Callable[[list[str]], list[str]]) -> None:
    path.write_bytes("".join(change(path.read_text(encoding="utf-8").splitlines(True))).encode())


def _payload_oxum(bag_dir: Path) -> tuple[int, int]:
    sizes = [p.stat().st_size for p in (bag_dir / "data").rglob("*") if p.is_file()]
    return sum(sizes), len(sizes)


def reformat(path: Path, variant: str) -> None:
    if variant == "uppercase-hex-and-tabs":
        if path.name.startswith(("manifest-", "tagmanifest-")):
            _edit_lines(
                path,
                lambda lines: [re.sub(r"^([0-9a-f]+) +", lambda m: m[1].upper() + "\t", x) for x in lines],
            )
    elif variant in ("crlf", "cr"):
        newline = "\r\n" if variant == "crlf" else "\r"
        _edit_lines(path, lambda lines: [x.replace("\n", newline) for x in lines])


def reencode(bag_dir: Path, encoding: str) -> None:
    """Declare another Tag-File-Character-Encoding (§2.1.1) and write the other tag files in it."""
    tag_files = [*bag_dir.glob("manifest-*.txt"), *bag_dir.glob("bag-info.txt")]
    texts = [path.read_text(encoding="utf-8") for path in tag_files]
    if encoding == "ISO-8859-1" and not all(
        text.encode(encoding, "ignore").decode(encoding) == text for text in texts
    ):
        encoding = "UTF-16BE"  # a name outside Latin-1: UTF-16 holds every name
    for path, text in zip(tag_files, texts, strict=True):
        path.write_bytes(text.encode(encoding))
    version = (bag_dir / "bagit.txt").read_text().splitlines()[0]
    (bag_dir / "bagit.txt").write_text(f"{version}\nTag-File-Character-Encoding: {encoding}\n")
    refresh_tag_manifests(bag_dir)
    for path in bag_dir.glob("tagmanifest-*.txt"):
        path.write_bytes(path.read_text(encoding="utf-8").encode(encoding))


def mutate(bag_dir: Path, mutation: Mutation) -> str | None:
    """Apply the mutation; returns the path listed on a dropped manifest line."""
    dropped = None
    payload = [p for p in (bag_dir / "data").rglob("*") if p.is_file()]
    kind, pick, variant = mutation.kind, mutation.pick, mutation.variant
    if kind == "flip_byte":
        target = _pick([p for p in payload if p.stat().st_size], pick)
        data = bytearray(target.read_bytes())
        data[pick % len(data)] ^= 0xFF
        target.write_bytes(bytes(data))
    elif kind == "delete_file":
        _pick(payload, pick).unlink()
    elif kind == "add_file":
        content = random.Random(pick).randbytes(pick % 5000)
        target = {
            "payload": _pick(payload, pick).parent / f"unlisted {pick}.bin",
            "payload-new-folder": bag_dir / "data" / "new földer" / "unlisted.txt",
            "tag": bag_dir / "extra-tag.txt",
            "tag-folder": bag_dir / "meta" / "notes.txt",
            "tag-listed": bag_dir / "meta" / "listed.txt",
            "tag-listed-wrongly": bag_dir / "meta" / "listed.txt",
        }[variant]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        if variant.startswith("tag-listed"):
            # A tag file in a folder, listed in every tag manifest (refresh_tag_manifests lists only the
            # bag root's files); "wrongly": with the checksum of other content.
            refresh_tag_manifests(bag_dir)
            listed = content if variant == "tag-listed" else content + b"!"
            for tag_manifest in bag_dir.glob("tagmanifest-*.txt"):
                algorithm = tag_manifest.name[len("tagmanifest-") : -len(".txt")]
                digest = hashlib.new(algorithm, listed).hexdigest()
                _edit_lines(tag_manifest, lambda lines, d=digest: [*lines, f"{d}  meta/listed.txt\n"])
            return None
    elif kind == "drop_manifest_line":
        prefix = "manifest-" if variant == "manifest" else "tagmanifest-"
        manifest = _pick(list(bag_dir.glob(prefix + "*.txt")), pick)
        lines = manifest.read_text(encoding="utf-8").splitlines(True)
        dropped = lines.pop(pick % len(lines)).split(maxsplit=1)[1].rstrip("\n")
        manifest.write_bytes("".join(lines).encode())
    elif kind == "change_bag_info":
        bag_info = bag_dir / "bag-info.txt"
        if variant == "add_tag":
            _edit_lines(bag_info, lambda lines: [*lines, f"Contact-Name: Zoë Ångström {pick}\n"])
        elif variant == "change_value":
            _edit_lines(
                bag_info,
                lambda lines: [
                    "Bagging-Date: 1999-12-31\n" if x.startswith("Bagging-Date:") else x for x in lines
                ],
            )
        elif variant == "wrong_oxum":
            octets, streams = _payload_oxum(bag_dir)
            wrong = f"Payload-Oxum: {octets + 1 + pick % 1000}.{streams}\n"
            _edit_lines(
                bag_info, lambda lines: [x for x in lines if not x.startswith("Payload-Oxum:")] + [wrong]
            )
        else:
            bag_info.unlink()
    elif kind == "reformat_tag_files":
        # Line endings CRLF or CR (RFC 8493 §2.3), checksums in upper case followed by tabs (§2.1.3),
        # or tag files in another declared encoding (§2.1.1).
        if variant in ("UTF-16BE", "ISO-8859-1"):
            reencode(bag_dir, variant)
            return None
        for path in [*bag_dir.glob("manifest-*.txt"), bag_dir / "bag-info.txt", bag_dir / "bagit.txt"]:
            reformat(path, variant)
        refresh_tag_manifests(bag_dir)
        for path in bag_dir.glob("tagmanifest-*.txt"):
            reformat(path, variant)
        return None
    if mutation.refresh and kind != "none":
        refresh_tag_manifests(bag_dir)
    return dropped


@contextmanager
def bag_folder(case: Case) -> Iterator[tuple[Path, str | None]]:
    """The bag folder, mutated, and the path listed on the manifest line the mutation dropped, if any."""
    with tempfile.TemporaryDirectory(prefix="bagverify-differential-") as workdir:
        bag_dir = Path(workdir) / (case.top_folder or "bag")
        for payload_file in case.files:
            target = bag_dir / payload_file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(payload_file.content())
        bagit.make_bag(str(bag_dir), {"Source-Organization": "bagverify"}, checksums=list(case.algorithms))
        if case.version != "0.97":  # bagit-python writes 0.97
            (bag_dir / "bagit.txt").write_text(
                f"BagIt-Version: {case.version}\nTag-File-Character-Encoding: UTF-8\n"
            )
        if not case.keep_oxum:  # Payload-Oxum is optional; without it bagit-python names missing files
            _edit_lines(bag_dir / "bag-info.txt", lambda lines: [x for x in lines if "Payload-Oxum" not in x])
        refresh_tag_manifests(bag_dir)
        yield bag_dir, mutate(bag_dir, case.mutation)


# -- the two verdicts and their comparison -----------------------------------------------------------


@dataclass(frozen=True)
class BagitPythonVerdict:
    """`stage` is "valid" or the stage at which validation stopped; `named` what bagit-python names there:
    (kind, path) at completeness, (path, algorithm) at checksums."""

    stage: str
    named: frozenset[tuple[str, str]] = frozenset()


def bagit_python_verdict(bag_dir: Path) -> BagitPythonVerdict:
    try:
        bagit.Bag(str(bag_dir)).validate()
    except bagit.BagValidationError as error:
        details = error.details or []
        if not details and error.message.startswith("Payload-Oxum validation failed"):
            verdict = BagitPythonVerdict("oxum")
        elif details and all(isinstance(d, bagit.FileMissing | bagit.UnexpectedFile) for d in details):
            verdict = BagitPythonVerdict(
                "completeness",
                frozenset(
                    ("missing_file" if isinstance(d, bagit.FileMissing) else "unlisted_file", d.path)
                    for d in details
                ),
            )
        elif details and all(isinstance(d, bagit.ChecksumMismatch) for d in details):
            verdict = BagitPythonVerdict("checksums", frozenset((d.path, d.algorithm) for d in details))
        else:
            raise AssertionError(
                f"bagit-python stopped at a stage this test does not know: {error!r}"
            ) from error
    else:
        verdict = BagitPythonVerdict("valid")
    assert bagit.Bag(str(bag_dir)).is_valid() is (verdict.stage == "valid")
    return verdict


def departure(case: Case, dropped: str | None) -> str | None:
    """The rule by which bagit-python departs from RFC 8493 in this case, if it does."""
    if any(PERCENT_ESCAPE.search(f.path) for f in case.files):
        return DEPARTURE_PERCENT
    if any(f.path[-1] in " \t" for f in case.files):
        return DEPARTURE_TRAILING_SPACE
    if case.version == "1.0" and case.mutation.kind == "drop_manifest_line":
        if case.mutation.variant == "manifest" and len(case.algorithms) > 1:
            return DEPARTURE_NOT_IN_EVERY_MANIFEST
        if case.mutation.variant == "tagmanifest" and dropped and dropped.startswith("manifest-"):
            return DEPARTURE_TAG_MANIFEST_OMITS_MANIFEST
    return None


def assert_agree(reference: BagitPythonVerdict, verdict: Verdict) -> None:
    problems = {(p.kind, p.path, p.details.get("algorithm")) for p in verdict.problems}
    if reference.stage == "valid":
        assert verdict.status is Status.VALID, verdict.problems
        return
    assert verdict.status is Status.INVALID, "bagit-python found the bag invalid, bagverify did not"
    stage = STAGES.index(reference.stage)
    checked_later = set().union(*(STAGE_KINDS[s] for s in STAGES[stage:]))
    unexpected = {p for p in problems if p[0] not in checked_later}
    assert not unexpected, f"bagit-python stopped at {reference.stage} and found none of {unexpected}"
    at_stage = {p for p in problems if p[0] in STAGE_KINDS[reference.stage]}
    if reference.stage == "oxum":
        assert at_stage, "bagit-python found a wrong Payload-Oxum, bagverify did not"
    elif reference.stage == "completeness":
        assert {(str(kind), path) for kind, path, _ in at_stage} == reference.named
    else:
        assert {(path, algorithm) for _, path, algorithm in at_stage} == reference.named


def note_features(case: Case) -> None:
    """What the case covers, for `pytest --hypothesis-show-statistics`."""
    paths = [f.path for f in case.files]
    features = {
        "non-ASCII name": any(not p.isascii() for p in paths),
        "NFD name": any(unicodedata.normalize("NFC", p) != p for p in paths),
        "space in name": any(" " in p for p in paths),
        "'%' in name": any("%" in p for p in paths),
        "nested folder": any("/" in p for p in paths),
        "empty file": any(f.size == 0 for f in case.files),
        "file over 64 KB": any(f.size > 65_536 for f in case.files),
        "3+ algorithms": len(case.algorithms) >= 3,
    }
    for feature, present in features.items():
        if present:
            event(feature)
    if case.mutation.variant:
        event(f"{case.mutation.kind}: {case.mutation.variant}")


def check(case: Case) -> None:
    note_features(case)
    with bag_folder(case) as (bag_dir, dropped):
        rule = departure(case, dropped)
        if rule is not None:
            event(f"not compared: {rule}")
            return
        reference = bagit_python_verdict(bag_dir)
        archive = zip_folder(bag_dir, include_folder=case.top_folder is not None, zipper=case.zipper)
    event(f"bagit-python: {reference.stage}")
    assert_agree(reference, verify_archive(io.BytesIO(archive), "x.zip"))


# Every mutation with each zipper and version: 28 combinations x 6 examples.
@pytest.mark.parametrize("version", ["0.97", "1.0"])
@pytest.mark.parametrize("zipper", ZIPPERS)
@pytest.mark.parametrize("kind", MUTATIONS)
@settings(deadline=None, max_examples=6, derandomize=True, database=None)
@given(data=st.data())
def test_bagverify_agrees_with_bagit_python(
    kind: str, zipper: str, version: str, data: st.DataObject
) -> None:
    check(data.draw(cases(kind, zipper, version), label="case"))
