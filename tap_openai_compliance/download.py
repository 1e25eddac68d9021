"""Downloading log files to verified temporary files, several at once, handed out in order."""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import hashlib
import tempfile
import threading
import time
import typing as t
from pathlib import Path

from singer_sdk.exceptions import RetriableAPIError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator

    import requests

    from tap_openai_compliance.listing import LogFile

CHUNK_SIZE = 1 << 20
# How long a stop waits for abandoned downloads to notice before leaving them behind.
STOP_GRACE = 1.0


class CorruptDownloadError(RetriableAPIError):
    """The body did not match the listing's size or checksum: download it again."""


class DownloadCancelledError(Exception):
    """The sync is stopping; the download was abandoned."""


def save_verified(
    response: requests.Response,
    log_file: LogFile,
    directory: Path,
    stopping: threading.Event,
) -> Path:
    """Stream a body to disk, then check it against the listing's size and SHA-256.

    Only a verified file is returned: a short or corrupted body never reaches the parser.
    """
    digest = hashlib.sha256()
    size = 0
    with (
        response,
        tempfile.NamedTemporaryFile(dir=directory, prefix="log-file-", delete=False) as out,
    ):
        path = Path(out.name)
        try:
            for chunk in response.iter_content(CHUNK_SIZE):
                if stopping.is_set():
                    raise DownloadCancelledError
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        except BaseException:
            out.close()
            path.unlink(missing_ok=True)
            raise
    problem = _mismatch(log_file, size, digest.hexdigest())
    if problem:
        path.unlink(missing_ok=True)
        msg = f"the body arrived damaged: {problem}"
        raise CorruptDownloadError(msg)
    return path


def _mismatch(log_file: LogFile, size: int, sha256: str) -> str | None:
    """How the body differs from what the listing announced, if it does."""
    if log_file.file_size is not None and size != log_file.file_size:
        return f"{size} bytes instead of the {log_file.file_size} listed"
    if log_file.file_sha256 and sha256 != log_file.file_sha256.lower():
        return "its SHA-256 differs from the listed one"
    return None


@contextlib.contextmanager
def download_directory() -> Iterator[Path]:
    """A private directory for one sync's downloads, removed afterwards."""
    # A download abandoned at a stop may still be finishing in its thread while this goes.
    with tempfile.TemporaryDirectory(
        prefix="tap-openai-compliance-", ignore_cleanup_errors=True
    ) as name:
        yield Path(name)


def download_in_order(
    files: Iterable[LogFile],
    download: Callable[[LogFile], Path],
    workers: int,
    stopping: threading.Event,
) -> Generator[tuple[LogFile, Path], None, None]:
    """Download up to ``workers`` files at once, yielding them in listing order.

    The caller gets each file only when every earlier one was handed out, so records and
    bookmarks still follow the listing. Each yielded file is deleted once the caller moves on.
    When the caller stops early, ``stopping`` is set and downloads still running are
    abandoned: their threads are daemons, so one stuck in a slow read or a long
    ``Retry-After`` cannot hold up the end of the process.
    """
    pending: collections.deque[tuple[LogFile, Download]] = collections.deque()
    upcoming = iter(files)
    try:
        while True:
            while len(pending) < workers and (log_file := next(upcoming, None)) is not None:
                pending.append((log_file, Download.start(download, log_file)))
            if not pending:
                return
            log_file, running = pending.popleft()
            path = running.future.result()
            try:
                yield log_file, path
            finally:
                path.unlink(missing_ok=True)
    finally:
        stopping.set()
        deadline = time.monotonic() + STOP_GRACE
        for _, running in pending:
            running.future.add_done_callback(_delete_result)
            running.thread.join(max(0.0, deadline - time.monotonic()))


class Download(t.NamedTuple):
    """One file downloading in a daemon thread."""

    thread: threading.Thread
    future: concurrent.futures.Future[Path]

    @classmethod
    def start(cls, download: Callable[[LogFile], Path], log_file: LogFile) -> Download:
        """Start downloading ``log_file`` in a new daemon thread."""
        future: concurrent.futures.Future[Path] = concurrent.futures.Future()

        def run() -> None:
            future.set_running_or_notify_cancel()
            try:
                future.set_result(download(log_file))
            except BaseException as exc:
                future.set_exception(exc)

        thread = threading.Thread(target=run, name=f"download-{log_file.id}", daemon=True)
        thread.start()
        return cls(thread, future)


def _delete_result(future: concurrent.futures.Future[Path]) -> None:
    """Delete the file an abandoned download saved, whenever it finishes."""
    if future.exception() is None:
        future.result().unlink(missing_ok=True)
