"""Peer: download to disk (boto3 `download_file`, its defaults), unzip, then `bagit.Bag(dir).validate()`.

The working folder is given by --workdir (the harness puts it on the disk that holds the bench
cache, so that the bytes written are counted there); it is removed afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import zipfile
from pathlib import Path

import bagit
import boto3

from bench.peers.common import Result, find_bag_root, parse_s3_url, report


def verify(url: str, workdir: str | None) -> Result:
    bucket, key = parse_s3_url(url)
    folder = Path(tempfile.mkdtemp(prefix="bench-download-", dir=workdir))
    try:
        archive_path = folder / "bag.zip"
        boto3.client("s3").download_file(bucket, key, str(archive_path))
        with zipfile.ZipFile(archive_path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
            root = find_bag_root(names)
            archive.extractall(folder / "unzipped")
        bag = bagit.Bag(str(folder / "unzipped" / root))
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
    parser = argparse.ArgumentParser(prog="python -m bench.peers.download_bagit")
    parser.add_argument("url", help="s3://bucket/key")
    parser.add_argument("--workdir", help="parent of the temporary download folder (default: $TMPDIR)")
    args = parser.parse_args()
    return report(verify(args.url, args.workdir))


if __name__ == "__main__":
    raise SystemExit(main())
