"""The machine's floors for verifying one bag ZIP.

CPU floor: the one-core time to inflate every member and compute every digest its manifests ask
for (plus CRC-32, which every ZIP reader checks), reading the ZIP from the local file (in the
page cache), divided by the cores. Measured with zlib (what `zipfile` uses) and, when installed,
with `isal` (a faster inflater with identical output); the floor is the faster of the two. The
time is the measuring thread's CPU time (`time.thread_time`), so other load on the machine
inflates it less than a wall clock would.

Network floor: the archive's bytes over the aggregate bandwidth of the emulated endpoint.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.peers.common import find_bag_root, read_manifests

CHUNK = 1024 * 1024
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")


@dataclass(frozen=True)
class CpuFloor:
    zlib_one_core: float
    isal_one_core: float | None
    cores: int

    @property
    def one_core(self) -> float:
        return min(t for t in (self.zlib_one_core, self.isal_one_core) if t is not None)

    @property
    def seconds(self) -> float:
        return self.one_core / self.cores

    @property
    def inflater(self) -> str:
        return (
            "isal" if self.isal_one_core is not None and self.isal_one_core < self.zlib_one_core else "zlib"
        )


def _inflaters() -> dict[str, tuple[Callable[[], Any], Callable[[bytes, int], int]]]:
    found: dict[str, tuple[Callable[[], Any], Callable[[bytes, int], int]]] = {
        "zlib": (lambda: zlib.decompressobj(-15), zlib.crc32)
    }
    try:
        from isal import isal_zlib

        found["isal"] = (lambda: isal_zlib.decompressobj(-15), isal_zlib.crc32)
    except ImportError:
        pass
    return found


def _one_pass(path: str, make_inflater: Callable[[], Any], crc32: Callable[[bytes, int], int]) -> float:
    """CPU seconds of one single-threaded pass over every member: read raw, inflate, CRC-32, digests."""
    with open(path, "rb") as raw, zipfile.ZipFile(path) as archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        root = find_bag_root([info.filename for info in infos])
        manifests = read_manifests(archive, root, [info.filename for info in infos])
        started = time.thread_time()
        for info in infos:
            wanted = manifests.wanted(info.filename[len(root) :]) if info.filename.startswith(root) else {}
            hashers = [hashlib.new(algorithm) for algorithm in wanted]
            raw.seek(info.header_offset)
            header = _LOCAL_HEADER.unpack(raw.read(_LOCAL_HEADER.size))
            raw.seek(header[-2] + header[-1], os.SEEK_CUR)  # file name and extra field
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ValueError(
                    f"{info.filename}: compression method {info.compress_type} not measured here"
                )
            inflater = make_inflater() if info.compress_type == zipfile.ZIP_DEFLATED else None
            left, crc = info.compress_size, 0
            while left > 0:
                data = raw.read(min(CHUNK, left))
                left -= len(data)
                out = inflater.decompress(data) if inflater else data
                crc = crc32(out, crc)
                for hasher in hashers:
                    hasher.update(out)
            if inflater:
                tail = inflater.flush()
                crc = crc32(tail, crc)
                for hasher in hashers:
                    hasher.update(tail)
            for hasher in hashers:
                hasher.hexdigest()
            if crc != info.CRC:
                raise ValueError(f"{info.filename}: CRC-32 mismatch while measuring the CPU floor")
        return time.thread_time() - started


def measure_cpu_floor(path: str, passes: int = 2) -> CpuFloor:
    """Best of `passes` single-threaded passes per inflater (the first one also warms the page cache)."""
    times: dict[str, float] = {}
    for name, (make_inflater, crc32) in _inflaters().items():
        times[name] = min(_one_pass(path, make_inflater, crc32) for _ in range(passes))
    return CpuFloor(times["zlib"], times.get("isal"), os.cpu_count() or 1)
