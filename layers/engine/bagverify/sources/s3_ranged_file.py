"""A seekable, read-only file object over one version of one S3 object.

Its readers (archive/member_index.py for the central directory, archive/member_reader.py for the
members, front to back) read the tail once and then stream; this class therefore:

* opens with one **suffix-range GET** of the tail (`Range: bytes=-N`). S3 answers
  206 with `Content-Range: bytes a-b/TOTAL`, so the size comes with the bytes and
  no HEAD is needed; the tail is kept, because the central directory and most
  zippers' tag manifests live there. The part where the scan will start
  (`first_read`) is asked for as soon as the tail's headers give the size.
* serves every other read from **parts** fetched ahead of the reader by several
  ranged GETs at once (`read_ahead.ReadAhead`), handed over strictly in order:
  never one GET per `read()`, memory bounded by the parts in flight.
* **checks every answer against its request** (status, Content-Range start, end and
  total, Content-Length, bytes received). An endpoint that answers other bytes, or
  the whole object to a ranged GET (a gateway, a cache, an S3-compatible store), is
  asked once more, then is `RangeNotHonoured`; its body is closed unread.
* **pins** every GET to the object first seen: its VersionId where the bucket is
  versioned (or the caller named one), else `IfMatch` on its ETag. An overwrite
  during verification then fails with 412 instead of mixing two objects' bytes.
  A caller that knows which object it means (an S3 event's eTag) passes `etag`:
  the pin then starts with the very first GET, and a 412 there means the object
  was replaced after the event (`ObjectChanged`), not that it changed mid-read.
* **resumes** a body dropped mid-stream from the byte reached: botocore retries
  failed requests but not a connection that dies while the body is being read.
* **hedges** a part whose GET runs far longer than its peers' (`read_ahead.HedgePolicy`): asks
  for the rest of it again, from the byte reached, on another connection, and uses whichever
  completes first. A hedge is one attempt (no second try on a wrong answer, no resume): when it
  fails, the part's first GET, still running, is what the part waits for.
* counts GET requests (hedges included, and apart as `hedged_requests`) and bytes received,
  for the verdict's stats.

Seeking is free: it only moves the position. I/O happens on the next read, and
only when the position is outside the windows held, so a reader's habit of seeking
to where it already is costs nothing.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    IncompleteReadError,
    NoCredentialsError,
    ResponseStreamingError,
)
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from bagverify.sources.errors import (
    AccessDenied,
    CredentialsRejected,
    NotFound,
    ObjectArchived,
    ObjectChanged,
    RangeNotHonoured,
    SourceError,
    SourceUnavailable,
)
from bagverify.sources.location import S3Location, quote_etag
from bagverify.sources.read_ahead import (
    HEDGES_PER_PART,
    Abandoned,
    Buffer,
    HedgePolicy,
    Part,
    ReadAhead,
    Slot,
    Transfer,
    default_depth,
    timed,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MiB
# The tail GET doubles as the first part: small bags are read in this one request,
# and for large ones it holds the central directory and the tag manifests that
# zippers write last.
DEFAULT_TAIL_SIZE = 8 * MiB
# Body reads that die mid-stream are resumed this many times per part before giving up.
MAX_BODY_RESUMES = 5
# A body is read in chunks of this size: the progress a hedge starts from moves on per chunk (a part
# trickling at 256 KiB/s reaches the next 256 KiB each second; at 1 MiB it would show nothing for
# 4 s); 32 reads per 8 MiB part instead of 8 move the same bytes.
BODY_CHUNK = 256 * 1024

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
# An answer that is not what was asked for is asked for once more, then is an error.
RANGE_ATTEMPTS = 2
# What S3 answers when the credentials themselves are refused: expired or revoked (a session token
# from an assumed role that ran out mid-run), or an access key it does not know.
_CREDENTIAL_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "InvalidToken", "TokenRefreshRequired", "InvalidAccessKeyId"}
)
_BODY_ERRORS = (ResponseStreamingError, IncompleteReadError, Urllib3HTTPError, ConnectionError)


class S3RangedFile(io.RawIOBase):
    """Seekable read-only view of one S3 object version, read by large ranged GETs."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        key: str,
        version_id: str | None = None,
        *,
        etag: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        tail_size: int = DEFAULT_TAIL_SIZE,
        read_ahead: int | None = None,
        read_ahead_end: int | None = None,
        first_read: int | None = None,
        hedging: HedgePolicy | None = None,
    ) -> None:
        """`read_ahead`: parts fetched in parallel ahead of a sequential reader (0: none; None: default).

        `read_ahead_end`: nothing at or past this offset is fetched ahead of the reader (a shard of
        a distributed verification reads only its own byte range; the next shard reads the rest).

        `first_read`: where the caller will start reading sequentially after the tail (0 for a whole
        ZIP, its first member): the part there is requested together with the tail.

        `etag`: the ETag the caller expects (quoted or not); without `version_id`, every GET from
        the first is made `IfMatch` on it.

        `hedging`: when a slow part is asked for again (None: `HedgePolicy.from_environment()`, the
        defaults unless BAGVERIFY_HEDGE=off).
        """
        super().__init__()
        self._client = client
        self.bucket = bucket
        self.key = key
        self.name = f"s3://{bucket}/{key}"
        self._part_size = part_size
        self._depth = default_depth(part_size) if read_ahead is None else read_ahead
        self._read_ahead_end = read_ahead_end
        self._first_read = first_read
        self._executor: ThreadPoolExecutor | None = None
        self._hedging = hedging if hedging is not None else HedgePolicy.from_environment()
        self._hedge_executor: ThreadPoolExecutor | None = None
        self._tail_executor: ThreadPoolExecutor | None = None  # the tail GET and its hedge
        self._read_ahead: ReadAhead | None = None
        self._counter_lock = threading.Lock()
        self._spare_buffers: list[bytearray] = []
        self._position = 0
        self.get_requests = 0
        self.hedged_requests = 0  # of get_requests: GETs that hedged a slow part
        self._hedges_used_before = 0  # by runs already closed (`hedges_used`)
        self.bytes_received = 0
        self.version_id: str | None = version_id
        self.etag: str | None = None
        self.size = 0
        # The ETag the caller expects, quoted as S3 answers it, if it named one.
        self.expected_etag = quote_etag(etag) if etag else None
        self._pin: dict[str, str] = {}
        if version_id:
            self._pin = {"VersionId": version_id}
        elif self.expected_etag:
            self._pin = {"IfMatch": self.expected_etag}
        self._tail = self._open_tail(tail_size)
        self._ahead = Part(0, b"")

    @classmethod
    def open(cls, client: S3Client, location: S3Location, **options: Any) -> S3RangedFile:
        """The object `location` names, pinned as it says (version, else the ETag it expects): the one
        way the engine opens an S3 object. `options` are the constructor's (part and tail sizes,
        read-ahead, where the reader starts)."""
        return cls(client, location.bucket, location.key, location.version_id, etag=location.etag, **options)

    @property
    def hedges_used(self) -> int:
        """Parts served by their hedge rather than their first GET."""
        current = self._read_ahead.hedges_used if self._read_ahead is not None else 0
        return self._hedges_used_before + current

    @property
    def object_info(self) -> dict[str, Any]:
        """The verdict's `object`: exactly what is read (bucket, key, version id, ETag, size)."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "etag": self.etag,
            "size": self.size,
        }

    # -- io.RawIOBase -------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # Only the position moves; no request is made until the next read, so
        # zipfile's seek-before-every-read costs nothing.
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._position + offset
        elif whence == io.SEEK_END:
            target = self.size + offset
        else:
            raise ValueError(f"invalid whence: {whence}")
        if target < 0:
            raise OSError(22, f"negative seek position {target}")
        self._position = target
        return target

    def read(self, size: int = -1) -> bytes:
        # Most reads (a local header, a small member's data) lie inside the window being read:
        # one slice copied out, instead of RawIOBase.read's buffer, readinto and copy again
        # (a bag of 20,000 small files makes 40,000 of them).
        position = self._position
        for window in (self._ahead, self._tail):
            start = window.start
            if size >= 0 and start <= position and position + size <= start + len(window.data):
                self._position = position + size
                return bytes(window.data[position - start : position - start + size])
        return super().read(size) or b""

    def readinto(self, buffer: Any) -> int:
        # Fill the whole request (unless at EOF): zipfile treats a short read as a
        # truncated archive, as it would from a buffered file.
        out = memoryview(buffer).cast("B")
        wanted = min(len(out), max(0, self.size - self._position))
        done = 0
        while done < wanted:
            window = self._window_at(self._position, wanted - done)
            offset = self._position - window.start
            take = min(wanted - done, window.end - self._position)
            out[done : done + take] = memoryview(window.data)[offset : offset + take]
            done += take
            self._position += take
        return done

    # -- windows ------------------------------------------------------------

    def _window_at(self, position: int, wanted: int) -> Part:
        for window in (self._ahead, self._tail):
            if window.holds(position):
                return window
        if self._read_ahead is not None and (part := self._read_ahead.take(position)):
            self._move_ahead(part)
            return part
        # Not ahead of the reader: a new sequential run starts here. Everything up to the
        # tail (already in memory, never fetched twice) is read ahead in parts.
        end = self._tail.start if position < self._tail.start else self.size
        if self._read_ahead_end is not None and position < self._read_ahead_end:
            end = min(end, self._read_ahead_end)
        if self._depth == 0 or wanted > self._part_size:
            stop = min(end, position + max(self._part_size, wanted))
            self._move_ahead(Part(position, self._fetch(position, stop)))
            return self._ahead
        self._start_run(position, end)
        assert self._read_ahead is not None
        part = self._read_ahead.take(position)
        assert part is not None  # the run starts at `position`
        self._move_ahead(part)
        return part

    def _start_run(self, position: int, end: int, *, speculative: bool = False) -> None:
        """A new sequential run of parts from `position` up to `end`, replacing any run before it."""
        if self._read_ahead is not None:
            self._read_ahead.close()
            self._hedges_used_before += self._read_ahead.hedges_used
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._depth, thread_name_prefix="s3-read-ahead")
        if self._hedge_executor is None and self._hedging.enabled:
            # Hedges get threads of their own: on the read-ahead's, a hedge would queue behind the
            # very parts it is meant to overtake. Threads start only when a hedge is sent.
            self._hedge_executor = ThreadPoolExecutor(
                self._hedging.max_in_flight, thread_name_prefix="s3-read-ahead-hedge"
            )
        self._read_ahead = ReadAhead(
            self._fill,
            position,
            end,
            part_size=self._part_size,
            depth=self._depth,
            executor=self._executor,
            speculative=speculative,
            hedging=self._hedging,
            hedge_executor=self._hedge_executor,
        )

    def _move_ahead(self, part: Part) -> None:
        """Make `part` the window being read; the previous one's buffer goes back to the pool.

        Reusing part buffers keeps memory flat: a fresh 8 MiB allocation per part makes glibc
        raise its mmap threshold and keep freed parts in per-thread arenas (measured: 236 MiB
        peak RSS with 8 parts in flight, against 157 MiB when they are returned at once).
        Nothing keeps a reference into the old part: `readinto` copies out of it.
        """
        previous, self._ahead = self._ahead, part
        buffer = previous.data.obj if isinstance(previous.data, memoryview) else None
        if isinstance(buffer, bytearray) and len(buffer) == self._part_size:
            with self._counter_lock:
                if len(self._spare_buffers) <= self._depth:
                    self._spare_buffers.append(buffer)

    def _part_buffer(self, length: int) -> memoryview:
        """A buffer for one part: a spare one when there is one, else a new one."""
        if length > self._part_size:
            return memoryview(bytearray(length))
        with self._counter_lock:
            buffer = self._spare_buffers.pop() if self._spare_buffers else None
        return memoryview(buffer if buffer is not None else bytearray(self._part_size))[:length]

    def close(self) -> None:
        if self._read_ahead is not None:
            self._read_ahead.close()
        for executor in (self._executor, self._hedge_executor, self._tail_executor):
            if executor is not None:  # quick: every GET still running was abandoned above
                executor.shutdown(wait=True, cancel_futures=True)
        self._executor = self._hedge_executor = self._tail_executor = None
        super().close()

    def _open_tail(self, tail_size: int) -> Part:
        sent = time.monotonic()
        try:
            response = self._get(f"bytes=-{tail_size}", lambda answer: _tail_mismatch(answer, tail_size))
        except ObjectChanged as error:
            # A 412 on the first GET: only with an expected ETag, which the object no longer has.
            raise self._replaced(error.code) from error
        except SourceError as error:
            if error.code == "InvalidRange":  # S3 answers 416 to any range on an empty object
                return Part(0, b"")
            raise
        seen_etag = response.get("ETag")
        if self._pin.get("IfMatch") and seen_etag and quote_etag(seen_etag) != self.expected_etag:
            raise self._replaced("")  # a server that ignored IfMatch
        match = _CONTENT_RANGE.fullmatch(response.get("ContentRange") or "")
        if match:
            start, self.size = int(match.group(1)), int(match.group(3))
        else:  # a 200 with the whole object, no larger than the tail asked for (_tail_mismatch)
            start, self.size = 0, int(response["ContentLength"])
        self.etag = response.get("ETag")
        seen_version = response.get("VersionId")
        if self.version_id is None and seen_version and seen_version != "null":
            self.version_id = seen_version
        # Pin every later GET to exactly this object (see module docstring).
        if self.version_id:
            self._pin = {"VersionId": self.version_id}
        elif self.etag:
            self._pin = {"IfMatch": self.etag}
        if self._first_read is not None and self._first_read < start and self._depth > 0:
            # The caller will read on from `first_read` once it has parsed the directory in this
            # tail: that part is asked for now, while this body is still arriving, so its first
            # byte (tens of ms on S3) is not waited for after planning. Pinned like every GET.
            end = start if self._read_ahead_end is None else min(start, self._read_ahead_end)
            self._start_run(self._first_read, end, speculative=True)
        try:
            data = self._read_tail_body(response, start, sent)
        except BaseException:
            self.close()  # no caller will: the part asked for above must not outlive this failure
            raise
        return Part(start, data)

    def _read_tail_body(self, response: Any, start: int, sent: float) -> memoryview:
        """The tail's body, hedged if it comes slowly, as `ReadAhead`'s parts are (`Slot`).

        The tail GET is the first, so it has no peers to be compared with: `HedgePolicy` then holds
        it to its absolute bar (HEDGE_WITHOUT_PEERS_SECONDS). A hedge asks for the rest from the byte
        reached, on another connection, pinned as every later GET (the pin was set from this GET's
        answer). The first GET's body is read on a thread of its own meanwhile, so that both can be
        watched from here; once in, its time is the policy's first sample.
        """
        buffer = memoryview(bytearray(self.size - start))
        policy = self._hedging
        if not policy.enabled or self.size - start <= 0:
            return self._read_body(response, start, self.size, buffer)
        policy.plan(1)  # the tail is a part of the budget's base too
        first = Transfer(start, start, self.size)
        first.buffer, first.started = buffer, sent

        def read_first(transfer: Transfer) -> memoryview:
            return self._read_body(response, start, self.size, buffer, transfer)

        # Shut down by `close`, with the read-ahead's: the GET that lost is abandoned and stops by
        # itself, and the reader need not wait for it here.
        self._tail_executor = executor = ThreadPoolExecutor(
            1 + HEDGES_PER_PART, thread_name_prefix="s3-read-ahead-tail"
        )
        try:
            tail = Slot(start, self.size, first, executor.submit(timed, read_first, first, policy))

            def submit(hedge: Transfer) -> Future[Buffer]:
                return executor.submit(timed, self._fill, hedge, policy)

            data, by_hedge = tail.settle(lambda: tail.hedge_if_slow(policy, submit, time.monotonic()))
        finally:
            executor.shutdown(wait=False)  # no more work: its threads end with their GETs
        self._hedges_used_before += by_hedge
        return memoryview(data)

    def _replaced(self, code: str) -> ObjectChanged:
        return ObjectChanged(
            f"{self.name}: the object was replaced after this event; the newer upload has its own event "
            f"(the event named ETag {self.expected_etag})",
            code=code,
        )

    def _fetch(self, start: int, end: int) -> memoryview:
        """Bytes [start, end) in one GET, resumed from the byte reached if the body drops."""
        return self._fill(Transfer(start, start, end))

    def _fill(self, transfer: Transfer) -> memoryview:
        """The buffer of the part [transfer.part_start, transfer.end), its bytes from transfer.start on
        filled by one GET (ReadAhead's fetch; for a hedge the reader fills in the bytes before)."""
        buffer = self._part_buffer(transfer.end - transfer.part_start)
        transfer.buffer = buffer
        start, end = transfer.start, transfer.end
        # A hedge is one attempt: if its answer is not the bytes asked for it is not asked for
        # again (the part's first GET is still on its way), and it is never used.
        attempts = 1 if transfer.hedge else RANGE_ATTEMPTS
        response = self._get_range(start, end, attempts=attempts, hedge=transfer.hedge)
        self._read_body(response, start, end, buffer[start - transfer.part_start :], transfer)
        return buffer

    def _read_body(
        self, response: Any, start: int, end: int, into: memoryview, transfer: Transfer | None = None
    ) -> memoryview:
        # Filled in place: a part is held once, not once per chunk plus once joined.
        received = into
        filled = 0
        resumes = 0
        # A hedge is never resumed: a hedge that drops is dropped; its part's first GET goes on.
        max_resumes = 0 if transfer is not None and transfer.hedge else MAX_BODY_RESUMES
        while True:
            dropped: Exception | None = None
            if transfer is not None:
                transfer.attach(response["Body"])
            try:
                for chunk in response["Body"].iter_chunks(BODY_CHUNK):
                    take = min(len(chunk), len(received) - filled)
                    if take < len(chunk):  # Content-Length was checked: an endpoint that ignores its own
                        response["Body"].close()
                        raise RangeNotHonoured(
                            f"{self.name}: the endpoint sent more than the {end - start:,} bytes asked for "
                            f"(bytes {start}-{end - 1}); no verdict is given on bytes not asked for"
                        )
                    received[filled : filled + take] = chunk[:take]
                    filled += take
                    self._count(bytes_received=len(chunk))
                    if transfer is not None:
                        if transfer.first_chunk is None:
                            transfer.first_chunk = (time.monotonic(), filled)
                        transfer.filled = filled  # only after the bytes are in: a hedge starts here
                        if transfer.abandoned:
                            break
            except _BODY_ERRORS as error:
                dropped = error
            except OSError as error:  # the socket shut down under the read by `abandon`
                if transfer is None or not transfer.abandoned:
                    raise
                dropped = error
            if transfer is not None and transfer.abandoned:
                # Its twin won, or the run closed: close the body here, on the thread reading it, so
                # the connection (shut down by `abandon`) is dropped, not reused.
                with contextlib.suppress(Exception):
                    response["Body"].close()
                raise Abandoned(f"bytes {start}-{end - 1}")
            if filled >= end - start:
                return received
            if dropped is None:
                raise SourceUnavailable(
                    f"{self.name}: short body for bytes {start}-{end - 1}: got {filled} bytes"
                )
            resumes += 1
            if resumes > max_resumes:
                raise SourceUnavailable(
                    f"{self.name}: connection kept dropping while reading bytes {start}-{end - 1}: {dropped}"
                ) from dropped
            response = self._get_range(start + filled, end)

    def _count(self, *, requests: int = 0, hedged: int = 0, bytes_received: int = 0) -> None:
        # Parts are fetched on several threads at once.
        with self._counter_lock:
            self.get_requests += requests
            self.hedged_requests += hedged
            self.bytes_received += bytes_received

    def _get_range(self, start: int, end: int, *, attempts: int = RANGE_ATTEMPTS, hedge: bool = False) -> Any:
        """GET of bytes [start, end), checked to be exactly those bytes (`_part_mismatch`): a hedge's
        answer as every other's."""
        return self._get(
            f"bytes={start}-{end - 1}",
            lambda answer: _part_mismatch(answer, start, end, self.size),
            attempts=attempts,
            hedge=hedge,
        )

    def _get(
        self,
        byte_range: str,
        mismatch: Callable[[Any], str | None],
        *,
        attempts: int = RANGE_ATTEMPTS,
        hedge: bool = False,
    ) -> Any:
        """The answer to one ranged GET, once `mismatch` finds it is what was asked for.

        S3 answers a satisfiable range with exactly those bytes; a gateway, cache or S3-compatible
        store may not (a 200 with the whole object, a 206 of other bytes). Such an answer is closed
        unread (a 200 to a ranged GET may be the whole of a 500 GB object), asked for once more, and
        then is RangeNotHonoured: never bytes used as if they were the ones asked for.
        """
        seen = ""
        for _ in range(attempts):
            response = self._get_once(byte_range, hedge=hedge)
            wrong = mismatch(response)
            if wrong is None:
                return response
            seen = wrong
            with contextlib.suppress(Exception):  # closing drops the connection: the body is not read
                response["Body"].close()
        raise RangeNotHonoured(
            f"{self.name}: asked for {byte_range}, the endpoint answered {seen} "
            f"({attempts} time{'s' if attempts > 1 else ''}). "
            "It does not honour Range requests as S3 does (a gateway, cache or S3-compatible store in the "
            "way?); no verdict is given on bytes other than those asked for",
            code="RangeNotHonoured",
        )

    def _get_once(self, byte_range: str, *, hedge: bool = False) -> Any:
        self._count(requests=1, hedged=int(hedge))
        try:
            # A hedge is pinned exactly as the GET it duplicates: the same VersionId or IfMatch.
            response = self._client.get_object(
                Bucket=self.bucket,
                Key=self.key,
                Range=byte_range,
                **self._pin,  # type: ignore[arg-type]
            )
        except ClientError as error:
            failure = _source_error(error, self.name, bool(self.version_id))
            if isinstance(failure, NotFound) and self.size:
                # There at the first GET, gone at a later one. S3 answers a deleted key 404 NoSuchKey
                # even under IfMatch (not 412), and a deleted version NoSuchVersion.
                gone = f"{self.name} (version {self.version_id})" if self.version_id else self.name
                failure = NotFound(
                    f"{gone} was deleted while being read ({failure.code}); it cannot be verified",
                    code=failure.code,
                )
            raise failure from error
        except NoCredentialsError as error:
            raise CredentialsRejected(
                f"{self.name}: {error}; configure credentials and verify again"
            ) from error
        except BotoCoreError as error:
            raise SourceUnavailable(f"{self.name}: {error}") from error
        if self.etag is not None and response.get("ETag") not in (None, self.etag):
            # Belt and braces: a server that ignored IfMatch must still not mix objects.
            raise ObjectChanged(
                f"{self.name} changed while being read (ETag {self.etag} → {response['ETag']})"
            )
        return response


def _status(response: Any) -> int:
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _answered(response: Any) -> str:
    """The answer's status, Content-Range and Content-Length, for a message."""
    content_range = response.get("ContentRange")
    shown = f"Content-Range {content_range!r}" if content_range else "no Content-Range"
    return f"{_status(response)} with {shown} and Content-Length {response.get('ContentLength')}"


def _tail_mismatch(response: Any, tail_size: int) -> str | None:
    """None when `response` answers `Range: bytes=-tail_size`: 206 with the last min(tail_size, size)
    bytes, or a 200 with a whole object no larger than that (the same bytes); else what it holds."""
    length = response.get("ContentLength")
    match = _CONTENT_RANGE.fullmatch(response.get("ContentRange") or "")
    if match is None:
        if not response.get("ContentRange") and _status(response) == 200 and length is not None:
            if length <= tail_size:
                return None
            return f"200 with the whole object ({length:,} bytes) instead of its last {tail_size:,}"
        return _answered(response)
    first, last, total = (int(group) for group in match.groups())
    expected = min(tail_size, total)
    if _status(response) != 206 or last != total - 1 or last - first + 1 != expected or length != expected:
        return _answered(response)
    return None


def _part_mismatch(response: Any, start: int, end: int, size: int) -> str | None:
    """None when `response` holds exactly bytes [start, end) of the `size`-byte object; else what it holds."""
    length = response.get("ContentLength")
    content_range = response.get("ContentRange")
    if not content_range and _status(response) == 200:
        if start == 0 and end == size == length:
            return None  # the whole object, which is what was asked for
        return f"200 with {length:,} bytes, the Range ignored" if length is not None else _answered(response)
    match = _CONTENT_RANGE.fullmatch(content_range or "")
    if (
        match is None
        or _status(response) != 206
        or tuple(int(group) for group in match.groups()) != (start, end - 1, size)
        or length != end - start
    ):
        return _answered(response)
    return None


def _source_error(error: ClientError, name: str, versioned: bool) -> SourceError:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    message = str(error.response.get("Error", {}).get("Message", code))
    bad_version = code == "InvalidArgument" and "version" in message.lower()
    if versioned and (code == "NoSuchVersion" or bad_version):
        return NotFound(
            f"{name}: that version is gone: deleted after the event was sent, or never existed "
            f"({code}: {message})",
            code=code,
        )
    if code in ("NoSuchKey", "NoSuchVersion", "NoSuchBucket", "404") or status == 404:
        return NotFound(f"{name}: {code or 'not found'}: {message}", code=code)
    if code in _CREDENTIAL_CODES:
        return CredentialsRejected(
            f"{name}: S3 refused the credentials ({code}: {message}): they expired or were revoked while "
            "the bag was being read, or the key is unknown; renew them and verify again",
            code=code,
        )
    if code == "InvalidObjectState":
        # 403 too, but no permission helps: the bytes are in Glacier Flexible Retrieval or Deep
        # Archive (or an Intelligent-Tiering archive tier) until a restore brings a copy back.
        details: dict[str, Any] = dict(error.response.get("Error", {}))
        where = details.get("StorageClass") or "an archive storage class"
        tier = f", access tier {details['AccessTier']}" if details.get("AccessTier") else ""
        return ObjectArchived(
            f"{name} is archived ({where}{tier}): S3 serves no bytes of it until it is restored "
            "(RestoreObject); verify it again once the restored copy is available",
            code=code,
        )
    if code in ("AccessDenied", "403") or status == 403:
        permission = "s3:GetObjectVersion" if versioned else "s3:GetObject"
        if "kms" in message.lower():
            # SSE-KMS: S3 itself allowed the read, the object's KMS key did not (S3 says which).
            permission = f"kms:Decrypt on the object's KMS key ({message})"
        return AccessDenied(f"{name}: access denied; the verifier needs {permission} on it", code=code)
    if code == "PreconditionFailed" or status == 412:
        return ObjectChanged(f"{name} was overwritten while being read; verify the new version", code=code)
    # botocore has already retried throttling and 5xx with backoff (standard mode): say how often.
    retries = int(error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
    after = f" (still failing after {retries + 1} attempts)" if retries else ""
    return SourceUnavailable(f"{name}: {code or status}: {message}{after}", code=code)
