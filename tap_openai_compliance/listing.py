"""Listing log files: the listing's pages, its entries, and paging past files sharing an end_time.

The API pages with ``after=<end_time>``. It is documented neither as inclusive nor as exclusive,
and several files can share one ``end_time``. So every request asks from one microsecond
*before* the point reached (both readings then return every file at that ``end_time``), and the
stream skips files it already handed out by id (see ``bookmark.py``).
"""

from __future__ import annotations

import dataclasses
import datetime
import typing as t
import weakref

from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_openai_compliance.errors import ComplianceTapError
from tap_openai_compliance.timestamps import format_timestamp, parse_timestamp
from tap_openai_compliance.wording import quote_body

if t.TYPE_CHECKING:
    import requests

    from tap_openai_compliance.wording import Masker

MAX_PAGE_SIZE = 100
ONE_MICROSECOND = datetime.timedelta(microseconds=1)

# Each page is parsed once, though the stream and the paginator both read it.
_parsed_pages: weakref.WeakKeyDictionary[requests.Response, dict[str, t.Any]] = (
    weakref.WeakKeyDictionary()
)


class StuckCursorError(ComplianceTapError):
    """More files share one ``end_time`` than the largest page holds."""


class MalformedListingError(ComplianceTapError):
    """A listing entry the tap cannot tell the file of."""


def listing_page(response: requests.Response, mask: Masker) -> dict[str, t.Any]:
    """The page's JSON object; a body that is not one is worth another try."""
    if (page := _parsed_pages.get(response)) is not None:
        return page
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        # A proxy's error page or a cut body, most likely.
        quoted = quote_body(response, mask)
        msg = f"the listing is not a JSON object with a 'data' list: {quoted}"
        raise RetriableAPIError(msg, response)
    _parsed_pages[response] = body
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
    def from_listing(cls, item: t.Any, subject: str) -> LogFile:
        """Build from one item of a page's ``data``; ``subject`` names the listing in errors."""
        try:
            return cls(
                id=str(item["id"]),
                end_time=parse_timestamp(str(item["end_time"])),
                file_name=item.get("file_name"),
                file_size=item.get("file_size"),
                file_sha256=item.get("file_sha256"),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            msg = (
                f"{subject} failed: an entry lacks a valid id or end_time, so the tap cannot "
                "tell which files it covers. Report the listing to OpenAI support."
            )
            raise MalformedListingError(msg) from None


class ListingPage(t.NamedTuple):
    """The paging token: where the next listing request starts, and how many it asks for."""

    after: str
    limit: int


def listing_after(end_time: datetime.datetime) -> str:
    """The ``after`` that lists every file ending at ``end_time`` or later, either reading."""
    return format_timestamp(end_time - ONE_MICROSECOND)


class LogFilePaginator(BaseAPIPaginator[ListingPage]):
    """Follows ``has_more`` and ``last_end_time``, and refuses to loop on a full page of ties."""

    def __init__(self, start_value: ListingPage, event_type: str, mask: Masker) -> None:
        super().__init__(start_value)
        self._event_type = event_type
        self._mask = mask

    @override
    def has_more(self, response: requests.Response) -> bool:
        return bool(listing_page(response, self._mask).get("has_more"))

    @override
    def get_next(self, response: requests.Response) -> ListingPage:
        """Ask again from just before the last file's ``end_time``; ties are skipped by id."""
        body = listing_page(response, self._mask)
        last_end_time = body.get("last_end_time") or body["data"][-1]["end_time"]
        token = ListingPage(listing_after(parse_timestamp(last_end_time)), self.current_value.limit)
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
