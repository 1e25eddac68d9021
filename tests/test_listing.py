"""Listing pages: their entries, and paging past files that share an end_time."""

from __future__ import annotations

import io
import json
import logging

import pytest
import requests
import urllib3
from singer_sdk.exceptions import RetriableAPIError

from tap_openai_compliance.listing import (
    ListingPage,
    LogFile,
    LogFilePaginator,
    MalformedListingError,
    StuckCursorError,
    listing_page,
)
from tap_openai_compliance.wording import Masker

NO_SECRETS = Masker()
T = "2026-07-16T00:27:14Z"


def body_response(body: bytes) -> requests.Response:
    """A response with ``body``, as requests hands it over."""
    response = requests.Response()
    response.status_code = 200
    response.raw = urllib3.HTTPResponse(body=io.BytesIO(body), preload_content=False)
    return response


def listing_response(items: list[dict], *, has_more: bool) -> requests.Response:
    """A listing page as the API would send it."""
    last = items[-1]["end_time"] if items else None
    page = {"data": items, "has_more": has_more, "last_end_time": last}
    return body_response(json.dumps(page).encode())


def new_paginator(after: str, limit: int) -> LogFilePaginator:
    return LogFilePaginator(
        ListingPage(after, limit), "AUTH_LOG", NO_SECRETS, logging.getLogger("test")
    )


def test_the_next_page_starts_just_before_the_last_end_time():
    paginator = new_paginator("2026-07-01T00:00:00.000000Z", 2)
    items = [
        {"id": "a", "end_time": "2026-07-16T00:27:13.340496Z"},
        {"id": "b", "end_time": "2026-07-16T00:27:14Z"},
    ]

    paginator.advance(listing_response(items, has_more=True))

    assert paginator.current_value == ListingPage("2026-07-16T00:27:13.999999Z", 2)


def test_a_page_full_of_one_end_time_is_read_again_with_the_largest_page():
    tie = "2026-07-16T00:27:14Z"
    paginator = new_paginator("2026-07-16T00:27:13.999999Z", 2)

    paginator.advance(
        listing_response(
            [{"id": "a", "end_time": tie}, {"id": "b", "end_time": tie}], has_more=True
        )
    )

    assert paginator.current_value == ListingPage("2026-07-16T00:27:13.999999Z", 100)


def test_a_full_largest_page_of_one_end_time_cannot_advance_and_says_why():
    tie = "2026-07-16T00:27:14Z"
    paginator = new_paginator("2026-07-16T00:27:13.999999Z", 100)
    page = [{"id": str(n), "end_time": tie} for n in range(100)]

    with pytest.raises(StuckCursorError, match=r"More than 100 AUTH_LOG log files end at"):
        paginator.advance(listing_response(page, has_more=True))


@pytest.mark.parametrize(
    ("last_end_time", "says"),
    [
        ("soon", "last_end_time is 'soon', not a date-time"),
        (5, "last_end_time is 5, not a date-time"),
        ("2026-07-01T00:00:00Z", "is before the page's own start, 2026-07-16T00:27:13.999999Z"),
    ],
    ids=["not-a-date-time", "a-number", "going-back"],
)
def test_a_page_pointing_nowhere_or_back_stops_the_sync_saying_so(last_end_time, says):
    paginator = new_paginator("2026-07-16T00:27:13.999999Z", 100)
    page = {"data": [{"id": "a", "end_time": T}], "has_more": True, "last_end_time": last_end_time}

    with pytest.raises(MalformedListingError) as raised:
        paginator.advance(body_response(json.dumps(page).encode()))

    assert str(raised.value).startswith("Listing AUTH_LOG log files failed: the listing is ")
    assert says in str(raised.value)


def test_a_page_ending_exactly_where_it_started_is_followed_as_an_inclusive_after_reads():
    start = "2026-07-16T00:27:13.999999Z"
    paginator = new_paginator(start, 2)
    page = {"data": [{"id": "a", "end_time": start}], "has_more": True, "last_end_time": start}

    paginator.advance(body_response(json.dumps(page).encode()))

    assert paginator.current_value == ListingPage("2026-07-16T00:27:13.999998Z", 2)


def test_paging_stops_when_the_api_has_no_more():
    paginator = new_paginator("2026-07-01T00:00:00.000000Z", 100)

    paginator.advance(listing_response([], has_more=False))

    assert paginator.finished


@pytest.mark.parametrize(
    "body",
    [b"<html>Bad Gateway</html>", b'{"data": "none"}', b"[]", b'{"data": [{"id": "a"}'],
    ids=["html", "data-not-a-list", "array", "cut"],
)
def test_a_body_that_is_not_a_listing_is_worth_another_try(body):
    with pytest.raises(RetriableAPIError, match="the listing is not a JSON object with a 'data'"):
        listing_page(body_response(body), NO_SECRETS)


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"end_time": T}, "id is None"),
        ({"id": "", "end_time": T}, "id is ''"),
        ({"id": ".", "end_time": T}, "id is '.'"),
        ({"id": "..", "end_time": T}, "id is '..'"),
        ({"id": "../other", "end_time": T}, "id is '../other'"),
        ({"id": 7, "end_time": T}, "id is 7"),
        ({"id": "a"}, "end_time is None"),
        ({"id": "a", "end_time": "soon"}, "end_time is 'soon'"),
        ({"id": "a", "end_time": T, "file_sha256": 5}, "file_sha256 is 5"),
        ({"id": "a", "end_time": T, "file_sha256": "abc"}, "file_sha256 is 'abc'"),
        ({"id": "a", "end_time": T, "file_size": "12"}, "file_size is '12'"),
        ({"id": "a", "end_time": T, "file_size": True}, "file_size is True"),
        ({"id": "a", "end_time": T, "file_name": 5}, "file_name is 5"),
        ("a", "an entry is not an object"),
    ],
)
def test_an_entry_the_tap_cannot_trust_stops_the_sync_saying_which_field(entry, says):
    with pytest.raises(MalformedListingError) as raised:
        LogFile.from_listing(entry, "Listing X", NO_SECRETS)

    assert str(raised.value).startswith("Listing X failed: the listing is malformed (")
    assert says in str(raised.value)


def test_a_malformed_entry_echoing_the_key_is_quoted_masked():
    key = "sk-compliance-0123456789abcdef"

    with pytest.raises(MalformedListingError) as raised:
        LogFile.from_listing({"id": "a", "end_time": key.upper()}, "Listing X", Masker(key))

    assert "<redacted>" in str(raised.value)
    assert key.upper()[:10] not in str(raised.value)


def test_a_listed_entry_keeps_its_fields():
    sha = "ab" * 32
    entry = {"id": "eclf_1", "end_time": T, "file_name": "f", "file_size": 12, "file_sha256": sha}

    log_file = LogFile.from_listing(entry, "Listing X", NO_SECRETS)

    assert (log_file.id, log_file.file_name, log_file.file_size, log_file.file_sha256) == (
        "eclf_1",
        "f",
        12,
        sha,
    )
