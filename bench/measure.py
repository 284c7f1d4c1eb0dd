"""Run one tool as its own process and measure it from outside.

The tool runs under GNU time (`/usr/bin/time`), which forks it, waits for it and reports the
kernel's resource usage of that one process (with any children it waited for):

* peak RSS: `ru_maxrss` ("Maximum resident set size", %M). It has to be a small launcher that
  forks the tool: Linux carries a process's high-water RSS across fork and exec, so a tool forked
  straight from this harness would report at least the harness's own peak;
* bytes written to disk: `ru_oublock` x 512 ("File system outputs", %O), which Linux fills from
  the process's `/proc/<pid>/io` `write_bytes`: bytes it caused to be written to a block device,
  charged when pages are dirtied, so a temporary file deleted before writeback still counts. The
  tool's stdout and stderr are pipes, which write nothing to disk;
* CPU time: user + system (%U + %S).

On timeout the tool is killed first and GNU time still reports its usage up to then; then the
whole process group is killed.

Wall time is measured here, from just before the launch to the exit (`time.perf_counter`), so it
includes the interpreter's start-up and imports, as a user's would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

GNU_TIME = "/usr/bin/time"
_MARK = "bench-rusage"


@dataclass(frozen=True)
class ProcessRun:
    command: list[str]
    exit_code: int | None  # None: killed on timeout
    wall_seconds: float
    cpu_seconds: float
    peak_rss_bytes: int
    disk_write_bytes: int
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


def _drain(stream: IO[bytes], into: list[bytes]) -> None:
    while chunk := stream.read(65536):
        into.append(chunk)


def _rusage(report: str) -> tuple[int, int, float]:
    """(peak RSS bytes, disk write bytes, CPU seconds) from GNU time's report, zeros if none."""
    for line in reversed(report.splitlines()):
        if line.startswith(_MARK):
            _, max_rss_kib, outputs, user, system = line.split()
            return int(max_rss_kib) * 1024, int(outputs) * 512, float(user) + float(system)
    return 0, 0, 0.0


def _stop_tool(launcher: subprocess.Popen[bytes]) -> None:
    """Kill the tool but not GNU time, so that time still reports the tool's usage; then its group."""
    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children")
    with contextlib.suppress(OSError):
        for pid in children.read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        launcher.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(launcher.pid, signal.SIGKILL)  # anything the tool left behind in its group


def run_measured(command: list[str], env: dict[str, str], cwd: Path, timeout: float) -> ProcessRun:
    if not os.access(GNU_TIME, os.X_OK):
        raise RuntimeError(f"{GNU_TIME} (GNU time, Debian package 'time') is needed; bench/run installs it")
    with tempfile.NamedTemporaryFile("r", prefix="bench-rusage-", suffix=".txt") as report:
        launcher = [GNU_TIME, "-o", report.name, "-f", f"{_MARK} %M %O %U %S", "--", *command]
        started = time.perf_counter()
        process = subprocess.Popen(
            launcher,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,  # its own process group, to stop it and its children on timeout
        )
        assert process.stdout is not None and process.stderr is not None
        out: list[bytes] = []
        err: list[bytes] = []
        readers = [
            threading.Thread(target=_drain, args=(process.stdout, out), daemon=True),
            threading.Thread(target=_drain, args=(process.stderr, err), daemon=True),
        ]
        for reader in readers:
            reader.start()
        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop_tool(process)
        finally:
            if process.poll() is None:  # the harness is being interrupted, or the launcher hangs
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        wall = time.perf_counter() - started
        for reader in readers:
            reader.join(timeout=5)
        process.stdout.close()
        process.stderr.close()
        peak_rss, written, cpu = _rusage(report.read())
    return ProcessRun(
        command=command,
        exit_code=None if timed_out else process.returncode,
        wall_seconds=wall,
        cpu_seconds=cpu,
        peak_rss_bytes=peak_rss,
        disk_write_bytes=written,
        stdout=b"".join(out).decode(errors="replace"),
        stderr=b"".join(err).decode(errors="replace"),
    )
