"""Parsers for bagit.txt, manifests and bag-info.txt. Pure functions: bytes in, values and problems out."""

from __future__ import annotations

import binascii
import codecs
import itertools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bagverify.bag.versions import requires_bom
from bagverify.verdict import Kind, Problem

# ASCII digits only (\d takes Arabic-Indic ones too), and few enough for int() (it refuses over 4,300).
_BAGIT_LINE_1 = re.compile(r"BagIt-Version: ([0-9]{1,9})\.([0-9]{1,9})")
_BAGIT_LINE_2 = re.compile(r"Tag-File-Character-Encoding: (\S+)")
_MANIFEST_LINE = re.compile(r"([0-9A-Fa-f]+)[ \t]+(.+)")
# RFC 8493 §2.1.3: only CR, LF and % itself are percent-encoded in manifest paths.
_PERCENT = re.compile(r"%(0[DdAa]|25)")
RFC_8493_PERCENT = frozenset({"0d", "0a", "25"})
_DECODED = {"0d": "\r", "0a": "\n", "25": "%"}
_FETCH_LINE = re.compile(r"(\S+)[ \t]+(\S+)[ \t]+(.+)")
_ABSOLUTE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
# UTF-8's, and UTF-16's in either byte order: tag files begin with none of them (§2.1.1).
_BYTE_ORDER_MARKS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# A label (no colon, no surrounding whitespace), a colon, exactly one space or tab, then the value.
_BAG_INFO_LINE = re.compile(r"([^:\s](?:[^:]*[^:\s])?):[ \t](.*)")
# Before 1.0 (V4): 'a label, a colon, and a value, each separated by optional whitespace'.
_BAG_INFO_LINE_0_97 = re.compile(r"([^:\s](?:[^:]*[^:\s])?)[ \t]*:[ \t]*(.*)")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_NUMBER = re.compile(r"[0-9]{1,40}")
# What decode_tag_file leaves where bytes did not decode: lines holding one are skipped by the parsers.
_UNDECODABLE = re.compile("[\ud800-\udfff]")
# Per tag file, the first this many line problems (and warnings) are named one by one; the rest are
# counted in one more: a hostile file of millions of bad lines costs time, never memory.
MAX_LINE_PROBLEMS = 1000
# No ZIP entry name is longer (APPNOTE 4.4.10: a 16-bit length), so no listed path may be.
MAX_PATH_LENGTH = 0xFFFF
# Of a line or value quoted in a message.
_QUOTED_CHARACTERS = 200


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


def iter_lines(text: str, block: int = 1 << 16) -> Iterator[tuple[int, str]]:
    """(number, line) for the lines `split_lines` gives, a block at a time: never a list of millions.

    Lines that held bytes which did not decode (see `decode_tag_file`) are skipped: they were reported
    there, and what is left of them would only be misread.
    """
    for first, lines, marked in _line_blocks(text, block):
        numbered = enumerate(lines, first)
        if marked:
            yield from ((number, line) for number, line in numbered if not _UNDECODABLE.search(line))
        else:  # the usual block: handed on whole, with no per-line work in Python
            yield from numbered


def _numbered_lines(text: str, block: int = 1 << 16) -> Iterator[tuple[int, str, bool]]:
    """(number, line, holds undecodable bytes) for each line."""
    for first, lines, marked in _line_blocks(text, block):
        for number, line in enumerate(lines, first):
            yield number, line, marked and _UNDECODABLE.search(line) is not None


def _line_blocks(text: str, block: int) -> Iterator[tuple[int, list[str], bool]]:
    """(number of the first line, lines, whether any holds undecodable bytes) for each `block`
    characters (ending at a line feed, so a CRLF is never cut in two), split by str.split."""
    number, start = 1, 0
    while start < len(text):
        end = text.find("\n", start + block)
        end = len(text) if end < 0 else end + 1
        chunk = text[start:end]
        lines = chunk.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if lines[-1] == "":
            lines.pop()
        yield number, lines, _has_undecodable(chunk)
        number += len(lines)
        start = end


def _has_undecodable(text: str) -> bool:
    """Whether `text` holds a lone surrogate (an undecodable byte). str.isascii() reads a flag CPython
    keeps, so ASCII text, most tag files, is answered without the ~1 ms a 64 KiB chunk the search takes.
    """
    return not text.isascii() and _UNDECODABLE.search(text) is not None


def quoted(text: str) -> str:
    """`text` for a message: repr, cut to a readable length."""
    if len(text) <= _QUOTED_CHARACTERS:
        return repr(text)
    return f"{text[:_QUOTED_CHARACTERS]!r}... ({len(text):,} characters)"


class LineProblems:
    """One tag file's problems (or warnings): the first MAX_LINE_PROBLEMS as found, the rest counted in
    one more per kind, with `not_named` (the one key for "named up to a limit, the rest counted",
    as verdict.NamedProblems; this one names its file, so NamedProblems keeps it as it is)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.named: list[Problem] = []
        self.more: Counter[Kind] = Counter()

    def add(self, kind: Kind, message: str, path: str, quote: str | None = None, **details: Any) -> None:
        """Named while fewer than MAX_LINE_PROBLEMS are, else counted. `quote`, quoted, ends the message
        (quoting is the costly part, so it is done only for the problems named)."""
        if len(self.named) < MAX_LINE_PROBLEMS:
            text = message if quote is None else message + quoted(quote)
            self.named.append(Problem(kind, text, path, details))
        else:
            self.more[kind] += 1

    def done(self) -> list[Problem]:
        return [
            *self.named,
            *(
                Problem(
                    kind,
                    f"{self.path}: {count:,} more like these ({kind}) are not listed",
                    self.path,
                    {"not_named": count},
                )
                for kind, count in self.more.items()
            ),
        ]


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
    # Three lines at most are looked at: a bagit.txt of a million lines is not split into a million.
    lines = [match.group().rstrip("\r\n") for match in itertools.islice(_LINE.finditer(text), 3)]
    if len(lines) != 2:
        return bad(f"bagit.txt must have exactly two lines, has {len(lines) if len(lines) < 3 else 'more'}")
    version = _BAGIT_LINE_1.fullmatch(lines[0])
    encoding = _BAGIT_LINE_2.fullmatch(lines[1])
    if not version:
        return bad(f"first line must be 'BagIt-Version: M.N', is {quoted(lines[0])}")
    if not encoding:
        return bad(f"second line must be 'Tag-File-Character-Encoding: ENC', is {quoted(lines[1])}")
    if not is_text_encoding(encoding.group(1)):
        return bad(f"unknown Tag-File-Character-Encoding {quoted(encoding.group(1))}")
    return BagDeclaration((int(version.group(1)), int(version.group(2))), encoding.group(1)), problems


def is_text_encoding(name: str) -> bool:
    """A codec Python knows that decodes bytes to text (not rot13, hex, zlib, ... nor 'undefined')."""
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return False
    return bool(getattr(info, "_is_text_encoding", True)) and info.name != "undefined"


def decode_tag_file(
    data: bytes, encoding: str, path: str, *, stray_bom_is_a_problem: bool = True
) -> tuple[str | None, list[Problem], list[Problem]]:
    """The tag file's text in the declared encoding (§2.1.1), its problems and its warnings.

    A byte order mark that the encoding does not need (UTF-8's, UTF-16LE's, ...) is a problem in 1.0
    (§2.3), a warning before (`stray_bom_is_a_problem`, versions.VersionRules), and never a fault for
    UTF-16 or UTF-32, whose BOM gives the byte order. The text after it is still returned, so that the
    file's other faults, and the files a manifest lists, are still checked: a manifest with a BOM would
    otherwise leave every checksum in it unverified. Likewise bytes that don't decode are a problem
    of their line only: each such line is named, and its undecodable bytes are left in the text as
    lone surrogates, which `iter_lines` skips, so every other line is still read. A file in another
    encoding altogether (a UTF-16 BOM in a file declared UTF-8) gives no text.
    """
    if not is_text_encoding(encoding):
        return (
            None,
            [Problem(Kind.TAG_FILE_ENCODING, f"{path}: {quoted(encoding)} is not a text encoding", path)],
            [],
        )
    problems: list[Problem] = []
    warnings: list[Problem] = []
    try:
        text = data.decode(encoding)
    except UnicodeError as error:  # UnicodeDecodeError, and what punycode or idna raise
        whole_file = Problem(Kind.TAG_FILE_ENCODING, f"{path} is not valid {encoding}: {error}", path)
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and "16" not in encoding:
            return None, [whole_file], []  # another encoding altogether: no line would read right
        try:
            text = data.decode(encoding, "surrogateescape")
        except UnicodeError:  # a codec that can't mark what it can't decode (ASCII bytes, punycode)
            return None, [whole_file], []
    if data.startswith(_BYTE_ORDER_MARKS) and not requires_bom(encoding):
        if stray_bom_is_a_problem:
            problems.append(Problem(Kind.TAG_FILE_ENCODING, f"{path} begins with a byte order mark", path))
        else:
            warnings.append(
                Problem(
                    Kind.BYTE_ORDER_MARK,
                    f"{path} begins with a byte order mark, which BagIt 1.0 forbids in {encoding} and "
                    "this bag's version allows; stripped",
                    path,
                )
            )
        text = text.removeprefix("\ufeff")
    if _has_undecodable(text):
        problems.extend(_undecodable_lines(text, encoding, path))
    return text, problems, warnings


def _undecodable_lines(text: str, encoding: str, path: str) -> list[Problem]:
    def shown(line: str) -> str:
        try:
            return repr(line.encode(encoding, "surrogateescape")[:_QUOTED_CHARACTERS])
        except (UnicodeError, LookupError):
            return quoted(line)

    problems = LineProblems(path)
    for number, line, undecodable in _numbered_lines(text):
        if undecodable:
            what = shown(line) if len(problems.named) < MAX_LINE_PROBLEMS else ""  # the costly part
            problems.add(
                Kind.TAG_FILE_ENCODING,
                f"{path} line {number} is not valid {encoding}: {what}; skipped, the other lines are read",
                path,
                line=number,
            )
    return problems.done()


def decode_manifest_path(raw: str, decodes: frozenset[str] = RFC_8493_PERCENT) -> str:
    """`raw` with the percent-encodings in `decodes` (lowercase hex: '0d', '0a', '25') decoded."""
    if "%" not in raw:  # _PERCENT can't match: most paths, which then cost no call to re.sub
        return raw

    def decoded(match: re.Match[str]) -> str:
        code = match.group(1).lower()
        return _DECODED[code] if code in decodes else match.group()

    return _PERCENT.sub(decoded, raw)


def parse_manifest(
    text: str, path: str, algorithm: str, *, strict: bool = True, percent_decoded: bool = True
) -> tuple[Manifest, list[Problem], list[Problem]]:
    """`checksum <spaces or tabs> path` lines (§2.1.3). Returns the manifest, problems and warnings.

    `strict` (BagIt 1.0): a file listed twice, even with the same checksum, is a problem; before
    1.0 an identical repeat is only a warning. `percent_decoded` (1.0): %0D, %0A and %25 are decoded;
    without it paths are kept as written (before 1.0, see versions.VersionRules.percent_decodes).
    """
    manifest = Manifest(path, algorithm, is_tag=path.startswith("tagmanifest-"))
    problems, warnings = LineProblems(path), LineProblems(path)
    for number, line in iter_lines(text):
        fields = _split_manifest_line(line)
        if fields is None:
            problems.add(
                Kind.MANIFEST_LINE_INVALID,
                f"{path} line {number} is not 'checksum path': ",
                path,
                quote=line,
            )
            continue
        checksum, file_path = (
            fields[0].lower(),
            decode_manifest_path(fields[1]) if percent_decoded else fields[1],
        )
        if len(file_path) > MAX_PATH_LENGTH:
            problems.add(
                Kind.MANIFEST_LINE_INVALID,
                f"{path} line {number} lists a path of {len(file_path):,} characters, longer than any "
                f"name a ZIP can hold: {quoted(file_path)}",
                path,
            )
            continue
        if file_path.startswith(("*", "./")):  # one test for the usual path, which has neither
            file_path = _strip_prefixes(file_path, path, number, warnings)
        previous = manifest.entries.get(file_path)
        if previous is not None:
            (problems if strict or previous != checksum else warnings).add(
                Kind.DUPLICATE_MANIFEST_ENTRY,
                f"{path} lists {file_path} more than once"
                + (" with different checksums" if previous != checksum else ""),
                file_path,
                manifest=path,
            )
        manifest.entries[file_path] = checksum
    return manifest, problems.done(), warnings.done()


def _split_manifest_line(line: str) -> tuple[str, str] | None:
    """_MANIFEST_LINE's two groups (checksum, path) for one line (no CR or LF in it), or None.

    The usual line, an even number of hex digits, a space (sha256sum writes one, bagit-python two),
    then the path, is split by str methods, in half the regular expression's time, into the groups
    it would give: its checksum group takes the hex digits up to the first character that is not one
    (here that space), its separator every space and tab after them, and its path group the rest,
    which is all it needs when the rest is not empty. a2b_hex accepts exactly pairs of ASCII
    [0-9A-Fa-f], and "" (hence `checksum and`). Every other line, valid or not, is left to the
    regular expression. tests/unit/test_bag_fast_paths.py holds the two to the same answers.
    """
    checksum, _, rest = line.partition(" ")
    file_path = rest.lstrip(" \t")
    if checksum and file_path:
        try:
            binascii.a2b_hex(checksum)
        except ValueError:  # binascii.Error (not hex, odd length) or not ASCII
            pass
        else:
            return checksum, file_path
    match = _MANIFEST_LINE.fullmatch(line)
    return (match.group(1), match.group(2)) if match else None


def _strip_prefixes(file_path: str, path: str, number: int, warnings: LineProblems) -> str:
    """`file_path` (line `number` of manifest `path`) without a leading '*', then './'; each warned of."""
    if file_path.startswith("*"):  # md5sum's binary-mode marker (§6.1.3)
        warnings.add(Kind.NON_STANDARD_PATH, f"{path} line {number}: '*' prefix stripped", path)
        file_path = file_path[1:]
    if file_path.startswith("./"):
        warnings.add(Kind.NON_STANDARD_PATH, f"{path} line {number}: './' prefix stripped", path)
        file_path = file_path[2:]
    return file_path


def parse_fetch(text: str, *, percent_decoded: bool = True) -> tuple[list[FetchEntry], list[Problem]]:
    """`URL LENGTH FILENAME` lines (§2.2.3): URL absolute, LENGTH octets or '-'; FILENAME percent-decoded
    as manifest paths are (`parse_manifest`)."""
    entries: list[FetchEntry] = []
    problems = LineProblems("fetch.txt")
    for number, line in iter_lines(text):
        match = _FETCH_LINE.fullmatch(line)
        if not match:
            problems.add(
                Kind.FETCH_INVALID, f"fetch.txt line {number} is not 'URL LENGTH FILENAME'", "fetch.txt"
            )
            continue
        url, length, raw_path = match.groups()
        if not _ABSOLUTE_URL.match(url):
            problems.add(
                Kind.FETCH_INVALID,
                f"fetch.txt line {number}: {quoted(url)} is not an absolute URL",
                "fetch.txt",
            )
        # ASCII digits only: str.isdigit() takes "²", which int() refuses.
        if length != "-" and not _NUMBER.fullmatch(length):
            problems.add(
                Kind.FETCH_INVALID,
                f"fetch.txt line {number}: length {quoted(length)} is not a number of octets or '-'",
                "fetch.txt",
            )
            continue
        entries.append(
            FetchEntry(
                url,
                None if length == "-" else int(length),
                decode_manifest_path(raw_path) if percent_decoded else raw_path,
            )
        )
    return entries, problems.done()


def parse_bag_info(
    text: str, name: str = "bag-info.txt", *, colon_spacing: str = "strict"
) -> tuple[list[tuple[str, str]], list[Problem], list[Problem]]:
    """`Label: value` lines (§2.2.2): a label, a colon, one space or tab, the value; lines that begin
    with whitespace continue the previous value.

    `colon_spacing` 'optional' (BagIt before 1.0, V4): any spaces or tabs, or none, on either side of
    the colon, none of them part of the label or the value.
    """
    line_form = _BAG_INFO_LINE if colon_spacing == "strict" else _BAG_INFO_LINE_0_97
    tags: list[tuple[str, list[str]]] = []  # continuations joined at the end: linear, however many
    problems, warnings = LineProblems(name), LineProblems(name)
    for number, line in iter_lines(text):
        if not line.strip():
            warnings.add(Kind.NON_STANDARD_PATH, f"{name} line {number} is blank", name)
            continue
        if line[:1] in (" ", "\t"):
            if not tags:
                problems.add(Kind.BAG_INFO_INVALID, f"{name} line {number} continues nothing", name)
                continue
            tags[-1][1].append(line.strip())
            continue
        match = line_form.fullmatch(line)
        if not match:
            problems.add(
                Kind.BAG_INFO_INVALID,
                f"{name} line {number} is not 'Label: value': ",
                name,
                quote=line,
            )
            continue
        tags.append((match.group(1), [match.group(2)]))
    return [(label, " ".join(parts)) for label, parts in tags], problems.done(), warnings.done()


def parse_payload_oxum(value: str) -> tuple[int, int] | None:
    """`octets.streams`, or None when malformed."""
    match = re.fullmatch(r"([0-9]{1,40})\.([0-9]{1,40})", value)  # ASCII digits, as many as int() takes
    return (int(match.group(1)), int(match.group(2))) if match else None
