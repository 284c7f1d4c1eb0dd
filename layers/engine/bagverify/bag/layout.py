"""Where the bag sits inside the ZIP, and which of its files are which."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from bagverify.archive import ArchiveFault
from bagverify.verdict import Kind

PAYLOAD_DIR = "data/"
# The least string after all that begin with PAYLOAD_DIR ('0' follows '/'): sorted, the paths that
# begin with it are exactly those in [PAYLOAD_DIR, PAST_PAYLOAD_DIR), so one run of any sorted list.
PAST_PAYLOAD_DIR = PAYLOAD_DIR[:-1] + chr(ord(PAYLOAD_DIR[-1]) + 1)
_MANIFEST = re.compile(r"(tag)?manifest-([A-Za-z0-9_-]+)\.txt")
# Paths that could point outside the bag (§5.1, and what unzippers do with them): absolute, '~',
# a drive letter, a backslash (a separator on Windows), a '..' component; and NUL, which ends a
# name in C (zipfile cuts the name there), so the name read is not the name stored.
UNSAFE_PATH = re.compile(r"(^/)|(^~)|(^[A-Za-z]:)|(\\)|((^|/)\.\.(/|$))|\x00")
# What paths joined by newlines hold when one of them begins with '/' or '~' (after the first path,
# which is tested apart), has ':' second, or holds a backslash, '..' or NUL: see is_unsafe_path.
_UNSAFE_MARKS = ("\n/", "\n~", ":", "\\", "..", "\x00")
# macOS Finder's "Compress" puts each file's resource fork and attributes here, beside the folder.
MACOS_FORKS = "__MACOSX/"


@dataclass(frozen=True)
class ScreenedEntries:
    """Archive entries that belong to no bag: never a bag root, never a bag file, never read."""

    unsafe: list[str]  # names that could write outside the folder the archive is unzipped into
    macos_forks: list[str]  # under __MACOSX/ at the archive's root

    @property
    def ignored(self) -> set[str]:
        return {*self.unsafe, *self.macos_forks}


def screen_entries(entry_names: list[str]) -> ScreenedEntries:
    unsafe = [name for name in entry_names if is_unsafe_path(name)]
    forks = [name for name in entry_names if name.startswith(MACOS_FORKS) and not is_unsafe_path(name)]
    return ScreenedEntries(unsafe, forks)


def find_bag_root(entry_names: list[str]) -> str:
    """The prefix of the bag inside the archive: "" (bag at the ZIP root) or "top/" (one top folder).

    Raises ArchiveFault(NO_BAG_ROOT) when neither holds a bagit.txt.
    """
    names = set(entry_names)
    if "bagit.txt" in names:
        return ""
    tops = {name.split("/", 1)[0] for name in entry_names if name}
    if len(tops) == 1:
        top = tops.pop() + "/"
        if top + "bagit.txt" in names:
            return top
    roots = sorted(name[: -len("bagit.txt")] for name in names if name.endswith("/bagit.txt"))
    if len(roots) > 1:
        raise ArchiveFault(Kind.NO_BAG_ROOT, f"more than one bag in the archive: {', '.join(roots)}")
    raise ArchiveFault(
        Kind.NO_BAG_ROOT,
        "no bag root: bagit.txt is neither at the archive root nor in its single top folder",
        "bagit.txt",
    )


@dataclass(frozen=True)
class ManifestName:
    """`manifest-<alg>.txt` (payload) or `tagmanifest-<alg>.txt` (tag) at the bag root."""

    path: str
    algorithm: str
    is_tag: bool

    @classmethod
    def parse(cls, path: str) -> ManifestName | None:
        match = _MANIFEST.fullmatch(path)
        if not match:
            return None
        return cls(path, match.group(2).lower(), bool(match.group(1)))


def is_unsafe_path(path: str) -> bool:
    """Whether UNSAFE_PATH matches `path`, running it only on the few paths that might match.

    Its search tries every alternative at every position (~6 µs a path; a manifest lists thousands),
    and each alternative needs one of: '/' or '~' first, ':' second (after a drive letter), or a
    backslash, '..' or NUL anywhere. A path with none of them cannot match, and plain string tests
    say so in a fraction of the time. tests/unit/test_bag_fast_paths.py holds the two to the same answers.
    """
    if (
        path[:1] not in ("/", "~")
        and path[1:2] != ":"
        and "\\" not in path
        and ".." not in path
        and "\x00" not in path
    ):
        return False
    return UNSAFE_PATH.search(path) is not None


def any_unsafe_path(paths: Collection[str]) -> bool:
    """Whether is_unsafe_path holds for any of `paths`: asked of each only when all of them joined
    hold a mark of one that might be unsafe. Most manifests hold none, and six substring searches in C
    answer for thousands of paths several times faster than a call per path.
    """
    joined = "\n".join(paths)
    if not joined.startswith(("/", "~")) and not any(mark in joined for mark in _UNSAFE_MARKS):
        return False
    return any(map(is_unsafe_path, paths))


def is_payload(path: str) -> bool:
    return path.startswith(PAYLOAD_DIR)


def all_payload(paths: Collection[str]) -> bool:
    """Whether every path is_payload: whether the least and the greatest lie in [PAYLOAD_DIR,
    PAST_PAYLOAD_DIR), which min() and max() find in C, several times faster than a call per path."""
    return not paths or (min(paths) >= PAYLOAD_DIR and max(paths) < PAST_PAYLOAD_DIR)
