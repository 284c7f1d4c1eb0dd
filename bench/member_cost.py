"""What one small member costs in C, and whether a second thread can take part of the Python work.

    .venv-bench/bin/python -m bench.member_cost [--members 5000] [--repeat 3]   (after bench/run once)

Reads the cached *small* bag (20,000 deflated text files of 1-8 KB, sha256 + sha512 manifests) as a
local file, so no endpoint is involved, and prints two things (stdout, markdown):

* per member, in microseconds (median of `--repeat` passes over the first `--members` members): each
  C call the scan makes (ISA-L inflate through a bounded `decompressobj`, as `decoders.inflate_whole`;
  zlib's for comparison; CRC-32; sha256; sha512), then `MemberReader.read_small` + `digest_bytes` as
  the scan calls them: what is left beside the C calls is the Python per-member path;
* `verify_path` of the whole bag, alone and with the manifests parsed a second time on a thread
  while its members are scanned (`parse_manifest` of each manifest the tag scan kept): the cost of
  overlapping Python work with the scan, where that work holds the GIL.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from isal import isal_zlib

import bagverify.verify as verify
from bagverify.archive.member_reader import MemberReader
from bagverify.bag.tag_files import parse_manifest
from bagverify.checksums import digest_bytes
from bagverify.pipeline.plan import ONE_SHARD, make_plan
from bench.benchmark import default_cache_dir
from bench.shapes import ensure_bag


def per_member(calls: dict[str, Callable[[], Any]], members: int, repeat: int) -> dict[str, float]:
    """Microseconds per member of each call (each a loop over the members), median of `repeat`."""
    result = {}
    for name, call in calls.items():
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            call()
            times.append(time.perf_counter() - began)
        result[name] = statistics.median(times) / members * 1e6
    return result


def member_costs(path: Path, count: int, repeat: int) -> tuple[dict[str, float], float]:
    with path.open("rb") as archive:
        index = make_plan(archive, source=str(path), object_info={}, sizing=ONE_SHARD).index
        assert index is not None
        reader = MemberReader(archive)
        members = [m for m in map(index.member, index.positions) if m.size][:count]
        # The compressed bytes where the scan finds them (its own local-header check), and what they
        # inflate to as the scan reads them.
        raw = [(reader._read_at(reader._data_offset(m), m.compressed_size), m.size) for m in members]
        plain = [reader.read_small(member) for member in members]
        algorithms = ["sha256", "sha512"]

        def isal_inflate() -> None:
            for data, size in raw:
                isal_zlib.decompressobj(-15).decompress(data, size + 1)

        def zlib_inflate() -> None:
            for data, size in raw:
                zlib.decompressobj(-15).decompress(data, size + 1)

        def hashed(name: str) -> Callable[[], None]:
            def run() -> None:
                for data in plain:
                    digest_bytes(data, [name])

            return run

        def crc() -> None:
            for data in plain:
                isal_zlib.crc32(data)

        def scan_path() -> None:
            for member in members:
                digest_bytes(reader.read_small(member), algorithms)

        costs = per_member(
            {
                "inflate (ISA-L)": isal_inflate,
                "inflate (zlib)": zlib_inflate,
                "CRC-32": crc,
                "sha256": hashed("sha256"),
                "sha512": hashed("sha512"),
                "read_small + digest_bytes": scan_path,
            },
            len(members),
            repeat,
        )
        average = sum(len(data) for data in plain) / len(plain)
    return costs, average


def overlap(path: Path, repeat: int) -> dict[str, list[float]]:
    """Wall seconds of `verify_path`, alone and with the manifests parsed on a thread during the scan."""
    kept: dict[str, bytes] = {}
    scan_tag_files, scan_shard = verify.scan_tag_files, verify.scan_shard
    walls: dict[str, list[float]] = {"alone": [], "parsing on a thread": []}
    mode = {"parse": False}

    def tags(*args: Any, **kwargs: Any) -> Any:
        result = scan_tag_files(*args, **kwargs)
        kept.update(result.tag_contents)
        return result

    def shard(*args: Any, **kwargs: Any) -> Any:
        def parse() -> None:
            for name, data in kept.items():
                if name.startswith("manifest-"):
                    parse_manifest(data.decode(), name, name[len("manifest-") : -len(".txt")])

        worker = threading.Thread(target=parse) if mode["parse"] else None
        if worker:
            worker.start()
        try:
            return scan_shard(*args, **kwargs)
        finally:
            if worker:
                worker.join()

    verify.scan_tag_files, verify.scan_shard = tags, shard  # type: ignore[assignment]
    try:
        for _ in range(repeat):
            for label, parse in (("alone", False), ("parsing on a thread", True)):
                mode["parse"] = parse
                began = time.perf_counter()
                verify.verify_path(str(path))
                walls[label].append(time.perf_counter() - began)
    finally:
        verify.scan_tag_files, verify.scan_shard = scan_tag_files, scan_shard
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.member_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    options = parser.parse_args()
    bag = ensure_bag(options.cache_dir, "small", 1.0, ("sha256", "sha512"), print)
    path = Path(bag.path)
    costs, average = member_costs(path, options.members, options.repeat)
    print(f"Per member of the small bag ({options.members:,} members, {average:,.0f} bytes on average):\n")
    print("| call | µs per member |\n|---|--:|")
    for name, micros in costs.items():
        print(f"| {name} | {micros:.1f} |")
    walls = overlap(path, options.repeat)
    print("\n`verify_path` of the whole bag, wall seconds (each run):\n")
    print("| how | median | runs |\n|---|--:|---|")
    for label, runs in walls.items():
        print(f"| {label} | {statistics.median(runs):.2f} | {', '.join(f'{r:.2f}' for r in runs)} |")


if __name__ == "__main__":
    main()
