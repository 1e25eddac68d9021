"""Reading a downloaded log file line by line, in flat memory.

A line is the unit that loads or fails: it yields all its events, or none and the reason why,
so a bad line can be reported or set aside whole, with its number and raw text. This module
owns what a line may hold: its size, its nesting depth, and JSON that loads unaltered and can
be written again (exact integers, finite floats, no lone surrogates). It also owns saying so
when a gzip body turns out to be damaged partway.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import math
import re
import sys
import typing as t
import zlib

import msgspec

from tap_openai_compliance.errors import ComplianceTapError

if t.TYPE_CHECKING:
    import io
    from collections.abc import Iterator
    from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
NOT_OBJECT = "not a JSON object"
# What is kept of a line too long to load: enough to see what it is, in rejected_lines.
LONG_LINE_KEPT = 64 * 1024
# Both decoders and msgspec's encoder recurse once per level; 512 levels leave room under
# Python's default limit of 1000 frames for the stack that calls them.
MAX_NESTING = 512
TOO_DEEP = f"nested deeper than {MAX_NESTING} levels"
# The rest of a line too long to load is read and dropped in pieces of this size.
_SKIP_CHUNK = 1024 * 1024
_GZIP_DAMAGE = (gzip.BadGzipFile, EOFError, zlib.error)

_ENCODER = msgspec.json.Encoder()
_JSON_VALUE_START = re.compile(r"[^ \t\r\n]")
# A string, or an unterminated one up to the end of the line: it always matches at a quote,
# so a line of stray quotes is still scanned once.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_LEVEL_STEP = [1 if byte in b"[{" else -1 if byte in b"]}" else 0 for byte in range(256)]


class Line(t.NamedTuple):
    """One non-blank line: its events, or the reason it holds none."""

    number: int
    raw: bytes
    events: list[dict[str, t.Any]]
    problem: str | None

    def text(self) -> str:
        """The line as text, without its line ending; bytes that are not UTF-8 escaped."""
        return self.raw.decode("utf-8", errors="backslashreplace").rstrip("\r\n")


class MalformedLineError(ComplianceTapError):
    """A line of a log file that cannot be loaded as events."""

    def __init__(self, file_id: str, line_number: int, reason: str) -> None:
        super().__init__(f"Line {line_number} of log file {file_id} cannot be loaded: {reason}")


def read_lines(path: Path, max_line_bytes: int) -> Iterator[Line]:
    """Each non-blank line of a JSON Lines file, gzip-compressed or not, with its events.

    CRLF endings and a UTF-8 byte order mark at the start are tolerated. A line holding several
    JSON objects back to back (seen in the wild) yields each of them. A line longer than
    ``max_line_bytes`` (its ending included) is a bad line keeping only its first
    ``LONG_LINE_KEPT`` bytes, so memory stays in proportion to ``max_line_bytes`` whatever the
    file holds. If a gzip body is damaged, a last line with no text says so and reading stops.
    """
    kept = min(LONG_LINE_KEPT, max_line_bytes)
    too_long = (
        f"longer than the {max_line_bytes / 2**20:,.6g} MiB a line may hold; "
        f"only its first {kept:,} bytes are kept here"
    )
    with path.open("rb") as file:
        compressed = file.read(2) == GZIP_MAGIC
        file.seek(0)
        body: io.BufferedIOBase = gzip.GzipFile(fileobj=file) if compressed else file
        lines = iter(functools.partial(body.readline, max_line_bytes + 1), b"")
        number = 0
        try:
            for number, line in enumerate(lines, start=1):
                if number == 1 and line.startswith(UTF8_BOM):
                    # A byte order mark starts the file, not its first event.
                    line = line.removeprefix(UTF8_BOM)
                if len(line) > max_line_bytes:
                    complete = line.endswith(b"\n")
                    line = line[:kept]
                    yield Line(number, line, [], too_long)
                    if not complete:
                        _skip_rest_of_line(body)
                    continue
                if line.isspace():
                    continue
                # The common case stays inline, as cheap as a decode. msgspec, unlike orjson,
                # keeps integers beyond 64 bits exact.
                try:
                    value = msgspec.json.decode(line)
                except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                    # msgspec says little about why, and reads one value a line: the stdlib
                    # decoder finds the reason, or the objects written back to back.
                    yield Line(number, line, *_objects_back_to_back(line))
                    continue
                # Only a line of more than 2 * MAX_NESTING bytes can open and close that many
                # levels, so most lines that loaded skip counting brackets.
                if len(line) > 2 * MAX_NESTING and _too_deep(line):
                    yield Line(number, line, [], TOO_DEEP)
                elif isinstance(value, dict):
                    yield Line(number, line, [value], None)
                else:
                    yield Line(number, line, [], NOT_OBJECT)
        except _GZIP_DAMAGE as exc:
            damage = (
                f"the file's gzip compression is damaged ({exc}), "
                "so the rest of the file cannot be read"
            )
            yield Line(number + 1, b"", [], damage)


def _skip_rest_of_line(body: io.BufferedIOBase) -> None:
    while (piece := body.readline(_SKIP_CHUNK)) and not piece.endswith(b"\n"):
        pass


def _too_deep(line: bytes) -> bool:
    # Measuring depth scans the line: only a line with enough brackets can be deep.
    return line.count(b"{") + line.count(b"[") > MAX_NESTING and _depth(line) > MAX_NESTING


def _depth(line: bytes) -> int:
    """How deep arrays and objects nest on a line, brackets inside strings aside."""
    brackets = _STRING.sub(b"", line).translate(None, _NOT_BRACKET)
    return max(itertools.accumulate(map(_LEVEL_STEP.__getitem__, brackets)), default=0)


class _Refused(ValueError):
    """Valid to the stdlib decoder, but JSON that cannot be loaded unaltered."""


def _no_constant(name: str) -> t.NoReturn:
    raise _Refused(f"not valid JSON ({name} is not a JSON value)")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused("a number too large for a 64-bit float")
    return value


def _exact_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        # Python refuses to convert very long digit strings, which takes quadratic time.
        raise _Refused(
            f"an integer of {len(text.lstrip('-')):,} digits, more than the "
            f"{sys.get_int_max_str_digits():,} Python converts"
        ) from None


_DECODER = json.JSONDecoder(
    parse_float=_finite_float, parse_int=_exact_int, parse_constant=_no_constant
)


def _objects_back_to_back(line: bytes) -> tuple[list[dict[str, t.Any]], str | None]:
    """The JSON objects of a line written back to back, or none and what is wrong."""
    try:
        text = line.decode("utf-8").rstrip(" \t\r\n")
    except UnicodeDecodeError:
        return [], "not UTF-8 text"
    if _too_deep(line):
        return [], TOO_DEEP
    events = []
    position = 0
    try:
        while start := _JSON_VALUE_START.search(text, position):
            value, position = _DECODER.raw_decode(text, start.start())
            if not isinstance(value, dict):
                return [], NOT_OBJECT
            events.append(value)
    except _Refused as exc:
        return [], str(exc)
    except json.JSONDecodeError as exc:
        # "Unterminated string starting at" already ends in "at".
        return [], f"not valid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})"
    try:
        _ENCODER.encode(events)
    except UnicodeEncodeError as exc:
        # The stdlib decoder lets a lone \ud800 escape through; no UTF-8 writer can write it.
        surrogate = ord(exc.object[exc.start])
        return (
            [],
            f"holds a lone UTF-16 surrogate (\\u{surrogate:04x}), which UTF-8 text cannot carry",
        )
    return events, None
