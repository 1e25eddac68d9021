"""A local fake of the Compliance Logs Platform: an API host and a signed-URL storage host."""

from __future__ import annotations

import errno
import functools
import hashlib
import hmac
import http
import math
import os
import re
import ssl
import struct
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from gzip import compress as gzip_compress
from gzip import decompress as gzip_decompress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import orjson

from tap_openai_compliance.feeds import KNOWN_FEEDS, Feed, Scope

FaultTarget = Literal["list", "download", "storage"]
ContentEncoding = Literal["stored", "transit", None]
PageOrder = Literal["sorted", "reversed"]
# The key the fake accepts unless told otherwise; meltano.yml's sandbox environment sends it.
DEMO_API_KEY = "sandbox-key"
API_PREFIX = "/v1/compliance/"
MAX_LIMIT = 100
CHUNK_SIZE = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
_TIME_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|z|[+-]\d{2}:\d{2})?"
)


def format_timestamp(moment: datetime) -> str:
    """``moment`` as the API writes it: UTC, microseconds, ``Z``."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC, a naive one being taken as UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_timestamp(text: str) -> datetime | None:
    """An ISO 8601 instant with a zone, or None when ``text`` is not one."""
    match = _TIME_RE.fullmatch(text)
    if match is None or match[4] is None:
        return None
    date, clock, fraction, zone = match.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    # Spelled out rather than fromisoformat(text): Python 3.10 takes neither Z nor 1-5 digits.
    try:
        return datetime.fromisoformat(f"{date}T{clock}.{(fraction or '').ljust(6, '0')}{zone}")
    except ValueError:
        return None


@dataclass(frozen=True)
class Fault:
    """One misbehaviour to inject into the next matching request."""

    kind: Literal[
        "status",
        "drop",
        "delay",
        "corrupt",
        "truncate",
        "expire_link",
        "echo_auth",
        "oversize",
        "gzip_bomb",
        "flood",
        "echo_url",
        "no_length",
        "trickle",
    ]
    code: int = 0
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    # How many bytes an oversize, gzip_bomb or flood fault adds, expands to or sends.
    size: int = 0
    content_type: str = ""
    # A no_length fault sends only the first half of the body.
    half_body: bool = False
    # A status fault's reason phrase, for the status line (the code's usual one when empty).
    reason: str = ""
    # An echo_url fault quotes the signed URL in its reason phrase too.
    echo_in_reason: bool = False

    @classmethod
    def status(
        cls,
        code: int,
        body: bytes | str | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        reason: str = "",
    ) -> Fault:
        """Answer ``code`` with ``body`` (an OpenAI-style error by default) and ``headers``,
        the status line saying ``reason`` when given (``HTTP/1.1 401 <reason>``)."""
        if body is None:
            body = _error_body(http.HTTPStatus(code).phrase, "server_error")
        if isinstance(body, Mapping):
            body = orjson.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        return cls("status", code=code, body=body, headers=dict(headers or {}), reason=reason)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering."""
        return cls("drop")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Sleep ``seconds``, then answer normally."""
        return cls("delay", seconds=seconds)

    @classmethod
    def corrupt(cls) -> Fault:
        """Storage only: serve the body with some bytes flipped, same length."""
        return cls("corrupt")

    @classmethod
    def truncate(cls) -> Fault:
        """Storage only: announce the full length, send half the body, close."""
        return cls("truncate")

    @classmethod
    def expire_link(cls) -> Fault:
        """Download only: hand out a signed URL that has already expired."""
        return cls("expire_link")

    @classmethod
    def echo_auth(cls) -> Fault:
        """Answer 400 with the request's Authorization header in the body."""
        return cls("echo_auth")

    @classmethod
    def oversize(cls, extra_bytes: int) -> Fault:
        """Storage only: serve the body, then ``extra_bytes`` of ``x`` (no newline) after it.

        Content-Length announces the whole: the file's size plus ``extra_bytes``. The filler
        is streamed, so ``extra_bytes`` may be gigabytes.
        """
        return cls("oversize", size=_not_negative(extra_bytes, "extra_bytes"))

    @classmethod
    def gzip_bomb(cls, decompressed_bytes: int) -> Fault:
        """Storage only: answer 200 with ``Content-Encoding: gzip`` and a gzip bomb.

        The stream inflates to ``decompressed_bytes`` of ``A``: one line, no newline. It is
        about a thousand times smaller (2 GiB in 2 MB), Content-Length giving its exact size;
        the fake streams it without ever holding the inflated bytes.
        """
        return cls("gzip_bomb", size=_not_negative(decompressed_bytes, "decompressed_bytes"))

    @classmethod
    def flood(cls, size: int, status: int = 200, content_type: str = "application/json") -> Fault:
        """Answer ``status`` with ``size`` bytes of ``x``: a listing or an error body of 1 GiB.

        Content-Length announces ``size``; the body is streamed, never built in memory.
        """
        return cls(
            "flood", code=status, size=_not_negative(size, "size"), content_type=content_type
        )

    @classmethod
    def echo_url(cls, status: int = 403, *, in_reason: bool = False) -> Fault:
        """Storage only: answer ``status`` with an S3-style XML error echoing the signed URL.

        The request's path and query (the URL's credentials) come back three times: as sent
        (not even XML-escaped), percent-encoded once and percent-encoded twice, as a careless
        storage host or proxy might quote them. With ``in_reason``, the status line's reason
        phrase quotes them too.
        """
        return cls("echo_url", code=status, echo_in_reason=in_reason)

    @classmethod
    def trickle(cls, bytes_per_second: float) -> Fault:
        """Storage only: serve the body a byte at a time, ``bytes_per_second`` a second."""
        return cls("trickle", seconds=1 / bytes_per_second)

    @classmethod
    def no_length(cls, *, truncate: bool = False) -> Fault:
        """Storage only: serve the body without Content-Length, ending it by closing.

        No Transfer-Encoding either: the body is delimited by the end of the connection, as
        HTTP/1.1 allows. With ``truncate``, only half the body is sent before closing, and
        the client cannot tell.
        """
        return cls("no_length", half_body=truncate)


_FAULTS_ONLY_FOR: dict[str, FaultTarget] = {
    "corrupt": "storage",
    "truncate": "storage",
    "expire_link": "download",
    "oversize": "storage",
    "gzip_bomb": "storage",
    "echo_url": "storage",
    "no_length": "storage",
    "trickle": "storage",
}
# What oversize and flood faults pad with: no newline, so a line reader never gets a line.
_FILLER = b"x" * CHUNK_SIZE
# RFC 1952: magic, deflate, no flags, mtime 0, no extra flags, OS unknown.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _not_negative(value: int, name: str) -> int:
    """``value``, refused when it is a negative size."""
    if value < 0:
        raise ValueError(f"{name} must not be negative: {value}")
    return value


@dataclass(frozen=True)
class RequestRecord:
    """One request either host received, with the status it was answered (0: none) and when."""

    host: Literal["api", "storage"]
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int
    answered_at: float


@dataclass(frozen=True)
class LogFile:
    """One log file: its listing entry and the bytes the storage host serves."""

    id: str
    scope: Scope
    principal_id: str
    event_type: str
    end_time: datetime
    file_name: str
    size: int
    sha256: str
    content_type: str
    body: bytes | Path
    # How the storage host sends the body: as stored; as a gzip object it labels
    # Content-Encoding: gzip (listed as compressed, as object stores serve them); or compressed
    # on the way (listed as the plain bytes, Content-Encoding: gzip on the answer).
    content_encoding: ContentEncoding = None

    def listing_entry(self, *, checksums: bool = True) -> dict[str, Any]:
        """The file as the listing shows it (without size and sha256 unless ``checksums``)."""
        entry: dict[str, Any] = {
            "id": self.id,
            "event_type": self.event_type,
            "end_time": format_timestamp(self.end_time),
            "file_name": self.file_name,
        }
        if checksums:
            entry |= {"file_size": self.size, "file_sha256": self.sha256}
        return entry

    def served_size(self) -> int:
        """How many bytes the storage host sends."""
        if self.content_encoding == "transit":
            return len(self._compressed_in_transit())
        return self.size

    def _compressed_in_transit(self) -> bytes:
        """The body as a storage host compressing it on the way sends it."""
        assert isinstance(self.body, bytes), "only a bytes body is compressed in transit"
        return gzip_compress(self.body, mtime=0)

    def chunks(self) -> Iterator[bytes]:
        """The served bytes, piece by piece (Path bodies are never read whole)."""
        if isinstance(self.body, bytes):
            body = (
                self._compressed_in_transit() if self.content_encoding == "transit" else self.body
            )
            for start in range(0, len(body), CHUNK_SIZE):
                yield body[start : start + CHUNK_SIZE]
            return
        with self.body.open("rb") as stream:
            while chunk := stream.read(CHUNK_SIZE):
                yield chunk


@dataclass(frozen=True)
class _Route:
    """An API path: a listing, or one file's download when ``file_id`` is set."""

    scope: Scope
    principal_id: str
    file_id: str | None

    @property
    def target(self) -> FaultTarget:
        """The fault queue this request draws from."""
        return "list" if self.file_id is None else "download"


@dataclass(frozen=True)
class _ListingQuery:
    """The validated query string of a listing call."""

    event_type: str
    after: datetime
    before: datetime | None
    limit: int


class _TokenBucket:
    """Allows ``rate`` requests per second, in bursts of up to ``rate``."""

    def __init__(self, rate: float) -> None:
        """A full bucket."""
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """Take a token: 0.0 when granted, else the seconds until one is available."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0.0
            return (1.0 - self.tokens) / self.rate


class _FixedWindow:
    """Allows ``calls`` requests per window of ``seconds``, the first window opening at the
    first request; a refused request is told to retry when the window ends."""

    def __init__(self, calls: int, seconds: float) -> None:
        self.calls = calls
        self.seconds = seconds
        self.opened: float | None = None
        self.used = 0
        self.lock = threading.Lock()

    def take(self) -> float:
        """Count a request: 0.0 when allowed, else the seconds until the window ends."""
        with self.lock:
            now = time.monotonic()
            if self.opened is None or now >= self.opened + self.seconds:
                self.opened, self.used = now, 0
            if self.used < self.calls:
                self.used += 1
                return 0.0
            return self.opened + self.seconds - now


class FakeComplianceAPI:
    """The API host and the storage host, both in daemon threads on loopback addresses."""

    def __init__(
        self,
        *,
        api_key: str = DEMO_API_KEY,
        unscoped_keys: set[str] | frozenset[str] = frozenset(),
        readable_types: set[str] | frozenset[str] | None = None,
        after_exclusive: bool = True,
        latency: float = 0.0,
        storage_latency: float = 0.0,
        link_ttl: float = 300.0,
        rate_limit: float | None = None,
        downloads_per_window: tuple[int, float] | None = None,
        storage_host: str = "127.0.0.2",
        api_port: int = 0,
        storage_port: int = 0,
        page_order: PageOrder = "sorted",
        listing_checksums: bool = True,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        """Configure the fake; ``start()`` (or ``with``) makes it listen.

        ``page_order="reversed"`` lists each page's files (the same files as "sorted") latest
        first; ``last_end_time`` is still the latest end_time on the page.
        ``listing_checksums=False`` leaves ``file_size`` and ``file_sha256`` out of listings.
        ``readable_types`` limits ``api_key`` to those event types (a key with per-type
        scopes): a listing or download of another type is refused with 403.
        ``after_exclusive`` lists files ending strictly after ``after``, as the reference
        documents; False lists a file ending exactly there too, as connectors report.
        ``rate_limit`` allows that many API calls a second (a token bucket);
        ``downloads_per_window=(calls, seconds)`` allows that many download calls per fixed
        window, as the download endpoint's "50 requests per minute" reads.
        ``tls=(certificate, key)`` serves both hosts over https with that certificate.
        """
        if page_order not in ("sorted", "reversed"):
            raise ValueError(f"unknown page order {page_order!r}")
        self.page_order = page_order
        self.listing_checksums = listing_checksums
        self.api_key = api_key
        self.unscoped_keys = frozenset(unscoped_keys)
        self.readable_types = None if readable_types is None else frozenset(readable_types)
        self.after_exclusive = after_exclusive
        self.latency = latency
        self.storage_latency = storage_latency
        self.link_ttl = link_ttl
        self._bucket = _TokenBucket(rate_limit) if rate_limit else None
        self._download_window = (
            _FixedWindow(*downloads_per_window) if downloads_per_window else None
        )
        self._storage_host = storage_host
        self._tls = tls
        self._scheme = "https" if tls else "http"
        self._api_port = api_port
        self._storage_port = storage_port
        self._secret = os.urandom(32)
        self._lock = threading.Lock()
        self._files: dict[str, LogFile] = {}
        self._principals: set[tuple[Scope, str]] = set()
        self._faults: dict[FaultTarget, list[tuple[Fault, str | None]]] = {
            "list": [],
            "download": [],
            "storage": [],
        }
        self._requests: list[RequestRecord] = []
        self._servers: list[_Server] = []
        self._storage_netloc = ""
        # The stateful endpoints (users, GPTs, projects...): sandbox/stateful.py.
        from tap_openai_compliance.sandbox.stateful import StatefulAPI

        self.stateful = StatefulAPI(self)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeComplianceAPI:
        """Bind both hosts and serve them in daemon threads."""
        if self._servers:
            return self
        api = _Server(("127.0.0.1", self._api_port), _ApiHandler, self)
        storage, advertised = self._bind_storage()
        self._servers = [api, storage]
        self._storage_netloc = f"{advertised}:{storage.server_address[1]}"
        if self._tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self._tls)
            for server in self._servers:
                server.socket = context.wrap_socket(server.socket, server_side=True)
        for server in self._servers:
            # A short poll interval keeps stop() quick: it waits for the loop to notice.
            threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and release both ports."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []

    def __enter__(self) -> FakeComplianceAPI:
        """Start on entering a ``with`` block."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop on leaving the ``with`` block."""
        self.stop()

    def _bind_storage(self) -> tuple[_Server, str]:
        """The storage server and the host name its URLs carry."""
        try:
            server = _Server((self._storage_host, self._storage_port), _StorageHandler, self)
            return server, self._storage_host
        except OSError as error:
            if self._storage_host != "127.0.0.2" or error.errno != errno.EADDRNOTAVAIL:
                raise
        # macOS has no 127.0.0.2; "localhost" is still a different host to an HTTP client.
        return _Server(("127.0.0.1", self._storage_port), _StorageHandler, self), "localhost"

    @property
    def api_url(self) -> str:
        """The base URL the tap is configured with."""
        if not self._servers:
            raise RuntimeError("the fake API is not started")
        return f"{self._scheme}://127.0.0.1:{self._servers[0].server_address[1]}/v1/compliance"

    @property
    def storage_url(self) -> str:
        """The storage host's origin, where signed URLs point."""
        if not self._servers:
            raise RuntimeError("the fake API is not started")
        return f"{self._scheme}://{self._storage_netloc}"

    # -- data --------------------------------------------------------------------------------

    def add_principal(self, scope: Scope | str, principal_id: str) -> None:
        """Make a workspace or organization exist, with or without files."""
        with self._lock:
            self._principals.add((Scope(scope), principal_id))

    def add_log_file(
        self,
        scope: Scope | str,
        principal_id: str,
        event_type: str,
        body: bytes | Sequence[Mapping[str, Any]] | Path,
        end_time: datetime | str,
        *,
        file_id: str | None = None,
        gzip: bool = False,
        content_encoding: ContentEncoding = None,
    ) -> str:
        """Add a log file (registering its principal) and return its id.

        ``content_encoding="stored"`` (with ``gzip``) serves the compressed object labelled
        ``Content-Encoding: gzip``, its listing giving the compressed bytes' size and SHA-256;
        ``"transit"`` compresses a plain body on the way, its listing giving the plain bytes'.
        """
        log_file = _make_log_file(
            id=file_id or f"eclf_{uuid.uuid4().hex}",
            scope=Scope(scope),
            principal_id=principal_id,
            event_type=event_type,
            end_time=_to_datetime(end_time),
            body=_served_body(body, compress=gzip),
            content_encoding=content_encoding,
        )
        with self._lock:
            if log_file.id in self._files:
                raise ValueError(f"duplicate file id {log_file.id}")
            self._files[log_file.id] = log_file
            self._principals.add((log_file.scope, principal_id))
        return log_file.id

    def log_files(self) -> list[LogFile]:
        """Every file added so far, in insertion order."""
        with self._lock:
            return list(self._files.values())

    def log_file(self, file_id: str) -> LogFile:
        """One file by id."""
        with self._lock:
            return self._files[file_id]

    def events_of(self, file_id: str) -> list[dict[str, Any]]:
        """The events a file holds, decoded from the bytes the storage host serves."""
        body = self.log_file(file_id).body
        raw = body if isinstance(body, bytes) else body.read_bytes()
        if raw.startswith(GZIP_MAGIC):
            raw = gzip_decompress(raw)
        return [orjson.loads(line) for line in raw.splitlines() if line.strip()]

    # -- faults ------------------------------------------------------------------------------

    def inject(
        self, kind: FaultTarget, fault: Fault, times: int = 1, *, file_id: str | None = None
    ) -> None:
        """Queue ``fault`` for the next ``times`` requests of ``kind`` (for ``file_id`` only)."""
        if kind not in self._faults:
            raise ValueError(f"unknown fault target {kind!r}")
        only_for = _FAULTS_ONLY_FOR.get(fault.kind)
        if only_for not in (None, kind):
            raise ValueError(f"a {fault.kind} fault applies to {only_for} requests only")
        with self._lock:
            self._faults[kind].extend([(fault, file_id)] * times)

    def pending_faults(self) -> int:
        """How many injected faults no request has consumed yet."""
        with self._lock:
            return sum(len(queue) for queue in self._faults.values())

    def _take_fault(self, kind: FaultTarget, file_id: str | None) -> Fault | None:
        """The oldest queued fault of ``kind`` that matches ``file_id``, removed from the queue."""
        with self._lock:
            queue = self._faults[kind]
            for index, (fault, only_file) in enumerate(queue):
                if only_file is None or only_file == file_id:
                    del queue[index]
                    return fault
        return None

    # -- request log -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self._requests.clear()

    def listing_calls(self) -> list[RequestRecord]:
        """The API's listing requests."""
        return [r for r in self.requests if r.host == "api" and r.path.endswith("/logs")]

    def download_calls(self) -> list[RequestRecord]:
        """The API's download requests (the ones answered with a redirect)."""
        return [r for r in self.requests if r.host == "api" and "/logs/" in r.path]

    def storage_calls(self) -> list[RequestRecord]:
        """The storage host's requests."""
        return [r for r in self.requests if r.host == "storage"]

    def _record(self, record: RequestRecord) -> None:
        """Append to the request log."""
        with self._lock:
            self._requests.append(record)

    # -- what the handlers ask ---------------------------------------------------------------

    def _rate_limit_wait(self, route: _Route) -> float:
        """0.0 when the request may proceed, else the seconds until it may."""
        wait = self._bucket.take() if self._bucket else 0.0
        if not wait and route.file_id is not None and self._download_window is not None:
            wait = self._download_window.take()
        return wait

    def _has_principal(self, scope: Scope, principal_id: str) -> bool:
        """Whether that workspace or organization exists."""
        with self._lock:
            return (scope, principal_id) in self._principals

    def _find_file(self, file_id: str, route: _Route | None = None) -> LogFile | None:
        """A file by id, when it exists (under ``route``'s principal when given)."""
        with self._lock:
            log_file = self._files.get(file_id)
        if log_file is None or route is None:
            return log_file
        if (log_file.scope, log_file.principal_id) != (route.scope, route.principal_id):
            return None
        return log_file

    def _page(self, route: _Route, query: _ListingQuery) -> tuple[list[LogFile], bool]:
        """The files on one listing page, and whether more follow."""
        with self._lock:
            candidates = [
                f
                for f in self._files.values()
                if (f.scope, f.principal_id, f.event_type)
                == (route.scope, route.principal_id, query.event_type)
                and self._is_after(f.end_time, query.after)
                and (query.before is None or f.end_time < query.before)
            ]
        # sorted() is stable: files sharing an end_time keep their insertion order.
        candidates.sort(key=lambda f: f.end_time)
        page = candidates[: query.limit]
        if self.page_order == "reversed":
            page.reverse()
        return page, len(candidates) > query.limit

    def _is_after(self, end_time: datetime, after: datetime) -> bool:
        """Whether a file ending at ``end_time`` is listed for ``after``."""
        return end_time > after if self.after_exclusive else end_time >= after

    def _signed_url(self, file_id: str, expires: int) -> str:
        """A storage URL carrying its own credentials, S3 style."""
        query = urlencode({"expires": expires, "signature": self._signature(file_id, expires)})
        return f"{self.storage_url}/storage/{quote(file_id)}?{query}"

    def _signature(self, file_id: str, expires: int | str) -> str:
        """The HMAC that proves a storage URL came from this API."""
        message = f"{file_id}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def encode_jsonl(events: Sequence[Mapping[str, Any]]) -> bytes:
    """Events as JSON Lines: compact, one per line, each ending with a newline."""
    return b"".join(orjson.dumps(event) + b"\n" for event in events)


def _to_datetime(value: datetime | str) -> datetime:
    """An end time given as a datetime or an ISO string, in UTC."""
    if isinstance(value, datetime):
        return as_utc(value)
    parsed = parse_timestamp(value)
    if parsed is None:
        raise ValueError(f"not an ISO 8601 instant with a zone: {value!r}")
    return as_utc(parsed)


def _served_body(
    body: bytes | Sequence[Mapping[str, Any]] | Path, *, compress: bool
) -> bytes | Path:
    """What the storage host serves for an ``add_log_file`` body."""
    if isinstance(body, Path):
        if compress:
            raise ValueError("gzip=True needs a bytes or list body; compress a Path body yourself")
        return body
    raw = body if isinstance(body, bytes) else encode_jsonl(body)
    # mtime=0 keeps the bytes, and so the sha256, reproducible.
    return gzip_compress(raw, mtime=0) if compress else raw


def _make_log_file(
    *,
    id: str,
    scope: Scope,
    principal_id: str,
    event_type: str,
    end_time: datetime,
    body: bytes | Path,
    content_encoding: ContentEncoding = None,
) -> LogFile:
    """A LogFile with its size, digest, name and content type worked out."""
    size, digest, head = _measure(body)
    gzipped = head.startswith(GZIP_MAGIC)
    stamp = end_time.strftime("%Y%m%dT%H%M%S%fZ")
    return LogFile(
        id=id,
        scope=scope,
        principal_id=principal_id,
        event_type=event_type,
        end_time=end_time,
        file_name=f"{event_type}-{stamp}-{id}.jsonl" + (".gz" if gzipped else ""),
        size=size,
        sha256=digest,
        content_type="application/octet-stream" if gzipped else "application/jsonl",
        body=body,
        content_encoding=content_encoding,
    )


def _measure(body: bytes | Path) -> tuple[int, str, bytes]:
    """Size, sha256 and first bytes of a body, reading a Path in chunks."""
    if isinstance(body, bytes):
        return len(body), hashlib.sha256(body).hexdigest(), body[:2]
    digest = hashlib.sha256()
    with body.open("rb") as stream:
        head = stream.read(2)
        digest.update(head)
        while chunk := stream.read(CHUNK_SIZE):
            digest.update(chunk)
    return body.stat().st_size, digest.hexdigest(), head


def _error_body(message: str, error_type: str) -> bytes:
    """An OpenAI-style error body."""
    return orjson.dumps({"error": {"message": message, "type": error_type}})


def _redact(key: str) -> str:
    """A key as OpenAI quotes it back: never whole."""
    return f"{key[:3]}...{key[-3:]}" if len(key) >= 12 else "***"


def _parse_route(path: str) -> _Route | None:
    """``/v1/compliance/{scope}/{id}/logs[/{file_id}]``, or None for any other path."""
    if not path.startswith(API_PREFIX):
        return None
    parts = [unquote(part) for part in path[len(API_PREFIX) :].split("/")]
    if len(parts) not in (3, 4) or parts[2] != "logs" or not all(parts):
        return None
    if parts[0] not in (Scope.WORKSPACE.value, Scope.ORGANIZATION.value):
        return None
    return _Route(Scope(parts[0]), parts[1], parts[3] if len(parts) == 4 else None)


def _parse_listing_query(query: Mapping[str, str]) -> _ListingQuery | list[dict[str, Any]]:
    """The listing's parameters, or FastAPI-style validation errors."""
    errors: list[dict[str, Any]] = []
    event_type = query.get("event_type")
    if event_type is None:
        errors.append(_missing("event_type"))
    after = _check_instant("after", query.get("after"), errors)
    before = _check_instant("before", query["before"], errors) if "before" in query else None
    limit = _check_limit(query.get("limit", str(MAX_LIMIT)), errors)
    if errors or event_type is None or after is None:
        return errors
    return _ListingQuery(event_type, after, before, limit)


def _check_instant(name: str, raw: str | None, errors: list[dict[str, Any]]) -> datetime | None:
    """The instant ``name`` (``after`` or ``before``), appending a validation error when it is
    not one."""
    if raw is None:
        errors.append(_missing(name))
        return None
    parsed = parse_timestamp(raw)
    if parsed is not None:
        return parsed
    if parse_timestamp(raw + "Z") is not None:
        errors.append(_invalid(name, raw, "timezone_aware", "Input should have timezone info"))
    else:
        errors.append(_invalid(name, raw, "datetime_parsing", "Input should be a valid datetime"))
    return None


def _check_limit(raw: str, errors: list[dict[str, Any]]) -> int:
    """The ``limit``, appending a validation error when it is not an integer in 1..100."""
    try:
        limit = int(raw)
    except ValueError:
        message = "Input should be a valid integer, unable to parse string as an integer"
        errors.append(_invalid("limit", raw, "int_parsing", message))
        return 0
    if limit > MAX_LIMIT:
        message = f"Input should be less than or equal to {MAX_LIMIT}"
        errors.append(_invalid("limit", raw, "less_than_equal", message, {"le": MAX_LIMIT}))
    elif limit < 1:
        message = "Input should be greater than or equal to 1"
        errors.append(_invalid("limit", raw, "greater_than_equal", message, {"ge": 1}))
    return limit


def _missing(name: str) -> dict[str, Any]:
    """A FastAPI error for a required query parameter left out."""
    return {"type": "missing", "loc": ["query", name], "msg": "Field required", "input": None}


def _invalid(
    name: str, raw: str, kind: str, message: str, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A FastAPI error for a query parameter with a bad value."""
    error = {"type": kind, "loc": ["query", name], "msg": message, "input": raw}
    return error | ({"ctx": ctx} if ctx else {})


def _wrong_scope_message(event_type: str, scope: Scope) -> str:
    """The 400 message for a type asked on the other scope's path."""
    placeholder = "{workspace_id}" if scope is Scope.WORKSPACE else "{org_id}"
    return f"Event type {event_type} is only available at /{scope.value}/{placeholder}/logs"


@dataclass(frozen=True)
class _GzipBomb:
    """A gzip stream of many ``A``s: a header, one compressed chunk ``repeats`` times, a tail.

    Each chunk is compressed alone and ended with a full flush, so its compressed form stands
    on its own (no back-reference to an earlier chunk, byte-aligned, not the last block) and
    the same bytes can be sent again and again: compressing 2 GiB chunk by chunk would take
    seconds, repeating the one chunk's ~1 KB takes none.
    """

    block: bytes
    repeats: int
    tail: bytes  # the last, partial chunk compressed as the final block, then the trailer

    @property
    def length(self) -> int:
        """The compressed stream's size: its Content-Length."""
        return len(_GZIP_HEADER) + len(self.block) * self.repeats + len(self.tail)

    def pieces(self) -> Iterator[bytes]:
        """The stream in writes of about ``CHUNK_SIZE`` bytes."""
        yield _GZIP_HEADER
        per_write = max(1, CHUNK_SIZE // len(self.block))
        for start in range(0, self.repeats, per_write):
            yield self.block * min(per_write, self.repeats - start)
        yield self.tail


@functools.lru_cache(maxsize=8)
def _gzip_bomb(decompressed_bytes: int) -> _GzipBomb:
    """The bomb for ``decompressed_bytes``, worked out once per size (it costs a CRC pass)."""
    chunk = b"A" * CHUNK_SIZE
    repeats, rest = divmod(decompressed_bytes, CHUNK_SIZE)
    crc = 0
    for _ in range(repeats):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(chunk[:rest], crc)
    # Raw deflate (no wrapper): the gzip header and trailer cover the whole stream instead.
    block = _deflate(chunk, zlib.Z_FULL_FLUSH)
    tail = _deflate(chunk[:rest], zlib.Z_FINISH)
    trailer = struct.pack("<II", crc, decompressed_bytes & 0xFFFFFFFF)
    return _GzipBomb(block, repeats, tail + trailer)


def _deflate(data: bytes, flush: int) -> bytes:
    """``data`` as raw deflate blocks from a fresh compressor, ended with ``flush``."""
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(flush)


def _flip_middle_byte(chunk: bytes) -> bytes:
    """``chunk`` with one byte inverted, same length."""
    if not chunk:
        return chunk
    middle = len(chunk) // 2
    return chunk[:middle] + bytes([chunk[middle] ^ 0xFF]) + chunk[middle + 1 :]


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows the fake it serves."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], api: FakeComplianceAPI
    ) -> None:
        """Bind ``address`` and serve ``api`` with ``handler``."""
        self.api = api
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hangs up; report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """What both hosts share: parsing, answering and recording."""

    # HTTP/1.1 keeps connections alive, as real hosts do; every answer sets Content-Length.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm and delayed ACKs each
    # answer could stall ~40 ms, a delay no real host adds.
    disable_nagle_algorithm = True
    host: ClassVar[Literal["api", "storage"]]
    server: _Server
    url_path: str
    query: dict[str, str]

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request log on stderr."""

    def do_GET(self) -> None:
        """Parse the request line, then let the host answer."""
        url = urlsplit(self.path)
        self.url_path = url.path
        # Repeated parameters: the last one wins, as in Starlette.
        self.query = dict(parse_qsl(url.query, keep_blank_values=True))
        self.answer()

    def answer(self) -> None:
        """Answer the parsed request."""
        raise NotImplementedError

    def refuse_method(self) -> None:
        """Record a request of any verb but GET, and refuse it: a read-only client sends none."""
        url = urlsplit(self.path)
        self.url_path = url.path
        self.query = dict(parse_qsl(url.query, keep_blank_values=True))
        # Whatever body came is read, so the connection stays usable.
        length = self.headers.get("Content-Length", "")
        if length.isdigit():
            self.rfile.read(int(length))
        message = f"{self.command} is not allowed here."
        body = b"" if self.command == "HEAD" else _error_body(message, "invalid_request_error")
        self.send(405, body, {"Content-Type": "application/json", "Allow": "GET"})

    do_DELETE = do_POST = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = refuse_method

    def record(self, status: int) -> None:
        """Log this request in the fake's request log."""
        self.server.api._record(
            RequestRecord(
                host=self.host,
                method=self.command,
                path=self.url_path,
                query=self.query,
                headers={name.lower(): value for name, value in self.headers.items()},
                status=status,
                answered_at=time.time(),
            )
        )

    def start_response(
        self, status: int, headers: Mapping[str, str], reason: str | None = None
    ) -> None:
        """Send the status line (with ``reason``, or the code's usual phrase) and headers, and
        record the request."""
        self.record(status)
        self.send_response(status, reason or None)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def send(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        """Answer with a whole body."""
        self.start_response(status, {**(headers or {}), "Content-Length": str(len(body))}, reason)
        self.wfile.write(body)

    def send_json(
        self,
        status: int,
        payload: bytes | Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer with a JSON body."""
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        self.send(status, body, {"Content-Type": "application/json", **(headers or {})})

    def apply_fault(self, fault: Fault | None) -> bool:
        """Act out a fault; True when that was the whole answer."""
        if fault is None:
            return False
        if fault.kind == "delay":
            time.sleep(fault.seconds)
        elif fault.kind == "status":
            headers = {"Content-Type": "application/json", **fault.headers}
            self.send(fault.code, fault.body, headers, fault.reason)
        elif fault.kind == "echo_auth":
            echoed = self.headers.get("Authorization", "")
            self.send_json(400, _error_body(f"Malformed header: {echoed}", "invalid_request_error"))
        elif fault.kind == "drop":
            # Status 0 in the log: the server closes the connection without a byte of answer.
            self.record(0)
            self.close_connection = True
        elif fault.kind == "flood":
            headers = {"Content-Type": fault.content_type, "Content-Length": str(fault.size)}
            self.start_response(fault.code, headers)
            self.write_filler(fault.size)
        elif fault.kind == "echo_url":
            self.send_echoed_url(fault.code, in_reason=fault.echo_in_reason)
        return fault.kind in ("status", "echo_auth", "drop", "flood", "echo_url")

    def write_filler(self, size: int) -> None:
        """Send ``size`` bytes of ``x``, a chunk at a time."""
        filler = memoryview(_FILLER)
        while size > 0:
            piece = min(size, CHUNK_SIZE)
            self.wfile.write(filler[:piece])
            size -= piece

    def send_echoed_url(self, status: int, *, in_reason: bool = False) -> None:
        """An S3-style XML error quoting the request's path and query, credentials and all."""
        raw = self.path
        once = quote(raw, safe="")
        twice = quote(once, safe="")
        phrase = http.HTTPStatus(status).phrase
        code = "AccessDenied" if status == 403 else phrase.replace(" ", "")
        message = "Access Denied" if status == 403 else phrase
        body = (
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<Resource>{raw}</Resource><RequestURI>{once}</RequestURI>"
            f"<OriginalURI>{twice}</OriginalURI></Error>"
        )
        reason = f"{phrase} {raw}" if in_reason else None
        self.send(status, body.encode(), {"Content-Type": "application/xml"}, reason)


class _ApiHandler(_Handler):
    """The API host: listings and redirects to signed URLs."""

    host = "api"

    def answer(self) -> None:
        """Route, then check faults, rate limit and key before the real answer."""
        api = self.server.api
        route = _parse_route(self.url_path)
        if route is None:
            if not api.stateful.answer(self):
                self.send_json(404, {"detail": "Not Found"})
            return
        if api.latency:
            time.sleep(api.latency)
        fault = api._take_fault(route.target, route.file_id)
        if self.apply_fault(fault) or self.refuse_over_rate(route) or self.refuse_key():
            return
        if route.file_id is None:
            self.list_files(route)
        else:
            expired = fault is not None and fault.kind == "expire_link"
            self.redirect_to_storage(route, route.file_id, expired=expired)

    def refuse_over_rate(self, route: _Route) -> bool:
        """Answer 429 when past the rate limit; True when it did."""
        wait = self.server.api._rate_limit_wait(route)
        if not wait:
            return False
        body = _error_body("Rate limit reached for requests.", "requests")
        self.send_json(429, body, {"Retry-After": str(max(1, math.ceil(wait)))})
        return True

    def refuse_key(self) -> bool:
        """Answer 401 or 403 unless the key may read compliance logs; True when it did."""
        api = self.server.api
        scheme, _, key = self.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() == "bearer" and key == api.api_key:
            return False
        if scheme.lower() == "bearer" and key in api.unscoped_keys:
            message = "This key does not have the compliance read scope."
            self.send_json(403, _error_body(message, "permission_error"))
        elif scheme.lower() == "bearer" and key:
            message = f"Incorrect API key provided: {_redact(key)}."
            self.send_json(401, _error_body(message, "invalid_request_error"))
        else:
            message = "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
            self.send_json(401, _error_body(message, "invalid_request_error"))
        return True

    def refuse_unreadable_type(self, event_type: str) -> bool:
        """Answer 403 when the key lacks the type's scope; True when it did."""
        readable = self.server.api.readable_types
        if readable is None or event_type in readable:
            return False
        scope = Feed(event_type, Scope.WORKSPACE).read_scope
        message = (
            f"Missing scopes: this API key does not have the {scope} scope needed to read "
            f"{event_type} compliance logs."
        )
        self.send_json(403, _error_body(message, "permission_error"))
        return True

    def refuse_unknown_principal(self, route: _Route) -> bool:
        """Answer 404 when the workspace or organization does not exist; True when it did."""
        if self.server.api._has_principal(route.scope, route.principal_id):
            return False
        kind = "Workspace" if route.scope is Scope.WORKSPACE else "Organization"
        message = f"{kind} {route.principal_id} not found."
        self.send_json(404, _error_body(message, "invalid_request_error"))
        return True

    def list_files(self, route: _Route) -> None:
        """Answer a listing call."""
        query = _parse_listing_query(self.query)
        # FastAPI validates the query string before the endpoint looks anything up.
        if isinstance(query, list):
            self.send_json(422, {"detail": query})
            return
        if self.refuse_unknown_principal(route):
            return
        routes = {feed.scope for feed in KNOWN_FEEDS if feed.event_type == query.event_type}
        if routes and route.scope not in routes:
            (expected,) = routes
            message = _wrong_scope_message(query.event_type, expected)
            self.send_json(400, _error_body(message, "invalid_request_error"))
            return
        if self.refuse_unreadable_type(query.event_type):
            return
        api = self.server.api
        page, has_more = api._page(route, query)
        # The latest end_time on the page, whatever order the page is in.
        last = format_timestamp(max(f.end_time for f in page)) if page else None
        entries = [f.listing_entry(checksums=api.listing_checksums) for f in page]
        self.send_json(200, {"data": entries, "has_more": has_more, "last_end_time": last})

    def redirect_to_storage(self, route: _Route, file_id: str, *, expired: bool) -> None:
        """Answer a download call with a 307 to a signed storage URL."""
        api = self.server.api
        if self.refuse_unknown_principal(route):
            return
        log_file = api._find_file(file_id, route)
        if log_file is None:
            message = f"Log file {file_id} not found."
            self.send_json(404, _error_body(message, "invalid_request_error"))
            return
        # Downloads are authorized by the stored file's event type.
        if self.refuse_unreadable_type(log_file.event_type):
            return
        # Whole seconds, as in S3 presigned URLs.
        expires = int(time.time()) - 1 if expired else math.ceil(time.time() + api.link_ttl)
        self.send(307, headers={"Location": api._signed_url(file_id, expires)})


class _StorageHandler(_Handler):
    """The storage host: serves file bodies to valid, unexpired signed URLs."""

    host = "storage"

    def answer(self) -> None:
        """Check the signed URL, then serve the file."""
        api = self.server.api
        if api.storage_latency:
            time.sleep(api.storage_latency)
        file_id = unquote(self.url_path.removeprefix("/storage/"))
        fault = api._take_fault("storage", file_id)
        if self.apply_fault(fault):
            return
        if "Authorization" in self.headers:
            message = "Only one auth mechanism allowed; sign the URL or send Authorization"
            self.send_xml(400, "InvalidArgument", message)
            return
        expires = self.query.get("expires", "")
        signature = self.query.get("signature", "")
        log_file = api._find_file(file_id)
        if not hmac.compare_digest(signature, api._signature(file_id, expires)):
            self.send_xml(403, "SignatureDoesNotMatch", "The request signature does not match")
        elif not expires.isdigit() or int(expires) < time.time():
            self.send_xml(403, "AccessDenied", "Request has expired")
        elif log_file is None:
            self.send_xml(404, "NoSuchKey", "The specified key does not exist.")
        else:
            self.serve(log_file, fault)

    def send_xml(self, status: int, code: str, message: str) -> None:
        """Answer with an S3-style XML error."""
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        self.send(status, body, {"Content-Type": "application/xml"})

    def serve(self, log_file: LogFile, fault: Fault | None) -> None:
        """Stream the body; a storage fault spoils it on the way (see ``Fault``)."""
        kind = fault.kind if fault else None
        if fault is not None and fault.kind == "gzip_bomb":
            self.send_gzip_bomb(log_file, fault.size)
            return
        extra = fault.size if fault is not None and fault.kind == "oversize" else 0
        size = log_file.served_size()
        headers = {"Content-Type": log_file.content_type}
        if log_file.content_encoding is not None:
            headers["Content-Encoding"] = "gzip"
        if kind != "no_length":
            headers["Content-Length"] = str(size + extra)
        self.start_response(200, headers)
        halved = kind == "truncate" or (fault is not None and fault.half_body)
        remaining = size // 2 if halved else size
        for index, chunk in enumerate(log_file.chunks()):
            if kind == "corrupt" and index == 0:
                chunk = _flip_middle_byte(chunk)
            if fault is not None and fault.kind == "trickle":
                self.write_slowly(chunk[:remaining], fault.seconds)
            else:
                self.wfile.write(chunk[:remaining])
            remaining -= len(chunk)
            if remaining <= 0:
                break
        self.write_filler(extra)
        # A truncated body, or one whose only delimiter is the end of the connection.
        if kind in ("truncate", "no_length"):
            self.close_connection = True

    def write_slowly(self, data: bytes, seconds_per_byte: float) -> None:
        """Send ``data`` a byte at a time, until the client hangs up."""
        for index in range(len(data)):
            self.wfile.write(data[index : index + 1])
            self.wfile.flush()
            time.sleep(seconds_per_byte)

    def send_gzip_bomb(self, log_file: LogFile, decompressed_bytes: int) -> None:
        """Answer with a gzip stream that inflates to ``decompressed_bytes`` of ``A``."""
        bomb = _gzip_bomb(decompressed_bytes)
        headers = {
            "Content-Type": log_file.content_type,
            "Content-Encoding": "gzip",
            "Content-Length": str(bomb.length),
        }
        self.start_response(200, headers)
        for piece in bomb.pieces():
            self.wfile.write(piece)
