"""bagverify against what users would pick instead, on a local emulated S3 (run it with `bench/run`).

Starts nginx as a path-style S3 endpoint on 127.0.0.1 (first-byte latency and a per-connection
bandwidth cap emulated), builds or reuses the bag shapes, measures the machine's floors, runs each
tool on each shape as its own process, counts its GETs and bytes from the server's access log, and
prints one markdown table per shape (also written to bench/results/latest.md).

Exit status: 0 when every tool said `valid` on every (valid) shape, 1 when any said otherwise or
failed, 2 on bad usage. A run stopped at --timeout is reported as such and is not a wrong verdict.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import bagit

from bench.floors import measure_cpu_floor
from bench.measure import ProcessRun, run_measured
from bench.peers.common import verify_zip
from bench.report import BUCKET, COLUMNS, STARTUP_ALLOWANCE, MiB, Run, ShapeReport, ToolResult, mb
from bench.s3server import Calibration, Emulation, NginxS3, Traffic, calibrate
from bench.shapes import SHAPES, ensure_bag

REPO = Path(__file__).resolve().parent.parent

TOOLS: dict[str, str] = {
    "bagverify": "`bagverify verify s3://… --json`, the engine under test",
    "naive": "the blog post's `S3File(io.RawIOBase)`: one ranged GET per read() into zipfile",
    "powertools": "`aws_lambda_powertools.utilities.streaming.S3Object` into zipfile",
    "s3fs": "`s3fs.S3FileSystem()` with its defaults into zipfile",
    "download": "boto3 `download_file` to disk, unzip, `bagit.Bag(dir).validate()`",
}
PEER_MODULES = {
    "naive": "bench.peers.naive_s3file",
    "powertools": "bench.peers.powertools_s3object",
    "s3fs": "bench.peers.s3fs_default",
    "download": "bench.peers.download_bagit",
}


def tool_command(tool: str, url: str, scratch: Path) -> list[str]:
    if tool == "bagverify":
        return [str(Path(sys.executable).parent / "bagverify"), "verify", url, "--json"]
    extra = ["--workdir", str(scratch)] if tool == "download" else []
    return [sys.executable, "-m", PEER_MODULES[tool], url, *extra]


def interpret(tool: str, process: ProcessRun) -> tuple[str, str]:
    """(verdict, detail) from a tool's exit code and stdout."""
    if process.timed_out:
        return "timeout", ""
    try:
        text = process.stdout if tool == "bagverify" else process.stdout.strip().splitlines()[-1]
        document = json.loads(text)
        status = str(document["status"])
    except (ValueError, KeyError, IndexError, TypeError):
        tail = (process.stderr or process.stdout).strip().splitlines()[-3:]
        return "failed", f"exit {process.exit_code}: " + " | ".join(tail)
    detail = ""
    if status != "valid":
        problems = document.get("problems") or []
        detail = "; ".join(str(p.get("message", p) if isinstance(p, dict) else p) for p in problems[:3])
    elif tool == "bagverify":
        stats = document.get("stats", {})
        detail = f"{stats.get('get_requests')} GETs, {stats.get('bytes_read'):,} bytes read"
    if (status == "valid") != (process.exit_code == 0):
        return "failed", f"status {status} but exit code {process.exit_code}"
    return status, detail


def covered_fraction(traffic: Traffic, size: int, data_end: int) -> float:
    """Share of the member data [0, data_end) that GETs delivered (overlaps counted once)."""
    intervals: list[tuple[int, int]] = []
    for request in traffic.requests:
        if request.method != "GET" or request.status not in (200, 206):
            continue
        spec = request.range.removeprefix("bytes=")
        start = size - int(spec[1:]) if spec.startswith("-") else int(spec.partition("-")[0] or 0)
        intervals.append((max(0, start), min(data_end, start + request.body_bytes)))
    covered = reached = 0
    for start, end in sorted(intervals):
        start = max(start, reached)
        if end > start:
            covered += end - start
            reached = end
    return covered / data_end if data_end else 1.0


# -- set-up ------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    if os.environ.get("BAGVERIFY_BENCH_CACHE"):
        return Path(os.environ["BAGVERIFY_BENCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bagverify-bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Benchmark bagverify against the usual alternatives on a local emulated S3 (nginx).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--shapes", default=",".join(SHAPES), help=f"comma-separated, of: {', '.join(SHAPES)}")
    add("--tools", default=",".join(TOOLS), help=f"comma-separated, of: {', '.join(TOOLS)}")
    add("--quick", action="store_true", help="smoke run: --scale 0.1 and --timeout 15 unless given")
    add("--scale", type=float, help="size factor of the shapes [1; 0.1 with --quick]")
    add("--latency-ms", type=float, default=30.0, help="emulated first-byte latency of every request")
    add("--rate-mbps", type=float, default=90.0, help="bandwidth cap per connection, MB/s (10^6 B/s)")
    add(
        "--connections", type=int, default=8, help="connections assumed in the endpoint's aggregate bandwidth"
    )
    add("--aggregate-mbps", type=float, help="aggregate bandwidth for the network floor [rate x connections]")
    add("--repeat", type=int, default=1, help="runs per tool and shape (the median is shown)")
    add("--timeout", type=float, help="seconds before a tool's run is stopped [300; 15 with --quick]")
    add("--algorithms", default="sha256,sha512", help="manifest algorithms of the generated bags")
    add("--cache-dir", type=Path, default=default_cache_dir(), help="where the generated bags are kept")
    add("--results", type=Path, default=REPO / "bench" / "results" / "latest.md", help="markdown copy")
    add("--no-calibrate", action="store_true", help="skip measuring the endpoint with a plain client")
    args = parser.parse_args(argv)
    args.scale = args.scale if args.scale is not None else (0.1 if args.quick else 1.0)
    args.timeout = args.timeout if args.timeout is not None else (15.0 if args.quick else 300.0)
    args.shape_list = [s for s in args.shapes.split(",") if s]
    args.tool_list = [t for t in args.tools.split(",") if t]
    args.algorithm_tuple = tuple(a.strip().lower() for a in args.algorithms.split(",") if a.strip())
    for name, known, chosen in (("shape", SHAPES, args.shape_list), ("tool", TOOLS, args.tool_list)):
        unknown = [c for c in chosen if c not in known]
        if unknown or not chosen:
            parser.error(f"unknown {name}: {', '.join(unknown) or '(none)'}; choose from {', '.join(known)}")
    if args.repeat < 1 or args.scale <= 0 or args.connections < 1 or args.timeout <= 0:
        parser.error("--repeat, --scale, --connections and --timeout must be positive")
    cache = args.cache_dir.expanduser().resolve()
    if cache == REPO or REPO in cache.parents:
        parser.error(f"--cache-dir must be outside the repository ({REPO})")
    args.cache_dir = cache
    return args


def self_test() -> None:
    """The shared verifier must pass a good bag and fail a flipped byte and a missing file."""
    with tempfile.TemporaryDirectory(prefix="bagverify-bench-selftest-") as folder:
        bag_dir = Path(folder) / "b"
        (bag_dir / "sub").mkdir(parents=True)
        (bag_dir / "a.txt").write_bytes(b"hello\n" * 1000)
        (bag_dir / "sub" / "b.bin").write_bytes(os.urandom(5000))
        bagit.make_bag(str(bag_dir), checksums=["sha256", "sha512"])

        def zipped(mutate: Callable[[str, bytes], bytes | None]) -> io.BytesIO:
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(p for p in bag_dir.rglob("*") if p.is_file()):
                    name = path.relative_to(bag_dir.parent).as_posix()
                    data = mutate(name, path.read_bytes())
                    if data is not None:
                        archive.writestr(name, data)
            out.seek(0)
            return out

        def flip(name: str, data: bytes) -> bytes:
            return bytes([data[0] ^ 1]) + data[1:] if name == "b/data/a.txt" else data

        def drop(name: str, data: bytes) -> bytes | None:
            return None if name == "b/data/sub/b.bin" else data

        good, flipped, dropped = (verify_zip(zipped(f)) for f in (lambda _n, d: d, flip, drop))
        if good.status != "valid" or flipped.status != "invalid" or len(flipped.problems) != 2:
            raise AssertionError(f"the shared verifier is wrong: {good.problems} / {flipped.problems}")
        if dropped.status != "invalid" or not any("missing" in p for p in dropped.problems):
            raise AssertionError(f"the shared verifier missed a missing file: {dropped.problems}")


def child_env(workdir: Path, endpoint: str) -> dict[str, str]:
    """Every tool's environment: the local endpoint, fake credentials, path-style addressing."""
    config = workdir / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    credentials = workdir / "aws-credentials"
    credentials.write_text("")
    proxies = ("http_proxy", "https_proxy", "all_proxy")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k.lower() not in proxies}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONDONTWRITEBYTECODE="1",  # no .pyc written and counted as the tool's disk writes
    )
    return env


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def machine_description() -> str:
    model = cpu_model()
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory = f", {int(Path('/proc/meminfo').read_text().split()[1]) / 1024**2:.0f} GiB RAM"
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return (
        f"{model}, {os.cpu_count()} cores{memory}; Linux {platform.release()}; "
        f"Python {platform.python_version()}; {nginx.removeprefix('nginx version: ')}"
    )


def software_versions() -> str:
    found = []
    for package in ("boto3", "botocore", "aws-lambda-powertools", "s3fs", "bagit", "isal"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{package} {metadata.version(package)}")
    describe = ["git", "-C", str(REPO), "describe", "--always", "--dirty"]
    commit = subprocess.run(describe, capture_output=True, text=True).stdout.strip() or "?"
    return f"bagverify at {commit}; " + ", ".join(found)


def measure_startup(env: dict[str, str]) -> float:
    """Median wall time of a Python process that only imports boto3 and makes an S3 client."""
    command = [sys.executable, "-c", "import boto3; boto3.client('s3')"]
    return sorted(run_measured(command, env, REPO, 60).wall_seconds for _ in range(3))[1]


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


# -- the run ----------------------------------------------------------------------------------


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure_shape(
    report: ShapeReport,
    tools: list[str],
    repeat: int,
    server: NginxS3,
    env: dict[str, str],
    args: argparse.Namespace,
) -> None:
    bag = report.bag
    with zipfile.ZipFile(bag.path) as archive:
        data_end = archive.start_dir  # member data ends where the central directory starts
    url = f"s3://{BUCKET}/{bag.key}"
    scratch = args.cache_dir / "scratch"  # the download peer's working folder, on the cache's disk
    scratch.mkdir(parents=True, exist_ok=True)
    results = {tool: ToolResult(tool) for tool in tools}
    for round_ in range(repeat):
        for tool in tools:  # interleaved, so drift in the machine's load spreads over every tool
            offset = server.log_offset()
            process = run_measured(tool_command(tool, url, scratch), env, REPO, args.timeout)
            traffic = server.traffic_since(offset)
            verdict, detail = interpret(tool, process)
            progress = covered_fraction(traffic, bag.archive_bytes, data_end)
            results[tool].runs.append(Run(process, traffic, verdict, detail, progress))
            say(
                f"bench: {bag.shape} {tool} #{round_ + 1}: {verdict} in {process.wall_seconds:.2f} s, "
                f"{traffic.gets} GETs, {mb(traffic.bytes_sent)}, "
                f"peak RSS {process.peak_rss_bytes / MiB:.0f} MiB" + (f" ({detail})" if detail else "")
            )
    report.results = [results[tool] for tool in tools]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    load_before = load_average()
    self_test()
    say(f"bench: cache {args.cache_dir}; scale {args.scale:g}; load average {load_before}")
    bags = [
        ensure_bag(args.cache_dir, shape, args.scale, args.algorithm_tuple, say) for shape in args.shape_list
    ]
    calibration_size = 64 * MiB if args.scale >= 0.5 else 16 * MiB
    calibration_object = args.cache_dir / "bags" / "_calibration.bin"
    if not calibration_object.exists() or calibration_object.stat().st_size != calibration_size:
        calibration_object.write_bytes(os.urandom(calibration_size))

    aggregate = args.aggregate_mbps or args.rate_mbps * args.connections
    if args.aggregate_mbps:
        aggregate_note = f"{aggregate:,.0f} MB/s (--aggregate-mbps)"
    else:
        aggregate_note = (
            f"{aggregate:,.0f} MB/s = {args.connections} connections x {args.rate_mbps:g} MB/s: "
            "nginx caps each "
            "connection, not their sum, so this assumes a tool may use that many connections at once "
            "(--connections, --aggregate-mbps)"
        )
    emulation = Emulation(latency_ms=args.latency_ms, rate_mbps=args.rate_mbps)
    reports: list[ShapeReport] = []
    calibration: Calibration | None = None
    startup: float | None = None
    with (
        tempfile.TemporaryDirectory(prefix="bagverify-bench-nginx-") as workdir,
        NginxS3(Path(workdir), {BUCKET: args.cache_dir / "bags"}, emulation) as server,
    ):
        say(f"bench: nginx at {server.endpoint} ({workdir}/nginx.conf)")
        env = child_env(Path(workdir), server.endpoint)
        if not args.no_calibrate:
            calibration = calibrate(server, f"/{BUCKET}/_calibration.bin", calibration_size, args.connections)
            say(f"bench: endpoint: {describe_calibration(calibration)}")
            startup = measure_startup(env)
            say(f"bench: start-up of a Python process that imports boto3 and makes a client: {startup:.2f} s")
        for bag in bags:
            say(f"bench: {bag.shape}: measuring the CPU floor")
            report = ShapeReport(bag, measure_cpu_floor(bag.path, passes=1 if args.quick else 2), aggregate)
            measure_shape(report, args.tool_list, args.repeat, server, env, args)
            reports.append(report)
            print(report.markdown(), flush=True)

    seconds = time.perf_counter() - began
    header = document_header(args, argv, calibration, startup, aggregate_note, load_before, seconds)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text("\n".join([*header, *(r.markdown() for r in reports)]))
    say(f"bench: results also in {args.results}; {time.perf_counter() - began:.0f} s in all")
    wrong = [f"{t.tool} on {r.bag.shape}" for r in reports for t in r.results if t.wrong]
    if wrong:
        say("bench: WRONG VERDICT or failure: " + ", ".join(wrong))
        return 1
    return 0


def describe_calibration(calibration: Calibration) -> str:
    return (
        f"first byte {calibration.first_byte_ms:.1f} ms; "
        f"one connection {calibration.one_connection_mbps:.0f} MB/s after its first byte; "
        f"{calibration.parallel_connections} connections {calibration.parallel_mbps:.0f} MB/s "
        "together"
    )


def document_header(
    args: argparse.Namespace,
    argv: list[str] | None,
    calibration: Calibration | None,
    startup: float | None,
    aggregate_note: str,
    load_before: str,
    seconds: float,
) -> list[str]:
    command = shlex.join(["bench/run", *(argv if argv is not None else sys.argv[1:])])
    lines = [
        "# bagverify benchmark",
        "",
        f"- command: `{command}` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {seconds:.0f} s in all)",
        f"- machine: {machine_description()}; "
        f"load average before the run {load_before}, after {load_average()}",
        f"- software: {software_versions()}",
        f"- endpoint: nginx as path-style S3 on 127.0.0.1, "
        f"{args.latency_ms:g} ms first-byte latency on every "
        f"request (echo_sleep), {args.rate_mbps:g} MB/s per connection (limit_rate)",
    ]
    if calibration:
        lines.append(f"- endpoint as a plain HTTP client measured it: {describe_calibration(calibration)}")
    if startup is not None:
        lines.append(
            f"- start-up reference: `python -c \"import boto3; boto3.client('s3')\"` takes {startup:.2f} s "
            f"(the yardstick allows {STARTUP_ALLOWANCE} s)"
        )
    lines += [
        f"- network floor's aggregate bandwidth: {aggregate_note}",
        f"- shapes at scale {args.scale:g}; each tool a separate process, {args.repeat} run(s) per shape, "
        f"stopped after {args.timeout:g} s",
        "- tools: " + "; ".join(f"**{tool}**: {TOOLS[tool]}" for tool in args.tool_list),
        "",
        COLUMNS,
        "",
    ]
    return lines


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        raise SystemExit(130) from None
