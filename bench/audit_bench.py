"""What an audit run costs: GETs, bytes and seconds of `run_audit` over the benchmark's bags on the
emulated S3 (nginx), in full and completeness mode, per shape; and what that makes per TB at AWS list
prices (S3 GETs, Lambda GB-seconds at the template's 1,769 MB, Step Functions transitions).

    .venv-bench/bin/python -m bench.audit_bench [--scale 1] [--repeat 3] [--bags 3]

Each run is one process (as a warm VerifyBagFunction is one process): it makes one S3 client for the
endpoint, as the Lambda does at import, and calls `run_audit(bags, verify, ledger)` with `verify` =
`verify_s3_object(location, client, mode=…, memory_limit=1769 MiB)` over `--bags` copies of the shape's
bag (separate keys, the same file), one after the other as AuditStateMachine's per-bag work does them
(one VerifyBagFunction invocation per bag). The ledger is a moto server's DynamoDB table
(`.venv/bin/moto_server`, when there) or none (`--no-ledger`). The `.tar.gz` of the mix shape is
built as bench/tar_bench.py builds it (GNU tar and pigz).

Needs what `bench/run` installs and builds. Results: stdout and bench/results/audit.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.benchmark import child_env, load_average, machine_description, software_versions
from bench.measure import run_measured
from bench.report import BUCKET, MiB
from bench.s3server import Emulation, NginxS3
from bench.shapes import SHAPES, ensure_bag

REPO = Path(__file__).resolve().parent.parent
MODES = ("full", "completeness")
LAMBDA_MB = 1769  # template.yaml: VerifyBagFunction's MemorySize
TABLE = "bagverify-audit-bench"
MOTO_SERVER = REPO / ".venv" / "bin" / "moto_server"

# List prices, us-east-1, as of writing.
S3_PRICING = "https://aws.amazon.com/s3/pricing/"
LAMBDA_PRICING = "https://aws.amazon.com/lambda/pricing/"
SFN_PRICING = "https://aws.amazon.com/step-functions/pricing/"
S3_GET_PER_1000 = 0.0004  # S3 Standard, GET and all other requests
LAMBDA_GB_SECOND = 0.0000133334  # arm64
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
SFN_PER_TRANSITION = 0.025 / 1000  # standard workflows
# statemachines/audit.asl.json, a due bag below DistributedThresholdBytes: DueIsBag, DueIsLargeBag,
# DueVerifyBag, DueRecordBag (4), + 1 if the child execution's start is counted; a retry adds one.
TRANSITIONS_PER_BAG = (4, 5)
# ReadSettings, WhichBags, SelectDueBags, AnyDue, VerifyDueBags (the Map), ReportRun, Audited.
TRANSITIONS_PER_RUN = 7
# Lambda invocations per bag: VerifyBagFunction (measured here) and AuditRecordFunction (512 MB, its
# duration not measured here).
INVOCATIONS_PER_BAG = 2


@dataclass
class Case:
    shape: str  # the shape, with ".tar.gz" for the tarred one
    path: Path  # the cached archive
    description: str
    archive_bytes: int


@dataclass
class Result:
    case: Case
    mode: str
    bags: int
    statuses: dict[str, int]
    seconds: float  # run_audit's wall time in the process
    process_seconds: float  # the process, interpreter start-up and imports included
    gets: int  # nginx's count
    heads: int
    bytes_sent: int  # nginx's, headers included
    client_gets: int  # the verdicts' own stats
    bytes_read: int
    rss: int

    @property
    def gigabytes(self) -> float:
        return self.bags * self.case.archive_bytes / 1e9


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the child: one audit run ---------------------------------------------------------------------


def child(spec: dict[str, Any]) -> int:
    """One audit run, as AuditStateMachine's per-bag work does it; prints what it saw as JSON."""
    from bagverify import verify_s3_object
    from bagverify.audit import Due, run_audit
    from bagverify.ledger import Ledger
    from bagverify.sources import S3Location
    from bagverify.sources.location import make_s3_client
    from bagverify.verdict import Mode, Verdict

    s3 = make_s3_client()  # as VerifyBagFunction does, once per process
    ledger = None
    if spec["ledger"]:
        import boto3

        ledger = Ledger(boto3.client("dynamodb"), spec["ledger"])
    mode = Mode(spec["mode"])
    stats: list[dict[str, int]] = []

    def verify(location: S3Location) -> Verdict:
        verdict = verify_s3_object(location, s3, mode=mode, memory_limit=LAMBDA_MB * MiB)
        stats.append({"gets": verdict.stats.get_requests, "bytes_read": verdict.stats.bytes_read})
        return verdict

    bags = [Due(S3Location(BUCKET, key), spec["size"]) for key in spec["keys"]]
    started = time.perf_counter()
    run = run_audit(bags, verify, ledger)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "summary": run.summary(),
                "statuses": [row.status for row in run.rows],
                "client_gets": sum(s["gets"] for s in stats),
                "bytes_read": sum(s["bytes_read"] for s in stats),
                "engine": str(Path(sys.modules["bagverify"].__file__ or "?").parent),
            }
        )
    )
    return 0


# -- the harness ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MotoServer:
    """moto's server (DynamoDB for the ledger) on a free port, from the development venv."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "moto.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MotoServer:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto_server did not start; see {self.log}")

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def create_table(env: dict[str, str]) -> None:
    code = (
        "import boto3; from bagverify.ledger import Ledger; "
        f"Ledger(boto3.client('dynamodb'), {TABLE!r}).create()"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=REPO)


def engine_snapshot(rev: str, folder: Path) -> Path:
    """layers/engine at `rev` (git archive), compiled once; the folder to put on PYTHONPATH."""
    folder.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "layers/engine"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    engine = folder / "layers" / "engine"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(engine / "bagverify")], check=True)
    return engine


def cases(args: argparse.Namespace) -> list[Case]:
    found = []
    for shape in args.shapes:
        bag = ensure_bag(args.cache_dir, shape, args.scale, ("sha256", "sha512"), say)
        found.append(Case(shape, Path(bag.path), bag.description, bag.archive_bytes))
        if shape in args.targz:
            from bench.tar_bench import ensure_tars

            tgz = ensure_tars(Path(bag.path))[".tar.gz"]
            found.append(Case(f"{shape}.tar.gz", tgz, bag.description, tgz.stat().st_size))
    return found


def objects(folder: Path, case: Case, count: int) -> list[str]:
    """`count` keys for the case's archive (symlinks in the served folder), as a run's due bags."""
    suffix = ".tar.gz" if case.shape.endswith(".tar.gz") else ".zip"
    name = case.shape.removesuffix(".tar.gz")
    keys = []
    for index in range(count):
        key = f"audit/{name}/bag-{index:03d}{suffix}"
        link = folder / key
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(case.path.resolve())
        keys.append(key)
    return keys


def measure(
    server: NginxS3, env: dict[str, str], case: Case, mode: str, keys: list[str], ledger: str | None
) -> Result:
    spec = {"mode": mode, "keys": keys, "size": case.archive_bytes, "ledger": ledger}
    offset = server.log_offset()
    command = [sys.executable, "-m", "bench.audit_bench", "--child", json.dumps(spec)]
    run = run_measured(command, env, REPO, 900)
    traffic = server.traffic_since(offset)
    if run.exit_code != 0:
        raise RuntimeError(f"audit run failed ({run.exit_code}):\n{run.stderr[-3000:]}")
    out = json.loads(run.stdout)
    if "PYTHONPATH" in env and not out["engine"].startswith(env["PYTHONPATH"]):
        raise RuntimeError(f"the run imported bagverify from {out['engine']}, not {env['PYTHONPATH']}")
    statuses: dict[str, int] = {}
    for status in out["statuses"]:
        statuses[status] = statuses.get(status, 0) + 1
    return Result(
        case,
        mode,
        len(keys),
        statuses,
        out["seconds"],
        run.wall_seconds,
        traffic.gets,
        traffic.heads,
        traffic.bytes_sent,
        out["client_gets"],
        out["bytes_read"],
        run.peak_rss_bytes,
    )


def money(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 0.01 else f"${amount:.4f}"


def per_tb(result: Result) -> dict[str, float]:
    """Per TB (10^12 bytes) of archives like this case's: from its GETs and seconds per GB."""
    gets = result.gets / result.gigabytes * 1000
    seconds = result.seconds / result.gigabytes * 1000
    bags = 1e12 / result.case.archive_bytes
    gb_seconds = seconds * LAMBDA_MB / 1000
    return {
        "bags": bags,
        "gets": gets,
        "s3": gets / 1000 * S3_GET_PER_1000,
        "seconds": seconds,
        "gb_seconds": gb_seconds,
        "lambda": gb_seconds * LAMBDA_GB_SECOND + bags * INVOCATIONS_PER_BAG * LAMBDA_PER_REQUEST,
        "sfn_low": bags * TRANSITIONS_PER_BAG[0] * SFN_PER_TRANSITION,
        "sfn_high": bags * TRANSITIONS_PER_BAG[1] * SFN_PER_TRANSITION,
    }


def tables(results: list[Result]) -> list[str]:
    lines = [
        "| shape | mode | bags | verdicts | archive GB | wall s | s per bag | s per GB | GETs | GETs per GB "
        "| bytes read | transferred | peak RSS MiB |",
        "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        verdicts = ", ".join(f"{n} {status}" for status, n in sorted(r.statuses.items()))
        lines.append(
            f"| {r.case.shape} | {r.mode} | {r.bags} | {verdicts} | {r.gigabytes:.3f} | {r.seconds:.2f} "
            f"| {r.seconds / r.bags:.2f} | {r.seconds / r.gigabytes:.2f} | {r.gets} "
            f"| {r.gets / r.gigabytes:,.1f} | {r.bytes_read / 1e6:,.1f} MB | {r.bytes_sent / 1e6:,.1f} MB "
            f"| {r.rss / MiB:.0f} |"
        )
    lines += [
        "",
        f"Per TB (10^12 bytes) of bags like these, from the rows above: S3 GETs at ${S3_GET_PER_1000} per "
        f"1,000; Lambda at {LAMBDA_MB:,} MB = this machine's seconds x {LAMBDA_MB / 1000:.3f} GB-s, at "
        f"${LAMBDA_GB_SECOND:.10f} per GB-s (arm64) + ${LAMBDA_PER_REQUEST * 1e6:.2f} per 1M requests x "
        f"{INVOCATIONS_PER_BAG} per bag; Step Functions at ${SFN_PER_TRANSITION * 1000} per 1,000 "
        f"transitions x {TRANSITIONS_PER_BAG[0]}-{TRANSITIONS_PER_BAG[1]} per bag.",
        "",
        "| shape | mode | bags per TB | GETs per TB | S3 GET $ | Lambda s | Lambda GB-s | Lambda $ "
        "| Step Functions $ | total $ |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        t = per_tb(r)
        low, high = t["s3"] + t["lambda"] + t["sfn_low"], t["s3"] + t["lambda"] + t["sfn_high"]
        lines.append(
            f"| {r.case.shape} | {r.mode} | {t['bags']:,.0f} | {t['gets']:,.0f} | {money(t['s3'])} "
            f"| {t['seconds']:,.0f} | {t['gb_seconds']:,.0f} | {money(t['lambda'])} "
            f"| {money(t['sfn_low'])}-{money(t['sfn_high'])} | {money(low)}-{money(high)} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_bench")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per shape and mode; the median shown")
    parser.add_argument("--bags", type=int, default=3, help="bags per run (copies of the shape's bag)")
    parser.add_argument("--shapes", type=lambda s: s.split(","), default=list(SHAPES))
    parser.add_argument(
        "--targz",
        type=lambda s: [x for x in s.split(",") if x],
        default=["mix"],
        help="shapes also as .tar.gz",
    )
    parser.add_argument("--no-ledger", action="store_true", help="run_audit(…, ledger=None)")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "bagverify-bench")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "audit.md")
    parser.add_argument(
        "--engine-rev",
        help="measure layers/engine as committed at this git revision (a snapshot put first on "
        "PYTHONPATH), not the working tree",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(json.loads(args.child))
    command = "python -m bench.audit_bench " + " ".join(argv if argv is not None else sys.argv[1:])
    engine_rev = _rev(args.engine_rev) if args.engine_rev else None  # resolved once: HEAD may move
    use_ledger = not args.no_ledger and MOTO_SERVER.exists()
    all_cases = cases(args)
    load_before = load_average()
    started = time.perf_counter()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bagverify-bench-audit-") as scratch:
        workdir = Path(scratch)
        folder = workdir / "objects"
        folder.mkdir()
        with NginxS3(workdir / "nginx", {BUCKET: folder}, Emulation()) as server:
            env = child_env(workdir, server.endpoint)
            if engine_rev:
                env["PYTHONPATH"] = str(engine_snapshot(engine_rev, workdir / "engine"))
            moto = MotoServer(workdir) if use_ledger else None
            try:
                if moto:
                    moto.__enter__()
                    env.update(AWS_ENDPOINT_URL_DYNAMODB=moto.endpoint)
                    create_table(env)
                for case in all_cases:
                    keys = objects(folder, case, args.bags)
                    for mode in MODES:
                        runs = []
                        for attempt in range(args.repeat):
                            result = measure(server, env, case, mode, keys, TABLE if moto else None)
                            say(
                                f"{case.shape} {mode} #{attempt + 1}: {result.bags} bags "
                                f"{result.statuses} in {result.seconds:.2f} s, {result.gets} GETs, "
                                f"{result.bytes_sent / 1e6:,.1f} MB"
                            )
                            runs.append(result)
                        runs.sort(key=lambda r: r.seconds)
                        results.append(runs[len(runs) // 2])
            finally:
                if moto:
                    moto.__exit__()
    elapsed = time.perf_counter() - started
    ok = all(set(r.statuses) == {"valid"} for r in results)
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# What an audit run costs, on the benchmark's emulated S3",
        "",
        f"`.venv-bench/bin/{command.strip()}` ({elapsed:.0f} s in all; load average {load_before} before, "
        f"{load_average()} after).",
        "",
        f"- machine: {machine_description()}; nproc {nproc}",
        f"- software: {software_versions()}; the engine measured: "
        + (
            f"layers/engine as committed at {engine_rev} (`--engine-rev`)"
            if engine_rev
            else "the working tree's"
        )
        + "; moto_server for the ledger: "
        + (_moto_version() if use_ledger else "none (ledger=None)"),
        "- endpoint: nginx (bench/s3server.py), 30 ms first byte, 90 MB/s per connection",
        f"- each run: one process, one S3 client, `run_audit(bags, verify, ledger)` over {args.bags} keys of "
        f"the same archive, verify = `verify_s3_object(…, mode=…, memory_limit={LAMBDA_MB} MiB)`, "
        "one bag after another; the ledger "
        + ("a moto server's DynamoDB table (per bag: a Query and two PutItems)" if use_ledger else "none")
        + f"; the median of {args.repeat} run{'s' * (args.repeat > 1)} by wall time",
        "- wall s: `run_audit`'s own wall time in the process (the part VerifyBagFunction's "
        "invocations bill; interpreter start-up and imports excluded); GETs, transferred: nginx's log; "
        "bytes read: the verdicts' stats; peak RSS: GNU time, of the whole process",
        "",
    ]
    for case in all_cases:
        lines.append(
            f"- {case.shape}: {case.description}; {case.archive_bytes / 1e6:,.1f} MB per archive "
            f"(`{case.path.name}`)"
        )
    lines += ["", *tables(results), ""]
    lines += [
        f"Prices: list prices, us-east-1, as of writing: {S3_PRICING} (S3 Standard GET "
        f"${S3_GET_PER_1000} per 1,000 requests), {LAMBDA_PRICING} (arm64 ${LAMBDA_GB_SECOND:.10f} per "
        f"GB-second, $0.20 per 1M requests), {SFN_PRICING} (standard workflows "
        f"${SFN_PER_TRANSITION * 1000} per 1,000 state transitions). Lambda seconds are this machine's "
        f"({nproc} cores, {platform.machine()}) as a proxy for one Lambda at {LAMBDA_MB:,} MB (one vCPU). "
        "Not in the per-TB figures: AuditRecordFunction's duration, the ledger's DynamoDB requests, and "
        f"each run's own {TRANSITIONS_PER_RUN} transitions and 2 invocations (AuditSelectFunction, "
        "AuditReportFunction).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.results.write_text(text)
    return 0 if ok else 1


def _rev(rev: str) -> str:
    command = ["git", "-C", str(REPO), "rev-parse", "--short", "--verify", f"{rev}^{{commit}}"]
    found = subprocess.run(command, capture_output=True, text=True)
    if found.returncode != 0:
        raise SystemExit(f"--engine-rev {rev}: not a commit here")
    return found.stdout.strip()


def _moto_version() -> str:
    python = MOTO_SERVER.parent / "python"
    code = "import moto; print(moto.__version__)"
    found = subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()
    return f"moto {found or '?'}"


if __name__ == "__main__":
    raise SystemExit(main())
