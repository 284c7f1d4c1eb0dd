"""Where the bag sits inside the ZIP, and which of its files are which."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bagverify.archive import ArchiveFault
from bagverify.verdict import Kind

PAYLOAD_DIR = "data/"
_MANIFEST = re.compile(r"(tag)?manifest-([A-Za-z0-9_-]+)\.txt")


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
