"""Reading a downloaded log file into events, line by line, in flat memory."""

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


class MalformedLineError(ComplianceTapError):
    """A line of a log file that is not one or more JSON objects."""

    def __init__(self, file_id: str, line_number: int, reason: str) -> None:
        self.file_id = file_id
        self.line_number = line_number
        self.reason = reason
        super().__init__(f"Line {line_number} of log file {file_id} is not valid JSON: {reason}")


def iter_events(path: Path, file_id: str) -> Iterator[dict[str, t.Any]]:
    """Yield each event of a JSON Lines file, gzip-compressed or not.

    Blank lines and CRLF endings are tolerated. A line holding several JSON objects back to
    back (seen in the wild) yields each of them.
    """
    with path.open("rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        lines: t.Iterable[bytes] = gzip.GzipFile(fileobj=raw) if compressed else raw
        for line_number, line in enumerate(lines, start=1):
            if line.isspace() or not line:
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                yield from _concatenated_objects(line, file_id, line_number)
                continue
            if not isinstance(event, dict):
                raise MalformedLineError(file_id, line_number, "not a JSON object")
            yield event


def _concatenated_objects(
    line: bytes, file_id: str, line_number: int
) -> Iterator[dict[str, t.Any]]:
    """Split a line of JSON objects written back to back, or fail naming the line."""
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise MalformedLineError(file_id, line_number, "not UTF-8") from exc
    position = 0
    while position < len(text):
        try:
            value, position = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise MalformedLineError(file_id, line_number, exc.msg) from exc
        if not isinstance(value, dict):
            raise MalformedLineError(file_id, line_number, "not a JSON object")
        yield value
        while position < len(text) and text[position].isspace():
            position += 1
