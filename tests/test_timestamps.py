"""Instants, read in every form the API and users write them, written one way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tap_openai_compliance.timestamps import format_timestamp, parse_timestamp

T1 = datetime(2026, 7, 16, 0, 27, 13, 340496, tzinfo=UTC)
T2 = datetime(2026, 7, 16, 0, 27, 14, tzinfo=UTC)


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
