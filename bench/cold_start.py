"""Cold start: importing VerifyBagFunction's handler module against a bare boto3 with its two clients.

    .venv-bench/bin/python -m bench.cold_start [--repeat 15] [--top 25]

Each measurement is a fresh process of the Lambda runtime's Python (3.12) with Lambda's environment
variables (the runtime's, the template's Globals and VerifyBagFunction's own; fake credentials, nothing is
called) and Lambda's sys.path, over **what `sam build` makes**: the layer and VerifyBagFunction built by
their Makefiles (layers/engine/Makefile, functions/verify_bag/Makefile) into the bench cache, the layer
for this machine's architecture (`PLATFORM`), the function's folder first on sys.path, then the layer's
python/. The children run with `-S` (no site-packages but those) and PYTHONDONTWRITEBYTECODE=1: Lambda's
/var/task and /opt are read-only, so a module without bytecode there is compiled at every cold start,
and the result not kept. Two programs, alternated run by run:

* *bare*: `import boto3; boto3.client("s3"); boto3.client("sns")`, the floor any handler pays;
* *handler*: `import app`, which also makes the clients (delivery.py) and Powertools' Logger, Metrics
  and Tracer.

Each child times itself from just before its first import to its end (time.perf_counter): the
interpreter's own start-up, the same for both, is left out. Each pair (a bare run, then a handler run)
also gives a ratio; the median of those drifts less with the machine's load than the ratio of the two
medians. Both run as deployed (Tracing: Active, so Powertools' Tracer imports aws_xray_sdk and patches
botocore) and, for reference, with POWERTOOLS_TRACE_DISABLED=true; then the handler once more over the
same build without its bytecode (what BuildMethod python3.12 shipped: every module compiled at every
cold start), against the same bare program. Then one `python -X importtime` of the handler (tracer
on): the largest imports by cumulative time, and self time by package.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.benchmark import REPO, cpu_model, default_cache_dir, load_average

TASK_ROOT = REPO / "functions" / "verify_bag"
LAYER = REPO / "layers" / "engine"
TARGET_RATIO = 1.15
# Where the builds go, under the bench cache: the function's code and the layer's python/ (Lambda's
# /var/task and /opt/python), and the same without bytecode.
BUILD = "coldstart-build"

_PATH = "import sys; sys.path[:0] = [{function!r}, {layer!r}]\n"
# Each prints the seconds from its first import to its end.
BARE = (
    "import time\nbegan = time.perf_counter()\nimport boto3\n"
    'boto3.client("s3")\nboto3.client("sns")\nprint(time.perf_counter() - began)\n'
)
HANDLER = "import time\nbegan = time.perf_counter()\nimport app\nprint(time.perf_counter() - began)\n"
# Where the handler's time goes: what `import app` does, in steps, each timed after the previous one
# (a module two steps share counts in the first). The last step reuses the clients of the first
# (boto3.client answers with them), so that it holds only the handler's own modules; delivery.py's
# Tracer is made the same way as in step 3.
STEPS = """import json, os, time
steps, mark = {}, time.perf_counter()
def step(name):
    global mark
    now = time.perf_counter()
    steps[name], mark = now - mark, now
import boto3
clients = {"s3": boto3.client("s3"), "sns": boto3.client("sns")}
step("bare")
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
Logger(), Metrics(namespace=os.environ["POWERTOOLS_METRICS_NAMESPACE"])
step("powertools")
Tracer()
step("xray")
import bagverify.verify, bagverify.notify
step("engine")
boto3.client = lambda name, **_: clients[name]
import app
step("handler")
print(json.dumps(steps))
"""
STEP_NAMES = {
    "bare": "boto3 + S3 and SNS clients (the bare program)",
    "powertools": "Powertools: import, Logger(), Metrics()",
    "xray": "Tracer(): aws_xray_sdk (with wrapt, asyncio) imported, botocore patched",
    "engine": "engine: bagverify.verify (the ZIP path) and notify",
    "handler": "app, delivery, routing, event_targets (clients reused)",
}


def lambda_env(trace_disabled: bool, task_root: Path) -> dict[str, str]:
    """What Lambda's python3.12 runtime sets, template.yaml's Globals and VerifyBagFunction's variables."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        # The runtime's.
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": "bagverify-VerifyBagFunction-abc123",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bagverify-VerifyBagFunction-abc123",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[$LATEST]0123456789abcdef",
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "ASIAFAKEFAKEFAKEFAKE",
        "AWS_SECRET_ACCESS_KEY": "fake",
        "AWS_SESSION_TOKEN": "fake",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "_AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129",
        "_AWS_XRAY_DAEMON_PORT": "2000",
        "LAMBDA_TASK_ROOT": str(task_root),
        # /var/task and /opt are read-only: bytecode Python compiles there is not kept.
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": "app.lambda_handler",
        # template.yaml, Globals.Function.Environment.
        "POWERTOOLS_SERVICE_NAME": "bagverify",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_NAMESPACE": "bagverify",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        # VerifyBagFunction's own (a deployed stack's: routing on, a ledger, no reports, no profiles).
        "TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:bagverify-VerdictTopic",
        "REPORT_BUCKET": "",
        "DISTRIBUTED_STATE_MACHINE_ARN": (
            "arn:aws:states:eu-west-1:123456789012:stateMachine:VerifyBagDistributedStateMachine"
        ),
        "DISTRIBUTED_THRESHOLD_BYTES": "50000000000",
        "PROFILES_LOCATION": "",
        "REQUIRE_PROFILE": "false",
        "BAGVERIFY_LEDGER_TABLE": "bagverify-LedgerTable",
    }
    if trace_disabled:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


@dataclass(frozen=True)
class Build:
    """Where a child finds the function's code (its working directory too) and the layer's python/."""

    function: Path
    layer: Path

    def program(self, body: str) -> str:
        return _PATH.format(function=str(self.function), layer=str(self.layer)) + body


def layer_platform() -> str:
    """This machine's manylinux platform tag, for the layer's wheels (Lambda's is aarch64)."""
    return f"manylinux2014_{platform.machine()}"


def build(python: str, cache_dir: Path) -> tuple[Build, Build]:
    """The layer and VerifyBagFunction as `sam build` makes them, from their Makefiles, and the same
    without bytecode. Made afresh each run (about 15 s), so that they hold the working tree's code."""
    root = cache_dir / BUILD
    shutil.rmtree(root, ignore_errors=True)
    layer, function = root / "EngineLayer", root / "VerifyBagFunction"
    common = [f"PYTHON={python}"]
    print(f"cold_start: building the layer and the function into {root}", file=sys.stderr)
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(LAYER),
            "build-EngineLayer",
            f"ARTIFACTS_DIR={layer}",
            f"PLATFORM={layer_platform()}",
            *common,
        ],
        check=True,
    )
    subprocess.run(
        ["make", "-s", "-C", str(TASK_ROOT), "build-VerifyBagFunction", f"ARTIFACTS_DIR={function}", *common],
        check=True,
    )
    plain = root / "without-bytecode"
    shutil.copytree(layer, plain / "EngineLayer", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(function, plain / "VerifyBagFunction", ignore=shutil.ignore_patterns("__pycache__"))
    return (
        Build(function, layer / "python"),
        Build(plain / "VerifyBagFunction", plain / "EngineLayer" / "python"),
    )


def runtime_python(requested: str | None) -> str:
    """The interpreter of the children: Lambda's runtime is Python 3.12 (template.yaml)."""
    python = requested or shutil.which("python3.12") or getattr(sys, "_base_executable", sys.executable)
    # Its real path: a pyenv shim needs variables the children's Lambda environment does not have.
    version, python = subprocess.run(
        [python, "-c", "import sys; print(*sys.version_info[:2], sep='.'); print(sys.executable)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if version != "3.12":
        raise SystemExit(f"cold_start: {python} is Python {version}; the layer is built for 3.12 (--python)")
    return python


def run_child(python: str, where: Build, body: str, env: dict[str, str], *options: str) -> str:
    """One fresh child over `where`'s build: its output (stderr with -X importtime, else stdout)."""
    done = subprocess.run(
        [python, "-S", *options, "-c", where.program(body)],
        env=env,
        cwd=where.function,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"cold_start: the child failed:\n{done.stderr}")
    return done.stderr if options else done.stdout.strip().splitlines()[-1]


def measure(
    python: str, bare_build: Build, handler_build: Build, env: dict[str, str], repeat: int
) -> tuple[list[float], list[float]]:
    """(bare seconds, handler seconds), `repeat` of each, alternated; one unmeasured pair first."""
    run_child(python, bare_build, BARE, env)
    run_child(python, handler_build, HANDLER, env)
    bare, handler = [], []
    for _ in range(repeat):
        bare.append(float(run_child(python, bare_build, BARE, env)))
        handler.append(float(run_child(python, handler_build, HANDLER, env)))
    return bare, handler


def breakdown(python: str, where: Build, env: dict[str, str], repeat: int) -> dict[str, float]:
    """The median seconds of each of STEPS's steps over `repeat` fresh processes."""
    runs = [json.loads(run_child(python, where, STEPS, env)) for _ in range(repeat)]
    return {name: statistics.median(run[name] for run in runs) for name in STEP_NAMES}


def import_profile(python: str, where: Build, env: dict[str, str]) -> list[tuple[int, int, str]]:
    """`python -X importtime` of the handler: (self µs, cumulative µs, name with its indentation)."""
    rows = []
    for line in run_child(python, where, HANDLER, env, "-X", "importtime").splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (.*)$", line)
        if found:
            rows.append((int(found[1]), int(found[2]), found[3].rstrip()))
    return rows


def package_of(name: str) -> str:
    top = name.strip().split(".")[0]
    if top in sys.stdlib_module_names or top.startswith("_"):
        return "(standard library)"
    return top


def describe_machine(python: str, where: Build) -> str:
    model = cpu_model()
    versions = subprocess.run(
        [
            python,
            "-S",
            "-c",
            where.program("")
            + "import platform, importlib.metadata as m; print('Python', platform.python_version() + ';', "
            "', '.join(p + ' ' + m.version(p) for p in "
            "('boto3', 'botocore', 'aws-lambda-powertools', 'aws-xray-sdk')))",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    commit = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{model}, {os.cpu_count()} cores; Linux {platform.release()}; {versions}; "
        f"bagverify at {commit or '?'}; load average {load_average()}"
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cold_start",
        description="Import time of the handler module against a bare boto3 + S3 and SNS clients.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--repeat", type=int, default=15, help="fresh processes per program and setting")
    parser.add_argument("--top", type=int, default=25, help="imports listed from -X importtime")
    parser.add_argument("--python", help="interpreter of the children [the layer-only venv, made once]")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    args = parser.parse_args(argv)
    python = runtime_python(args.python)
    built, plain = build(python, args.cache_dir)

    print(
        "# Cold start: `import app` against bare boto3 + S3 and SNS clients\n\n"
        + describe_machine(python, built)
    )
    print(
        f"\nchildren: {python} -S over {built.function.parent}; "
        f"{args.repeat} fresh processes of each, alternated\n"
    )
    print(
        "| build, setting | bare boto3 + 2 clients: median (min) | `import app`: median (min) "
        "| ratio of medians | median ratio of pairs |"
    )
    print("|---|--:|--:|--:|--:|")
    ratios = {}
    for label, disabled, handler_build in (
        ("bytecode shipped, Tracer on (as deployed)", False, built),
        ("bytecode shipped, POWERTOOLS_TRACE_DISABLED=true", True, built),
        ("no bytecode (BuildMethod python3.12), Tracer on", False, plain),
    ):
        bare, handler = measure(
            python, built, handler_build, lambda_env(disabled, handler_build.function), args.repeat
        )
        ratio = statistics.median(handler) / statistics.median(bare)
        ratios[label] = ratio
        print(
            f"| {label} | {ms(statistics.median(bare))} ({ms(min(bare))}) "
            f"| {ms(statistics.median(handler))} ({ms(min(handler))}) | {ratio:.2f}x "
            f"| {statistics.median(h / b for b, h in zip(bare, handler, strict=True)):.2f}x |",
            flush=True,
        )
    deployed = next(iter(ratios.values()))
    met = "met" if deployed <= TARGET_RATIO else "NOT met"
    print(f"\ntarget: <= {TARGET_RATIO}x as deployed: {met} ({deployed:.2f}x)")

    print(f"\n## Where `import app` goes, in steps (as deployed; medians of {args.repeat} processes)\n")
    env = lambda_env(False, built.function)
    steps = breakdown(python, built, env, args.repeat)
    print("| step | ms |\n|---|--:|")
    for name, label in STEP_NAMES.items():
        print(f"| {label} | {steps[name] * 1000:.1f} |")
    extra = sum(seconds for name, seconds in steps.items() if name != "bare")
    print(
        f"| **beyond the bare program** | **{extra * 1000:.1f}** |\n\n"
        f"The target allows {(TARGET_RATIO - 1) * 100:.0f}% of the bare program beyond it: "
        f"{(TARGET_RATIO - 1) * steps['bare'] * 1000:.0f} ms of this run's {steps['bare'] * 1000:.0f} ms."
    )

    rows = import_profile(python, built, env)
    print(f"\n## `python -X importtime` of the handler (Tracer on): the {args.top} largest, cumulative\n")
    print("```\n  self µs | cumul. µs | module")
    for self_us, cumulative, name in sorted(rows, key=lambda row: -row[1])[: args.top]:
        print(f"{self_us:>9} | {cumulative:>9} | {name}")
    print("```\n\nSelf time by package (all imports of the handler):\n")
    by_package: dict[str, int] = defaultdict(int)
    for self_us, _, name in rows:
        by_package[package_of(name)] += self_us
    print("| package | ms |\n|---|--:|")
    for package, total in sorted(by_package.items(), key=lambda item: -item[1])[:12]:
        print(f"| {package} | {total / 1000:.1f} |")
    print(f"| all imports | {sum(by_package.values()) / 1000:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
