"""BATCH messages: whole log files' records gathered into gzip JSON Lines files.

A target loads a batch file at once instead of parsing a message per record, which is most of
its cost. But a batch costs a target a fixed amount too (measured into target-postgres: about
80 ms and 17 SQL statements), so a batch never holds one small log file: whole files are
gathered until ``batch_size`` records, or ``batch_max_seconds`` since the batch opened. The
STATE covering those files is written after their BATCH message, and an SDK target loads a
BATCH when it reads it, before it reads that STATE: a bookmark never covers a file the target
has not loaded.

Batch files stay in a directory of their run under the storage root while the target reads
them; a later run removes those of runs that ended more than ``KEEP_BATCH_FILES`` ago.
"""

from __future__ import annotations

import contextlib
import gzip
import time
import typing as t
from pathlib import Path
from urllib.parse import unquote, urlsplit

from singer_sdk.contrib.msgspec import serialize_jsonl

from tap_openai_compliance.errors import ComplianceTapError
from tap_openai_compliance.scratch import DiskError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from singer_sdk.helpers._batch import BatchConfig

BATCH_DIRECTORY_PREFIX = "batches-tap-openai-compliance-"
KEEP_BATCH_FILES = 60 * 60.0
# Batch files are read once, soon: speed over size.
COMPRESS_LEVEL = 1


class BatchConfigError(ComplianceTapError):
    """A batch_config the tap cannot write batches for."""


def local_root(batch_config: BatchConfig) -> Path:
    """The local directory batch files go to: a ``file://`` URL, or a path."""
    root = batch_config.storage.root
    parts = urlsplit(root)
    if parts.scheme not in ("", "file") or batch_config.encoding.format != "jsonl":
        # The root is not quoted whole: a storage URL can hold credentials.
        msg = (
            "Setting 'batch_config' must write gzip JSON Lines files to a local directory "
            f"(encoding.format 'jsonl', storage.root 'file:///...'), not {parts.scheme}:// "
            f"files in {batch_config.encoding.format!r}."
        )
        raise BatchConfigError(msg)
    path = Path(unquote(parts.path) if parts.scheme else root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


class BatchFile:
    """One batch file being written: the records of whole log files, one JSON object a line."""

    def __init__(
        self,
        directory: Path,
        name: str,
        max_records: int,
        max_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = directory / f"{name}.jsonl.gz"
        self.records = 0
        self._max_records = max_records
        self._closes_at = clock() + max_seconds
        self._clock = clock
        # Open across several log files, until close().
        self._file = gzip.open(self.path, "wb", compresslevel=COMPRESS_LEVEL)  # noqa: SIM115

    def write(self, records: Iterable[dict[str, t.Any]]) -> None:
        """Add a log file's records."""
        try:
            for record in records:
                self._file.write(serialize_jsonl(record))
                self.records += 1
        except OSError as exc:
            raise self._abandoned(exc) from None

    def is_full(self) -> bool:
        """Whether the batch holds enough records, or has been open long enough."""
        return self.records >= self._max_records or self._clock() >= self._closes_at

    def close(self) -> str:
        """Finish the file; its URL, for the BATCH message's manifest."""
        try:
            self._file.close()
        except OSError as exc:
            raise self._abandoned(exc) from None
        return self.path.as_uri()

    def _abandoned(self, exc: OSError) -> DiskError:
        """Remove the unfinished file; say what the disk refused, where, and what to change."""
        # Closed now, or the gzip file's finalizer retries the write at exit and prints a
        # traceback (Python 3.12 and later).
        with contextlib.suppress(OSError):
            self._file.close()
        self.path.unlink(missing_ok=True)
        return DiskError(
            f"Cannot write batch file {self.path} ({exc.strerror}): free space there, or point "
            "batch_config.storage.root at a directory on a larger disk."
        )
