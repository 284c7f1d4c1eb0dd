"""Fuzzing with hypothesis: no input makes the engine raise, hang or answer outside its outcomes.

Targets:

- the ZIP index and member reader, through `verify_archive`: real bags (every compression
  method) mutated by byte flips, truncations, inserted or deleted garbage, and edits of the
  length and offset fields of local headers, directory entries and end records;
- the tag-file parsers (`parse_bagit_txt`, `decode_tag_file`, `parse_manifest`, `parse_bag_info`,
  `parse_fetch`, `parse_payload_oxum`) on arbitrary bytes and text, and on near-valid lines;
- whole bags whose tag files are arbitrary bytes, through `verify_archive`.

An outcome is defined when the call returns: a verdict whose status is valid, invalid or error,
whose problems carry a `Kind`, and which serialises to JSON; parsers return values and Problems.
Anything raised, or a call running past `HANG_SECONDS` (a SIGALRM watchdog), fails the test.

CI runs a short, derandomized pass (`CI_EXAMPLES` per target, under 30 s in all). A longer,
random one on demand:

    BAGVERIFY_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/unit/test_fuzz.py -q

Every crash found this way is a regression test below (`test_fuzz_regressions`), which always runs.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import signal
import struct
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bagverify import Kind, Problem, Status, Verdict, verify_archive
from bagverify.archive.tar.headers import HeaderError, parse_header, parse_pax_records
from bagverify.bag.tag_files import (
    _numbered_lines,
    decode_tag_file,
    iter_lines,
    parse_bag_info,
    parse_bagit_txt,
    parse_fetch,
    parse_manifest,
    parse_payload_oxum,
    split_lines,
)
from bagverify.notify import verdict_message
from devtools.sample_bags import make_bag_tar, make_bag_zip

CI_EXAMPLES = 200
EXAMPLES = int(os.environ.get("BAGVERIFY_FUZZ_EXAMPLES", CI_EXAMPLES))
LONG_RUN = EXAMPLES != CI_EXAMPLES
# No single call may take longer: a hang fails the example instead of stalling the run.
HANG_SECONDS = 20

fuzz = settings(
    max_examples=EXAMPLES,
    derandomize=not LONG_RUN,  # CI: the same examples every run; on demand: new ones each time
    database=None,
    deadline=None,  # the watchdog below bounds each call; hypothesis' deadline flakes on slow CI
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

FILES = {
    "a.txt": b"alpha\n" * 300,
    "b/c.txt": b"charlie\n" * 200,
    "d.bin": bytes(range(256)) * 8,
}
ENCODINGS = [
    "UTF-8",
    "utf-8",
    "UTF-16",
    "UTF-16BE",
    "ISO-8859-1",
    "cp437",
    "ascii",
    "utf-7",
    "idna",
    "punycode",
    "undefined",
    "rot13",
    "hex",
    "base64",
    "zlib",
    "unicode_escape",
    "raw_unicode_escape",
    "no-such-encoding",
]


@contextmanager
def watchdog(seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Fail, rather than hang, when the body runs longer than `seconds`."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no answer within {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_verdict(verdict: Verdict) -> None:
    assert verdict.status in (Status.VALID, Status.INVALID, Status.ERROR)
    for problem in [*verdict.problems, *verdict.warnings]:
        assert isinstance(problem.kind, Kind), problem
        assert isinstance(problem.message, str) and problem.message
    assert (verdict.status is Status.VALID) == (not verdict.problems)
    json.dumps(verdict.to_dict())
    json.dumps(verdict_message(verdict))


def check_problems(problems: list[Problem]) -> None:
    for problem in problems:
        assert isinstance(problem, Problem) and isinstance(problem.kind, Kind), problem
        assert isinstance(problem.message, str)
        json.dumps(problem.to_dict())


def verify(archive: bytes) -> Verdict:
    with watchdog():
        verdict = verify_archive(io.BytesIO(archive), "fuzz.zip")
    check_verdict(verdict)
    return verdict


# -- (a) the ZIP index and reader: mutated real archives ---------------------------------------


@functools.cache
def base_archive(kind: str) -> bytes:
    zipper, compression = kind.split("/")
    return make_bag_zip(FILES, algorithms=["sha256"], zipper=zipper, compression=compression)


BASES = ["python/stored", "python/deflate", "python/bzip2", "python/lzma", "7z/deflate64"]


def structure_fields(archive: bytes) -> list[tuple[int, str]]:
    """(offset, struct format) of every length, offset and count field the archive's records hold."""
    fields: list[tuple[int, str]] = []
    end = archive.rfind(b"PK\x05\x06")
    if end < 0:
        return fields
    fields += [(end + 8, "<H"), (end + 10, "<H"), (end + 12, "<L"), (end + 16, "<L"), (end + 20, "<H")]
    _, _, _, _, _, cd_size, cd_offset, _ = struct.unpack("<4s4H2LH", archive[end : end + 22])
    position = cd_offset
    while position + 46 <= min(cd_offset + cd_size, len(archive)):
        if archive[position : position + 4] != b"PK\x01\x02":
            break
        name_length, extra_length, comment_length = struct.unpack(
            "<3H", archive[position + 28 : position + 34]
        )
        (header,) = struct.unpack("<L", archive[position + 42 : position + 46])
        # Directory entry: method, CRC, compressed size, size, name/extra/comment lengths, header offset.
        fields += [(position + at, fmt) for at, fmt in ((10, "<H"), (16, "<L"), (20, "<L"), (24, "<L"))]
        fields += [(position + at, fmt) for at, fmt in ((28, "<H"), (30, "<H"), (32, "<H"), (42, "<L"))]
        if header + 30 <= len(archive) and archive[header : header + 4] == b"PK\x03\x04":
            # Local header: flags, method, CRC, sizes, name and extra lengths.
            fields += [(header + at, fmt) for at, fmt in ((6, "<H"), (8, "<H"), (14, "<L"), (18, "<L"))]
            fields += [(header + at, fmt) for at, fmt in ((22, "<L"), (26, "<H"), (28, "<H"))]
        position += 46 + name_length + extra_length + comment_length
    return fields


INTERESTING = [0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF]


@st.composite
def mutated_archives(draw: st.DrawFn) -> bytes:
    data = bytearray(base_archive(draw(st.sampled_from(BASES))))
    fields = structure_fields(bytes(data))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        operation = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "field", "tail-flip"]))
        at = draw(st.integers(0, len(data) - 1))
        if operation == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif operation == "tail-flip":  # the directory and end records, where one bit matters most
            at = max(0, len(data) - 1 - draw(st.integers(0, min(len(data) - 1, 2048))))
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif operation == "truncate":
            del data[at:]
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif operation == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif fields:
            offset, fmt = draw(st.sampled_from(fields))
            width = struct.calcsize(fmt)
            if offset + width <= len(data):
                (old,) = struct.unpack_from(fmt, data, offset)
                limit = (1 << (8 * width)) - 1
                value = draw(
                    st.one_of(
                        st.sampled_from([v for v in INTERESTING if v <= limit]),
                        st.integers(0, limit),
                        st.sampled_from([max(0, old - 1), min(limit, old + 1)]),
                    )
                )
                struct.pack_into(fmt, data, offset, value)
    return bytes(data)


@fuzz
@given(mutated_archives())
def test_fuzz_mutated_archives(archive: bytes) -> None:
    verify(archive)


@fuzz
@given(st.binary(max_size=4096), st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06" + bytes(18)]))
def test_fuzz_arbitrary_bytes_as_an_archive(data: bytes, framing: bytes) -> None:
    verify(framing + data)


# -- (b) the tag-file parsers ---------------------------------------------------------------------

HEX = st.text("0123456789abcdefABCDEF", min_size=0, max_size=130)
NAMES = st.text(min_size=0, max_size=40)
SPACING = st.sampled_from([" ", "  ", "\t", " \t", ""])
BREAKS = st.sampled_from(["\n", "\r\n", "\r", ""])
DIGITS = st.one_of(
    st.from_regex(r"[0-9]{1,6}", fullmatch=True), st.text("0123456789²٣", min_size=1, max_size=5000)
)


def lines_of(line: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(st.tuples(line, BREAKS), max_size=30).map(lambda ls: "".join(a + b for a, b in ls))


MANIFEST_TEXT = st.one_of(
    st.text(max_size=2000),
    lines_of(
        st.builds(
            lambda h, s, p, n: h + s + p + n,
            HEX,
            SPACING,
            st.sampled_from(["", "*", "./", "data/", "../", "/"]),
            NAMES,
        )
    ),
)
BAG_INFO_TEXT = st.one_of(
    st.text(max_size=2000),
    lines_of(
        st.one_of(
            st.builds(lambda a, s, b: a + ":" + s + b, NAMES, SPACING, NAMES),
            st.builds(lambda d, s: "Payload-Oxum: " + d + "." + s, DIGITS, DIGITS),
            st.builds(lambda s, b: s + b, st.sampled_from([" ", "\t"]), NAMES),
        )
    ),
)
FETCH_TEXT = st.one_of(
    st.text(max_size=2000),
    lines_of(
        st.builds(
            lambda u, a, n, b, p: u + a + n + b + p,
            NAMES,
            SPACING,
            st.one_of(DIGITS, st.just("-")),
            SPACING,
            NAMES,
        )
    ),
)
BAGIT_TXT = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda bom, major, minor, encoding, breaks: (
            bom
            + f"BagIt-Version: {major}.{minor}{breaks[0]}".encode()
            + f"Tag-File-Character-Encoding: {encoding}{breaks[1]}".encode()
        ),
        st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe"]),
        DIGITS,
        DIGITS,
        st.one_of(st.sampled_from(ENCODINGS), NAMES),
        st.tuples(BREAKS, BREAKS),
    ),
)


@fuzz
@given(BAGIT_TXT)
def test_fuzz_parse_bagit_txt(data: bytes) -> None:
    with watchdog():
        declaration, problems = parse_bagit_txt(data)
    check_problems(problems)
    if declaration is not None:
        # What the bag then decodes its tag files with must be usable.
        with watchdog():
            _, problems, warnings = decode_tag_file(b"abc\n", declaration.encoding, "manifest-md5.txt")
        check_problems(problems + warnings)


@fuzz
@given(st.binary(max_size=2000), st.one_of(st.sampled_from(ENCODINGS), NAMES), st.booleans())
def test_fuzz_decode_tag_file(data: bytes, encoding: str, stray_bom_is_a_problem: bool) -> None:
    with watchdog():
        text, problems, warnings = decode_tag_file(
            data, encoding, "manifest-sha256.txt", stray_bom_is_a_problem=stray_bom_is_a_problem
        )
    check_problems(problems + warnings)
    assert text is None or isinstance(text, str)


@fuzz
@given(
    MANIFEST_TEXT,
    st.sampled_from(["manifest-sha256.txt", "tagmanifest-md5.txt"]),
    st.booleans(),
    st.booleans(),
)
def test_fuzz_parse_manifest(text: str, path: str, strict: bool, percent_decoded: bool) -> None:
    with watchdog():
        manifest, problems, warnings = parse_manifest(
            text, path, path.split("-")[1][:-4], strict=strict, percent_decoded=percent_decoded
        )
    check_problems(problems + warnings)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in manifest.entries.items())


@fuzz
@given(BAG_INFO_TEXT, st.sampled_from(["strict", "optional"]))
def test_fuzz_parse_bag_info(text: str, colon_spacing: str) -> None:
    with watchdog():
        tags, problems, warnings = parse_bag_info(text, colon_spacing=colon_spacing)
        for label, value in tags:
            if label == "Payload-Oxum":
                parse_payload_oxum(value)
    check_problems(problems + warnings)


@fuzz
@given(FETCH_TEXT)
def test_fuzz_parse_fetch(text: str) -> None:
    with watchdog():
        _, problems = parse_fetch(text)
    check_problems(problems)


@fuzz
@given(st.one_of(st.text(max_size=100), st.builds(lambda a, b: a + "." + b, DIGITS, DIGITS)))
def test_fuzz_parse_payload_oxum(value: str) -> None:
    with watchdog():
        oxum = parse_payload_oxum(value)
    assert oxum is None or (isinstance(oxum, tuple) and len(oxum) == 2)


# -- (c) whole bags whose tag files are anything ---------------------------------------------------

GOOD_TAG_FILES = {
    "bagit.txt": b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
    "manifest-sha256.txt": hashlib.sha256(b"foo").hexdigest().encode() + b"  data/foo.txt\n",
    "bag-info.txt": b"Payload-Oxum: 3.1\n",
    "fetch.txt": b"",
    "tagmanifest-md5.txt": b"",
}


def encoded(text: str, encoding: str) -> bytes:
    try:
        return text.encode(encoding)
    except (UnicodeError, LookupError):
        return text.encode("utf-8", "surrogatepass")


TAG_FILE_BYTES: dict[str, st.SearchStrategy[bytes]] = {
    "bagit.txt": BAGIT_TXT,
    "manifest-sha256.txt": st.one_of(
        st.binary(max_size=500), MANIFEST_TEXT.map(lambda t: encoded(t, "utf-8"))
    ),
    "bag-info.txt": st.one_of(st.binary(max_size=500), BAG_INFO_TEXT.map(lambda t: encoded(t, "utf-8"))),
    "fetch.txt": st.one_of(st.binary(max_size=500), FETCH_TEXT.map(lambda t: encoded(t, "utf-8"))),
    "tagmanifest-md5.txt": st.one_of(
        st.binary(max_size=500), MANIFEST_TEXT.map(lambda t: encoded(t, "utf-8"))
    ),
}


@fuzz
@given(st.dictionaries(st.sampled_from(sorted(TAG_FILE_BYTES)), st.just(b""), min_size=1), st.data())
def test_fuzz_bags_with_arbitrary_tag_files(replaced: dict[str, bytes], data: st.DataObject) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bag/data/foo.txt", b"foo")
        for name, good in GOOD_TAG_FILES.items():
            archive.writestr(
                f"bag/{name}", data.draw(TAG_FILE_BYTES[name], label=name) if name in replaced else good
            )
    verify(buffer.getvalue())


# -- line splitting: the block-wise splitter gives exactly split_lines' lines -------------------------


@fuzz
@given(
    st.one_of(
        st.lists(st.sampled_from(["a", "b", "\r", "\n", "\r\n", "\udcff"]), max_size=300).map("".join),
        st.text(),
    ),
    st.integers(1, 16),
)
def test_fuzz_block_wise_lines_are_split_lines(text: str, block: int) -> None:
    numbered = [(number, line) for number, line, _ in _numbered_lines(text, block)]
    assert numbered == list(enumerate(split_lines(text), start=1))
    assert [line for _, line in iter_lines(text, block)] == [
        line for line in split_lines(text) if not any("\ud800" <= c <= "\udfff" for c in line)
    ]


# -- regressions: what the fuzzers (and review) found, as they found it; always run -----------------


def encoding_problem(result: tuple[str | None, list[Problem], list[Problem]]) -> bool:
    text, problems, _ = result
    return text is None and [p.kind for p in problems] == [Kind.TAG_FILE_ENCODING]


@pytest.mark.parametrize(
    ("finding", "call"),
    [
        # Found by test_fuzz_decode_tag_file / test_fuzz_parse_bagit_txt (hypothesis, derandomized CI run):
        # bagit.txt may name any codec Python knows; these raised LookupError or UnicodeError.
        ("rot13 is not a text encoding", lambda: encoding_problem(decode_tag_file(b"\x00", "rot13", "m"))),
        (
            "undefined raises UnicodeError",
            lambda: encoding_problem(decode_tag_file(b"\x00", "undefined", "m")),
        ),
        ("punycode raises UnicodeError", lambda: encoding_problem(decode_tag_file(b"\x00", "punycode", "m"))),
        ("NUL in an encoding name: ValueError", lambda: encoding_problem(decode_tag_file(b"", "\x00", "m"))),
        (
            "bagit.txt naming rot13 is invalid",
            lambda: parse_bagit_txt(b"BagIt-Version: 0.0\nTag-File-Character-Encoding: rot13")[0] is None,
        ),
        # Found by test_fuzz_parse_fetch: str.isdigit() accepts "²", int() then raised ValueError.
        ("fetch length '²'", lambda: parse_fetch("http://x ² data/a\n")[0] == []),
        # Found in review, then by the fuzzers' long digit strings: int() refuses over 4,300 digits.
        (
            "BagIt-Version of 5,000 digits",
            lambda: (
                parse_bagit_txt(b"BagIt-Version: " + b"9" * 5000 + b".0\nTag-File-Character-Encoding: UTF-8")[
                    0
                ]
                is None
            ),
        ),
        ("Payload-Oxum of 5,000 digits", lambda: parse_payload_oxum("9" * 5000 + ".1") is None),
        # \d matched Arabic-Indic digits: BagIt-Version U+0661 "." U+0660 read as 1.0.
        (
            "BagIt-Version in Arabic-Indic digits",
            lambda: (
                parse_bagit_txt(
                    "BagIt-Version: \u0661.\u0660\nTag-File-Character-Encoding: UTF-8\n".encode()
                )[0]
                is None
            ),
        ),
    ],
)
def test_fuzz_regressions(finding: str, call: Callable[[], bool]) -> None:
    with watchdog():
        assert call(), finding


# -- (d) tar: the header and PAX parsers, and whole mutated tars ---------------------------------


@fuzz
@given(st.binary(min_size=512, max_size=512))
def test_fuzz_parse_tar_header(block: bytes) -> None:
    with watchdog():
        try:
            header = parse_header(block)
        except HeaderError:
            return
    assert header.size >= 0 and isinstance(header.name, str)


def _with_checksum(block: bytearray) -> bytes:
    """`block` with its checksum field made right, so the parser looks past it."""
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block)


@fuzz
@given(st.binary(min_size=512, max_size=512), st.sampled_from([b"0", b"5", b"x", b"g", b"L", b"2", b"S"]))
def test_fuzz_tar_header_whose_checksum_holds(block: bytes, flag: bytes) -> None:
    data = bytearray(block)
    data[156:157] = flag
    with watchdog(), suppress(HeaderError):
        parse_header(_with_checksum(data))


@fuzz
@given(
    st.one_of(
        st.binary(max_size=600),
        st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40), st.integers(-3, 3))).map(
            lambda records: b"".join(
                b"%d %s=%s\n" % (len(k.encode()) + len(v.encode()) + 4 + delta, k.encode(), v.encode())
                for k, v, delta in records
            )
        ),
    )
)
def test_fuzz_parse_pax_records(data: bytes) -> None:
    with watchdog():
        try:
            records = parse_pax_records(data)
        except HeaderError:
            return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in records.items())


@functools.cache
def base_tar(compression: str) -> bytes:
    return make_bag_tar(FILES, compression=compression, algorithms=["sha256"])


@st.composite
def mutated_tars(draw: st.DrawFn) -> bytes:
    data = bytearray(base_tar(draw(st.sampled_from(["", "gz", "xz"]))))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        operation = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "header"]))
        at = draw(st.integers(0, len(data) - 1))
        if operation == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif operation == "truncate":
            del data[at:]
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif operation == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        else:  # a header field of a plain tar, its checksum made right: size, type, name
            start = draw(st.integers(0, max(0, len(data) // 512 - 1))) * 512
            block = bytearray(data[start : start + 512])
            if len(block) == 512:
                offset, width = draw(st.sampled_from([(124, 12), (156, 1), (0, 100), (345, 155)]))
                block[offset : offset + width] = draw(st.binary(min_size=width, max_size=width))
                data[start : start + 512] = _with_checksum(block)
    return bytes(data)


@fuzz
@given(mutated_tars())
def test_fuzz_mutated_tars(archive: bytes) -> None:
    verify(archive)
