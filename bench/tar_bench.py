"""Tar bags on the benchmark's emulated S3: the shapes as `.tar` and `.tar.gz` (the same payload as
their ZIPs), bagverify beside the obvious peers, against the tar floors.

    .venv-bench/bin/python -m bench.tar_bench [--scale 0.1] [--repeat 3] [--shape mix]

Needs what `bench/run` installs (nginx, GNU time, .venv-bench) and builds (the cached ZIPs, unpacked
here once and packed by GNU tar and pigz). Results: stdout and bench/results/tar.md.

Floors (measured here, per shape and format):
- `.tar`: hashing, the slowest single digest of the payload or all digests over the cores, + 0.5 s;
- `.tar.gz`: the largest of one core's ISA-L inflate of the stream, the slowest single digest, and
  all of that CPU work over the cores, + 0.5 s.
Targets: wall within 1.3x its floor; GETs <= ceil(archive / 8 MiB) + 4; peak RSS < 200 MiB; 0 bytes
written to disk.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from isal import igzip

from bench.benchmark import child_env
from bench.measure import run_measured
from bench.report import BUCKET, STARTUP_ALLOWANCE, MiB
from bench.s3server import Emulation, NginxS3
from bench.shapes import SHAPES, ensure_bag

REPO = Path(__file__).resolve().parent.parent
FORMATS = (".tar", ".tar.gz")
TOOLS = {
    "bagverify": "`bagverify verify s3://… --json`",
    "tarfile": "Python `tarfile` in stream mode (`r|*`) over the boto3 body, hashing each member",
    "download": "boto3 `download_file`, `tar -xf`, `bagit.Bag(dir).validate()`",
}


@dataclass
class Row:
    shape: str
    fmt: str
    archive_bytes: int
    floor: float
    tool: str
    verdict: str
    wall: float
    gets: int
    rss_mib: float
    disk: int
    cpu: float


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_tars(zip_path: Path) -> dict[str, Path]:
    """The ZIP's bag as .tar and .tar.gz beside it (GNU tar in name order; pigz), built once."""
    out = {fmt: zip_path.with_suffix(fmt) for fmt in FORMATS}
    if all(path.exists() for path in out.values()):
        return out
    with tempfile.TemporaryDirectory(prefix="bench-tar-", dir=zip_path.parent) as work:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(work)
        [top] = [p.name for p in Path(work).iterdir()]
        subprocess.run(["tar", "--sort=name", "-cf", str(out[".tar"]) + ".part", top], cwd=work, check=True)
        subprocess.run(
            ["tar", "--sort=name", "-I", "pigz", "-cf", str(out[".tar.gz"]) + ".part", top],
            cwd=work,
            check=True,
        )
    for path in out.values():
        Path(str(path) + ".part").replace(path)
    return out


def payload_chunks(tar_path: Path) -> list[bytes]:
    chunks = []
    with tarfile.open(tar_path) as archive:
        for member in archive:
            if member.isfile() and "/data/" in member.name:
                stream = archive.extractfile(member)
                assert stream is not None
                while chunk := stream.read(MiB):
                    chunks.append(chunk)
    return chunks


def floors(paths: dict[str, Path], algorithms: tuple[str, ...]) -> dict[str, float]:
    """Seconds: the tar floors of the module docstring, measured once on this machine."""
    chunks = payload_chunks(paths[".tar"])
    digest_seconds = []
    for algorithm in algorithms:
        started = time.perf_counter()
        hasher = hashlib.new(algorithm)
        for chunk in chunks:
            hasher.update(chunk)
        digest_seconds.append(time.perf_counter() - started)
    del chunks
    data = paths[".tar.gz"].read_bytes()
    started = time.perf_counter()
    igzip.decompress(data)
    inflate = time.perf_counter() - started
    cores = os.cpu_count() or 1
    hashing = max(max(digest_seconds), sum(digest_seconds) / cores)
    return {
        ".tar": hashing + STARTUP_ALLOWANCE,
        ".tar.gz": max(inflate, max(digest_seconds), (inflate + sum(digest_seconds)) / cores)
        + STARTUP_ALLOWANCE,
    }


def command(tool: str, url: str, scratch: Path, algorithms: tuple[str, ...]) -> list[str]:
    if tool == "bagverify":
        return [str(Path(sys.executable).parent / "bagverify"), "verify", url, "--json"]
    if tool == "tarfile":
        return [sys.executable, "-m", "bench.peers.tarfile_stream", url, "--algorithms", ",".join(algorithms)]
    return [sys.executable, "-m", "bench.peers.download_untar", url, "--workdir", str(scratch)]


def verdict_of(tool: str, stdout: str, exit_code: int | None) -> str:
    if exit_code is None:
        return "timeout"
    try:
        text = stdout if tool == "bagverify" else stdout.strip().splitlines()[-1]
        return str(json.loads(text)["status"])
    except (ValueError, KeyError, IndexError):
        return "failed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tar_bench")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), help="default: mix")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "bagverify-bench")
    args = parser.parse_args(argv)
    algorithms = ("sha256", "sha512")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bagverify-bench-nginx-") as workdir:
        bags = args.cache_dir / "bags"
        shapes = args.shape or ["mix"]
        built = {shape: ensure_bag(args.cache_dir, shape, args.scale, algorithms, say) for shape in shapes}
        tars = {shape: ensure_tars(Path(bag.path)) for shape, bag in built.items()}
        with NginxS3(Path(workdir), {BUCKET: bags}, Emulation()) as server:
            env = child_env(Path(workdir), server.endpoint)
            scratch = args.cache_dir / "scratch"
            scratch.mkdir(parents=True, exist_ok=True)
            for shape, paths in tars.items():
                floor = floors(paths, algorithms)
                for fmt, path in paths.items():
                    url = f"s3://{BUCKET}/{path.name}"
                    for tool in args.tools.split(","):
                        for _ in range(args.repeat):
                            offset = server.log_offset()
                            run = run_measured(
                                command(tool, url, scratch, algorithms), env, REPO, args.timeout
                            )
                            traffic = server.traffic_since(offset)
                            row = Row(
                                shape, fmt, path.stat().st_size, floor[fmt], tool,
                                verdict_of(tool, run.stdout, run.exit_code), run.wall_seconds, traffic.gets,
                                run.peak_rss_bytes / MiB, run.disk_write_bytes, run.cpu_seconds,
                            )  # fmt: skip
                            rows.append(row)
                            say(
                                f"bench: {shape}{fmt} {tool}: {row.verdict} in {row.wall:.2f} s, "
                                f"{row.gets} GETs"
                            )
    text = render(rows, args)
    print(text)
    (REPO / "bench" / "results" / "tar.md").write_text(text)
    return 0 if all(row.verdict == "valid" for row in rows) else 1


def render(rows: list[Row], args: argparse.Namespace) -> str:
    lines = [
        "# Tar bags on the emulated S3",
        "",
        f"`python -m bench.tar_bench --scale {args.scale:g} --repeat {args.repeat}`; the median of the runs; "
        "30 ms first byte, 90 MB/s per connection (nginx, as bench/run); sha256 + sha512 manifests.",
        "",
        "| shape | archive | floor s | tool | verdict | wall s | x floor | GETs (target) | peak RSS MiB "
        "| disk written | CPU s |",
        "|---|---|--:|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.shape, row.fmt, row.tool), []).append(row)
    for (shape, fmt, tool), runs in groups.items():
        runs.sort(key=lambda r: r.wall)
        median = runs[len(runs) // 2]
        target = math.ceil(median.archive_bytes / (8 * MiB)) + 4
        lines.append(
            f"| {shape} | {fmt} {median.archive_bytes / 1e6:,.0f} MB | {median.floor:.2f} | {tool} | "
            f"{median.verdict} | {median.wall:.2f} | {median.wall / median.floor:.2f}x | "
            f"{median.gets} ({target}) | {median.rss_mib:.0f} | {median.disk:,} | {median.cpu:.1f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
