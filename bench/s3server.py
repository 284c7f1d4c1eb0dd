"""A fast local S3 endpoint: nginx serving a folder as path-style S3, with emulated latency and bandwidth.

`GET/HEAD /<bucket>/<key>` serve `<root>/<bucket>/<key>` with nginx's static module, so single
ranges (`bytes=a-b`, `bytes=a-`, suffix `bytes=-N`, answered 206 with `Content-Range`), `If-Match`
on nginx's ETag (412 when it differs) and 404 for a missing key behave as S3's do for the calls the
tools under test make. Query strings (`?x-id=GetObject`) are ignored; authentication is not checked.

Emulation, both native to nginx:
* first-byte latency: the echo module's `echo_sleep` (a timer, no thread blocked), then `echo_exec`
  redirects internally to the static handler, so Range and If-Match still apply;
* per-connection bandwidth: `limit_rate`. nginx sleeps `sent / rate` (in whole milliseconds) after
  each write; `sendfile_max_chunk` is set to 10 ms worth of bytes so that this sleep is not
  truncated and no write larger than that goes out unthrottled.

Every request is logged (tab-separated: end time, connection, method, status, bytes sent with
headers, body bytes, Range header, duration, URI); `LogWindow` reads the lines of one tool run.
"""

from __future__ import annotations

import getpass
import http.client
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
STATUS_PATH = "/__bench_status"
LOG_FIELDS = (
    "$msec\t$connection\t$request_method\t$status\t$bytes_sent\t$body_bytes_sent\t"
    "$http_range\t$request_time\t$uri"
)


@dataclass(frozen=True)
class Emulation:
    latency_ms: float = 30.0
    rate_mbps: float = 90.0  # per connection, MB/s (10^6 bytes)

    @property
    def rate_bytes(self) -> int:
        return int(self.rate_mbps * 1_000_000)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def render_config(workdir: Path, root: Path, port: int, emulation: Emulation) -> str:
    sleep = f"echo_sleep {emulation.latency_ms / 1000:.3f};" if emulation.latency_ms > 0 else ""
    if emulation.rate_mbps > 0:
        chunk = max(64 * 1024, emulation.rate_bytes // 100)  # 10 ms of bytes per write
        throttle = f"limit_rate {emulation.rate_bytes}; sendfile_max_chunk {chunk};"
    else:
        throttle = "limit_rate 0;"
    return f"""\
load_module {ECHO_MODULE};
user {getpass.getuser()};
worker_processes auto;
daemon off;
master_process on;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  log_format bench '{LOG_FIELDS}';
  access_log {workdir}/access.log bench;
  client_body_temp_path {workdir}/tmp/body;
  proxy_temp_path {workdir}/tmp/proxy;
  fastcgi_temp_path {workdir}/tmp/fastcgi;
  uwsgi_temp_path {workdir}/tmp/uwsgi;
  scgi_temp_path {workdir}/tmp/scgi;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server_tokens off;
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {root};
    location = {STATUS_PATH} {{ stub_status; access_log off; }}
    location / {{
      {sleep}
      echo_exec @object;
    }}
    location @object {{
      {throttle}
    }}
  }}
}}
"""


@dataclass
class Request:
    end: float  # epoch seconds, when the last byte was sent
    connection: int
    method: str
    status: int
    bytes_sent: int
    body_bytes: int
    range: str
    seconds: float
    uri: str

    @property
    def start(self) -> float:
        return self.end - self.seconds


@dataclass
class Traffic:
    """What the server saw during one tool run."""

    requests: list[Request] = field(default_factory=list)

    @property
    def gets(self) -> int:
        return sum(1 for r in self.requests if r.method == "GET")

    @property
    def heads(self) -> int:
        return sum(1 for r in self.requests if r.method == "HEAD")

    @property
    def bytes_sent(self) -> int:
        return sum(r.bytes_sent for r in self.requests)

    @property
    def body_bytes(self) -> int:
        return sum(r.body_bytes for r in self.requests)

    @property
    def connections(self) -> int:
        return len({r.connection for r in self.requests})

    @property
    def errors(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for r in self.requests:
            if r.status >= 400:
                counts[r.status] = counts.get(r.status, 0) + 1
        return counts

    @property
    def max_concurrency(self) -> int:
        """The most requests in progress at once (from each request's start and end)."""
        events = sorted([(r.start, 1) for r in self.requests] + [(r.end, -1) for r in self.requests])
        level = peak = 0
        for _, step in events:
            level += step
            peak = max(peak, level)
        return peak


def parse_line(line: str) -> Request | None:
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 9:
        return None
    end, connection, method, status, sent, body, byte_range, seconds, uri = parts
    return Request(
        end=float(end),
        connection=int(connection),
        method=method,
        status=int(status),
        bytes_sent=int(sent),
        body_bytes=int(body),
        range="" if byte_range == "-" else byte_range,
        seconds=float(seconds),
        uri=uri,
    )


class NginxS3:
    """nginx as S3, in a throwaway working folder. Use as a context manager."""

    def __init__(self, workdir: Path, buckets: dict[str, Path], emulation: Emulation) -> None:
        self.workdir = workdir
        self.emulation = emulation
        self.root = workdir / "root"
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.access_log = workdir / "access.log"
        self._buckets = buckets
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NginxS3:
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        for bucket, folder in self._buckets.items():
            link = self.root / bucket
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(folder.resolve(), target_is_directory=True)
        config = self.workdir / "nginx.conf"
        config.write_text(render_config(self.workdir, self.root, self.port, self.emulation))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        check = subprocess.run(
            [
                nginx,
                "-t",
                "-q",
                "-p",
                str(self.workdir),
                "-e",
                str(self.workdir / "error.log"),
                "-c",
                str(config),
            ],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejected {config}:\n{check.stderr}")
        self._process = subprocess.Popen(
            [nginx, "-p", str(self.workdir), "-e", str(self.workdir / "error.log"), "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.status()
                break
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"nginx did not start; see {self.workdir / 'error.log'}:\n"
                        + (self.workdir / "error.log").read_text(errors="replace")[-2000:]
                    ) from None
                time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGQUIT)  # graceful: finish logging, then exit
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def status(self) -> dict[str, int]:
        """nginx's stub_status: active connections and requests being read or written."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", STATUS_PATH)
            text = connection.getresponse().read().decode()
        finally:
            connection.close()
        lines = text.splitlines()
        numbers = lines[3].split()  # "Reading: 0 Writing: 1 Waiting: 0"
        return {"active": int(lines[0].split(":")[1]), "reading": int(numbers[1]), "writing": int(numbers[3])}

    def log_offset(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until no request is in progress (so every request of the last run is logged)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.status()
            if state["reading"] + state["writing"] <= 1:  # the status request itself
                return
            time.sleep(0.02)

    def traffic_since(self, offset: int) -> Traffic:
        self.settle()
        with self.access_log.open("r", encoding="utf-8", errors="replace") as log:
            log.seek(offset)
            requests = [r for r in map(parse_line, log) if r is not None]
        return Traffic(requests)


# -- calibration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    first_byte_ms: float  # median of small GETs
    one_connection_mbps: float  # one large GET, after its first byte
    parallel_mbps: float  # `parallel_connections` large GETs at once, all bytes over the wall time
    parallel_connections: int


def _timed_get(
    connection: http.client.HTTPConnection, path: str, byte_range: str
) -> tuple[float, float, int]:
    """(seconds to first byte, seconds in all, bytes) for one GET on a kept-alive connection."""
    started = time.perf_counter()
    connection.request("GET", path, headers={"Range": byte_range})
    response = connection.getresponse()
    first_byte = time.perf_counter() - started
    buffer = bytearray(1024 * 1024)
    received = 0
    while count := response.readinto(buffer):
        received += count
    return first_byte, time.perf_counter() - started, received


def calibrate(server: NginxS3, path: str, size: int, connections: int) -> Calibration:
    """Measure the endpoint as a plain HTTP client sees it: first byte, one connection, several at once."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port)
    firsts = sorted(_timed_get(connection, path, "bytes=0-0")[0] for _ in range(5))
    first_byte, total, received = _timed_get(connection, path, f"bytes=0-{size - 1}")
    connection.close()
    one = received / max(total - first_byte, 1e-9) / 1e6

    counts: list[int] = []

    def fetch() -> None:
        own = http.client.HTTPConnection("127.0.0.1", server.port)
        counts.append(_timed_get(own, path, f"bytes=0-{size - 1}")[2])
        own.close()

    threads = [threading.Thread(target=fetch) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    parallel = sum(counts) / (time.perf_counter() - started) / 1e6
    return Calibration(firsts[len(firsts) // 2] * 1000, one, parallel, connections)
