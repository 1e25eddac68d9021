"""The resume point: which files a stream's state says are done."""

from __future__ import annotations

from datetime import datetime, timezone

from tap_openai_compliance.bookmark import Bookmark
from tap_openai_compliance.listing import LogFile

T1 = datetime(2026, 7, 16, 0, 27, 13, 340496, tzinfo=timezone.utc)
T2 = datetime(2026, 7, 16, 0, 27, 14, tzinfo=timezone.utc)


def log_file(file_id: str, end_time: datetime) -> LogFile:
    return LogFile(file_id, end_time, None, None, None)


def test_a_bookmark_covers_earlier_files_and_the_done_ones_at_its_end_time():
    bookmark = Bookmark(T2, {"b"})

    assert bookmark.covers(log_file("a", T1))
    assert bookmark.covers(log_file("b", T2))
    assert not bookmark.covers(log_file("c", T2))


def test_advancing_past_an_end_time_forgets_the_ids_before_it():
    bookmark = Bookmark(T1, {"a"})

    bookmark.advance(log_file("b", T1))
    assert bookmark.ids == {"a", "b"}
    bookmark.advance(log_file("c", T2))
    assert (bookmark.end_time, bookmark.ids) == (T2, {"c"})


def test_listing_starts_just_before_the_bookmark_so_ties_come_back_either_way():
    assert Bookmark(T2).listing_after() == "2026-07-16T00:27:13.999999Z"


def test_a_bookmark_saved_into_state_is_read_back_the_same():
    state: dict = {}
    Bookmark(T2, {"b", "a"}).save_to(state, "_sdc_log_file_end_time")

    assert state == {
        "replication_key": "_sdc_log_file_end_time",
        "replication_key_value": "2026-07-16T00:27:14.000000Z",
        "log_files_at_bookmark": ["a", "b"],
    }
    assert Bookmark.from_state(state, "2026-01-01T00:00:00Z") == Bookmark(T2, {"a", "b"})


def test_without_state_a_sync_starts_at_start_date():
    assert Bookmark.from_state({}, "2026-07-16T00:27:14Z") == Bookmark(T2, set())
