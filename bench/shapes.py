"""Bag shapes, made once with bagit-python and zipped with Python's zipfile (deflate), then cached.

Every member, text or random, is deflated (`ZIP_DEFLATED`, level 6), as `zip -r`, Windows and
macOS archivers do: for random bytes deflate emits stored blocks (archive ≈ payload size), and
inflating them costs little more than a copy. Tag files are written after the payload, as most
zippers that add the bag folder recursively do, so they sit near the central directory.

Cached as `<cache>/bags/<shape>-s<scale>-<algorithms>.zip`, with a `.json` beside it describing it.
The cache is never inside the repository.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import bagit

GENERATOR_VERSION = 1
MiB = 1024 * 1024
SMALL_MIN, SMALL_MAX = 1024, 8 * 1024
BIG_SIZE = 256 * MiB


@dataclass(frozen=True)
class ShapeSpec:
    name: str
    small_files: int = 0  # 1-8 KB text files (count scales)
    medium_files: int = 0  # 1-16 MiB files, alternately random and log-like (sizes scale)
    random_files: int = 0  # BIG_SIZE random bytes each (size scales)
    log_files: int = 0  # BIG_SIZE log-like text each, deflates ~4x (size scales)

    def small_count(self, scale: float) -> int:
        return max(10, round(self.small_files * scale)) if self.small_files else 0

    def describe(self, scale: float) -> str:
        big = _size(max(MiB, int(BIG_SIZE * scale)))
        parts = []
        if self.small_files:
            parts.append(f"{self.small_count(scale):,} text files of 1-8 KB")
        if self.medium_files:
            parts.append(
                f"{self.medium_files} files of {_size(int(MiB * scale))}-{_size(int(16 * MiB * scale))}"
            )
        if self.random_files:
            parts.append(f"{self.random_files} random file{'s' * (self.random_files > 1)} of {big}")
        if self.log_files:
            parts.append(f"{self.log_files} log-like text file{'s' * (self.log_files > 1)} of {big}")
        return ", ".join(parts)


def _size(n: int) -> str:
    return f"{n / MiB:g} MiB" if n >= MiB else f"{n // 1024} KiB"


SHAPES: dict[str, ShapeSpec] = {
    spec.name: spec
    for spec in (
        ShapeSpec("small", small_files=20_000),
        ShapeSpec("incompressible", random_files=4),
        ShapeSpec("compressible", log_files=4),
        ShapeSpec("mix", small_files=2_000, medium_files=24, random_files=1, log_files=1),
    )
}


@dataclass(frozen=True)
class Bag:
    """One cached bag ZIP and what is in it."""

    shape: str
    scale: float
    algorithms: tuple[str, ...]
    path: str
    key: str  # the S3 key it is served under
    files: int
    payload_bytes: int
    archive_bytes: int
    members: int
    build_seconds: float

    @property
    def description(self) -> str:
        return SHAPES[self.shape].describe(self.scale)


def bag_key(shape: str, scale: float, algorithms: tuple[str, ...]) -> str:
    return f"{shape}-s{scale:g}-{'-'.join(algorithms)}.zip"


def ensure_bag(
    cache_dir: Path, shape: str, scale: float, algorithms: tuple[str, ...], log: Callable[[str], None]
) -> Bag:
    """The cached bag for this shape, scale and algorithms, built first if missing."""
    bags = cache_dir / "bags"
    bags.mkdir(parents=True, exist_ok=True)
    key = bag_key(shape, scale, algorithms)
    zip_path, meta_path = bags / key, bags / (key + ".json")
    if zip_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if (
            meta.get("generator_version") == GENERATOR_VERSION
            and meta.get("archive_bytes") == zip_path.stat().st_size
        ):
            meta.pop("generator_version")
            meta["algorithms"] = tuple(meta["algorithms"])
            return Bag(**meta)
    log(f"building bag '{shape}' at scale {scale:g} ({', '.join(algorithms)}) into {zip_path} (once; cached)")
    started = time.perf_counter()
    work = cache_dir / f"build-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        bag_dir = work / shape
        bag_dir.mkdir(parents=True)
        _write_payload(bag_dir, SHAPES[shape], scale)
        bagit.make_bag(str(bag_dir), checksums=list(algorithms), processes=os.cpu_count() or 1)
        files, payload_bytes, members = _zip_bag(bag_dir, zip_path.with_suffix(".zip.part"))
        zip_path.with_suffix(".zip.part").replace(zip_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bag = Bag(
        shape=shape,
        scale=scale,
        algorithms=algorithms,
        path=str(zip_path),
        key=key,
        files=files,
        payload_bytes=payload_bytes,
        archive_bytes=zip_path.stat().st_size,
        members=members,
        build_seconds=round(time.perf_counter() - started, 1),
    )
    meta_path.write_text(json.dumps({**asdict(bag), "generator_version": GENERATOR_VERSION}, indent=1))
    log(
        f"  built in {bag.build_seconds:.0f} s: {files:,} files, {payload_bytes:,} payload bytes, "
        f"{bag.archive_bytes:,} archive bytes"
    )
    return bag


def _zip_bag(bag_dir: Path, target: Path) -> tuple[int, int, int]:
    """Zip the bag folder (top folder = bag name): payload first, tag files last. (files, bytes, members)."""
    top = bag_dir.name
    payload: list[Path] = sorted(p for p in (bag_dir / "data").rglob("*") if p.is_file())
    folders: list[Path] = sorted(p for p in (bag_dir / "data").rglob("*") if p.is_dir())
    tags = sorted(p for p in bag_dir.iterdir() if p.is_file())
    members = 0
    with zipfile.ZipFile(
        target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6, allowZip64=True
    ) as archive:
        for folder in [bag_dir, bag_dir / "data", *folders]:
            archive.write(folder, f"{top}/{folder.relative_to(bag_dir).as_posix()}/".replace("/./", "/"))
            members += 1
        for path in [*payload, *tags]:
            archive.write(path, f"{top}/{path.relative_to(bag_dir).as_posix()}")
            members += 1
    return len(payload), sum(p.stat().st_size for p in payload), members


# -- content ----------------------------------------------------------------------------------

_WORDS_RNG = random.Random(8493)
_VOCABULARY = [
    "".join(_WORDS_RNG.choice("etaoinshrdlcumwfgypbvkjxqz") for _ in range(_WORDS_RNG.randint(2, 11)))
    for _ in range(3000)
]
_LEVELS = ["INFO"] * 12 + ["DEBUG"] * 6 + ["WARN"] * 2 + ["ERROR"]
_COMPONENTS = ["ingest", "api", "auth", "storage", "scheduler", "indexer", "mailer", "billing"]
_PATHS = ["/api/v1/items", "/api/v1/users", "/api/v2/orders", "/healthz", "/static/app.js", "/api/v1/search"]
_METHODS = ["GET"] * 6 + ["POST", "PUT", "DELETE"]
_STATUSES = [200] * 20 + [201, 204, 301, 304, 400, 401, 403, 404, 500, 503]


def log_text(rng: random.Random, size: int) -> bytes:
    """Log lines with timestamps, request ids, paths, sizes and durations (deflates ~4x)."""
    lines: list[str] = []
    produced = 0
    clock = 1_700_000_000.0 + rng.random() * 1e7
    while produced < size:
        clock += rng.expovariate(200)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(clock))
        line = (
            f"{stamp}.{int(clock * 1000) % 1000:03d}Z {rng.choice(_LEVELS):5} "
            f"[{rng.choice(_COMPONENTS)}-{rng.randrange(16)}] req={rng.getrandbits(48):012x} "
            f"{rng.choice(_METHODS)} {rng.choice(_PATHS)}/{rng.randrange(100000)} "
            f"status={rng.choice(_STATUSES)} "
            f"bytes={int(rng.lognormvariate(8, 1.5))} ms={rng.lognormvariate(2, 1):.1f} "
            f"ip=10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(256)}\n"
        )
        lines.append(line)
        produced += len(line)
    return "".join(lines).encode()


def prose_text(rng: random.Random, size: int) -> bytes:
    weights = [1 / (rank + 1) for rank in range(len(_VOCABULARY))]
    words = rng.choices(_VOCABULARY, weights=weights, k=size // 5)
    out: list[str] = []
    for index in range(0, len(words), 12):
        sentence = " ".join(words[index : index + 12])
        out.append(sentence[:1].upper() + sentence[1:] + (".\n" if index % 96 == 84 else ". "))
    return "".join(out).encode()


def csv_text(rng: random.Random, size: int) -> bytes:
    rows = ["id,station,date,temperature_c,humidity,pressure_hpa,flag\n"]
    produced = len(rows[0])
    while produced < size:
        row = (
            f"{rng.randrange(10**7)},ST{rng.randrange(500):04d},"
            f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},"
            f"{rng.gauss(12, 9):.2f},{rng.uniform(10, 100):.1f},"
            f"{rng.gauss(1013, 8):.1f},{rng.choice('AABCX')}\n"
        )
        rows.append(row)
        produced += len(row)
    return "".join(rows).encode()


def json_text(rng: random.Random, size: int) -> bytes:
    records: list[str] = []
    produced = 0
    while produced < size:
        record = json.dumps(
            {
                "id": f"{rng.getrandbits(64):016x}",
                "title": " ".join(rng.choices(_VOCABULARY, k=rng.randint(2, 8))),
                "tags": rng.sample(_COMPONENTS, k=rng.randint(0, 3)),
                "size": rng.randrange(10**9),
                "score": round(rng.random(), 4),
            }
        )
        records.append(record + "\n")
        produced += len(record) + 1
    return "".join(records).encode()


class _Pools:
    """Text pools to slice small files and big log files from (fast, and the same deflate ratio)."""

    def __init__(self, rng: random.Random, pool_size: int) -> None:
        self.log = log_text(rng, pool_size)
        self.small = [
            (".txt", prose_text(rng, pool_size // 4)),
            (".log", self.log),
            (".csv", csv_text(rng, pool_size // 4)),
            (".json", json_text(rng, pool_size // 4)),
        ]


def _slice(rng: random.Random, pool: bytes, size: int) -> bytes:
    start = rng.randrange(0, max(1, len(pool) - size))
    return pool[start : start + size]


def _write_big(path: Path, size: int, rng: random.Random, pool: bytes | None) -> None:
    """`size` bytes: random (pool None) or log text assembled from 256 KiB slices of the pool."""
    with path.open("wb") as out:
        left = size
        while left > 0:
            if pool is None:
                block = os.urandom(min(left, 16 * MiB))
            else:
                block = b"".join(_slice(rng, pool, 256 * 1024) for _ in range(64))[:left]
            out.write(block)
            left -= len(block)


def _write_payload(bag_dir: Path, spec: ShapeSpec, scale: float) -> None:
    rng = random.Random(f"{spec.name}-{scale}")
    pools = _Pools(rng, 8 * MiB if scale >= 0.5 else 2 * MiB)
    small_count = spec.small_count(scale)
    for index in range(small_count):
        folder = bag_dir / "records" / f"batch-{index // 200:04d}"
        if index % 200 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        extension, pool = rng.choice(pools.small)
        (folder / f"record-{index:06d}{extension}").write_bytes(
            _slice(rng, pool, rng.randint(SMALL_MIN, SMALL_MAX))
        )
    big = max(MiB, int(BIG_SIZE * scale))
    for index in range(spec.random_files):
        (bag_dir / "scans").mkdir(exist_ok=True)
        _write_big(bag_dir / "scans" / f"scan-{index:03d}.raw", big, rng, None)
    for index in range(spec.log_files):
        (bag_dir / "logs").mkdir(exist_ok=True)
        _write_big(bag_dir / "logs" / f"service-{index:03d}.log", big, rng, pools.log)
    for index in range(spec.medium_files):
        (bag_dir / "media").mkdir(exist_ok=True)
        size = max(64 * 1024, int(rng.randint(1 * MiB, 16 * MiB) * scale))
        if index % 2:
            _write_big(bag_dir / "media" / f"clip-{index:03d}.bin", size, rng, None)
        else:
            _write_big(bag_dir / "media" / f"notes-{index:03d}.log", size, rng, pools.log)
