"""Which log files of a stream are done, as kept in the stream's state between runs.

The API should list files in ascending ``end_time``, but a slow writer can publish a file
after later ones were listed, and a page can come unsorted. So a bookmark is a window: every
file ending before ``done_since`` is done, and of the files ending at or after it, those whose
id is in ``done``. The window's start trails the latest completed file by the lookback, and
never passes a file that is listed but not yet complete, nor the point the listing reached:
a STATE never covers a file whose records were not all emitted, in any order of listing.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing as t

from tap_openai_compliance.errors import ComplianceTapError
from tap_openai_compliance.listing import listing_after
from tap_openai_compliance.timestamps import format_timestamp, latest_trusted, parse_timestamp

if t.TYPE_CHECKING:
    from tap_openai_compliance.listing import LogFile

DONE_SINCE = "log_files_done_since"
DONE = "log_files_done"
# The release before the window kept the ids of the files at exactly the bookmark's end_time.
DONE_AT_BOOKMARK = "log_files_at_bookmark"


class UnusableStateError(ComplianceTapError):
    """A state the tap cannot read its bookmarks from."""


def given_state(state: t.Any) -> tuple[dict[str, t.Any], str | None]:
    """The Singer state a run was given, checked, and what it was given as, if not as such.

    People save the last STATE line of a run, or what ``meltano state get`` prints, rather
    than the state itself: both are taken for what they hold, never as "no state" (which
    would start again from start_date without a word).
    """
    wrapped = None
    if isinstance(state, dict) and state.get("type") == "STATE" and "value" in state:
        state, wrapped = state["value"], "a whole STATE message"
    elif isinstance(state, dict) and "singer_state" in state:
        state, wrapped = state["singer_state"], "what meltano state get prints"
    bookmarks = state.get("bookmarks", {}) if isinstance(state, dict) else None
    if not isinstance(bookmarks, dict) or not all(
        isinstance(bookmark, dict) for bookmark in bookmarks.values()
    ):
        msg = (
            "The state given is not a Singer state (an object whose bookmarks are objects). "
            "Give the tap the state it last wrote (the value of its last STATE message), or "
            "none to start from start_date."
        )
        raise UnusableStateError(msg)
    return t.cast("dict[str, t.Any]", state), wrapped


@dataclasses.dataclass
class Bookmark:
    """The files of one stream that are done: a window start, and the ids done after it."""

    done_since: datetime.datetime
    done: dict[str, datetime.datetime] = dataclasses.field(default_factory=dict)
    latest: datetime.datetime | None = None
    # A state's bookmark in the future is not trusted: the stream starts again from
    # start_date, and this says where that bookmark was.
    distrusted: datetime.datetime | None = None

    @classmethod
    def from_state(cls, state: t.Mapping[str, t.Any], start_date: str, stream: str) -> Bookmark:
        """Where the last sync left off, or else ``start_date``; a state in another shape fails.

        A bookmark past the present (a clock or a listing gone wrong) would skip every file of
        the present, for good: the stream starts again from ``start_date`` instead.
        """
        if not state.get("replication_key_value"):
            return cls(parse_timestamp(start_date))
        bookmark = cls._read(state, stream)
        furthest = max(bookmark.done_since, bookmark.latest or bookmark.done_since)
        if furthest > latest_trusted():
            return cls(parse_timestamp(start_date), distrusted=furthest)
        return bookmark

    @classmethod
    def _read(cls, state: t.Mapping[str, t.Any], stream: str) -> Bookmark:
        """The bookmark a state holds, in either of its shapes."""
        try:
            latest = _instant(state.get("replication_key_value"))
            if DONE_SINCE in state:
                done = state.get(DONE, {})
                if not isinstance(done, dict):
                    raise TypeError(f"{DONE} is not an object of log file ids and end times")
                return cls(
                    _instant(state[DONE_SINCE]),
                    {_file_id(file_id): _instant(end) for file_id, end in done.items()},
                    latest,
                )
            # State of the release before the window: done up to the bookmark, and the
            # files listed at exactly the bookmark's end_time.
            at_bookmark = state.get(DONE_AT_BOOKMARK, [])
            if not isinstance(at_bookmark, list):
                raise TypeError(f"{DONE_AT_BOOKMARK} is not a list of log file ids")
            return cls(latest, {_file_id(file_id): latest for file_id in at_bookmark}, latest)
        except (TypeError, ValueError) as exc:
            msg = (
                f"The state's bookmark of stream {stream} is not usable ({exc}). Give the tap "
                "the state it last wrote (the value of its last STATE message), or clear the "
                "state to start again from start_date."
            )
            raise UnusableStateError(msg) from None

    def covers(self, log_file: LogFile) -> bool:
        """Whether the file is done."""
        return log_file.end_time < self.done_since or log_file.id in self.done

    def listing_after(self) -> str:
        """The ``after`` to list from so that no file not yet done can be skipped."""
        return listing_after(self.done_since)

    def complete(
        self,
        log_file: LogFile,
        lookback: datetime.timedelta,
        not_past: t.Iterable[datetime.datetime] = (),
    ) -> None:
        """Mark ``log_file`` done, and move the window as far as is safe.

        ``not_past`` holds the instants the window must not pass: the end times of files
        listed but not complete, and the point the listing has reached.
        """
        self.done[log_file.id] = log_file.end_time
        # A file said to end in the future is done, but the window never passes the present.
        end_time = min(log_file.end_time, latest_trusted())
        if self.latest is None or end_time > self.latest:
            self.latest = end_time
        start = min([self.latest - lookback, *not_past])
        if start > self.done_since:
            self.done_since = start
            self.done = {id_: end for id_, end in self.done.items() if end >= start}

    def save_to(self, state: dict[str, t.Any], replication_key: str) -> None:
        """Write this bookmark into a stream's state, in place of any older form."""
        state.pop(DONE_AT_BOOKMARK, None)
        state["replication_key"] = replication_key
        if self.latest is not None:
            state["replication_key_value"] = format_timestamp(self.latest)
        state[DONE_SINCE] = format_timestamp(self.done_since)
        state[DONE] = {
            file_id: format_timestamp(end)
            for file_id, end in sorted(self.done.items(), key=lambda item: (item[1], item[0]))
        }


def _instant(value: t.Any) -> datetime.datetime:
    """A date-time kept in the state."""
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a date-time")
    return parse_timestamp(value)


def _file_id(value: t.Any) -> str:
    """A log file id kept in the state."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"{value!r} is not a log file id")
    return value
