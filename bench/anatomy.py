"""Where bagverify's wall time and CPU go, shape by shape, against the benchmark's wall-time target.

    .venv-bench/bin/python -m bench.anatomy [--shapes small,mix] [--repeat 3]   (after bench/run once)

Same endpoint, bags and yardstick as `bench.benchmark` (nginx on 127.0.0.1, 30 ms and 90 MB/s per
connection, the cached shapes). Each run is `bench.anatomy_probe`, the CLI's verification in its own
process, timed by phase and with each thread's CPU; the run with the median wall time is shown
whole. Two derived columns say what the target leaves room for:

* *serial part*: start-up, the tail GET, planning and the checks: steps that wait on one another,
  each on one thread;
* *with an ideal scan*: the serial part plus the CPU floor (the one-core time to inflate and digest
  every member, divided by the cores), i.e. the wall time if the scan itself cost no more than the
  floor and kept every core busy. Above the target, no faster scan can meet it.

*CPU the cores give*: the CPU seconds two cores give within the target's wall time, against the CPU
the run used (the endpoint's own CPU, on the same cores, not counted).

Also the CPU one S3 GetObject call costs in botocore (a 1-byte range, median of 100 calls).
Results: stdout and bench/results/anatomy.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.benchmark import REPO, child_env, default_cache_dir, load_average, machine_description
from bench.floors import measure_cpu_floor
from bench.report import BUCKET, TARGET_FACTOR, ShapeReport
from bench.s3server import Emulation, NginxS3
from bench.shapes import SHAPES, ensure_bag

_GET_COST = """
import statistics, sys, time
from bagverify.sources import make_s3_client
client = make_s3_client()
def one():
    began = time.process_time()
    client.get_object(Bucket=sys.argv[1], Key=sys.argv[2], Range="bytes=0-0")["Body"].read()
    return time.process_time() - began
for _ in range(5):
    one()
print(statistics.median(one() for _ in range(100)))
"""


def probe(url: str, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """(wall seconds from launch to exit, the probe's report) of one verification."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.anatomy_probe", url],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return time.perf_counter() - began, report


def cpu_seconds(times: dict[str, float] | None) -> float:
    return 0.0 if not times else times["user"] + times["sys"]


def row(shape: ShapeReport, walls: list[float], report: dict[str, Any]) -> dict[str, str]:
    phases, cpu = report["phases"], report["cpu"]
    wall = statistics.median(walls)
    floor = shape.cpu
    target = TARGET_FACTOR * shape.yardstick
    start_up = phases["imports"] + phases["client"]
    serial = start_up + phases.get("open", 0) + phases.get("plan", 0) + phases.get("checks", 0)
    cores = floor.cores
    used = cpu_seconds(cpu["process"])
    main_after_start = cpu_seconds(cpu.get("main")) - cpu_seconds(cpu.get("start-up"))
    read_ahead = cpu.get("read-ahead", {})
    user, system = read_ahead.get("user", 0.0), read_ahead.get("sys", 0.0)
    return {
        "shape": shape.bag.shape,
        "wall s": f"{wall:.2f} ({min(walls):.2f} to {max(walls):.2f})",
        "target s": f"{target:.2f}",
        "start-up": f"{start_up:.2f}",
        "tail GET": f"{phases.get('open', 0):.2f}",
        "plan": f"{phases.get('plan', 0):.2f}",
        "scan": f"{phases.get('scan', 0):.2f}",
        "checks": f"{phases.get('checks', 0):.2f}",
        "serial part": f"{serial:.2f}",
        "with an ideal scan": f"{serial + floor.seconds:.2f}",
        "CPU used": f"{used:.2f}",
        "CPU the cores give": f"{cores * target:.2f}",
        "start-up CPU": f"{cpu_seconds(cpu.get('start-up')):.2f}",
        "main thread": f"{main_after_start:.2f}",
        "read-ahead (user + sys)": f"{cpu_seconds(read_ahead):.2f} ({user:.2f} + {system:.2f})",
        "hashing threads": f"{cpu_seconds(cpu.get('hashing')):.2f}",
        "CPU floor (one core)": f"{floor.one_core:.2f}",
        "GETs": str(report["get_requests"]),
    }


def table(rows: list[dict[str, str]], columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(r[c] for c in columns) + " |" for r in rows]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.anatomy", description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "anatomy.md")
    args = parser.parse_args(argv)
    shapes = [s for s in args.shapes.split(",") if s]
    load_before = load_average()
    rows: list[dict[str, str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bagverify-anatomy-") as workdir,
        NginxS3(Path(workdir), {BUCKET: args.cache_dir / "bags"}, Emulation()) as server,
    ):
        env = child_env(Path(workdir), server.endpoint)
        env["PYTHONPATH"] = str(REPO)
        bag_for_gets = None
        for shape in shapes:
            bag = ensure_bag(args.cache_dir, shape, args.scale, ("sha256", "sha512"), print)
            bag_for_gets = bag_for_gets or bag
            # Floors as bench/run measures them: the CPU's best of two, the network's over its default
            # 8 connections at the emulated rate.
            shape_report = ShapeReport(bag, measure_cpu_floor(bag.path, passes=2), Emulation().rate_mbps * 8)
            url = f"s3://{BUCKET}/{bag.key}"
            runs = [probe(url, env) for _ in range(args.repeat)]
            walls = [wall for wall, _ in runs]
            median_run = sorted(runs, key=lambda run: run[0])[len(runs) // 2][1]
            assert all(report["status"] == "valid" for _, report in runs), [r["status"] for _, r in runs]
            rows.append(row(shape_report, walls, median_run))
            print(f"anatomy: {shape}: {rows[-1]}", file=sys.stderr, flush=True)
        assert bag_for_gets is not None
        get_cost = subprocess.run(
            [sys.executable, "-c", _GET_COST, BUCKET, bag_for_gets.key],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        get_cpu_ms = float(get_cost.stdout) * 1000

    lines = [
        "# Where bagverify's time goes",
        "",
        f"`python -m bench.anatomy --shapes {','.join(shapes)} --repeat {args.repeat}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average before {load_before}; "
        f"{machine_description()}. Seconds; the run with the median wall time.",
        "",
        "Wall time by phase:",
        "",
        *table(
            rows,
            [
                "shape",
                "wall s",
                "target s",
                "start-up",
                "tail GET",
                "plan",
                "scan",
                "checks",
                "serial part",
                "with an ideal scan",
            ],
        ),
        "",
        "CPU seconds by thread:",
        "",
        *table(
            rows,
            [
                "shape",
                "CPU used",
                "CPU the cores give",
                "start-up CPU",
                "main thread",
                "read-ahead (user + sys)",
                "hashing threads",
                "CPU floor (one core)",
                "GETs",
            ],
        ),
        "",
        f"One GetObject call costs {get_cpu_ms:.1f} ms of CPU in botocore (median of 100, a 1-byte range).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
