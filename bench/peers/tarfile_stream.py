"""Peer for tar bags: Python's `tarfile` in stream mode (`r|*`, any compression, zlib's gzip) over the
boto3 GetObject body, each member hashed as it streams by.

What a careful user writes in an afternoon: a tar has no directory, and its manifests come after the
payload, so each payload member is hashed in the algorithms the bag's manifests are named for (given
with --algorithms, as that user knows their own bags) and compared once the manifests are read; both
ways of completeness are checked. One GET, one connection, no read-ahead.
"""

from __future__ import annotations

import argparse
import hashlib
import tarfile

import boto3

from bench.peers.common import _MANIFEST as MANIFEST
from bench.peers.common import CHUNK_SIZE, Result, find_bag_root, parse_manifest, parse_s3_url, report


def verify(url: str, algorithms: list[str]) -> Result:
    bucket, key = parse_s3_url(url)
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    digests: dict[str, dict[str, str]] = {}
    sizes: dict[str, int] = {}
    texts: dict[str, str] = {}
    with tarfile.open(fileobj=body, mode="r|*") as archive:
        for member in archive:
            if not member.isfile():
                continue
            hashers = {name: hashlib.new(name) for name in algorithms}
            stream = archive.extractfile(member)
            assert stream is not None
            kept = bytearray()
            keep = MANIFEST.fullmatch(member.name.rsplit("/", 1)[-1]) is not None
            while chunk := stream.read(CHUNK_SIZE):
                for hasher in hashers.values():
                    hasher.update(chunk)
                if keep:
                    kept += chunk
            digests[member.name] = {name: hasher.hexdigest() for name, hasher in hashers.items()}
            sizes[member.name] = member.size
            if keep:
                texts[member.name] = kept.decode("utf-8")
    root = find_bag_root(list(sizes))
    result = Result()
    listed: set[str] = set()
    for name, text in texts.items():
        match = MANIFEST.fullmatch(name[len(root) :])
        if match is None:
            continue
        algorithm, is_tag = match.group(2), bool(match.group(1))
        for path, expected in parse_manifest(text).items():
            if not is_tag:
                listed.add(path)
            found = digests.get(root + path)
            if found is None:
                result.problems.append(f"missing: {path}")
            elif algorithm in found and found[algorithm] != expected.lower():
                result.problems.append(f"{algorithm} mismatch: {path}")
    for name, size in sizes.items():
        path = name[len(root) :]
        if path.startswith("data/"):
            result.files += 1
            result.bytes += size
            if path not in listed:
                result.problems.append(f"unlisted: {path}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.tarfile_stream")
    parser.add_argument("url", help="s3://bucket/key")
    parser.add_argument("--algorithms", default="sha256,sha512", help="the bag's manifest algorithms")
    args = parser.parse_args()
    return report(verify(args.url, args.algorithms.split(",")))


if __name__ == "__main__":
    raise SystemExit(main())
