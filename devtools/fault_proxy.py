"""A fault-injecting HTTP proxy for tests, in front of moto's server (or any S3 endpoint).

It runs in a thread on 127.0.0.1 (a free port) and forwards every request byte for byte:
method, path and query, headers in order (Host included, so signatures still match), request
and response bodies streamed, HTTP/1.1 keep-alive towards the client as boto3 uses it. Rules
chosen per test make it misbehave the way S3 and networks do:

    with FaultProxy(aws.endpoint) as proxy:
        proxy.inject(slow_down(), when=is_get(range_start=8 * MiB), times=2)
        proxy.inject(drop_body(after=1_000_000), when=is_get(suffix=True))
        proxy.inject(run_before(lambda: s3.delete_object(Bucket=b, Key=k)), when=is_get(nth=3))
        ... point the client at proxy.url ...
        assert [seen.status for seen in proxy.gets()] == [...]

Faults: an S3 XML error in place of the answer (`slow_down` 503, `internal_error` 500,
`access_denied` 403, or any `s3_error`); the real answer's status and headers (full
Content-Length) then only `after` bytes of its body, then the connection closed (`drop_body`);
the connection closed before any answer (`hang_up`); an action run before the request is
forwarded (`run_before`: overwrite or delete the object between two GETs); the Range header
rewritten or dropped on the way (`shift_range`, `ignore_range`: a gateway that mishandles ranges);
the real answer with its body sent at a trickle (`trickle`: S3's slow requests, the tail latency
that hedging is for).

Every request is recorded (`requests`, `gets()`), with the fault applied and the status sent,
so a test asserts on what actually reached the server, retries included.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

COPY_BYTES = 64 * 1024
# Not forwarded as they are: they describe one hop, not the message.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
    | {"expect"}  # the proxy answers `Expect: 100-continue` itself
)
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass
class Seen:
    """One request as the proxy received it, and what became of it."""

    number: int  # 1-based, in order of arrival over all connections
    get_number: int  # 1-based among GETs; 0 for other methods
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    range: str | None  # the Range header as sent
    fault: str | None = None  # the name of the fault applied; None when forwarded untouched
    status: int | None = None  # the status sent (for drop_body too); None when hung up without an answer

    @property
    def range_start(self) -> int | None:
        """First byte asked for by `Range: bytes=N-M`; None without a Range or for a suffix range."""
        match = _RANGE.fullmatch(self.range or "")
        return int(match.group(1)) if match and match.group(1) else None

    @property
    def range_end(self) -> int | None:
        """Last byte asked for (inclusive) by `Range: bytes=N-M`; None otherwise."""
        match = _RANGE.fullmatch(self.range or "")
        return int(match.group(2)) if match and match.group(1) and match.group(2) else None

    @property
    def is_suffix_range(self) -> bool:
        return bool(self.range and self.range.startswith("bytes=-"))

    @property
    def version_id(self) -> str | None:
        return self.query.get("versionId", [None])[0]


Matcher = Callable[[Seen], bool]


def is_get(
    *,
    key: str | None = None,
    range_start: int | None = None,
    suffix: bool | None = None,
    versioned: bool | None = None,
    nth: int | None = None,
) -> Matcher:
    """GETs, narrowed by object key (path ends with it), first byte of the range, suffix range or not,
    with a versionId or not, or the n-th GET the proxy saw (1-based)."""

    def match(seen: Seen) -> bool:
        return (
            seen.method == "GET"
            and (key is None or seen.path.endswith("/" + key))
            and (range_start is None or seen.range_start == range_start)
            and (suffix is None or seen.is_suffix_range == suffix)
            and (versioned is None or (seen.version_id is not None) == versioned)
            and (nth is None or seen.get_number == nth)
        )

    return match


# -- faults ----------------------------------------------------------------------


@dataclass(frozen=True)
class S3Error:
    """Answer with S3's XML error document instead of forwarding."""

    status: int
    code: str
    message: str

    @property
    def name(self) -> str:
        return f"{self.status} {self.code}"


@dataclass(frozen=True)
class DropBody:
    """Forward; send the real status and headers (full Content-Length), `after` body bytes, then close."""

    after: int

    @property
    def name(self) -> str:
        return f"drop body after {self.after} bytes"


@dataclass(frozen=True)
class HangUp:
    """Close the connection without any answer (what a reset or a dead load balancer looks like)."""

    name: str = "hang up"


@dataclass(frozen=True)
class RunBefore:
    """Run `action`, then forward the request untouched.

    The action runs alone, between requests: requests that arrive while it runs are held until
    it is done (those already being forwarded go on), so what the server answers them reflects it.
    It must talk to the server directly, not through this proxy (it would wait for itself).
    """

    action: Callable[[], object]
    name: str = "run before"


@dataclass(frozen=True)
class RewriteRange:
    """Forward with the Range header rewritten by `rewrite` (None: dropped), as a gateway, cache or
    S3-compatible store that mishandles ranges would; the server's answer, truthful about the bytes
    it holds (its Content-Range names them), goes back unchanged."""

    rewrite: Callable[[str], str | None]
    name: str = "rewrite range"


@dataclass(frozen=True)
class Trickle:
    """Forward; send the real status and headers, then the body at `bytes_per_second`: a slow GET
    (an overloaded server or path), the rest of the endpoint unaffected. Paced against the clock in
    slices of 1/20 s of bytes; it ends when the body does or the client goes away. `after`: the
    body's first bytes at full speed, the trickle only from there (a GET that has made progress)."""

    bytes_per_second: int
    after: int = 0

    @property
    def name(self) -> str:
        return f"trickle at {self.bytes_per_second} B/s"


Fault = S3Error | DropBody | HangUp | RunBefore | RewriteRange | Trickle


def s3_error(status: int, code: str, message: str) -> S3Error:
    return S3Error(status, code, message)


def slow_down() -> S3Error:
    return S3Error(503, "SlowDown", "Please reduce your request rate.")


def internal_error() -> S3Error:
    return S3Error(500, "InternalError", "We encountered an internal error. Please try again.")


def access_denied() -> S3Error:
    return S3Error(403, "AccessDenied", "Access Denied")


def drop_body(after: int) -> DropBody:
    return DropBody(after)


def hang_up() -> HangUp:
    return HangUp()


def trickle(bytes_per_second: int = 256 * 1024, *, after: int = 0) -> Trickle:
    """The body at `bytes_per_second` (256 KiB/s: an 8 MiB part takes 32 s), from byte `after` on."""
    return Trickle(bytes_per_second, after)


def run_before(action: Callable[[], object]) -> RunBefore:
    return RunBefore(action)


def ignore_range() -> RewriteRange:
    """The Range header dropped: the server answers 200 with the whole object."""
    return RewriteRange(lambda _: None, "ignore range")


def shift_range(by: int) -> RewriteRange:
    """`bytes=A-B` forwarded as `bytes=A+by-B+by`: a 206 of other bytes than asked for."""

    def shifted(header: str) -> str | None:
        match = _RANGE.fullmatch(header)
        if not match or not match.group(1) or not match.group(2):
            return header
        return f"bytes={int(match.group(1)) + by}-{int(match.group(2)) + by}"

    return RewriteRange(shifted, f"shift range by {by}")


def expired_token() -> S3Error:
    """What S3 answers once an assumed role's session credentials have run out."""
    return S3Error(400, "ExpiredToken", "The provided token has expired.")


@dataclass
class Rule:
    """Apply `fault` to requests matching `when`, `times` times (None: every time)."""

    fault: Fault
    when: Matcher
    times: int | None = 1
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


# -- the proxy -------------------------------------------------------------------


class FaultProxy:
    """The proxy; `start()` (or `with`) binds a free port on 127.0.0.1; `url` is what clients use."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL: {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.requests: list[Seen] = []
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        # Requests are forwarded only while no `run_before` action is running.
        self._actions = threading.Condition(self._lock)
        self._actions_running = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- programming it --------------------------------------------------------

    def inject(self, fault: Fault, *, when: Matcher, times: int | None = 1) -> Rule:
        """Add a rule; rules are tried in the order added, the first live match applies."""
        rule = Rule(fault, when, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Forget rules and recorded requests."""
        with self._lock:
            self._rules.clear()
            self.requests.clear()

    def gets(self, key: str | None = None) -> list[Seen]:
        """GETs received (of objects whose key is `key`, if given), in order of arrival."""
        with self._lock:
            return [seen for seen in self.requests if is_get(key=key)(seen)]

    def _admit(self, method: str, target: str, range_header: str | None) -> tuple[Seen, Fault | None]:
        parts = urlsplit(target)
        with self._lock:
            gets = sum(1 for seen in self.requests if seen.method == "GET")
            get_number = gets + 1 if method == "GET" else 0
            seen = Seen(
                number=len(self.requests) + 1,
                get_number=get_number,
                method=method,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                range=range_header,
            )
            self.requests.append(seen)
            rule = next((rule for rule in self._rules if not rule.exhausted and rule.when(seen)), None)
            if rule is not None:
                rule.fired += 1
                seen.fault = rule.fault.name
            # Held while an action admitted before runs (the lock is released while waiting).
            self._actions.wait_for(lambda: self._actions_running == 0)
            if rule is not None and isinstance(rule.fault, RunBefore):
                self._actions_running += 1  # from admission on: no later request overtakes the action
            return seen, rule.fault if rule else None

    def _run_action(self, action: RunBefore) -> None:
        try:
            action.action()
        finally:
            with self._actions:
                self._actions_running -= 1
                self._actions.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], proxy: FaultProxy) -> None:
        self.proxy = proxy
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._open_lock:
            self._open.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End idle keep-alive connections, so no handler thread outlives the proxy."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3 expects
    timeout = 60  # an idle client connection is closed after this long
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def _handle(self) -> None:
        seen, fault = self.server.proxy._admit(self.command, self.path, self.headers.get("Range"))
        if isinstance(fault, HangUp):
            self._hang_up()
            return
        if isinstance(fault, S3Error):
            self._discard_request_body()
            self._send_s3_error(seen, fault)
            return
        if isinstance(fault, RunBefore):
            self.server.proxy._run_action(fault)
        drop_after = fault.after if isinstance(fault, DropBody) else None
        rewrite = fault.rewrite if isinstance(fault, RewriteRange) else None
        slow = fault if isinstance(fault, Trickle) else None
        try:
            self._forward(seen, drop_after, rewrite, slow)
        except (BrokenPipeError, ConnectionResetError):  # the client went away mid-answer
            self.close_connection = True

    # -- forwarding --------------------------------------------------------------

    def _forward(
        self,
        seen: Seen,
        drop_after: int | None,
        rewrite_range: Callable[[str], str | None] | None = None,
        slow: Trickle | None = None,
    ) -> None:
        proxy = self.server.proxy
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if rewrite_range is not None and name.lower() == "range":
                    rewritten = rewrite_range(value)
                    if rewritten is not None:
                        upstream.putheader(name, rewritten)
                elif name.lower() not in HOP_BY_HOP:
                    upstream.putheader(name, value)
            chunked_request = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            if chunked_request:
                upstream.putheader("Transfer-Encoding", "chunked")
            upstream.endheaders()
            self._copy_request_body(upstream, chunked_request)
            response = upstream.getresponse()
            self._copy_response(seen, response, drop_after, slow)
        finally:
            upstream.close()

    def _copy_request_body(self, upstream: http.client.HTTPConnection, chunked: bool) -> None:
        if chunked:
            for chunk in self._request_chunks():
                upstream.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            upstream.send(b"0\r\n\r\n")
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            data = self.rfile.read(min(COPY_BYTES, remaining))
            if not data:
                raise ConnectionResetError("client closed the connection mid-body")
            upstream.send(data)
            remaining -= len(data)

    def _request_chunks(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers, dropped
                return
            chunk = self.rfile.read(size)
            self.rfile.readline()
            yield chunk

    def _discard_request_body(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            for _ in self._request_chunks():
                pass
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0 and (data := self.rfile.read(min(COPY_BYTES, remaining))):
                remaining -= len(data)

    def _copy_response(
        self,
        seen: Seen,
        response: http.client.HTTPResponse,
        drop_after: int | None,
        slow: Trickle | None = None,
    ) -> None:
        # Recorded before the answer goes out: a client may act on it before this thread runs again.
        seen.status = response.status
        self.send_response_only(response.status, response.reason)
        for name, value in response.msg.items():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        has_length = response.getheader("Content-Length") is not None
        no_body = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        chunked = not has_length and not no_body
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        if response.will_close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        sent = 0
        began = time.monotonic()
        while not no_body and (data := response.read1(COPY_BYTES)):
            if drop_after is not None and sent + len(data) >= drop_after:
                self._write(data[: drop_after - sent], chunked)
                self._hang_up()
                return
            if slow is None or sent + len(data) <= slow.after:
                self._write(data, chunked)
                sent += len(data)
                began = time.monotonic()  # the trickle's clock starts where the fast bytes end
                continue
            rate, fast = slow.bytes_per_second, slow.after
            step = max(1024, rate // 20)
            for offset in range(0, len(data), step):
                piece = data[offset : offset + step]
                self._write(piece, chunked)
                self.wfile.flush()
                sent += len(piece)
                time.sleep(max(0.0, began + max(0, sent - fast) / rate - time.monotonic()))
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _write(self, data: bytes, chunked: bool) -> None:
        if chunked:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.wfile.write(data)

    # -- faults ----------------------------------------------------------------------

    def _send_s3_error(self, seen: Seen, error: S3Error) -> None:
        request_id = uuid.uuid4().hex[:16].upper()
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>fault-proxy</HostId></Error>"
        ).encode()
        seen.status = error.status
        self.send_response_only(error.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("x-amz-request-id", request_id)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _hang_up(self) -> None:
        """Close the connection now: what was written is delivered, then EOF (FIN, not RST)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)


__all__ = [
    "DropBody",
    "Fault",
    "FaultProxy",
    "HangUp",
    "RewriteRange",
    "Rule",
    "RunBefore",
    "S3Error",
    "Seen",
    "Trickle",
    "access_denied",
    "drop_body",
    "expired_token",
    "hang_up",
    "ignore_range",
    "internal_error",
    "is_get",
    "run_before",
    "s3_error",
    "shift_range",
    "slow_down",
    "trickle",
]
