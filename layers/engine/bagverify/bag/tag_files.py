"""Parsers for bagit.txt, manifests and bag-info.txt. Pure functions: bytes in, values and problems out."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

from bagverify.verdict import Kind, Problem

_BAGIT_LINE_1 = re.compile(r"BagIt-Version: (\d+)\.(\d+)")
_BAGIT_LINE_2 = re.compile(r"Tag-File-Character-Encoding: (\S+)")
_MANIFEST_LINE = re.compile(r"([0-9A-Fa-f]+)[ \t]+(.+)")
# RFC 8493 §2.1.3: only CR, LF and % itself are percent-encoded in manifest paths.
_PERCENT = re.compile(r"%(0[DdAa]|25)")
_FETCH_LINE = re.compile(r"(\S+)[ \t]+(\S+)[ \t]+(.+)")
_ABSOLUTE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
# UTF-8's, and UTF-16's in either byte order: tag files begin with none of them (§2.1.1).
_BYTE_ORDER_MARKS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# A label (no colon, no surrounding whitespace), a colon, exactly one space or tab, then the value.
_BAG_INFO_LINE = re.compile(r"([^:\s](?:[^:]*[^:\s])?):[ \t](.*)")


@dataclass(frozen=True)
class BagDeclaration:
    version: tuple[int, int]
    encoding: str


@dataclass
class Manifest:
    """One manifest's entries: path → expected checksum (lowercase hex)."""

    path: str
    algorithm: str
    is_tag: bool = False
    entries: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FetchEntry:
    url: str
    length: int | None
    path: str


def split_lines(text: str) -> list[str]:
    """Lines ending in LF, CR or CRLF (RFC 8493 §2.3); a final line break ends the last line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse_bagit_txt(data: bytes) -> tuple[BagDeclaration | None, list[Problem]]:
    """bagit.txt (§2.1.1): exactly `BagIt-Version: M.N` then `Tag-File-Character-Encoding: ENC`, no BOM.

    A BOM is a problem, but the declaration after it is still read: the bag is then checked by the
    rules of the version it declares, not those of 1.0.
    """
    problems: list[Problem] = []

    def bad(message: str) -> tuple[None, list[Problem]]:
        return None, [*problems, Problem(Kind.BAGIT_TXT_INVALID, message, "bagit.txt")]

    if data.startswith(codecs.BOM_UTF8):
        problems.append(
            Problem(Kind.BAGIT_TXT_INVALID, "bagit.txt must not begin with a byte order mark", "bagit.txt")
        )
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return bad(f"bagit.txt is not UTF-8: {error}")
    lines = split_lines(text)
    if len(lines) != 2:
        return bad(f"bagit.txt must have exactly two lines, has {len(lines)}")
    version = _BAGIT_LINE_1.fullmatch(lines[0])
    encoding = _BAGIT_LINE_2.fullmatch(lines[1])
    if not version:
        return bad(f"first line must be 'BagIt-Version: M.N', is {lines[0]!r}")
    if not encoding:
        return bad(f"second line must be 'Tag-File-Character-Encoding: ENC', is {lines[1]!r}")
    try:
        codecs.lookup(encoding.group(1))
    except LookupError:
        return bad(f"unknown Tag-File-Character-Encoding {encoding.group(1)!r}")
    return BagDeclaration((int(version.group(1)), int(version.group(2))), encoding.group(1)), problems


def decode_tag_file(data: bytes, encoding: str, path: str) -> tuple[str | None, list[Problem]]:
    """The tag file's text in the declared encoding (§2.1.1), and its problems.

    A byte order mark is a problem, but the text after it is still returned, so that the file's
    other faults, and the files a manifest lists, are still checked: a manifest with a BOM would
    otherwise leave every checksum in it unverified. Bytes that don't decode give no text.
    """
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        # Also where a UTF-16 BOM begins a file declared UTF-8: the file is in another encoding.
        return None, [Problem(Kind.TAG_FILE_ENCODING, f"{path} is not valid {encoding}: {error}", path)]
    if data.startswith(_BYTE_ORDER_MARKS):
        bom = Problem(Kind.TAG_FILE_ENCODING, f"{path} begins with a byte order mark", path)
        return text.removeprefix("\ufeff"), [bom]
    return text, []


def decode_manifest_path(raw: str) -> str:
    return _PERCENT.sub(lambda m: {"0d": "\r", "0a": "\n", "25": "%"}[m.group(1).lower()], raw)


def parse_manifest(
    text: str, path: str, algorithm: str, *, strict: bool = True
) -> tuple[Manifest, list[Problem], list[Problem]]:
    """`checksum <spaces or tabs> path` lines (§2.1.3). Returns the manifest, problems and warnings.

    `strict` (BagIt 1.0): a file listed twice, even with the same checksum, is a problem; before
    1.0 an identical repeat is only a warning.
    """
    manifest = Manifest(path, algorithm, is_tag=path.startswith("tagmanifest-"))
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for number, line in enumerate(split_lines(text), start=1):
        match = _MANIFEST_LINE.fullmatch(line)
        if not match:
            problems.append(
                Problem(
                    Kind.MANIFEST_LINE_INVALID, f"{path} line {number} is not 'checksum path': {line!r}", path
                )
            )
            continue
        checksum, file_path = match.group(1).lower(), decode_manifest_path(match.group(2))
        if file_path.startswith("*"):  # md5sum's binary-mode marker (§6.1.3)
            warnings.append(
                Problem(Kind.NON_STANDARD_PATH, f"{path} line {number}: '*' prefix stripped", path)
            )
            file_path = file_path[1:]
        if file_path.startswith("./"):
            warnings.append(
                Problem(Kind.NON_STANDARD_PATH, f"{path} line {number}: './' prefix stripped", path)
            )
            file_path = file_path[2:]
        previous = manifest.entries.get(file_path)
        if previous is not None:
            repeat = Problem(
                Kind.DUPLICATE_MANIFEST_ENTRY,
                f"{path} lists {file_path} more than once"
                + (" with different checksums" if previous != checksum else ""),
                file_path,
                {"manifest": path},
            )
            (problems if strict or previous != checksum else warnings).append(repeat)
        manifest.entries[file_path] = checksum
    return manifest, problems, warnings


def parse_fetch(text: str) -> tuple[list[FetchEntry], list[Problem]]:
    """`URL LENGTH FILENAME` lines (§2.2.3): URL absolute, LENGTH octets or '-'."""
    entries: list[FetchEntry] = []
    problems: list[Problem] = []
    for number, line in enumerate(split_lines(text), start=1):
        match = _FETCH_LINE.fullmatch(line)
        if not match:
            problems.append(
                Problem(
                    Kind.FETCH_INVALID, f"fetch.txt line {number} is not 'URL LENGTH FILENAME'", "fetch.txt"
                )
            )
            continue
        url, length, raw_path = match.groups()
        if not _ABSOLUTE_URL.match(url):
            problems.append(
                Problem(
                    Kind.FETCH_INVALID,
                    f"fetch.txt line {number}: {url!r} is not an absolute URL",
                    "fetch.txt",
                )
            )
        if length != "-" and not length.isdigit():
            problems.append(
                Problem(
                    Kind.FETCH_INVALID,
                    f"fetch.txt line {number}: length {length!r} is not a number of octets or '-'",
                    "fetch.txt",
                )
            )
            continue
        entries.append(
            FetchEntry(url, None if length == "-" else int(length), decode_manifest_path(raw_path))
        )
    return entries, problems


def parse_bag_info(
    text: str, name: str = "bag-info.txt"
) -> tuple[list[tuple[str, str]], list[Problem], list[Problem]]:
    """`Label: value` lines (§2.2.2): a label, a colon, one space or tab, the value; lines that begin
    with whitespace continue the previous value."""
    tags: list[tuple[str, str]] = []
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            warnings.append(Problem(Kind.NON_STANDARD_PATH, f"{name} line {number} is blank", name))
            continue
        if line[:1] in (" ", "\t"):
            if not tags:
                problems.append(
                    Problem(Kind.BAG_INFO_INVALID, f"{name} line {number} continues nothing", name)
                )
                continue
            label, value = tags[-1]
            tags[-1] = (label, f"{value} {line.strip()}")
            continue
        match = _BAG_INFO_LINE.fullmatch(line)
        if not match:
            problems.append(
                Problem(Kind.BAG_INFO_INVALID, f"{name} line {number} is not 'Label: value': {line!r}", name)
            )
            continue
        tags.append((match.group(1), match.group(2)))
    return tags, problems, warnings


def parse_payload_oxum(value: str) -> tuple[int, int] | None:
    """`octets.streams`, or None when malformed."""
    match = re.fullmatch(r"(\d+)\.(\d+)", value)
    return (int(match.group(1)), int(match.group(2))) if match else None
