"""Peer for tar bags: download to disk (boto3 `download_file`), `tar -xf` (GNU tar, which reads every
compression), then `bagit.Bag(dir).validate()`.

The working folder is given by --workdir (on the disk that holds the bench cache, so the bytes
written are counted there); it is removed afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import bagit
import boto3

from bench.peers.common import Result, find_bag_root, parse_s3_url, report


def verify(url: str, workdir: str | None) -> Result:
    bucket, key = parse_s3_url(url)
    folder = Path(tempfile.mkdtemp(prefix="bench-untar-", dir=workdir))
    try:
        archive_path = folder / "bag.tar"
        boto3.client("s3").download_file(bucket, key, str(archive_path))
        (folder / "untarred").mkdir()
        subprocess.run(["tar", "-xf", str(archive_path), "-C", str(folder / "untarred")], check=True)
        names = [p.relative_to(folder / "untarred").as_posix() for p in (folder / "untarred").rglob("*")]
        bag = bagit.Bag(str(folder / "untarred" / find_bag_root(names)))
        result = Result(files=len(list(bag.payload_files())))
        try:
            bag.validate()
        except bagit.BagValidationError as error:
            result.problems.append(str(error))
            result.problems += [str(detail) for detail in error.details]
        else:
            result.bytes = int(bag.info.get("Payload-Oxum", "0.0").split(".")[0])
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.download_untar")
    parser.add_argument("url", help="s3://bucket/key")
    parser.add_argument("--workdir", help="parent of the temporary download folder (default: $TMPDIR)")
    args = parser.parse_args()
    return report(verify(args.url, args.workdir))


if __name__ == "__main__":
    raise SystemExit(main())
