"""Reading log file bodies: each line loads whole, or is reported whole with why."""

from __future__ import annotations

import gzip

import pytest

from tap_openai_compliance.parsing import read_lines


def lines_of(tmp_path, body: bytes) -> list[tuple[int, list[dict], str | None]]:
    """(line number, events, problem) for each non-blank line of ``body``."""
    path = tmp_path / "body"
    path.write_bytes(body)
    return [(line.number, line.events, line.problem) for line in read_lines(path)]


def test_lines_are_numbered_as_in_the_file_counting_blank_ones(tmp_path):
    body = b'{"event_id":"a"}\r\n\r\n   \n{"event_id":"b"}\n{"event_id":"c"}'

    assert lines_of(tmp_path, body) == [
        (1, [{"event_id": "a"}], None),
        (4, [{"event_id": "b"}], None),
        (5, [{"event_id": "c"}], None),
    ]


def test_a_gzip_body_is_read_by_its_magic_bytes(tmp_path):
    body = gzip.compress(b'{"event_id":"a"}\nnot json\n')

    assert lines_of(tmp_path, body) == [
        (1, [{"event_id": "a"}], None),
        (2, [], "not valid JSON (Expecting value at column 1)"),
    ]


def test_objects_back_to_back_on_one_line_are_separate_events(tmp_path):
    body = b'{"event_id":"a","n":{"x":[1,2]}}  {"event_id":"b"}{"event_id":"c"}\n'

    assert lines_of(tmp_path, body) == [
        (1, [{"event_id": "a", "n": {"x": [1, 2]}}, {"event_id": "b"}, {"event_id": "c"}], None)
    ]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"hello", "not valid JSON (Expecting value at column 1)"),
        (b'{"event_id": "a",', "not valid JSON (Expecting property name enclosed in double "),
        (b"[1, 2]", "not a JSON object"),
        (b'"just a string"', "not a JSON object"),
        (b'{"event_id":"a"}[1]', "not a JSON object"),
        (b'{"event_id":"a"}{"event_id":', "not valid JSON (Expecting value at column 29)"),
        (b'\xff{"event_id":"a"}', "not UTF-8 text"),
    ],
    ids=["text", "cut", "array", "string", "object-then-array", "object-then-cut", "not-utf8"],
)
def test_a_bad_line_yields_no_events_and_says_why(tmp_path, raw, problem):
    ((number, events, found),) = lines_of(tmp_path, raw + b"\n")

    assert number == 1
    assert events == []
    assert found is not None
    assert found.startswith(problem)


def test_a_line_keeps_its_raw_text_whole_without_its_line_ending(tmp_path):
    long_text = "x" * 3_000_000
    path = tmp_path / "body"
    path.write_bytes(b'{"event_id":"a"}\n' + long_text.encode() + b"\r\n\xfe\xff\n")

    lines = list(read_lines(path))

    assert [line.text() for line in lines] == ['{"event_id":"a"}', long_text, "\\xfe\\xff"]
