"""Reading a downloaded log file line by line, in flat memory.

A line is the unit that loads or fails: it yields all its events, or none and the reason why,
so a bad line can be reported or set aside whole, with its number and raw text.
"""

from __future__ import annotations

import gzip
import json
import typing as t

import orjson

from tap_openai_compliance.errors import ComplianceTapError

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
_DECODER = json.JSONDecoder()
NOT_OBJECT = "not a JSON object"


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


def read_lines(path: Path) -> Iterator[Line]:
    """Each non-blank line of a JSON Lines file, gzip-compressed or not, with its events.

    CRLF endings are tolerated. A line holding several JSON objects back to back (seen in
    the wild) yields each of them.
    """
    with path.open("rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        lines: t.Iterable[bytes] = gzip.GzipFile(fileobj=raw) if compressed else raw
        for number, line in enumerate(lines, start=1):
            if not line or line.isspace():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                events, problem = _objects_back_to_back(line)
            else:
                events, problem = ([value], None) if isinstance(value, dict) else ([], NOT_OBJECT)
            yield Line(number, line, events, problem)


def _objects_back_to_back(line: bytes) -> tuple[list[dict[str, t.Any]], str | None]:
    """The JSON objects of a line written back to back, or none and what is wrong."""
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError:
        return [], "not UTF-8 text"
    events = []
    position = 0
    while position < len(text):
        try:
            value, position = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            return [], f"not valid JSON ({exc.msg} at column {exc.colno})"
        if not isinstance(value, dict):
            return [], NOT_OBJECT
        events.append(value)
        while position < len(text) and text[position].isspace():
            position += 1
    return events, None
