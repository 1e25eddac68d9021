"""The bookmark: which files a stream's state says are done, and how its window moves."""

from __future__ import annotations

import typing as t
from datetime import UTC, datetime, timedelta

import pytest

from tap_openai_compliance.bookmark import Bookmark, UnusableStateError
from tap_openai_compliance.listing import LogFile

T0 = datetime(2026, 7, 16, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
START = "2026-07-01T00:00:00Z"


def log_file(file_id: str, end_time: datetime) -> LogFile:
    return LogFile(file_id, end_time, None, None, None)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_a_bookmark_covers_files_before_its_window_and_the_done_ones_in_it():
    bookmark = Bookmark(at(1), {"b": at(1), "c": at(2)}, at(2))

    assert bookmark.covers(log_file("a", at(0.5)))
    assert bookmark.covers(log_file("b", at(1)))
    assert bookmark.covers(log_file("c", at(2)))
    assert not bookmark.covers(log_file("tie", at(1)))
    assert not bookmark.covers(log_file("late", at(1.5)))


def test_the_window_trails_the_latest_done_file_by_the_lookback_and_forgets_what_it_passed():
    bookmark = Bookmark(at(0))

    for hour in range(5):
        bookmark.complete(log_file(f"f{hour}", at(hour)), HOUR)

    assert bookmark.done_since == at(3)
    assert bookmark.done == {"f3": at(3), "f4": at(4)}
    assert bookmark.latest == at(4)
    assert bookmark.listing_after() == "2026-07-16T02:59:59.999999Z"


def test_without_lookback_the_window_starts_at_the_latest_file_keeping_its_ties():
    bookmark = Bookmark(at(0))

    bookmark.complete(log_file("a", at(1)), timedelta(0))
    bookmark.complete(log_file("b", at(1)), timedelta(0))

    assert bookmark.done_since == at(1)
    assert bookmark.done == {"a": at(1), "b": at(1)}
    assert not bookmark.covers(log_file("c", at(1)))


def test_the_window_never_passes_a_file_listed_but_not_complete_nor_the_listing_position():
    bookmark = Bookmark(at(0))

    bookmark.complete(log_file("far", at(10)), HOUR, not_past=[at(2), at(5)])

    assert bookmark.done_since == at(2)
    assert not bookmark.covers(log_file("pending", at(2)))
    assert not bookmark.covers(log_file("unlisted", at(5)))


def test_the_window_never_moves_back():
    bookmark = Bookmark(at(3))

    bookmark.complete(log_file("late", at(3.5)), HOUR)

    assert bookmark.done_since == at(3)
    assert bookmark.covers(log_file("late", at(3.5)))


def test_a_bookmark_saved_into_state_is_read_back_the_same():
    bookmark = Bookmark(at(1), {"b": at(2), "a": at(1)}, at(2))
    state: dict = {}

    bookmark.save_to(state, "_sdc_log_file_end_time")

    assert state == {
        "replication_key": "_sdc_log_file_end_time",
        "replication_key_value": "2026-07-16T02:00:00.000000Z",
        "log_files_done_since": "2026-07-16T01:00:00.000000Z",
        "log_files_done": {
            "a": "2026-07-16T01:00:00.000000Z",
            "b": "2026-07-16T02:00:00.000000Z",
        },
    }
    assert Bookmark.from_state(state, START, "auth_log") == bookmark


def test_state_of_the_release_before_the_window_reads_the_same_files_as_done():
    old: dict[str, t.Any] = {
        "replication_key": "_sdc_log_file_end_time",
        "replication_key_value": "2026-07-16T01:00:00.000000Z",
        "log_files_at_bookmark": ["a"],
    }

    bookmark = Bookmark.from_state(old, START, "auth_log")

    assert bookmark.covers(log_file("before", at(0.5)))
    assert bookmark.covers(log_file("a", at(1)))
    assert not bookmark.covers(log_file("tie", at(1)))
    assert not bookmark.covers(log_file("after", at(1.5)))
    bookmark.save_to(old, "_sdc_log_file_end_time")
    assert "log_files_at_bookmark" not in old
    assert old["log_files_done"] == {"a": "2026-07-16T01:00:00.000000Z"}


def test_without_state_a_sync_starts_at_start_date():
    assert Bookmark.from_state({}, START, "auth_log") == Bookmark(datetime(2026, 7, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("state", "says"),
    [
        ({"replication_key_value": "last tuesday"}, "Invalid isoformat"),
        ({"replication_key_value": 5}, "5 is not a date-time"),
        (
            {"replication_key_value": "2026-07-16T01:00:00Z", "log_files_at_bookmark": [7]},
            "7 is not a log file id",
        ),
        (
            {"replication_key_value": "2026-07-16T01:00:00Z", "log_files_at_bookmark": "a"},
            "log_files_at_bookmark is not a list",
        ),
        (
            {
                "replication_key_value": "2026-07-16T01:00:00Z",
                "log_files_done_since": "2026-07-16T00:00:00Z",
                "log_files_done": ["a"],
            },
            "log_files_done is not an object",
        ),
        (
            {
                "replication_key_value": "2026-07-16T01:00:00Z",
                "log_files_done_since": None,
                "log_files_done": {},
            },
            "None is not a date-time",
        ),
    ],
)
def test_a_state_in_another_shape_stops_with_a_message_naming_the_stream(state, says):
    with pytest.raises(UnusableStateError) as raised:
        Bookmark.from_state(state, START, "auth_log")

    message = str(raised.value)
    assert message.startswith("The state's bookmark of stream auth_log is not usable")
    assert says in message
