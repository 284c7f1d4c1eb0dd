"""Bags made by the other BagIt makers on PyPI, zipped by the usual zippers, verify valid.

Makers (devtools/makers.py says how each is called): bagit-python 1.9 (`bagit.make_bag`, with each
of its options: checksums, encoding, bag_info, processes; BagIt 0.97 as it writes it, and 1.0
after bagit.txt is rewritten), bagit-utils 1.2.5 (`Bag.build_from`, BagIt 1.0) and pybagit 1.5.2
(BagIt 0.96; Python 2 only, so run by a Python 2.7 interpreter where one is here). Zippers: Info-ZIP
`zip -r` (plain, -X, -D), 7-Zip `a -tzip`, Python's zipfile (deflated, stored) and
shutil.make_archive, each with the bag at the archive root and under one folder; and pybagit's own
BagIt.package(method="zip").

Every (maker, options, zipper) is a test of its own. A case that does not verify valid is either
the maker departing from the BagIt version it declares, which is left out of the matrix and has a
named test below (`test_<maker>_<what>`) asserting what the maker writes and what bagverify says;
or bagverify's fault: such a case stays in the matrix, marked xfail(strict=True) with the reason.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bagit
import pytest

from bagverify import Status, Verdict, verify_archive
from devtools import makers
from devtools.sample_bags import seven_zip

# -- the cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One maker called with one set of options; `make(bag_dir)` builds the bag in `bag_dir`."""

    maker: str
    options: str
    make: Callable[[Path], Path] = field(compare=False)
    xfail: str | None = None  # why bagverify is wrong about this bag, if it is (none is today)

    @property
    def id(self) -> str:
        return f"{self.maker}[{self.options}]"


UNICODE_BAG_INFO: dict[str, str | list[str]] = {
    "Source-Organization": "Bibliothèque nationale — 国立国会図書館",
    "Contact-Name": ["Zoë Ångström", "Ǆemal Øster"],  # a repeated label
    "External-Description": "A value longer than the 79 characters a line is recommended to hold: "
    + "naïve café " * 8,
}


def _bagit_python_cases() -> Iterator[Case]:
    options: list[tuple[str, dict[str, object]]] = [
        ("default", {}),  # checksums sha256 and sha512
        ("md5", {"checksums": ["md5"]}),
        ("sha1", {"checksums": ["sha1"]}),
        ("sha256", {"checksums": ["sha256"]}),
        ("sha512", {"checksums": ["sha512"]}),
        ("md5+sha1+sha256+sha512", {"checksums": ["md5", "sha1", "sha256", "sha512"]}),
        # The others it offers, hashlib.algorithms_guaranteed (shake_* it can't: see below).
        ("sha224+sha384", {"checksums": ["sha224", "sha384"]}),
        ("sha3_256+sha3_512", {"checksums": ["sha3_256", "sha3_512"]}),
        ("blake2b+blake2s", {"checksums": ["blake2b", "blake2s"]}),
        # Payload manifests in Latin-1 under bagit.txt's UTF-8 are the same bytes while names are ASCII.
        ("encoding=latin-1,ascii-names", {"encoding": "latin-1", "files": {"a.txt": b"a\n", "b/c.txt": b""}}),
        ("bag-info=unicode", {"bag_info": UNICODE_BAG_INFO}),
        ("processes=2", {"processes": 2}),
    ]
    for version in ("0.97", "1.0"):
        for name, kwargs in options:
            yield Case(
                "bagit-python",
                f"{version},{name}",
                lambda bag_dir, kw=kwargs, v=version: makers.make_bagit_python(bag_dir, version=v, **kw),  # type: ignore[arg-type]
            )
    # A label written as given, space and all: `Contact-Name : Zoë`. Valid in 0.97, whose bag-info.txt
    # is "a label, a colon, and a value, each separated by optional whitespace" (docs/bagit-versions.md
    # V4; bagverify called it bag_info_invalid before bag/versions.py); in 1.0 a departure (named test).
    yield Case(
        "bagit-python",
        "0.97,bag-info=label-space",
        lambda bag_dir: makers.make_bagit_python(bag_dir, bag_info={"Contact-Name ": "Zoë"}),
    )
    # make_bag(encoding=...) writes the payload manifests in that encoding but declares UTF-8 (a
    # departure, see the named test). Declared in bagit.txt, with bag-info.txt and the tag manifests
    # written in it too, the bag is what encoding= evidently means, and valid: also in UTF-16, whose
    # files begin with the byte order mark that encoding needs (RFC 8493 §2.3; docs/bagit-versions.md
    # V10; bagverify called each a tag_file_encoding problem before bag/versions.py).
    declared = [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16LE"), ("utf-16-be", "UTF-16BE")]
    for encoding, name in [*declared, ("latin-1", "ISO-8859-1")]:
        yield Case(
            "bagit-python",
            f"1.0,encoding={encoding},declared-{name}",
            lambda bag_dir, e=encoding, n=name: makers.make_bagit_python(
                bag_dir, encoding=e, declare=n, version="1.0"
            ),
        )


def _bagit_utils_cases() -> Iterator[Case]:
    options: list[tuple[str, dict[str, object]]] = [
        ("default", {}),  # sha512
        ("md5", {"algorithms": ["md5"]}),
        ("sha1", {"algorithms": ["sha1"]}),
        ("sha256", {"algorithms": ["sha256"]}),
        ("sha256+sha512", {"algorithms": ["sha256", "sha512"]}),
        ("md5+sha1+sha256+sha512", {"algorithms": ["md5", "sha1", "sha256", "sha512"]}),
        (
            "baginfo=unicode",
            {"baginfo": {k: v if isinstance(v, list) else [v] for k, v in UNICODE_BAG_INFO.items()}},
        ),
        ("create_symlinks", {"create_symlinks": True}),
        ("tag-directory", {"tag_files": {"meta/notes.txt": "Notizen über die Tüte\n".encode()}}),
    ]
    for name, kwargs in options:
        yield Case(
            "bagit-utils",
            name,
            lambda bag_dir, kw=kwargs: makers.make_bagit_utils(bag_dir, **kw),  # type: ignore[arg-type]
        )


def _pybagit_cases() -> Iterator[Case]:
    for algorithm in ("sha1", "md5"):  # the two it offers; sha1 its default
        yield Case(
            "pybagit", algorithm, lambda bag_dir, a=algorithm: makers.make_pybagit(bag_dir, algorithm=a)
        )


CASES = [*_bagit_python_cases(), *_bagit_utils_cases(), *_pybagit_cases()]
LAYOUTS = {"root": False, "folder": True}


def _matrix() -> Iterator[object]:
    for case in CASES:
        # raises=AssertionError: only the test's `assert ... VALID` is the expected failure, not a crash.
        marks = (
            [pytest.mark.xfail(strict=True, raises=AssertionError, reason=case.xfail)] if case.xfail else []
        )
        for zipper in makers.ZIPPERS:
            for layout, top_folder in LAYOUTS.items():
                yield pytest.param(case, zipper, top_folder, id=f"{case.id}-{zipper}-{layout}", marks=marks)
        if case.maker == "pybagit":
            yield pytest.param(case, "pybagit", False, id=f"{case.id}-pybagit-package-root", marks=marks)


# -- fixtures and helpers ------------------------------------------------------------------------

PYBAGIT_UNAVAILABLE = (
    "pybagit 1.5.2 is Python 2 only and can't run on Python 3 at all (pybagit/bagit.py does not compile: "
    "`except Exception, e:`; pybagit/__init__.py's `from exceptions import *` is an implicit relative "
    "import), and no Python 2.7 interpreter is here to run it"
)


def needs_pybagit() -> None:
    if makers.python2() is None:
        pytest.skip(PYBAGIT_UNAVAILABLE)
    if makers.pybagit_source() is None:
        pytest.skip("pybagit is not installed (pip install -e '.[dev]')")


class Bags:
    """Each case's bag, built the first time a test asks for it, in one folder for the module."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[str, Path] = {}

    def get(self, case: Case) -> Path:
        if case.maker == "pybagit":
            needs_pybagit()
        if case.id not in self.built:
            self.built[case.id] = case.make(self.root / f"case-{len(self.built)}" / "bag")
        return self.built[case.id]


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> Bags:
    return Bags(tmp_path_factory.mktemp("makers"))


def zipped(bag_dir: Path, zipper: str, top_folder: bool) -> bytes:
    if zipper.startswith("infozip") and not shutil.which("zip"):
        pytest.skip("Info-ZIP zip is not installed (scripts/bootstrap test installs it)")
    if zipper == "7z" and not seven_zip():
        pytest.skip("7-Zip is not installed (scripts/bootstrap test installs it)")
    if zipper == "pybagit":
        return makers.package_pybagit(bag_dir)
    return makers.zip_bag(bag_dir, zipper, top_folder=top_folder)


def verify(archive: bytes) -> Verdict:
    return verify_archive(io.BytesIO(archive), "bag.zip")


def problems(verdict: Verdict) -> set[tuple[str, str | None]]:
    return {(str(p.kind), p.path) for p in verdict.problems}


def messages(verdict: Verdict) -> set[str]:
    return {p.message for p in verdict.problems}


def case(case_id: str) -> Case:
    return next(c for c in CASES if c.id == case_id)


def listed(manifest: Path) -> list[str]:
    """The paths a manifest lists (after the checksum and one space), sorted."""
    return sorted(line.split(" ", 1)[1].lstrip(" ") for line in manifest.read_text().splitlines())


def bagit_python_valid(bag_dir: Path) -> bool:
    try:
        bagit.Bag(str(bag_dir)).validate()
    except bagit.BagError:
        return False
    return True


# -- the matrix ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "zipper", "top_folder"), list(_matrix()))
def test_maker_bag_verifies_valid(bags: Bags, case: Case, zipper: str, top_folder: bool) -> None:
    bag_dir = bags.get(case)
    verdict = verify(zipped(bag_dir, zipper, top_folder))
    assert verdict.status is Status.VALID, [(str(p.kind), p.path, p.message) for p in verdict.problems]
    assert verdict.problems == []
    assert verdict.warnings == []
    assert verdict.stats.files == sum(1 for path in (bag_dir / "data").rglob("*") if path.is_file())


# -- what each maker writes (no departure: these verify valid) -------------------------------------


def test_bagit_python_writes(bags: Bags) -> None:
    """bagit-python 1.9: bagit.txt 0.97, two spaces between checksum and path in payload manifests,
    one in tag manifests, bag-info.txt sorted by label, each value on one line however long."""
    bag_dir = bags.get(case("bagit-python[0.97,bag-info=unicode]"))
    assert (bag_dir / "bagit.txt").read_text() == "BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"
    assert re.search(
        r"^[0-9a-f]{64}  data/Ünïcödé/résumé\.txt$", (bag_dir / "manifest-sha256.txt").read_text(), re.M
    )
    assert re.search(r"^[0-9a-f]{64} bag-info\.txt$", (bag_dir / "tagmanifest-sha256.txt").read_text(), re.M)
    info = (bag_dir / "bag-info.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in info] == [
        "Bag-Software-Agent",
        "Bagging-Date",
        "Contact-Name",
        "Contact-Name",
        "External-Description",
        "Payload-Oxum",
        "Source-Organization",
    ]
    assert max(len(line) for line in info) > 79


def test_bagit_utils_writes(bags: Bags) -> None:
    """bagit-utils 1.2.5: bagit.txt 1.0, sha512 unless told otherwise, one space between checksum and
    path, tag files in tag folders listed, bag-info.txt in the order given, long values wrapped at 79
    characters onto lines that begin with a tab."""
    bag_dir = bags.get(case("bagit-utils[baginfo=unicode]"))
    assert (bag_dir / "bagit.txt").read_text() == "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    assert sorted(path.name for path in bag_dir.glob("*manifest-*.txt")) == [
        "manifest-sha512.txt",
        "tagmanifest-sha512.txt",
    ]
    assert re.search(
        r"^[0-9a-f]{128} data/Ünïcödé/résumé\.txt$", (bag_dir / "manifest-sha512.txt").read_text(), re.M
    )
    info = (bag_dir / "bag-info.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in info if not line.startswith("\t")] == [
        "Source-Organization",
        "Contact-Name",
        "Contact-Name",
        "External-Description",
    ]
    assert any(line.startswith("\t") for line in info)
    assert max(len(line) for line in info) <= 79
    tag_dir = bags.get(case("bagit-utils[tag-directory]"))
    assert " meta/notes.txt\n" in (tag_dir / "tagmanifest-sha512.txt").read_text()


def test_pybagit_writes(bags: Bags) -> None:
    """pybagit 1.5.2: bagit.txt 0.96, an empty bag-info.txt and fetch.txt, one space between
    checksum and path, a tag manifest listing bagit.txt, bag-info.txt, fetch.txt and the manifest.
    It renames payload files it calls unsafe: spaces become '_' (and ~^@!#%&*:'?"<>| are dropped)."""
    bag_dir = bags.get(case("pybagit[sha1]"))
    assert (bag_dir / "bagit.txt").read_text() == "BagIt-Version: 0.96\nTag-File-Character-Encoding: UTF-8\n"
    assert (bag_dir / "bag-info.txt").read_bytes() == b""
    assert (bag_dir / "fetch.txt").read_bytes() == b""
    assert listed(bag_dir / "tagmanifest-sha1.txt") == [
        "bag-info.txt",
        "bagit.txt",
        "fetch.txt",
        "manifest-sha1.txt",
    ]
    assert all("  " not in line for line in (bag_dir / "manifest-sha1.txt").read_text().splitlines())
    assert listed(bag_dir / "manifest-sha1.txt") == [
        "data/README.txt",
        "data/empty.txt",
        "data/images/scan_0001.tif",
        "data/Ünïcödé/résumé.txt",
    ]
    assert not (bag_dir / "data/images/scan 0001.tif").exists()


def test_pybagit_does_not_compile_on_python_3() -> None:
    """Why pybagit runs under Python 2.7 here: as pip installs it, it can't even be imported on 3."""
    source = makers.pybagit_source()
    if source is None:
        pytest.skip("pybagit is not installed (pip install -e '.[dev]')")
    with pytest.raises(SyntaxError):
        compile((source / "bagit.py").read_text(), str(source / "bagit.py"), "exec")
    with pytest.raises(ImportError):
        __import__("pybagit")


# -- departures: bagit-python ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "first_bytes"),
    [("utf-16", codecs.BOM_UTF16_LE), ("latin-1", b"")],
    ids=["utf-16", "latin-1"],
)
@pytest.mark.parametrize("version", ["0.97", "1.0"])
def test_bagit_python_encoding_writes_payload_manifests_in_an_undeclared_encoding(
    tmp_path: Path, encoding: str, first_bytes: bytes, version: str
) -> None:
    """bagit.txt declares the encoding of the other tag files (§2.1.1, in 0.97 and 1.0). make_bag's
    `encoding=` writes the payload manifests, and only those, in it; bagit.txt still declares UTF-8
    (bag-info.txt and the tag manifests are UTF-8). make_bag then reads the bag back and fails
    (UnicodeDecodeError), after writing it, and so does bagit.Bag(). bagverify: tag_file_encoding for
    each manifest: a UTF-16 one is unreadable as a whole, of a Latin-1 one the lines with non-ASCII
    names, whose files are then unlisted."""
    bag_dir = tmp_path / "bag"
    makers.write_files(bag_dir, makers.PAYLOAD)
    with pytest.raises(UnicodeDecodeError):
        bagit.make_bag(str(bag_dir), encoding=encoding)
    if version != "0.97":
        (bag_dir / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
        makers.refresh_tag_manifests(bag_dir)
    assert (bag_dir / "bagit.txt").read_text().endswith("Tag-File-Character-Encoding: UTF-8\n")
    for algorithm in ("sha256", "sha512"):
        manifest = (bag_dir / f"manifest-{algorithm}.txt").read_bytes()
        assert manifest.startswith(first_bytes)
        assert "  data/Ünïcödé/résumé.txt\n" in manifest.decode(encoding)
        with pytest.raises(UnicodeDecodeError):
            manifest.decode("utf-8")
        (bag_dir / f"tagmanifest-{algorithm}.txt").read_bytes().decode("utf-8")
    (bag_dir / "bag-info.txt").read_bytes().decode("utf-8")
    with pytest.raises(UnicodeDecodeError):
        bagit.Bag(str(bag_dir))
    verdict = verify(makers.zip_bag(bag_dir, "python-deflated", top_folder=True))
    if encoding == "utf-16":
        assert problems(verdict) == {
            ("tag_file_encoding", "manifest-sha256.txt"),
            ("tag_file_encoding", "manifest-sha512.txt"),
        }
    else:
        assert problems(verdict) == {
            ("tag_file_encoding", "manifest-sha256.txt"),
            ("tag_file_encoding", "manifest-sha512.txt"),
            ("unlisted_file", "data/Ünïcödé/résumé.txt"),
        }


@pytest.mark.parametrize("version", ["0.97", "1.0"])
def test_bagit_python_encoding_utf_8_sig_writes_byte_order_marks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, version: str
) -> None:
    """RFC 8493 §2.3: with bagit.txt declaring UTF-8, tag files do not begin with a byte order mark.
    make_bag(encoding="utf-8-sig") begins each payload manifest with one; bagit-python logs that this
    "is not in compliance with the BagIt RFC" and validates the bag. bagverify, in 1.0: a
    tag_file_encoding problem for each manifest, and nothing else (what they say is still checked).
    In 0.97, which allows the BOM (docs/bagit-versions.md V10), no departure: valid, with a
    byte_order_mark warning for each."""
    bag_dir = makers.make_bagit_python(tmp_path / "bag", encoding="utf-8-sig", version=version)
    for algorithm in ("sha256", "sha512"):
        assert (bag_dir / f"manifest-{algorithm}.txt").read_bytes().startswith(codecs.BOM_UTF8)
    with caplog.at_level(logging.WARNING, logger="bagit"):
        assert bagit_python_valid(bag_dir)
    assert any("unnecessary byte-order mark" in record.getMessage() for record in caplog.records)
    verdict = verify(makers.zip_bag(bag_dir, "python-deflated", top_folder=True))
    manifests = {"manifest-sha256.txt", "manifest-sha512.txt"}
    if version == "1.0":
        assert problems(verdict) == {("tag_file_encoding", name) for name in manifests}
        assert messages(verdict) == {f"{name} begins with a byte order mark" for name in manifests}
    else:
        assert verdict.status is Status.VALID, verdict.problems
        assert {(str(w.kind), w.path) for w in verdict.warnings} == {
            ("byte_order_mark", n) for n in manifests
        }


def test_bagit_python_writes_bag_info_labels_as_given(tmp_path: Path) -> None:
    """RFC 8493 §2.2.2 (BagIt 1.0): a label does not end with whitespace and one space or tab follows
    the colon. make_bag writes `label: value` for whatever label it is given, so a label with a
    trailing space makes `Contact-Name : Zoë`, and bagit-python (which strips labels) validates it.
    bagverify: bag_info_invalid. (In 0.97, which allows whitespace around the colon, the same line is
    valid: the matrix's bagit-python[0.97,bag-info=label-space].)"""
    bag_dir = makers.make_bagit_python(tmp_path / "bag", bag_info={"Contact-Name ": "Zoë"}, version="1.0")
    assert "Contact-Name : Zoë\n" in (bag_dir / "bag-info.txt").read_text()
    assert bagit_python_valid(bag_dir)
    assert "Contact-Name" in bagit.Bag(str(bag_dir)).info
    verdict = verify(makers.zip_bag(bag_dir, "python-deflated", top_folder=True))
    assert problems(verdict) == {("bag_info_invalid", "bag-info.txt")}
    assert messages(verdict) == {"bag-info.txt line 3 is not 'Label: value': 'Contact-Name : Zoë'"}


def test_bagit_python_cannot_make_shake_manifests(tmp_path: Path) -> None:
    """Not a departure, a limit: make_bag offers every algorithm in hashlib.algorithms_guaranteed,
    but shake_128 and shake_256 have no fixed length, and make_bag fails on them (TypeError from
    hexdigest()) with the payload already moved into data/ and no manifest written."""
    bag_dir = tmp_path / "bag"
    makers.write_files(bag_dir, {"a.txt": b"a\n"})
    for algorithm in ("shake_128", "shake_256"):
        assert algorithm in bagit.CHECKSUM_ALGOS
    with pytest.raises(TypeError, match="hexdigest"):
        bagit.make_bag(str(bag_dir), checksums=["shake_128"])
    assert (bag_dir / "data/a.txt").exists()
    assert not list(bag_dir.glob("manifest-*.txt"))


# -- departures: bagit-utils -----------------------------------------------------------------------


def test_bagit_utils_writes_an_empty_value_without_the_space(tmp_path: Path) -> None:
    """RFC 8493 §2.2.2: a metadata element is a label, a colon, one space or tab, and a value. For an
    empty value bagit-utils strips the line to `Contact-Name:` (it writes `label: ` then rstrips),
    and its own validation passes. bagverify: bag_info_invalid."""
    bag_dir = makers.make_bagit_utils(tmp_path / "bag", baginfo={"Contact-Name": [""]})
    assert (bag_dir / "bag-info.txt").read_bytes() == b"Contact-Name:\n"
    from bagit_utils import Bag

    assert Bag(bag_dir).validate().valid
    verdict = verify(makers.zip_bag(bag_dir, "python-deflated", top_folder=True))
    assert problems(verdict) == {("bag_info_invalid", "bag-info.txt")}
    assert messages(verdict) == {"bag-info.txt line 1 is not 'Label: value': 'Contact-Name:'"}


def test_bagit_utils_does_not_percent_encode_manifest_paths(tmp_path: Path) -> None:
    """RFC 8493 §2.1.3: a '%', LF or CR in a listed path is percent-encoded (%25, %0A, %0D).
    bagit-utils writes every path as it is: a file named `a%25b.txt` is listed as `data/a%25b.txt`,
    which names `a%b.txt`, and its own validation (which decodes nothing either) passes; a name with
    a line feed goes over two lines, and its validation raises IndexError. bagverify: the listed file
    missing and the real one unlisted (and, for the line feed, the second half is no manifest line)."""
    from bagit_utils import Bag

    bag_dir = makers.make_bagit_utils(tmp_path / "percent", {"a%25b.txt": b"x"})
    assert " data/a%25b.txt\n" in (bag_dir / "manifest-sha512.txt").read_text()
    assert Bag(bag_dir).validate().valid
    verdict = verify(makers.zip_bag(bag_dir, "python-deflated", top_folder=True))
    assert problems(verdict) == {("missing_file", "data/a%b.txt"), ("unlisted_file", "data/a%25b.txt")}

    bag_dir = makers.make_bagit_utils(tmp_path / "line-feed", {"line\nbreak.txt": b"x"}, validate=False)
    assert " data/line\nbreak.txt\n" in (bag_dir / "manifest-sha512.txt").read_text()
    with pytest.raises(IndexError):
        Bag(bag_dir).validate()
    verdict = verify(makers.zip_bag(bag_dir, "python-deflated", top_folder=True))
    assert problems(verdict) == {
        ("manifest_line_invalid", "manifest-sha512.txt"),
        ("missing_file", "data/line"),
        ("unlisted_file", "data/line\nbreak.txt"),
    }


def test_pybagit_fails_on_a_name_with_a_line_feed(tmp_path: Path) -> None:
    """Not a bag to verify: pybagit writes a name with a line feed into its manifest as it is, over
    two lines, then reads the manifest back and fails (update() raises ValueError), leaving no tag
    manifest."""
    needs_pybagit()
    with pytest.raises(RuntimeError, match="ValueError: need more than 1 value to unpack"):
        makers.make_pybagit(tmp_path / "bag", {"line\nbreak.txt": b"x"})


def test_pybagit_extended_false_fails_after_writing_the_manifest(tmp_path: Path) -> None:
    """Not a departure, a limit: BagIt(path, extended=False) makes a bag without bag-info.txt,
    fetch.txt or a tag manifest, and update() then writes the payload manifest and fails (IOError)
    hashing the bag-info.txt it did not make. What it leaves is a valid basic bag."""
    needs_pybagit()
    script = (
        "import sys\nfrom pybagit.bagit import BagIt\n"
        "bag = BagIt(sys.argv[1], extended=False)\n"
        "open(bag.data_directory + '/a.txt', 'w').write('a')\n"
        "bag.update()\n"
    )
    with pytest.raises(RuntimeError, match=r"IOError: .*bag-info\.txt"):
        makers.run_pybagit(script, str(tmp_path / "bag"))
    assert sorted(path.name for path in (tmp_path / "bag").iterdir()) == [
        "bagit.txt",
        "data",
        "manifest-sha1.txt",
    ]
    verdict = verify(makers.zip_bag(tmp_path / "bag", "infozip", top_folder=True))
    assert verdict.status is Status.VALID, verdict.problems


def test_every_case_has_an_id_of_its_own() -> None:
    assert len({case.id for case in CASES}) == len(CASES)
