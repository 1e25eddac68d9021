"""Listing log files: the listing's pages, its entries, and paging past files sharing an end_time.

The API pages with ``after=<end_time>``. The reference documents it as strictly later, connectors
report the boundary file coming back, and several files can share one ``end_time``. So every
request asks from one microsecond *before* the point reached (both readings then return every
file at that ``end_time``), and the stream skips files it already handed out by id (see
``bookmark.py``).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import typing as t

from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_openai_compliance.errors import ComplianceTapError
from tap_openai_compliance.pages import once_per_response, read_page
from tap_openai_compliance.timestamps import (
    OUT_OF_RANGE,
    OutOfRangeError,
    format_timestamp,
    latest_trusted,
    parse_timestamp,
)
from tap_openai_compliance.wording import shown

if t.TYPE_CHECKING:
    import logging

    import requests

    from tap_openai_compliance.wording import Masker

MAX_PAGE_SIZE = 100
MAX_FILE_ID_LENGTH = 256
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
R = t.TypeVar("R")
# A page of 100 entries takes about 30 KB: an answer far larger is no listing.
MAX_LISTING_BYTES = 16 * 2**20
ONE_MICROSECOND = datetime.timedelta(microseconds=1)
# Pages in a row that list no file not handed out before: past this, has_more is not believed.
MAX_PAGES_WITHOUT_NEW_FILE = 100


class StuckCursorError(ComplianceTapError):
    """More files share one ``end_time`` than the largest page holds."""


class MalformedListingError(ComplianceTapError):
    """A listing entry the tap cannot tell the file of."""


@once_per_response
def listing_page(response: requests.Response, mask: Masker) -> dict[str, t.Any]:
    """The page's JSON object; a body that is not one is worth another try."""
    body, _ = read_page(
        response,
        MAX_LISTING_BYTES,
        named="the listing",
        oversize=(
            f"the listing answered more than {MAX_LISTING_BYTES // 2**20} MiB, far more than "
            "a page of log files takes"
        ),
        mask=mask,
    )
    return body


@dataclasses.dataclass(frozen=True)
class LogFile:
    """One log file as the listing describes it."""

    id: str
    end_time: datetime.datetime
    file_name: str | None
    file_size: int | None
    file_sha256: str | None

    @classmethod
    def from_listing(cls, item: t.Any, subject: str, mask: Masker) -> LogFile:
        """Build from one item of a page's ``data``; ``subject`` names the listing in errors."""
        try:
            if not isinstance(item, dict):
                raise TypeError("an entry is not an object")
            return cls(
                id=_file_id(item.get("id")),
                end_time=_end_time(item.get("end_time")),
                file_name=_optional(item, "file_name", str),
                file_size=_size(item.get("file_size")),
                file_sha256=_sha256(item.get("file_sha256")),
            )
        except (TypeError, ValueError) as exc:
            raise malformed_listing(subject, str(exc), mask) from None


def listing_subject(feed: str) -> str:
    """What listing the files of the feed named ``feed`` is, in messages."""
    return f"Listing {feed} log files"


def malformed_listing(subject: str, problem: str, mask: Masker) -> MalformedListingError:
    """The one error for a listing the tap cannot follow, ``subject`` naming the listing.

    ``problem`` quotes what the server sent, which could echo the key.
    """
    msg = (
        f"{subject} failed: the listing is malformed ({mask(problem)}), so the tap cannot tell "
        "which files it covers or check them. Nothing after the last STATE is lost; "
        "report the listing to OpenAI support."
    )
    return MalformedListingError(msg)


def _file_id(value: t.Any) -> str:
    """A log file id the tap can put in a download URL: no path of its own."""
    if (
        not isinstance(value, str)
        or value in ("", ".", "..")
        or len(value) > MAX_FILE_ID_LENGTH
        or not value.isprintable()
        or any(char in value for char in "/\\ ")
    ):
        raise ValueError(f"an entry's id is {shown(value)}, not a log file id")
    return value


def _end_time(value: t.Any, name: str = "an entry's end_time") -> datetime.datetime:
    """A date-time of the listing, ``name`` saying which in errors."""
    if not isinstance(value, str):
        raise TypeError(f"{name} is {shown(value)}, not a date-time")
    try:
        return parse_timestamp(value)
    except OutOfRangeError:
        raise ValueError(f"{name} is {shown(value)}, {OUT_OF_RANGE}") from None
    except ValueError:
        raise ValueError(f"{name} is {shown(value)}, not a date-time") from None


def _optional(item: dict[str, t.Any], name: str, kind: type[R]) -> R | None:
    """An optional field of an entry, of the one type it may have."""
    value = item.get(name)
    # bool is an int to Python, never a size to the API.
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise TypeError(f"an entry's {name} is {shown(value)}, not a {kind.__name__}")


def _size(value: t.Any) -> int | None:
    """An entry's file_size: a count of bytes, if given."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise ValueError(f"an entry's file_size is {shown(value)}, not a size in bytes")


def _sha256(value: t.Any) -> str | None:
    """An entry's SHA-256: 64 hexadecimal digits, if given."""
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise ValueError(f"an entry's file_sha256 is {shown(value)}, not a SHA-256")
    return value


class ListingPage(t.NamedTuple):
    """The paging token: where the next listing request starts, and how many it asks for."""

    after: str
    limit: int


def listing_after(end_time: datetime.datetime) -> str:
    """The ``after`` that lists every file ending at ``end_time`` or later, either reading."""
    return format_timestamp(end_time - ONE_MICROSECOND)


class LogFilePaginator(BaseAPIPaginator[ListingPage]):
    """Follows ``has_more`` and ``last_end_time``, within bounds.

    It refuses to loop on a full page of ties, to page on without end through pages that list
    no new file, and to page into the future: an ``after`` past the present would skip every
    file not listed yet, so paging stops there for this run, ``held_at`` saying where.
    """

    def __init__(
        self, start_value: ListingPage, feed: str, mask: Masker, logger: logging.Logger
    ) -> None:
        super().__init__(start_value)
        self._feed = feed
        self._subject = listing_subject(feed)
        self._mask = mask
        self._logger = logger
        self._pages_without_new_file = 0
        self.held_at: str | None = None

    @property
    def position(self) -> str | None:
        """The ``after`` before which every file was listed, while files may follow it."""
        return self.held_at or (None if self.finished else self.current_value.after)

    def new_file_listed(self) -> None:
        """Note that the page in hand listed a file not handed out before."""
        self._pages_without_new_file = 0

    @override
    def has_more(self, response: requests.Response) -> bool:
        body = listing_page(response, self._mask)
        if not body.get("has_more"):
            return False
        end_time = self._last_end_time(body)
        if end_time > latest_trusted():
            self.held_at = self.current_value.after
            self._logger.warning(
                "%s: the listing's next page would start at %s, in the future: paging stops "
                "here for this run, and the bookmark stays before it. Check this machine's "
                "clock, or report the listing to OpenAI support.",
                self._feed,
                format_timestamp(end_time),
            )
            return False
        return True

    @override
    def get_next(self, response: requests.Response) -> ListingPage:
        """Ask again from just before the last file's ``end_time``; ties are skipped by id."""
        body = listing_page(response, self._mask)
        self._pages_without_new_file += 1
        if self._pages_without_new_file > MAX_PAGES_WITHOUT_NEW_FILE:
            msg = (
                f"{self._subject} failed: the API answered {MAX_PAGES_WITHOUT_NEW_FILE} pages "
                "in a row that listed no new log file while saying more would follow "
                "(has_more), so the tap stopped paging rather than page on without end. "
                "Nothing after the last STATE is lost; report the listing to OpenAI support."
            )
            raise StuckCursorError(msg)
        end_time = self._last_end_time(body)
        token = ListingPage(listing_after(end_time), self.current_value.limit)
        if token != self.current_value:
            return token
        # The whole page shares one end_time: only a larger page can get past it.
        if token.limit < MAX_PAGE_SIZE:
            return token._replace(limit=MAX_PAGE_SIZE)
        at = format_timestamp(end_time)
        if len(body["data"]) < token.limit:
            msg = (
                f"{self._subject} failed: the API said more {self._feed} log files follow "
                f"(has_more), but its page of {len(body['data'])} files does not move past "
                f"{at}, so paging cannot go on. Nothing after that point was synced and the "
                "bookmark stays before it; report the listing to OpenAI support."
            )
        else:
            msg = (
                f"More than {MAX_PAGE_SIZE} {self._feed} log files end at {at}, more than one "
                "listing page can hold, so the API's paging cannot get past them. Nothing "
                "after that point was synced and the bookmark stays before it; report the "
                "listing to OpenAI support."
            )
        raise StuckCursorError(msg)

    def _last_end_time(self, body: dict[str, t.Any]) -> datetime.datetime:
        """Where the page ends: its ``last_end_time``, checked, or its last entry's."""
        # The stream has checked the page's entries, and the SDK asks for no next page
        # after an empty one.
        last_end_time = body.get("last_end_time") or body["data"][-1]["end_time"]
        try:
            end_time = _end_time(last_end_time, "a page's last_end_time")
        except (TypeError, ValueError) as exc:
            raise malformed_listing(self._subject, str(exc), self._mask) from None
        # Either reading of ``after`` lists nothing that ends before it (an inclusive one may
        # list a file ending exactly there). Followed, a page going back would list again what
        # was listed, and end in a misleading error.
        if end_time < parse_timestamp(self.current_value.after):
            problem = (
                f"a page's last_end_time {shown(last_end_time)} is before the page's own "
                f"start, {self.current_value.after}"
            )
            raise malformed_listing(self._subject, problem, self._mask)
        return end_time
