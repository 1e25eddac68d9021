"""Downloading log files to verified temporary files, several at once, handed out in order."""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import hashlib
import tempfile
import threading
import typing as t
from pathlib import Path

from singer_sdk.exceptions import RetriableAPIError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    import requests

    from tap_openai_compliance.listing import LogFile

CHUNK_SIZE = 1 << 20


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
        tempfile.NamedTemporaryFile(dir=directory, prefix=f"{log_file.id}-", delete=False) as out,
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
        msg = f"Log file {log_file.id} arrived damaged ({problem})"
        raise CorruptDownloadError(msg)
    return path


def _mismatch(log_file: LogFile, size: int, sha256: str) -> str | None:
    """How the body differs from what the listing announced, if it does."""
    if log_file.file_size is not None and size != log_file.file_size:
        return f"{size} bytes instead of {log_file.file_size}"
    if log_file.file_sha256 and sha256 != log_file.file_sha256.lower():
        return "SHA-256 does not match the listing"
    return None


@contextlib.contextmanager
def download_directory() -> Iterator[Path]:
    """A private directory for one sync's downloads, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="tap-openai-compliance-") as name:
        yield Path(name)


def download_in_order(
    files: Iterable[LogFile],
    download: Callable[[LogFile], Path],
    workers: int,
    stopping: threading.Event,
) -> Iterator[tuple[LogFile, Path]]:
    """Download up to ``workers`` files at once, yielding them in listing order.

    The caller gets each file only when every earlier one was handed out, so records and
    bookmarks still follow the listing. Each yielded file is deleted once the caller moves on.
    """
    pending: collections.deque[tuple[LogFile, concurrent.futures.Future[Path]]] = (
        collections.deque()
    )
    upcoming = iter(files)
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="download")
    try:
        while True:
            while len(pending) < workers and (log_file := next(upcoming, None)) is not None:
                pending.append((log_file, pool.submit(download, log_file)))
            if not pending:
                return
            log_file, future = pending.popleft()
            path = future.result()
            try:
                yield log_file, path
            finally:
                path.unlink(missing_ok=True)
    finally:
        stopping.set()
        pool.shutdown(wait=True, cancel_futures=True)
        for _, future in pending:
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().unlink(missing_ok=True)
