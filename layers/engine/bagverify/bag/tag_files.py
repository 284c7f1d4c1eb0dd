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


@dataclass(frozen=True)
class BagDeclaration:
    version: tuple[int, int]
    encoding: str


@dataclass
class Manifest:
    """One manifest's entries: path → expected checksum (lowercase hex)."""

    path: str
    algorithm: str
    entries: dict[str, str] = field(default_factory=dict)


def split_lines(text: str) -> list[str]:
    """Lines ending in LF, CR or CRLF (RFC 8493 §2.3); a final line break ends the last line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse_bagit_txt(data: bytes) -> tuple[BagDeclaration | None, list[Problem]]:
    """bagit.txt (§2.1.1): exactly `BagIt-Version: M.N` then `Tag-File-Character-Encoding: ENC`."""

    def bad(message: str) -> tuple[None, list[Problem]]:
        return None, [Problem(Kind.BAGIT_TXT_INVALID, message, "bagit.txt")]

    if data.startswith(codecs.BOM_UTF8):
        return bad("bagit.txt must not begin with a byte order mark")
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
    return BagDeclaration((int(version.group(1)), int(version.group(2))), encoding.group(1)), []


def decode_tag_file(data: bytes, encoding: str, path: str) -> tuple[str | None, list[Problem]]:
    try:
        return data.decode(encoding), []
    except UnicodeDecodeError as error:
        return None, [Problem(Kind.TAG_FILE_ENCODING, f"{path} is not valid {encoding}: {error}", path)]


def decode_manifest_path(raw: str) -> str:
    return _PERCENT.sub(lambda m: {"0d": "\r", "0a": "\n", "25": "%"}[m.group(1).lower()], raw)


def parse_manifest(text: str, path: str, algorithm: str) -> tuple[Manifest, list[Problem], list[Problem]]:
    """`checksum <spaces or tabs> path` lines. Returns the manifest, problems and warnings."""
    manifest = Manifest(path, algorithm)
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
        if previous is not None and previous != checksum:
            problems.append(
                Problem(
                    Kind.MANIFEST_LINE_INVALID,
                    f"{path} lists {file_path} twice with different checksums",
                    file_path,
                    {"manifest": path},
                )
            )
        manifest.entries[file_path] = checksum
    return manifest, problems, warnings


def parse_bag_info(text: str) -> tuple[list[tuple[str, str]], list[Problem]]:
    """`Label: value` lines; lines starting with whitespace continue the previous value (§2.2.2)."""
    tags: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        if line[0] in " \t" and tags:
            label, value = tags[-1]
            tags[-1] = (label, f"{value} {line.strip()}")
        elif ":" in line:
            label, value = line.split(":", 1)
            tags.append((label.strip(), value.strip()))
        else:
            problems.append(
                Problem(
                    Kind.BAG_INFO_INVALID, f"bag-info.txt line {number} is not 'Label: value'", "bag-info.txt"
                )
            )
    return tags, problems


def parse_payload_oxum(value: str) -> tuple[int, int] | None:
    """`octets.streams`, or None when malformed."""
    match = re.fullmatch(r"(\d+)\.(\d+)", value.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None
