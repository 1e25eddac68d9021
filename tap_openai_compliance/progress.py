"""A line every few seconds while a stream syncs, so a long backfill visibly moves."""

from __future__ import annotations

import time
import typing as t

from tap_openai_compliance.timestamps import format_timestamp

if t.TYPE_CHECKING:
    import logging

    from tap_openai_compliance.listing import LogFile


class Progress:
    """One stream's files, records and bytes so far, logged at most every ``interval`` seconds."""

    def __init__(
        self,
        logger: logging.Logger,
        stream: str,
        interval: float,
        clock: t.Callable[[], float] = time.monotonic,
        seconds_for: t.Callable[[int], float | None] = lambda _files: None,
    ) -> None:
        self._logger = logger
        self._stream = stream
        self._interval = interval
        self._clock = clock
        self._seconds_for = seconds_for
        self._started = self._last_logged = clock()
        self.files_listed = 0
        self.files_done = 0
        self.records = 0
        self.rejected = 0
        self.bytes = 0
        self.reached: str | None = None

    def file_listed(self) -> None:
        """Count a file the listing handed out."""
        self.files_listed += 1

    def file_done(self, log_file: LogFile, size: int, records: int) -> None:
        """Count a completed file, and log if it is time to."""
        self.files_done += 1
        self.bytes += size
        self.records += records
        self.reached = format_timestamp(log_file.end_time)
        self.log_if_due()

    def waiting(self, log_file: LogFile, seconds: float) -> None:
        """Say, when it is time to, that the next file is still downloading."""
        if self._clock() - self._last_logged >= self._interval:
            self.log(prefix=f"Waiting {seconds:.0f} s for log file {log_file.id} to download. ")

    def log_if_due(self, records_in_file: int = 0) -> None:
        """Log a line when ``interval`` seconds passed since the last one."""
        if self._clock() - self._last_logged >= self._interval:
            self.log(records_in_file=records_in_file)

    def log(self, prefix: str = "", records_in_file: int = 0) -> None:
        """Log where the stream is now, counting the records of the file being emitted."""
        now = self._clock()
        self._last_logged = now
        rate = self.bytes / max(now - self._started, 1e-9) / 1e6
        self._logger.info(
            "%s%s: %d of %d files listed so far done, %d records, %.1f MB/s, end_time reached: "
            "%s%s",
            prefix,
            self._stream,
            self.files_done,
            self.files_listed,
            self.records + records_in_file,
            rate,
            self.reached or "none yet",
            self._time_left(),
        )

    def _time_left(self) -> str:
        """About how long the files listed so far still take, at the pace the API allows."""
        left = self.files_listed - self.files_done
        seconds = self._seconds_for(left) if left else None
        if seconds is None:
            return ""
        return f", about {_duration(seconds)} left for the files listed so far"


def _duration(seconds: float) -> str:
    """A duration as people read it: 40 s, 12 min, 3 h 20 min."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
