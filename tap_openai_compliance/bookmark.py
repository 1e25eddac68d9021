"""Where a stream's sync resumes: which log files are done, as kept in the stream's state.

A bookmark is an ``end_time`` plus the ids of the files at exactly that ``end_time`` that are
done: several files can share one ``end_time``, and one can complete while another with the
same ``end_time`` has not.
"""

from __future__ import annotations

import dataclasses
import typing as t

from tap_openai_compliance.listing import listing_after
from tap_openai_compliance.timestamps import format_timestamp, parse_timestamp

if t.TYPE_CHECKING:
    import datetime

    from tap_openai_compliance.listing import LogFile

DONE_AT_BOOKMARK = "log_files_at_bookmark"


@dataclasses.dataclass
class Bookmark:
    """A position in the ascending stream of files: everything up to it is handled.

    Covered are the files that end before ``end_time``, and those at exactly ``end_time``
    whose id is in ``ids``.
    """

    end_time: datetime.datetime
    ids: set[str] = dataclasses.field(default_factory=set)

    @classmethod
    def from_state(cls, state: t.Mapping[str, t.Any], start_date: str) -> Bookmark:
        """Where the last completed sync, or else ``start_date``, left off."""
        if value := state.get("replication_key_value"):
            return cls(parse_timestamp(value), set(state.get(DONE_AT_BOOKMARK, [])))
        return cls(parse_timestamp(start_date))

    def covers(self, log_file: LogFile) -> bool:
        """Whether the file is already handled."""
        return log_file.end_time < self.end_time or (
            log_file.end_time == self.end_time and log_file.id in self.ids
        )

    def advance(self, log_file: LogFile) -> None:
        """Mark one more file, the next in listing order, as handled."""
        if log_file.end_time > self.end_time:
            self.end_time = log_file.end_time
            self.ids = set()
        self.ids.add(log_file.id)

    def listing_after(self) -> str:
        """The ``after`` to list from so that no file not yet covered can be skipped."""
        return listing_after(self.end_time)

    def save_to(self, state: dict[str, t.Any], replication_key: str) -> None:
        """Write this bookmark into a stream's state."""
        state["replication_key"] = replication_key
        state["replication_key_value"] = format_timestamp(self.end_time)
        state[DONE_AT_BOOKMARK] = sorted(self.ids)
