"""The minimal correct verifier shared by the peers: `zipfile` over any seekable file object.

It is what a careful user would write in an afternoon on top of the standard library, so that the
peers differ only in how bytes get from S3 to `zipfile`:

* finds the bag root (`bagit.txt` at the archive root or in its single top folder);
* parses every `manifest-<alg>.txt` and `tagmanifest-<alg>.txt` (`digest  path`, RFC 8493 percent
  escapes `%0A %0D %25`);
* reads each member once, in archive order, through every digest that any manifest asks of it
  (`zipfile` checks CRC-32 on the way), and compares;
* checks completeness both ways: a payload file missing from a payload manifest, and a manifest
  entry with no member.

The result is one JSON line on stdout: `{"status": "valid"|"invalid", "files", "bytes", "problems"}`.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import IO
from urllib.parse import urlsplit

CHUNK_SIZE = 1024 * 1024  # bytes asked of zipfile per read(); generous to one-GET-per-read peers
_MANIFEST = re.compile(r"(tag)?manifest-([A-Za-z0-9_-]+)\.txt")
MAX_PROBLEMS_SHOWN = 20


@dataclass
class Result:
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "valid" if not self.problems else "invalid"

    def to_json(self) -> str:
        return json.dumps(
            {
                "status": self.status,
                "files": self.files,
                "bytes": self.bytes,
                "problem_count": len(self.problems),
                "problems": self.problems[:MAX_PROBLEMS_SHOWN],
            }
        )


def find_bag_root(names: list[str]) -> str:
    """The bag's prefix in the archive: "" (bagit.txt at the root) or "top/" (in the single top folder)."""
    if "bagit.txt" in names:
        return ""
    tops = {name.split("/", 1)[0] for name in names if name}
    if len(tops) == 1:
        top = tops.pop() + "/"
        if top + "bagit.txt" in names:
            return top
    raise ValueError("no bag root: bagit.txt is neither at the archive root nor in its single top folder")


def _decode_path(raw: str) -> str:
    # RFC 8493 2.1.3: CR, LF and % in manifest paths are percent-encoded.
    return (
        raw.replace("%0A", "\n")
        .replace("%0a", "\n")
        .replace("%0D", "\r")
        .replace("%0d", "\r")
        .replace("%25", "%")
    )


def parse_manifest(text: str) -> dict[str, str]:
    """path -> lower-case hex digest."""
    entries: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        digest, _, path = line.strip("\r").partition(" ")
        entries[_decode_path(path.lstrip(" \t").lstrip("*"))] = digest.lower()
    return entries


@dataclass
class Manifests:
    """Expected digests: per path, per algorithm; payload and tag manifests kept apart."""

    payload: dict[str, dict[str, str]]  # algorithm -> path -> digest
    tag: dict[str, dict[str, str]]

    def wanted(self, path: str) -> dict[str, str]:
        """algorithm -> expected digest, for every manifest that lists `path`."""
        listing = self.payload if path.startswith("data/") else self.tag
        return {alg: entries[path] for alg, entries in listing.items() if path in entries}


def read_manifests(archive: zipfile.ZipFile, root: str, names: list[str]) -> Manifests:
    payload: dict[str, dict[str, str]] = {}
    tag: dict[str, dict[str, str]] = {}
    for name in names:
        if not name.startswith(root):
            continue
        match = _MANIFEST.fullmatch(name[len(root) :])
        if match:
            algorithm = match.group(2).lower()
            entries = parse_manifest(archive.read(name).decode("utf-8-sig"))
            (tag if match.group(1) else payload)[algorithm] = entries
    return Manifests(payload, tag)


def hash_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, algorithms: list[str]
) -> tuple[int, dict[str, str]]:
    """Size and hex digests of one member, read once (zipfile checks its CRC-32 at the end)."""
    hashers = {alg: hashlib.new(alg) for alg in algorithms}
    size = 0
    with archive.open(info) as member:
        while chunk := member.read(CHUNK_SIZE):
            size += len(chunk)
            for hasher in hashers.values():
                hasher.update(chunk)
    return size, {alg: hasher.hexdigest() for alg, hasher in hashers.items()}


def verify_zip(fileobj: IO[bytes]) -> Result:
    """Verify the bag zipped in `fileobj` (any seekable binary file object)."""
    result = Result()
    with zipfile.ZipFile(fileobj) as archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        names = [info.filename for info in infos]
        root = find_bag_root(names)
        manifests = read_manifests(archive, root, names)
        if not manifests.payload:
            result.problems.append("no payload manifest")
        present: set[str] = set()
        for info in infos:
            if not info.filename.startswith(root):
                continue
            path = info.filename[len(root) :]
            present.add(path)
            wanted = manifests.wanted(path)
            if path.startswith("data/"):
                result.files += 1
                for algorithm, entries in manifests.payload.items():
                    if path not in entries:
                        result.problems.append(f"{path}: not in manifest-{algorithm}.txt")
            try:
                size, actual = hash_member(archive, info, sorted(wanted))
            except (zipfile.BadZipFile, OSError, EOFError) as error:  # CRC-32 mismatch, truncated data
                result.problems.append(f"{path}: unreadable: {error}")
                continue
            if path.startswith("data/"):
                result.bytes += size
            for algorithm, expected in wanted.items():
                if actual[algorithm] != expected:
                    result.problems.append(
                        f"{path}: {algorithm} mismatch: expected {expected}, got {actual[algorithm]}"
                    )
        for kind, listing in (("manifest", manifests.payload), ("tagmanifest", manifests.tag)):
            for algorithm, entries in listing.items():
                result.problems += [
                    f"{path}: listed in {kind}-{algorithm}.txt but missing"
                    for path in entries
                    if path not in present
                ]
        if "bagit.txt" not in present:
            result.problems.append("bagit.txt missing")
    return result


def parse_s3_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
        raise SystemExit(f"not an s3://bucket/key URL: {url}")
    return parts.netloc, parts.path.lstrip("/")


def report(result: Result) -> int:
    """Print the result as one JSON line; the exit code is 0 for valid, 1 for invalid."""
    print(result.to_json())
    return 0 if result.status == "valid" else 1


def main_for(open_source: Callable[[str, str], AbstractContextManager[IO[bytes]]]) -> int:
    """Entry point shared by the peers: `python -m bench.peers.X s3://bucket/key`."""
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m bench.peers.<peer> s3://bucket/key")
    bucket, key = parse_s3_url(sys.argv[1])
    with open_source(bucket, key) as fileobj:
        return report(verify_zip(fileobj))
