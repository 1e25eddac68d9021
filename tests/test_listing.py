"""The paging cursor and the resume point, on their own."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests

from tap_openai_compliance.listing import (
    FileCursor,
    ListingPage,
    LogFile,
    LogFilePaginator,
    StuckCursorError,
    format_timestamp,
    parse_timestamp,
)

T1 = datetime(2026, 7, 16, 0, 27, 13, 340496, tzinfo=timezone.utc)
T2 = datetime(2026, 7, 16, 0, 27, 14, tzinfo=timezone.utc)


def log_file(file_id: str, end_time: datetime) -> LogFile:
    return LogFile(file_id, "AUTH_LOG", end_time, None, None, None)


def listing_response(items: list[dict], *, has_more: bool) -> requests.Response:
    """A listing page as the API would send it."""
    import json

    response = requests.Response()
    response.status_code = 200
    last = items[-1]["end_time"] if items else None
    response._content = json.dumps(
        {"data": items, "has_more": has_more, "last_end_time": last}
    ).encode()
    return response


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-07-16T00:27:13.340496Z", T1),
        ("2026-07-16T00:27:13.340496+00:00", T1),
        ("2026-07-16T02:27:13.340496+02:00", T1),
        ("2026-07-16T00:27:13.340496789Z", T1),
        ("2026-07-16T00:27:14Z", T2),
        ("2026-07-16T00:27:13.5Z", T1.replace(microsecond=500000)),
        ("2026-07-16T00:27:14", T2),
    ],
)
def test_timestamps_parse_in_every_form_the_api_and_users_write(text, expected):
    assert parse_timestamp(text) == expected


def test_timestamps_are_written_one_way_so_they_sort_as_text():
    assert format_timestamp(T2) == "2026-07-16T00:27:14.000000Z"
    assert format_timestamp(T1) < format_timestamp(T2)


def test_a_cursor_covers_earlier_files_and_the_done_ones_at_its_end_time():
    cursor = FileCursor(T2, {"b"})

    assert cursor.covers(log_file("a", T1))
    assert cursor.covers(log_file("b", T2))
    assert not cursor.covers(log_file("c", T2))


def test_advancing_past_an_end_time_forgets_the_ids_before_it():
    cursor = FileCursor(T1, {"a"})

    cursor.advance(log_file("b", T1))
    assert cursor.ids == {"a", "b"}
    cursor.advance(log_file("c", T2))
    assert (cursor.end_time, cursor.ids) == (T2, {"c"})


def test_listing_starts_just_before_the_cursor_so_ties_come_back_either_way():
    assert FileCursor(T2).listing_after() == "2026-07-16T00:27:13.999999Z"


def test_the_next_page_starts_just_before_the_last_end_time():
    paginator = LogFilePaginator(ListingPage("2026-07-01T00:00:00.000000Z", 2), "AUTH_LOG")
    items = [
        {"id": "a", "end_time": "2026-07-16T00:27:13.340496Z"},
        {"id": "b", "end_time": "2026-07-16T00:27:14Z"},
    ]

    paginator.advance(listing_response(items, has_more=True))

    assert paginator.current_value == ListingPage("2026-07-16T00:27:13.999999Z", 2)


def test_a_page_full_of_one_end_time_is_read_again_with_the_largest_page():
    tie = "2026-07-16T00:27:14Z"
    paginator = LogFilePaginator(ListingPage("2026-07-16T00:27:13.999999Z", 2), "AUTH_LOG")

    paginator.advance(
        listing_response(
            [{"id": "a", "end_time": tie}, {"id": "b", "end_time": tie}], has_more=True
        )
    )

    assert paginator.current_value == ListingPage("2026-07-16T00:27:13.999999Z", 100)


def test_a_full_largest_page_of_one_end_time_cannot_advance_and_says_why():
    tie = "2026-07-16T00:27:14Z"
    paginator = LogFilePaginator(ListingPage("2026-07-16T00:27:13.999999Z", 100), "AUTH_LOG")
    page = [{"id": str(n), "end_time": tie} for n in range(100)]

    with pytest.raises(StuckCursorError, match=r"More than 100 AUTH_LOG log files end at"):
        paginator.advance(listing_response(page, has_more=True))


def test_paging_stops_when_the_api_has_no_more():
    paginator = LogFilePaginator(ListingPage("2026-07-01T00:00:00.000000Z", 100), "AUTH_LOG")

    paginator.advance(listing_response([], has_more=False))

    assert paginator.finished
