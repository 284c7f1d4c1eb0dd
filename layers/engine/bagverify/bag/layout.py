"""Where the bag sits inside the ZIP, and which of its files are which."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bagverify.archive import ArchiveFault
from bagverify.verdict import Kind

PAYLOAD_DIR = "data/"
_MANIFEST = re.compile(r"(tag)?manifest-([A-Za-z0-9_-]+)\.txt")
# Paths that could point outside the bag (§5.1, and what unzippers do with them): absolute, '~',
# a drive letter, a backslash (a separator on Windows), a '..' component; and NUL, which ends a
# name in C (zipfile cuts the name there), so the name read is not the name stored.
UNSAFE_PATH = re.compile(r"(^/)|(^~)|(^[A-Za-z]:)|(\\)|((^|/)\.\.(/|$))|\x00")
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
    unsafe = [name for name in entry_names if UNSAFE_PATH.search(name)]
    forks = [name for name in entry_names if name.startswith(MACOS_FORKS) and not UNSAFE_PATH.search(name)]
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


def is_payload(path: str) -> bool:
    return path.startswith(PAYLOAD_DIR)
