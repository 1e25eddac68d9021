"""Downloading log files: a signed link from the API, the body from storage without the key,
verified against the listing; several files at once, handed out in listing order.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import errno
import gzip
import hashlib
import io
import queue
import tempfile
import threading
import time
import typing as t
import zlib
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import requests
import urllib3
from singer_sdk.exceptions import RetriableAPIError

from tap_openai_compliance.client import (
    ComplianceAPIError,
    Connections,
    as_requests_error,
    check_api_response,
)
from tap_openai_compliance.links import LinkPolicy, LinkRefusedError
from tap_openai_compliance.scratch import DiskError, run_directory
from tap_openai_compliance.wording import failed, http_status

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator, Mapping

    from tap_openai_compliance.client import RetryPolicy
    from tap_openai_compliance.listing import LogFile
    from tap_openai_compliance.pacing import Pacer
    from tap_openai_compliance.wording import Masker

CHUNK_SIZE = 1 << 20
DIRECTORY_PREFIX = "tap-openai-compliance-"
# Files handed to the downloads per worker: with a second one queued, no worker idles while
# the listing fetches its next page or the records of the file before are written.
FILES_IN_HAND = 2
# How long a stop waits for abandoned downloads to notice before leaving them behind.
STOP_GRACE = 1.0
# Storage answers a later try can fix: 403 is an expired signed link, and a retry asks the
# API for a fresh one.
STORAGE_RETRIABLE = frozenset({HTTPStatus.FORBIDDEN, HTTPStatus.TOO_MANY_REQUESTS})
MAX_STORAGE_REDIRECTS = 5
# The least average speed of a download (min_download_kib_per_second), over the listed size,
# the announced one, or else the largest file the API writes (15 MB), plus 10 s for the
# connection and the first bytes.
DEFAULT_MIN_BYTES_PER_SECOND = 64 * 1024
DOCUMENTED_MAX_FILE_BYTES = 15_000_000
DOWNLOAD_GRACE = 10.0


class CorruptDownloadError(RetriableAPIError):
    """The body did not match the listing's size or checksum: download it again."""


class DownloadTooSlowError(RetriableAPIError):
    """The body came slower than the least speed a download must average: try again."""


class DownloadCancelledError(Exception):
    """The sync is stopping; the download was abandoned."""


class Downloader:
    """Fetches one feed's log files, each as a verified file on disk.

    The API answers a download call with a redirect to a short-lived signed URL on a storage
    host. That URL is fetched with a session of its own that never holds the key, and every
    try of a file starts again at the API, so an expired link is replaced by a fresh one.
    """

    def __init__(
        self,
        *,
        feed: str,
        logs_url: str,
        api_headers: Mapping[str, str],
        timeouts: tuple[float, float],
        retry: RetryPolicy,
        pacer: Pacer,
        mask: Masker,
        workers: int,
        out_of_time: Callable[[], bool] = lambda: False,
        min_bytes_per_second: float = DEFAULT_MIN_BYTES_PER_SECOND,
    ) -> None:
        self.feed = feed
        self._min_bytes_per_second = min_bytes_per_second
        self.workers = workers
        self._logs_url = logs_url
        self._api_headers = api_headers
        self._pacer = pacer
        self._mask = mask
        self._out_of_time = out_of_time
        # The API and every storage host get a pool of their own; only the API's calls carry
        # the key.
        self._connections = Connections(workers, timeouts)
        self._links = LinkPolicy(logs_url)
        # Set when the sync stops: every download is abandoned.
        self._stopping = threading.Event()
        # Set when the run is out of time: no new call to the API, downloads under way end.
        self._holding = threading.Event()
        # Files whose body is on its way: from the call to the API to the verified file.
        self._transfers: set[str] = set()
        self._retry = retry
        # Per worker thread: the turn booked for the first call of the file it took.
        self._first_turns = _BookedTurn()
        self._fetch = retry.wrap(self._fetch_once, self.subject, self._wait_turn)

    def subject(self, log_file: LogFile, *_: t.Any) -> str:
        """What downloading ``log_file`` is, in messages."""
        return f"Downloading {self.feed} log file {log_file.id}"

    def in_order(
        self, files: Iterable[LogFile], waiting: Callable[[LogFile, float], None]
    ) -> Generator[tuple[LogFile, Path], None, None]:
        """Each file with its verified body, in listing order; see ``download_in_order``."""
        with run_directory(Path(tempfile.gettempdir()), DIRECTORY_PREFIX) as directory:
            yield from download_in_order(
                files,
                lambda log_file: self._fetch(log_file, directory),
                self.workers,
                self._stopping,
                waiting,
                holding=self._holding,
                out_of_time=self._out_of_time,
                transferring=lambda log_file: log_file.id in self._transfers,
                on_take=self._book_first_turn,
            )

    def probe(self, log_file: LogFile) -> str:
        """Reach ``log_file`` the way a sync does, reading no more than its first bytes.

        Returns the storage host that served it; fails as a download would.
        """

        def first_bytes(log_file: LogFile) -> str:
            with self._open_body(log_file) as response:
                next(response.iter_content(CHUNK_SIZE), b"")
                return urlsplit(response.url).hostname or ""

        return self._retry.wrap(first_bytes, self.subject, self._wait_turn)(log_file)

    def _book_first_turn(self, _log_file: LogFile) -> None:
        """Book the first call of the file a worker takes, in listing order.

        Workers racing for the pacer could otherwise book a later file's call first: with a
        budget nearly spent, that file gets the last turn of the minute, while the earlier
        file, which the sync needs first, waits a minute for the next.
        """
        self._first_turns.turn = self._pacer.book_turn()

    def _wait_turn(self) -> None:
        """Wait for the download endpoint's pace; none of it once the run is out of time."""
        turn, self._first_turns.turn = self._first_turns.turn, None
        if turn is None:
            turn = self._pacer.book_turn()
        self._pacer.wait_for(turn, self._sleep_unless_holding)

    def _sleep_unless_holding(self, seconds: float) -> None:
        """Sleep, but give the call up as soon as the run is out of time."""
        if self._holding.wait(seconds):
            raise DownloadCancelledError

    def _fetch_once(self, log_file: LogFile, directory: Path) -> Path:
        """One try at a file: a fresh signed link from the API, then the body from storage."""
        self._transfers.add(log_file.id)
        try:
            # Marked first, then checked: the sync either waits for this file, or this try
            # sees the hold and gives up its call (run out of time in between).
            if self._holding.is_set():
                raise DownloadCancelledError
            return save_verified(
                self._open_body(log_file),
                log_file,
                directory,
                self._stopping,
                self._min_bytes_per_second,
            )
        finally:
            self._transfers.discard(log_file.id)

    def _open_body(self, log_file: LogFile) -> requests.Response:
        """The response whose body is the file; the API key never leaves for the storage host."""
        response = self._connections.get(
            f"{self._logs_url}/{quote(log_file.id, safe='')}", self._api_headers
        )
        self._pacer.observe(response)
        if not response.is_redirect:
            with _closed_on_error(response):
                check_api_response(response, self.subject(log_file), self._mask)
            return response
        link = urljoin(response.url, response.headers["Location"])
        response.close()
        storage = self._from_storage(link, log_file)
        # Without the key, a storage host's own redirects are safe to follow where the
        # redirect policy allows.
        for _ in range(MAX_STORAGE_REDIRECTS):
            if not storage.is_redirect:
                break
            storage.close()
            link = urljoin(link, storage.headers["Location"])
            storage = self._from_storage(link, log_file)
        with _closed_on_error(storage):
            self._check_storage_response(storage, log_file, link)
        return storage

    def _from_storage(self, link: str, log_file: LogFile) -> requests.Response:
        """GET a download link, where the redirect policy (``links``) lets it lead."""
        try:
            destination = self._links.destination(link, pinned=not self._connections.proxied(link))
        except LinkRefusedError as refused:
            msg = f"{refused}. Report the link to OpenAI support"
            raise ComplianceAPIError(failed(self.subject(log_file), msg)) from None
        return self._connections.get(link, destination=destination)

    def _check_storage_response(
        self, response: requests.Response, log_file: LogFile, link: str
    ) -> None:
        """Retry what a fresh link or a later try can fix; fail on the rest."""
        status = response.status_code
        if status < HTTPStatus.MULTIPLE_CHOICES:
            return
        mask = self._mask.with_signed_url(link)
        answer = f"the storage host answered {http_status(response, mask)}"
        if status in STORAGE_RETRIABLE or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(answer, response)
        raise ComplianceAPIError(failed(self.subject(log_file), answer))


@contextlib.contextmanager
def _closed_on_error(response: requests.Response) -> Iterator[None]:
    """Close ``response`` when the block raises, so its connection goes back to the pool."""
    try:
        yield
    except BaseException:
        response.close()
        raise


def save_verified(
    response: requests.Response,
    log_file: LogFile,
    directory: Path,
    stopping: threading.Event,
    min_bytes_per_second: float = DEFAULT_MIN_BYTES_PER_SECOND,
) -> Path:
    """Stream a body to disk as it travels, then check it against the listing's size and SHA-256.

    Only a verified file is returned: a short, long, slow or corrupted body never reaches the
    parser. The bytes are kept as the storage host sent them: a body it compressed
    (``Content-Encoding: gzip``) is accepted when the listing describes either the compressed
    bytes (an object store serving a compressed object) or what they decompress to (a
    compression on the way); the parser reads gzip either way. A body is read no further than
    the size listed (a server sending on and on costs one chunk over it), nor decompressed
    past it; without a listed size, urllib3 holds the body to its Content-Length. The whole
    download must average ``min_bytes_per_second``, or it is given up and tried again, so a
    host trickling a byte at a time cannot hold a file for hours.
    """
    digest = hashlib.sha256()
    size = 0
    limit = log_file.file_size
    expected = limit or _content_length(response) or DOCUMENTED_MAX_FILE_BYTES
    started = time.monotonic()
    deadline = started + DOWNLOAD_GRACE + expected / min_bytes_per_second
    with response, _new_download_file(directory, log_file) as (path, out):
        while chunk := _read_some(response):
            if stopping.is_set():
                raise DownloadCancelledError
            size += len(chunk)
            if limit is not None and size > limit:
                msg = f"the body arrived damaged: it runs past the {limit:,} bytes listed"
                raise CorruptDownloadError(msg)
            if time.monotonic() > deadline:
                kib = min_bytes_per_second / 1024
                msg = (
                    f"the download stayed below {kib:g} KiB/s (min_download_kib_per_second): "
                    f"{size:,} of {expected:,} bytes in {time.monotonic() - started:.0f} s"
                )
                raise DownloadTooSlowError(msg)
            digest.update(chunk)
            _write(out, chunk, directory, log_file)
    problem = _mismatch(log_file, size, digest.hexdigest())
    if problem and _compressed(response) and _decompressed_matches(path, log_file):
        problem = None
    if problem:
        path.unlink(missing_ok=True)
        msg = f"the body arrived damaged: {problem}"
        raise CorruptDownloadError(msg)
    return path


def _read_some(response: requests.Response) -> bytes:
    """The next bytes of a body as they arrive (up to a chunk), undecoded; b"" at its end."""
    try:
        return bytes(response.raw.read1(CHUNK_SIZE, decode_content=False))
    except urllib3.exceptions.ProtocolError as exc:
        # As requests reports a body cut short: the connection broke off mid-body.
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except urllib3.exceptions.HTTPError as exc:
        raise as_requests_error(exc) from exc


def _content_length(response: requests.Response) -> int | None:
    """The size a response announces, if it announces a usable one."""
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def _compressed(response: requests.Response) -> bool:
    """Whether the storage host compressed the body it sent."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    return encoding in ("gzip", "x-gzip")


def _decompressed_matches(path: Path, log_file: LogFile) -> bool:
    """Whether the gzip body at ``path`` decompresses to the size and SHA-256 listed.

    Decompressed no further than the size listed, so a bomb costs a chunk over it.
    """
    if log_file.file_size is None and log_file.file_sha256 is None:
        return False
    digest = hashlib.sha256()
    size = 0
    try:
        with gzip.open(path, "rb") as body:
            while chunk := body.read(CHUNK_SIZE):
                size += len(chunk)
                if log_file.file_size is not None and size > log_file.file_size:
                    return False
                digest.update(chunk)
    except (OSError, EOFError, zlib.error):
        return False
    return _mismatch(log_file, size, digest.hexdigest()) is None


@contextlib.contextmanager
def _new_download_file(directory: Path, log_file: LogFile) -> Iterator[tuple[Path, io.FileIO]]:
    """A new file, readable by its owner only, deleted unless the block completes."""
    try:
        descriptor, name = tempfile.mkstemp(dir=directory, prefix="log-file-")
    except OSError as exc:
        raise _disk_error(exc, directory, log_file) from None
    path = Path(name)
    try:
        # Unbuffered, so that every write the disk refuses fails in _write, not at close.
        with open(descriptor, "wb", buffering=0) as out:
            yield path, out
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _write(out: io.FileIO, chunk: bytes, directory: Path, log_file: LogFile) -> None:
    """Write a whole chunk; a full disk is a plain error, not a traceback."""
    view = memoryview(chunk)
    try:
        while view:
            written = out.write(view)
            if not written:
                raise OSError(errno.ENOSPC, "nothing written")
            view = view[written:]
    except OSError as exc:
        raise _disk_error(exc, directory, log_file) from None


def _disk_error(exc: OSError, directory: Path, log_file: LogFile) -> DiskError:
    """Say what the disk refused, where, and what to change."""
    size = f" ({log_file.file_size:,} bytes listed)" if log_file.file_size is not None else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskError(
            f"No space left in {directory} to save log file {log_file.id}{size}. A sync keeps "
            "up to twice max_concurrent_downloads log files there at once, until their records "
            "are out: free space there, set TMPDIR to a directory on a larger disk, or lower "
            "max_concurrent_downloads."
        )
    return DiskError(
        f"Cannot save log file {log_file.id}{size} in {directory}: {exc.strerror}. Set TMPDIR "
        "to a directory this user can write to."
    )


def _mismatch(log_file: LogFile, size: int, sha256: str) -> str | None:
    """How the body differs from what the listing announced, if it does."""
    if log_file.file_size is not None and size != log_file.file_size:
        return f"{size} bytes instead of the {log_file.file_size} listed"
    if log_file.file_sha256 and sha256 != log_file.file_sha256.lower():
        return "its SHA-256 differs from the listed one"
    return None


def download_in_order(
    files: Iterable[LogFile],
    download: Callable[[LogFile], Path],
    workers: int,
    stopping: threading.Event,
    waiting: Callable[[LogFile, float], None] = lambda *_: None,
    waiting_every: float = 1.0,
    *,
    holding: threading.Event | None = None,
    out_of_time: Callable[[], bool] = lambda: False,
    transferring: Callable[[LogFile], bool] = lambda _file: True,
    on_take: Callable[[LogFile], None] = lambda _file: None,
) -> Generator[tuple[LogFile, Path], None, None]:
    """Download up to ``workers`` files at once, yielding them in listing order.

    Twice as many are handed out (``FILES_IN_HAND``), so up to that many verified files can
    wait on disk for their turn.

    The caller gets each file only when every earlier one was handed out, so records and
    bookmarks still follow the listing. Each yielded file is deleted once the caller moves on.
    When the caller stops early, ``stopping`` is set and downloads still running are
    abandoned: the workers are daemon threads, so one stuck in a slow read or a long
    ``Retry-After`` cannot hold up the end of the process. While the next file is not there
    yet, ``waiting(file, seconds so far)`` is called every ``waiting_every`` seconds.

    Once ``out_of_time()`` says so, ``holding`` is set: no file is handed out any more, those
    not started are dropped (the download gives up its call when it sees ``holding``), and the
    files whose body is on its way (``transferring``) are still yielded, in order, up to the
    first one dropped, or waiting for a turn or a retry. So no file is downloaded twice across
    runs that stop for time.

    ``on_take(file)`` is called as a worker takes the file, one worker at a time, so in
    listing order (the downloader books the file's turn at the API there).
    """
    holding = holding or threading.Event()
    pool = WorkerPool(workers, download, on_take)
    pending: collections.deque[tuple[LogFile, concurrent.futures.Future[Path]]] = (
        collections.deque()
    )
    upcoming = iter(files)

    def check_time() -> None:
        if not holding.is_set() and out_of_time():
            holding.set()

    try:
        while True:
            check_time()
            while (
                not holding.is_set()
                and len(pending) < FILES_IN_HAND * workers
                and (log_file := next(upcoming, None)) is not None
            ):
                pending.append((log_file, pool.submit(log_file)))
            if not pending:
                return
            log_file, future = pending.popleft()
            if holding.is_set() and future.cancel():
                return

            def still_waiting(seconds: float, log_file: LogFile = log_file) -> None:
                check_time()
                if holding.is_set() and not transferring(log_file):
                    raise DownloadCancelledError
                waiting(log_file, seconds)

            try:
                path = _when_done(future, still_waiting, waiting_every)
            except DownloadCancelledError:
                if holding.is_set():
                    return
                raise
            try:
                yield log_file, path
            finally:
                path.unlink(missing_ok=True)
    finally:
        stopping.set()
        running = [future for _, future in pending if not future.cancel()]
        for future in running:
            future.add_done_callback(_delete_result)
        concurrent.futures.wait(running, timeout=STOP_GRACE)
        pool.close()


def _when_done(
    future: concurrent.futures.Future[Path], waiting: Callable[[float], None], every: float
) -> Path:
    """The future's result, calling ``waiting`` every ``every`` seconds until it is there."""
    started = time.monotonic()
    while True:
        try:
            return future.result(timeout=every)
        except concurrent.futures.TimeoutError:
            waiting(time.monotonic() - started)


class WorkerPool:
    """Long-lived daemon threads, each downloading one file after another.

    Unlike ``concurrent.futures.ThreadPoolExecutor``, whose threads the interpreter joins at
    exit, these can be abandoned in the middle of a download when the sync stops.
    """

    def __init__(
        self,
        size: int,
        download: Callable[[LogFile], Path],
        on_take: Callable[[LogFile], None] = lambda _file: None,
    ) -> None:
        self._download = download
        self._on_take = on_take
        # Held from taking a job until its ``on_take`` returns: what it does follows the queue.
        self._taking = threading.Lock()
        self._jobs: queue.SimpleQueue[tuple[LogFile, concurrent.futures.Future[Path]] | None] = (
            queue.SimpleQueue()
        )
        self._size = size
        for number in range(size):
            threading.Thread(target=self._work, name=f"download-{number}", daemon=True).start()

    def submit(self, log_file: LogFile) -> concurrent.futures.Future[Path]:
        """Queue ``log_file``; the future holds its verified path, or what went wrong."""
        future: concurrent.futures.Future[Path] = concurrent.futures.Future()
        self._jobs.put((log_file, future))
        return future

    def close(self) -> None:
        """Let each worker end once it finishes what it is doing."""
        for _ in range(self._size):
            self._jobs.put(None)

    def _work(self) -> None:
        """Download queued files until told to end; a cancelled one is skipped."""
        while True:
            with self._taking:
                if (job := self._jobs.get()) is None:
                    return
                log_file, future = job
                if not future.set_running_or_notify_cancel():
                    continue
                self._on_take(log_file)
            try:
                future.set_result(self._download(log_file))
            except BaseException as exc:
                future.set_exception(exc)


class _BookedTurn(threading.local):
    """A thread's booked turn at the pacer, until its call takes it (None: none booked)."""

    turn: float | None = None


def _delete_result(future: concurrent.futures.Future[Path]) -> None:
    """Delete the file an abandoned download saved, whenever it finishes."""
    if not future.cancelled() and future.exception() is None:
        future.result().unlink(missing_ok=True)
