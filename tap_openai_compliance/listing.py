"""Listing log files: the file records, the paging cursor and the resume point.

The API pages with ``after=<end_time>``. It is documented neither as inclusive nor as exclusive,
and several files can share one ``end_time``. So every request asks from one microsecond
*before* the cursor (both readings then return every file at the cursor's ``end_time``), and
files already seen are skipped by id. A resume point is kept the same way: an ``end_time``
plus the ids of the files at exactly that ``end_time`` that are done.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import typing as t

from singer_sdk.pagination import BaseAPIPaginator

from tap_openai_compliance.errors import ComplianceTapError

if t.TYPE_CHECKING:
    import requests

MAX_PAGE_SIZE = 100
ONE_MICROSECOND = datetime.timedelta(microseconds=1)
_FRACTION = re.compile(r"\.(\d+)")


class StuckCursorError(ComplianceTapError):
    """More files share one ``end_time`` than the largest page holds."""


def parse_timestamp(value: str) -> datetime.datetime:
    """Parse an ISO 8601 instant; a value without a zone is taken as UTC."""
    # Exactly six fraction digits and no "Z": Python 3.10's fromisoformat takes no other form.
    text = _FRACTION.sub(lambda m: "." + m[1][:6].ljust(6, "0"), value.strip(), count=1)
    text = text.replace("Z", "+00:00").replace("z", "+00:00")
    parsed = datetime.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)


def format_timestamp(value: datetime.datetime) -> str:
    """Format an instant the one way the tap writes them: UTC, microseconds, ``Z``."""
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclasses.dataclass(frozen=True)
class LogFile:
    """One log file as the listing describes it."""

    id: str
    event_type: str
    end_time: datetime.datetime
    file_name: str | None
    file_size: int | None
    file_sha256: str | None

    @classmethod
    def from_listing(cls, item: t.Mapping[str, t.Any]) -> LogFile:
        """Build from one item of a listing page's ``data``."""
        return cls(
            id=str(item["id"]),
            event_type=str(item.get("event_type", "")),
            end_time=parse_timestamp(str(item["end_time"])),
            file_name=item.get("file_name"),
            file_size=item.get("file_size"),
            file_sha256=item.get("file_sha256"),
        )


@dataclasses.dataclass
class FileCursor:
    """A position in the ascending stream of files: everything up to it has been handled.

    Covered are the files that end before ``end_time``, and those at exactly ``end_time``
    whose id is in ``ids``.
    """

    end_time: datetime.datetime
    ids: set[str] = dataclasses.field(default_factory=set)

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
        return format_timestamp(self.end_time - ONE_MICROSECOND)

    def copy(self) -> FileCursor:
        """An independent copy."""
        return FileCursor(self.end_time, set(self.ids))


class ListingPage(t.NamedTuple):
    """The paging token: where the next listing request starts, and how many it asks for."""

    after: str
    limit: int


class LogFilePaginator(BaseAPIPaginator[ListingPage]):
    """Follows ``has_more`` and ``last_end_time``, and refuses to loop on a full page of ties."""

    def __init__(self, start_value: ListingPage, event_type: str) -> None:
        super().__init__(start_value)
        self._event_type = event_type

    def has_more(self, response: requests.Response) -> bool:
        """Whether the API says more files follow."""
        return bool(response.json().get("has_more"))

    def get_next(self, response: requests.Response) -> ListingPage:
        """Ask again from just before the last file's ``end_time``; ties are skipped by id."""
        body = response.json()
        last_end_time = body.get("last_end_time") or body["data"][-1]["end_time"]
        token = ListingPage(
            format_timestamp(parse_timestamp(last_end_time) - ONE_MICROSECOND),
            self.current_value.limit,
        )
        if token != self.current_value:
            return token
        # The whole page shares one end_time: only a larger page can get past it.
        if token.limit < MAX_PAGE_SIZE:
            return token._replace(limit=MAX_PAGE_SIZE)
        msg = (
            f"More than {MAX_PAGE_SIZE} {self._event_type} log files end at {last_end_time}, "
            f"more than one listing page can hold, so the API's paging cannot get past them. "
            "Nothing after that point was synced and the bookmark stays before it; report the "
            "listing to OpenAI support."
        )
        raise StuckCursorError(msg)
