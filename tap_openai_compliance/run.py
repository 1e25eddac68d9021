"""One run of the tap: when it must stop taking new log files, and what each stream did.

Every stream reports here as it syncs (through its ``Progress``), so that the run can end with
one line saying how far it got, whether it ended because every listed file was synced, because
its time budget (``max_run_minutes``) ran out, or because it failed.
"""

from __future__ import annotations

import collections
import logging
import time
import typing as t

from tap_openai_compliance.errors import Interrupted

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from tap_openai_compliance.progress import Progress


class AccessCheck(t.NamedTuple):
    """What the pre-flight check (``--test``) found of one feed or stateful table."""

    name: str
    # The workspace's or the organization's feeds, or the stateful tables.
    kind: str
    readable: bool
    detail: str
    # Not readable for another reason than the key's scopes: a wrong key, id or address.
    failed: bool = False
    # Named in the settings: then it must be readable.
    named: bool = False

    @property
    def failing(self) -> bool:
        """Whether this check fails the pre-flight check."""
        return self.failed or (self.named and not self.readable)


class Run:
    """The run's time budget, and each stream's progress and skips."""

    def __init__(
        self, max_run_minutes: float | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self.started = clock()
        self.max_run_minutes = max_run_minutes
        self._deadline = self.started + max_run_minutes * 60 if max_run_minutes else None
        self.ran_out_of_time = False
        self.streams: dict[str, Progress] = {}
        # Rows of the stateful tables, by table.
        self.rows: collections.Counter[str] = collections.Counter()
        self.skipped: dict[str, str] = {}
        # Whether the API answered anything yet: before it has, a connection refused is more
        # likely a wrong api_url than a passing fault.
        self.api_answered = False

    def out_of_time(self) -> bool:
        """Whether the time budget has run out: then no new log file is taken."""
        if not self.ran_out_of_time and self._deadline is not None:
            self.ran_out_of_time = self._clock() >= self._deadline
        return self.ran_out_of_time

    def seconds(self) -> float:
        """Seconds since the run started."""
        return self._clock() - self.started

    def track(self, stream: str, progress: Progress) -> None:
        """Follow a stream's progress, for the line that ends the run."""
        self.streams[stream] = progress

    def skip(self, stream: str, reason: str) -> None:
        """Note that a stream was not synced, and why."""
        self.skipped[stream] = reason

    def summary(self, ending: str, bookmarks: dict[str, str | None], not_reached: list[str]) -> str:
        """The line that ends a run: how it ended, its time, and what each stream did."""
        parts = []
        for stream, progress in self.streams.items():
            rejected = f", {progress.rejected} rejected lines" if progress.rejected else ""
            bookmark = bookmarks.get(stream) or "none"
            parts.append(
                f"{stream}: {progress.files_done} files, {progress.records} records{rejected}, "
                f"bookmark {bookmark}"
            )
        parts += [f"{table}: {rows} rows" for table, rows in sorted(self.rows.items())]
        parts += [f"{stream}: skipped, {reason}" for stream, reason in self.skipped.items()]
        parts += [f"{stream}: not reached" for stream in not_reached]
        return f"Run summary: {ending}, in {self.seconds():.1f} s. " + "; ".join(parts) + "."

    def ending(self, failure: BaseException | None) -> str:
        """Why the run ended, in words."""
        if failure is not None:
            return (
                f"stopped: {failure}" if isinstance(failure, Interrupted) else "failed (see below)"
            )
        if self.ran_out_of_time:
            return (
                f"stopped taking new log files after max_run_minutes ({self.max_run_minutes:g}); "
                "the next run goes on from the last STATE"
            )
        return "every log file listed was synced"


class _WithoutNoise(logging.Filter):
    """Drops, unless the log level is DEBUG, the SDK's lines that tell an operator nothing."""

    NOISE = frozenset(
        {
            # Twice a Meltano run, and about a choice the operator did not make.
            "Skipping parse of env var settings...",
            # The value shown is start_date's, not where the stream's window starts.
            "Starting incremental sync of '%s' with bookmark value: %s",
            # The listing's last page is empty whenever nothing is new.
            "Pagination stopped after %d pages because no records were found in the last response",
            # At every start, about how the tap is built, not about what it syncs.
            "Added '%s' as child stream to '%s'",
        }
    )

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record unless it is noise and DEBUG is off."""
        return record.msg not in self.NOISE or logging.getLogger().isEnabledFor(logging.DEBUG)


_WITHOUT_NOISE = _WithoutNoise()


def quiet(logger: logging.Logger) -> None:
    """Drop the SDK's noise from what ``logger`` logs, at levels above DEBUG."""
    logger.addFilter(_WITHOUT_NOISE)
