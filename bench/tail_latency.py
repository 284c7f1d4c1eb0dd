"""Tail latency: bagverify against an endpoint where one GET in N trickles, beside the clean run.

    .venv-bench/bin/python -m bench.tail_latency                      # after bench/run has built .venv-bench
    .venv-bench/bin/python -m bench.tail_latency --slow-one-in 10 --shape mix --scale 1 --repeat 3

Two nginx endpoints serve the same cached bag (bench/shapes.py) with the benchmark's emulation
(first-byte latency, per-connection rate; bench/s3server.py): the clean one, and one where nginx
slows one GET in N to `--slow-kibps` (256 KiB/s). nginx picks them with `split_clients`: on
`$request_id` by default (each GET slow with odds 1/N, a hedge too, independently), or with
`--pick range` on the Range header (the same ranges slow in every run, so runs are comparable).
bagverify runs as in bench/run (`bagverify verify s3://… --json`, its own process): on the clean
endpoint, on the slow one, and on the slow one with BAGVERIFY_HEDGE=off (what it was before).
The table gives wall time, its ratio to the clean run, the server's GET count and how many GETs
it trickled (those delivering under 1 MB/s), the verdict's hedged_requests, and the verdict.
Results are also written to bench/results/tail-latency.md (`--results`).
Exit status 1 if any verdict is not `valid` or differs from the clean run's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import s3server
from bench.benchmark import (
    REPO,
    child_env,
    default_cache_dir,
    load_average,
    machine_description,
    software_versions,
)
from bench.measure import run_measured
from bench.report import BUCKET
from bench.s3server import Emulation, NginxS3, Traffic
from bench.shapes import SHAPES, ensure_bag

TARGET_RATIO = 2.0  # issue 18: with one GET in N slow, within 2x the clean run
SLOW_BELOW = 1_000_000  # bytes/s: a GET delivering less than this was trickled (the others get ~90 MB/s)


@contextlib.contextmanager
def slow_one_in(n: int, slow_bytes_per_second: int, pick: str = "request") -> Iterator[None]:
    """nginx configs rendered meanwhile slow one GET in `n` to `slow_bytes_per_second`.

    bench/s3server.py's config caps every connection with `limit_rate <rate>`; here that becomes
    `limit_rate $bench_rate`, a variable that `split_clients` sets from a hash of `$request_id`
    (`pick` "request": each GET slow with odds 1/n, independently, as S3's slow requests are) or of
    the Range header ("range": the same ranges slow in every run; a hedge's range is another, but
    hedges of one part start at nearby offsets and the hash need not treat them independently).
    """
    key = "${request_id}" if pick == "request" else "${http_range}"
    original = s3server.render_config

    def render(workdir: Path, root: Path, port: int, emulation: Emulation) -> str:
        text = original(workdir, root, port, emulation)
        usual = f"limit_rate {emulation.rate_bytes};"
        if usual not in text or "  server {" not in text:
            raise RuntimeError("bench/s3server.py's nginx config changed: update bench/tail_latency.py")
        split = (
            f'  split_clients "{key}" $bench_rate {{ {100 / n:.2f}% {slow_bytes_per_second}; '
            f"* {emulation.rate_bytes}; }}\n  server {{"
        )
        return text.replace(usual, "limit_rate $bench_rate;").replace("  server {", split, 1)

    s3server.render_config = render
    try:
        yield
    finally:
        s3server.render_config = original


@dataclass
class Result:
    label: str
    walls: list[float]
    gets: int
    trickled: int
    hedged: int | None
    status: str
    detail: str

    @property
    def wall(self) -> float:
        return sorted(self.walls)[len(self.walls) // 2]


def trickled(traffic: Traffic) -> list[str]:
    """The ranges of the GETs that went slow (an abandoned one too: its rate, not its size, tells)."""
    return [
        f"{r.range or 'whole'} ({r.body_bytes / 1e6:.1f} MB in {r.seconds:.1f} s)"
        for r in traffic.requests
        if r.method == "GET" and r.seconds > 0.5 and r.body_bytes / r.seconds < SLOW_BELOW
    ]


def run_bagverify(
    server: NginxS3, env: dict[str, str], key: str, label: str, repeat: int, timeout: float
) -> Result:
    command = [str(Path(sys.executable).parent / "bagverify"), "verify", f"s3://{BUCKET}/{key}", "--json"]
    walls: list[float] = []
    result = Result(label, walls, 0, 0, None, "?", "")
    for round_ in range(repeat):
        offset = server.log_offset()
        process = run_measured(command, env, REPO, timeout)
        traffic = server.traffic_since(offset)
        walls.append(process.wall_seconds)
        status, detail, hedged = "timeout", f"stopped at {timeout:.0f} s", None
        if not process.timed_out:
            try:
                document = json.loads(process.stdout)
                status = str(document["status"])
                hedged = int(document["stats"].get("hedged_requests", 0))
                problems = document.get("problems") or []
                detail = "; ".join(str(p.get("kind")) for p in problems[:3])
            except (ValueError, KeyError, TypeError):
                status, detail = "failed", (process.stderr or process.stdout).strip()[-300:]
        slow = trickled(traffic)
        result.gets, result.trickled, result.hedged, result.status, result.detail = (
            traffic.gets,
            len(slow),
            hedged,
            status,
            detail,
        )
        print(
            f"tail-latency: {label} #{round_ + 1}: {status} in {process.wall_seconds:.2f} s, "
            f"{traffic.gets} GETs ({len(slow)} trickled: {', '.join(slow) or 'none'}), "
            f"hedged_requests {hedged}",
            file=sys.stderr,
            flush=True,
        )
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.tail_latency",
        description="bagverify with one GET in N trickling, beside the clean run (hedging on and off).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--shape", default="incompressible", choices=sorted(SHAPES))
    add("--scale", type=float, default=0.5, help="bag size (bench/shapes.py); 0.5 incompressible = 537 MB")
    add("--slow-one-in", type=int, default=10, metavar="N", help="nginx slows one GET (range) in N")
    add("--slow-kibps", type=int, default=256, help="the slow GETs' rate, KiB/s")
    add(
        "--pick",
        choices=("request", "range"),
        default="request",
        help="which GETs are slow: each with odds 1/N (request), or the same ranges every run (range)",
    )
    add("--latency-ms", type=float, default=30.0)
    add("--rate-mbps", type=float, default=90.0, help="per connection, for every other GET")
    add("--repeat", type=int, default=1, help="runs of each (the median wall time is shown)")
    add("--timeout", type=float, default=600.0, help="seconds per bagverify run")
    add("--budget", type=float, help="the hedged runs' BAGVERIFY_HEDGE (the budget, a share of the parts)")
    add("--no-unhedged", action="store_true", help="skip the run with BAGVERIFY_HEDGE=off (the slowest)")
    add("--algorithms", default="sha256,sha512")
    add("--cache-dir", type=Path, default=default_cache_dir())
    add("--results", type=Path, default=REPO / "bench" / "results" / "tail-latency.md")
    args = parser.parse_args(argv)
    if args.slow_one_in < 1:
        parser.error("--slow-one-in must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = load_average()
    algorithms = tuple(a.strip() for a in args.algorithms.split(",") if a.strip())
    bag = ensure_bag(args.cache_dir, args.shape, args.scale, algorithms, lambda m: print(m, file=sys.stderr))
    emulation = Emulation(args.latency_ms, args.rate_mbps)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bagverify-tail-") as temporary:
        work = Path(temporary)
        buckets = {BUCKET: Path(bag.path).parent}
        clean = NginxS3(work / "clean", buckets, emulation)
        with slow_one_in(args.slow_one_in, args.slow_kibps * 1024, args.pick):
            slow = NginxS3(work / "slow", buckets, emulation)
            slow.__enter__()
        try:
            with clean:
                env = child_env(work, clean.endpoint)
                results.append(run_bagverify(clean, env, bag.key, "clean", args.repeat, args.timeout))
                env = child_env(work, slow.endpoint)
                label = f"1 GET in {args.slow_one_in} at {args.slow_kibps} KiB/s"
                hedging = "hedged"
                if args.budget is not None:
                    env["BAGVERIFY_HEDGE"] = f"{args.budget:g}"
                    hedging = f"hedged, BAGVERIFY_HEDGE={args.budget:g}"
                hedged = run_bagverify(slow, env, bag.key, f"{label}, {hedging}", args.repeat, args.timeout)
                results.append(hedged)
                if not args.no_unhedged:
                    env["BAGVERIFY_HEDGE"] = "off"
                    results.append(
                        run_bagverify(slow, env, bag.key, f"{label}, BAGVERIFY_HEDGE=off", 1, args.timeout)
                    )
        finally:
            slow.__exit__(None, None, None)
    load_after = load_average()
    table = render(results, bag.description, bag.archive_bytes)
    ratio = results[1].wall / results[0].wall
    table += (
        f"\n\nTarget: hedged within {TARGET_RATIO:g}x the clean run, same verdict: "
        f"{'met' if ratio <= TARGET_RATIO and results[1].status == results[0].status else 'NOT met'} "
        f"({ratio:.2f}x, median over median; GETs, trickled GETs and hedged_requests are the last run's)"
    )
    print(table)
    command = "python -m bench.tail_latency " + " ".join(argv if argv is not None else sys.argv[1:])
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        f"# Tail latency: one GET in {args.slow_one_in} at {args.slow_kibps} KiB/s\n\n"
        f"- command: `.venv-bench/bin/{command.strip()}`\n"
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}\n"
        f"- machine: {machine_description()}\n"
        f"- software: {software_versions()}\n"
        f"- endpoint: nginx, {args.latency_ms:g} ms to first byte, {args.rate_mbps:g} MB/s per connection; "
        f"one GET in {args.slow_one_in} (nginx `split_clients` on "
        f"{'$request_id' if args.pick == 'request' else 'the Range header'}) at "
        f"{args.slow_kibps} KiB/s\n"
        f"- load average before / after: {load_before} / {load_after}\n\n{table}\n"
    )
    clean_status = results[0].status
    return 0 if all(r.status == clean_status == "valid" for r in results if r.status != "timeout") else 1


def render(results: list[Result], description: str, archive_bytes: int) -> str:
    clean = results[0].wall
    lines = [
        f"{description}, {archive_bytes / 1e6:,.0f} MB archive\n",
        "| run | wall s | x clean | GETs | trickled GETs | hedged_requests | verdict |",
        "|---|--:|--:|--:|--:|--:|---|",
    ]
    for r in results:
        shown = ", ".join(f"{w:.2f}" for w in r.walls) if len(r.walls) > 1 else f"{r.wall:.2f}"
        lines.append(
            f"| {r.label} | {shown} | {r.wall / clean:.2f} | {r.gets} | {r.trickled} | "
            f"{'' if r.hedged is None else r.hedged} | {r.status}{f' ({r.detail})' if r.detail else ''} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"tail-latency: done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    sys.exit(code)
