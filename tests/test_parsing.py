"""Reading log file bodies: each line loads whole, or is reported whole with why."""

from __future__ import annotations

import gzip
import inspect
import re
import sys

import msgspec
import pytest

from tap_openai_compliance.parsing import MAX_NESTING, read_lines

MIB = 2**20


def lines_of(
    tmp_path, body: bytes, max_line_bytes: int = 32 * MIB
) -> list[tuple[int, list[dict], str | None]]:
    """(line number, events, problem) for each non-blank line of ``body``."""
    path = tmp_path / "body"
    path.write_bytes(body)
    return [(line.number, line.events, line.problem) for line in read_lines(path, max_line_bytes)]


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
        (b'{"event_id":"\xed\xa0\x80"}', "not UTF-8 text"),
        (b'{"a":"' + b"[" * 1000, "not valid JSON (Unterminated string starting at column 6)"),
    ],
    ids=[
        "text",
        "cut",
        "array",
        "string",
        "object-then-array",
        "object-then-cut",
        "not-utf8",
        "utf8-encoded-surrogate",
        "brackets-in-a-cut-string",
    ],
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

    lines = list(read_lines(path, 32 * MIB))

    assert [line.text() for line in lines] == ['{"event_id":"a"}', long_text, "\\xfe\\xff"]


# Lines too long to hold


def test_a_line_longer_than_the_limit_keeps_its_start_and_the_next_lines_still_load(tmp_path):
    limit = 3 * MIB // 2
    path = tmp_path / "body"
    path.write_bytes(
        b'{"event_id":"a"}\n'
        + b'{"event_id":"big","pad":"' + b"x" * (4 * MIB) + b'"}\r\n'
        + b"\n"
        + b'{"event_id":"b"}\n'
    )  # fmt: skip

    lines = list(read_lines(path, limit))

    assert [(line.number, line.events, line.problem) for line in lines] == [
        (1, [{"event_id": "a"}], None),
        (
            2,
            [],
            "longer than the 1.5 MiB a line may hold; only its first 65,536 bytes are kept here",
        ),
        (4, [{"event_id": "b"}], None),
    ]
    assert lines[1].raw == (b'{"event_id":"big","pad":"' + b"x" * MIB)[: 64 * 1024]


def test_the_limit_counts_the_line_ending_and_a_long_last_line_needs_no_ending(tmp_path):
    limit = 100_000
    fits = b'{"pad":"' + b"x" * (limit - 11) + b'"}\n'
    over = b'{"pad":"' + b"x" * (limit - 10) + b'"}\n'
    body = fits + over + fits + b'{"pad":"' + b"x" * limit
    assert (len(fits), len(over)) == (limit, limit + 1)
    path = tmp_path / "body"
    path.write_bytes(body)

    lines = list(read_lines(path, limit))

    too_long = (
        "longer than the 0.0953674 MiB a line may hold; only its first 65,536 bytes are kept here"
    )
    assert [(line.number, len(line.raw), line.problem) for line in lines] == [
        (1, limit, None),
        (2, 64 * 1024, too_long),
        (3, limit, None),
        (4, 64 * 1024, too_long),
    ]


def test_a_limit_under_what_a_long_line_keeps_says_how_much_it_keeps(tmp_path):
    ((_, events, problem),) = lines_of(tmp_path, b"x" * 5000, max_line_bytes=1000)

    assert events == []
    assert problem == (
        "longer than the 0.000953674 MiB a line may hold; only its first 1,000 bytes are kept here"
    )


def test_a_long_line_in_a_gzip_body_is_skipped_to_the_next_line(tmp_path):
    body = gzip.compress(b"[" * (3 * MIB) + b'\n{"event_id":"b"}\n')

    assert lines_of(tmp_path, body, max_line_bytes=MIB) == [
        (1, [], "longer than the 1 MiB a line may hold; only its first 65,536 bytes are kept here"),
        (2, [{"event_id": "b"}], None),
    ]


# JSON that would not arrive unaltered


@pytest.mark.parametrize(
    "value", [2**64, -(2**63) - 1, 10**30, -(10**300)], ids=["2^64", "-2^63-1", "1e30", "-1e300"]
)
def test_integers_of_any_size_arrive_exact(tmp_path, value):
    one = b'{"n":%d}\n' % value
    back_to_back = b'{"n":%d}{"m":%d}\n' % (value, value)

    assert lines_of(tmp_path, one + back_to_back) == [
        (1, [{"n": value}], None),
        (2, [{"n": value}, {"m": value}], None),
    ]


@pytest.fixture
def int_digits_limit():
    """Sets Python's int/str conversion limit for one test."""
    before = sys.get_int_max_str_digits()
    yield sys.set_int_max_str_digits
    sys.set_int_max_str_digits(before)


def test_an_integer_longer_than_python_converts_is_a_bad_line(tmp_path, int_digits_limit):
    int_digits_limit(4300)

    assert lines_of(tmp_path, b'{"n":-' + b"9" * 5000 + b"}\n") == [
        (1, [], "an integer of 5,000 digits, more than the 4,300 Python converts")
    ]


def test_an_integer_of_5000_digits_arrives_exact_where_python_allows(tmp_path, int_digits_limit):
    int_digits_limit(0)
    digits = "9" * 5000

    assert lines_of(tmp_path, b'{"n":' + digits.encode() + b"}\n") == [
        (1, [{"n": int(digits)}], None)
    ]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"n":NaN}', "not valid JSON (NaN is not a JSON value)"),
        (b'{"n":Infinity}', "not valid JSON (Infinity is not a JSON value)"),
        (b'{"a":1}{"n":-Infinity}', "not valid JSON (-Infinity is not a JSON value)"),
        (b'{"n":1e400}', "a number too large for a 64-bit float"),
        (b'{"n":[-1.5e999]}', "a number too large for a 64-bit float"),
        (
            b'{"s":"\\ud800"}',
            "holds a lone UTF-16 surrogate (\\ud800), which UTF-8 text cannot carry",
        ),
        (
            b'{"s":"a\\uDC00b"}',
            "holds a lone UTF-16 surrogate (\\udc00), which UTF-8 text cannot carry",
        ),
        (
            b'{"s":"\\ud83d\\ud83d"}',
            "holds a lone UTF-16 surrogate (\\ud83d), which UTF-8 text cannot carry",
        ),
        (
            b'{"a":1}{"\\udfff":1}',
            "holds a lone UTF-16 surrogate (\\udfff), which UTF-8 text cannot carry",
        ),
    ],
    ids=[
        "nan",
        "infinity",
        "minus-infinity-back-to-back",
        "1e400",
        "minus-1.5e999",
        "lone-high",
        "lone-low",
        "two-highs",
        "in-a-key-back-to-back",
    ],
)
def test_json_that_cannot_arrive_unaltered_is_a_bad_line(tmp_path, raw, problem):
    assert lines_of(tmp_path, raw + b"\n") == [(1, [], problem)]


def test_a_surrogate_pair_arrives_as_its_character(tmp_path):
    body = b'{"s":"\\ud83d\\ude00"}\n{"s":"\\ud83d\\ude00"}{"t":"\\u00e9"}\n'

    assert lines_of(tmp_path, body) == [
        (1, [{"s": "\N{GRINNING FACE}"}], None),
        (2, [{"s": "\N{GRINNING FACE}"}, {"t": "\N{LATIN SMALL LETTER E WITH ACUTE}"}], None),
    ]


# Nesting


def nested(depth: int) -> bytes:
    """An object nesting ``depth`` levels, alternating objects and arrays."""
    return b'{"a":[' * (depth // 2) + b"{}" * (depth % 2) + b"]}" * (depth // 2)


def at_stack_depth(frames: int, call):
    """``call()`` made from a stack at least ``frames`` deep."""
    if len(inspect.stack(0)) < frames:
        return at_stack_depth(frames, call)
    return call()


def test_a_line_nested_512_levels_loads_and_writes_again_from_a_deep_stack(tmp_path):
    deepest = nested(MAX_NESTING)
    path = tmp_path / "body"
    path.write_bytes(deepest + b"\n" + deepest + deepest + b"\n" + nested(MAX_NESTING + 1) + b"\n")
    encoder = msgspec.json.Encoder()

    def load_and_write():
        lines = list(read_lines(path, 32 * MIB))
        return lines, [encoder.encode(event) for line in lines for event in line.events]

    lines, written = at_stack_depth(80, load_and_write)

    assert [(line.number, len(line.events), line.problem) for line in lines] == [
        (1, 1, None),
        (2, 2, None),
        (3, 0, "nested deeper than 512 levels"),
    ]
    assert written == [deepest] * 3


@pytest.mark.parametrize(
    "raw",
    [
        nested(MAX_NESTING + 1),
        b'{"a":1}' + nested(MAX_NESTING + 1),
        b"[" * 100_000,
        b'{"a":' * 600,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
    ],
    ids=["513-levels", "513-levels-back-to-back", "100000-open", "600-open-cut", "5000-levels"],
)
def test_a_line_nested_deeper_than_512_levels_is_a_bad_line(tmp_path, raw):
    assert lines_of(tmp_path, raw + b"\n") == [(1, [], "nested deeper than 512 levels")]


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    text = '[{\\"' + "[" * 2000 + "\\\\"
    line = msgspec.json.encode({"s": text, "t": "{" * 600})

    assert lines_of(tmp_path, line + b"\n") == [(1, [{"s": text, "t": "{" * 600}], None)]


# Damaged gzip bodies

GOOD_BODY = b"".join(
    b'{"event_id":"%d","pad":"%s"}\n' % (i, b"%d" % (i * 7919) * 20) for i in range(20_000)
)
DAMAGED = re.compile(
    r"the file's gzip compression is damaged \((?P<reason>.+)\), "
    r"so the rest of the file cannot be read"
)


def damaged(how: str) -> bytes:
    good = bytearray(gzip.compress(GOOD_BODY))
    if how == "bad-crc":
        good[-8] ^= 1
    elif how == "truncated":
        del good[len(good) // 2 :]
    elif how == "bad-header":
        good[2] = 7
    elif how == "bad-flags":
        good[3] = 0xFF
    elif how == "garbage-in-the-middle":
        good[len(good) // 2 : len(good) // 2 + 64] = b"garbage!" * 8
    elif how == "garbage-after":
        good += b"garbage"
    return bytes(good)


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("bad-crc", r"CRC check failed 0x[0-9a-f]+ != 0x[0-9a-f]+"),
        ("truncated", r"Compressed file ended before the end-of-stream marker was reached"),
        ("bad-header", r"Unknown compression method"),
        ("bad-flags", r"Error -3 while decompressing data: .+"),
        ("garbage-in-the-middle", r".+"),
        ("garbage-after", r"Not a gzipped file .+"),
    ],
)
def test_a_damaged_gzip_body_ends_with_a_line_saying_so(tmp_path, how, reason):
    path = tmp_path / "body.gz"
    path.write_bytes(damaged(how))

    *before, last = read_lines(path, 32 * MIB)

    assert (last.raw, last.events) == (b"", [])
    assert (found := DAMAGED.fullmatch(last.problem or "")) is not None
    assert re.fullmatch(reason, found["reason"])
    assert last.number == (before[-1].number + 1 if before else 1)


def test_the_lines_before_the_damage_are_read_as_they_were(tmp_path):
    good_lines = [
        (number, [msgspec.json.decode(text)], None)
        for number, text in enumerate(GOOD_BODY.splitlines(), start=1)
    ]

    truncated = lines_of(tmp_path, damaged("truncated"))
    bad_crc = lines_of(tmp_path, damaged("bad-crc"))

    assert 0 < len(truncated) - 1 < len(good_lines)
    assert truncated[:-1] == good_lines[: len(truncated) - 1]
    assert bad_crc[:-1] == good_lines
    assert bad_crc[-1][0] == len(good_lines) + 1
