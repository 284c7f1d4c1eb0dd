"""The cheap modes on the benchmark's emulated S3: GETs, bytes and seconds of `--completeness-only`
and `--fast` beside a full verification of the same bag (the mix shape's ZIP by default).

    .venv-bench/bin/python -m bench.modes_bench [--scale 1] [--repeat 3] [--shape mix]

Needs what `bench/run` installs and builds. Results: stdout and bench/results/modes.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bench.benchmark import child_env
from bench.measure import run_measured
from bench.report import BUCKET, MiB
from bench.s3server import Emulation, NginxS3
from bench.shapes import SHAPES, ensure_bag

REPO = Path(__file__).resolve().parent.parent
MODES = {"full": [], "completeness": ["--completeness-only"], "fast": ["--fast"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.modes_bench")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shape", default="mix", choices=sorted(SHAPES))
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "bagverify-bench")
    args = parser.parse_args(argv)
    bag = ensure_bag(
        args.cache_dir, args.shape, args.scale, ("sha256", "sha512"), lambda m: print(m, file=sys.stderr)
    )
    lines = [
        "# The cheap modes on the emulated S3",
        "",
        f"`python -m bench.modes_bench --scale {args.scale:g} --repeat {args.repeat} --shape {args.shape}`: "
        f"{bag.description}, {bag.archive_bytes / 1e6:,.0f} MB archive, {bag.payload_bytes / 1e6:,.0f} MB "
        "payload; the median of the runs; 30 ms first byte, 90 MB/s per connection (nginx).",
        "",
        "| mode | verdict | wall s | GETs | bytes transferred | peak RSS MiB |",
        "|---|---|--:|--:|--:|--:|",
    ]
    ok = True
    with (
        tempfile.TemporaryDirectory(prefix="bagverify-bench-nginx-") as workdir,
        NginxS3(Path(workdir), {BUCKET: args.cache_dir / "bags"}, Emulation()) as server,
    ):
        env = child_env(Path(workdir), server.endpoint)
        for mode, flags in MODES.items():
            runs = []
            for _ in range(args.repeat):
                offset = server.log_offset()
                command = [str(Path(sys.executable).parent / "bagverify"), "verify"]
                command += [f"s3://{BUCKET}/{bag.key}", "--json", *flags]
                run = run_measured(command, env, REPO, 300)
                traffic = server.traffic_since(offset)
                status = json.loads(run.stdout)["status"] if run.exit_code is not None else "timeout"
                ok &= status == "valid"
                runs.append((run.wall_seconds, status, traffic.gets, traffic.bytes_sent, run.peak_rss_bytes))
            runs.sort()
            wall, status, gets, sent, rss = runs[len(runs) // 2]
            lines.append(
                f"| {mode} | {status} | {wall:.2f} | {gets} | {sent / 1e6:,.1f} MB | {rss / MiB:.0f} |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    (REPO / "bench" / "results" / "modes.md").write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
