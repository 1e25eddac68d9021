"""One run of the tap: when it must stop taking new log files, and what each stream did.

Every stream reports here as it syncs (through its ``Progress``), so that the run can end with
one line saying how far it got, whether it ended because every listed file was synced, because
its time budget (``max_run_minutes``) ran out, or because it failed.
"""

from __future__ import annotations

import time
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from tap_openai_compliance.progress import Progress


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
        self.skipped: dict[str, str] = {}

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

    def out_of_time_line(self, not_reached: list[str]) -> str:
        """How far a run got whose budget ran out, and that the next one goes on."""
        files = sum(progress.files_done for progress in self.streams.values())
        records = sum(progress.records for progress in self.streams.values())
        reached = ", ".join(
            f"{stream} to {progress.reached}"
            for stream, progress in self.streams.items()
            if progress.reached
        )
        waiting = f"; not reached: {', '.join(not_reached)}" if not_reached else ""
        return (
            f"Stopped taking new log files after max_run_minutes ({self.max_run_minutes:g}): "
            f"{files} files and {records} records synced in {self.seconds():.0f} s"
            f"{f' ({reached})' if reached else ''}{waiting}. The last STATE covers them: the "
            "next run goes on from there."
        )
