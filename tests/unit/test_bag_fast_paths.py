"""The aggregation step's fast paths give exactly what the exact code they skip would.

Each fast path answers the usual case (a well-formed manifest line, a safe path, a sound manifest)
with plain string operations and leaves the rest to the exact code (a regular expression, a loop
over every entry). These properties hold each one to the exact code's answer on inputs built to sit
on both sides of every boundary: hex digits or not, one separator or several, marks of unsafe paths
at the start, second, or anywhere.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bagverify.bag import checks
from bagverify.bag.checks import Findings, _check_entries, _PresentFiles
from bagverify.bag.layout import UNSAFE_PATH, all_payload, any_unsafe_path, is_payload, is_unsafe_path
from bagverify.bag.tag_files import _MANIFEST_LINE, Manifest, _split_manifest_line

fast_paths = settings(max_examples=500, derandomize=True, database=None, deadline=None)

# What iter_lines gives parse_manifest: any characters but CR and LF.
_ANY_LINE = st.text(st.characters(exclude_characters="\r\n"), max_size=40)
# Pieces of manifest lines, near-misses included: hex digits in either case, digits that are not
# ASCII, letters past 'f', spaces and tabs alone and in runs, what paths and checksums hold.
_LINE_PIECES = ["0", "9", "a", "F", "ab", "g", "\u0663", "\U0001d7d9", " ", "  ", "\t", " \t"]
_LINE_PIECES += ["/", "%0A", "*", "é", "\x00"]
_MANIFEST_LINES = st.one_of(
    _ANY_LINE,
    st.lists(st.sampled_from(_LINE_PIECES), max_size=20).map("".join),
    st.builds(
        "".join,
        st.tuples(
            st.text("0123456789abcdefABCDEFgx", max_size=9),
            st.text(" \t", max_size=3),
            st.text(st.sampled_from("ab/ \t.*%é"), max_size=6),
        ),
    ),
)

# Pieces of paths: every mark of an unsafe one (UNSAFE_PATH), in places it matters and not, and
# what sorts next to "data/" ("data", "data0", "data.", "datA/").
_PATH_PIECES = ["/", "~", ":", "C:", "\\", ".", "..", "../", "/..", "\x00", "\n", "a", "data/", "é", "%"]
_PATH_PIECES += ["data", "data0", "data.", "datA/", "\U0010ffff"]
_PATHS = st.one_of(st.lists(st.sampled_from(_PATH_PIECES), max_size=8).map("".join), st.text(max_size=12))


@fast_paths
@given(_MANIFEST_LINES)
def test_split_manifest_line_gives_the_regular_expressions_groups(line: str) -> None:
    match = _MANIFEST_LINE.fullmatch(line)
    assert _split_manifest_line(line) == (match.groups() if match else None)


@pytest.mark.parametrize(
    "line",
    [
        "ab  data/x",  # bagit-python's two spaces
        "ab data/x",  # sha256sum's one
        "ab \t data/x",
        "abc data/x",  # odd length: the regular expression's answer
        "ab\tdata/x",
        "ab   ",  # a path of whitespace only: the regular expression backtracks to give it one
        " ab data/x",
        "ab",
        "",
        "٣٣ data/x",
    ],
)
def test_split_manifest_line_on_the_boundaries(line: str) -> None:
    match = _MANIFEST_LINE.fullmatch(line)
    assert _split_manifest_line(line) == (match.groups() if match else None)


@fast_paths
@given(_PATHS)
def test_is_unsafe_path_is_the_regular_expressions_answer(path: str) -> None:
    assert is_unsafe_path(path) == (UNSAFE_PATH.search(path) is not None)


@fast_paths
@given(st.lists(_PATHS, max_size=6))
def test_any_unsafe_path_is_any_of_the_regular_expressions_answers(paths: list[str]) -> None:
    assert any_unsafe_path(paths) == any(UNSAFE_PATH.search(path) for path in paths)


@fast_paths
@given(
    st.dictionaries(st.one_of(_PATHS, _PATHS.map("data/".__add__)), st.text("0123456789abcdef", max_size=66)),
    st.sampled_from(["sha256", "md5", "shake_128", "nonesuch"]),
    st.booleans(),
)
def test_check_entries_finds_the_same_with_or_without_its_fast_path(
    entries: dict[str, str], algorithm: str, is_tag: bool
) -> None:
    def check(*, fast: bool) -> tuple[list[str], list[tuple[str, str, str | None]]]:
        path = "tagmanifest-x.txt" if is_tag else "manifest-x.txt"
        manifest = Manifest(path, algorithm, is_tag, dict(entries))
        findings = Findings()
        if fast:
            _check_entries(manifest, findings)
        else:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(checks, "_all_entries_sound", lambda *_: False)
                _check_entries(manifest, findings)
        return list(manifest.entries), [(p.kind, p.message, p.path) for p in findings.problems]

    assert check(fast=True) == check(fast=False)


@fast_paths
@given(st.lists(_PATHS, max_size=6))
def test_all_payload_is_every_path_is_payload(paths: list[str]) -> None:
    assert all_payload(paths) == all(map(is_payload, paths))


@fast_paths
@given(st.dictionaries(_PATHS, st.integers(0, 9), max_size=8))
def test_present_files_split_payload_from_tag_paths_in_order(sizes: dict[str, int]) -> None:
    present = _PresentFiles(sizes)
    assert present.sorted_paths == sorted(sizes)
    assert present.payload_paths == [path for path in sorted(sizes) if is_payload(path)]
    assert present.tag_paths == [path for path in sorted(sizes) if not is_payload(path)]
