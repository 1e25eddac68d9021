"""Writing Singer messages to stdout, through a buffer of the writer's own.

Messages are encoded with msgspec and gathered in a buffer that goes out when it holds 64 KiB,
before each message but RECORD (so a STATE never reaches the target ahead of the records it
covers), and at exit: one system call per 64 KiB whatever ``PYTHONUNBUFFERED`` says, which
would otherwise make every RECORD a write of its own. A kill can only lose records that no
STATE covered yet: they are sent again on the next run.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import sys
import typing as t
import weakref

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder, serialize_jsonl
from singer_sdk.singerlib.encoding.base import SingerMessageType
from typing_extensions import override

from tap_openai_compliance.errors import ComplianceTapError

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message

BUFFER_BYTES = 64 * 1024

_writers: weakref.WeakSet[MessageWriter] = weakref.WeakSet()


class MessageWriter(MsgSpecWriter):
    """msgspec's encoder, writing out its buffer when full, before each non-RECORD, at exit."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()
        self._record_start: dict[str, bytes] = {}
        self._time_extracted: datetime.datetime | None = None
        self._record_end = b""
        _writers.add(self)

    @override
    def write_message(self, message: Message) -> None:
        if message.type == SingerMessageType.STATE:
            # The SDK would turn the message into a dict field by field first.
            self.write_state(t.cast("dict[str, t.Any]", message.value))  # type: ignore[attr-defined]
            return
        self._buffer += self.format_message(message)
        if message.type == SingerMessageType.RECORD:
            if len(self._buffer) >= BUFFER_BYTES:
                self.flush()
        else:
            self.flush()

    def write_record(
        self, stream: str, record: dict[str, t.Any], time_extracted: datetime.datetime
    ) -> None:
        """A RECORD message, the same line ``write_message`` writes, without its message object.

        Only the record is encoded: the line's start and end are encoded once per stream and
        per ``time_extracted``, straight into the buffer.
        """
        buffer = self._buffer
        buffer += self._record_start.get(stream) or self._start_of(stream)
        encoder.encode_into(record, buffer, -1)
        if time_extracted is not self._time_extracted:
            self._time_extracted = time_extracted
            self._record_end = b',"time_extracted":' + encoder.encode(time_extracted) + b"}\n"
        buffer += self._record_end
        if len(buffer) >= BUFFER_BYTES:
            self.flush()

    def _start_of(self, stream: str) -> bytes:
        """How a RECORD line of ``stream`` starts, up to its record."""
        start = b'{"type":"RECORD","stream":' + encoder.encode(stream) + b',"record":'
        self._record_start[stream] = start
        return start

    def write_state(self, value: dict[str, t.Any]) -> None:
        """A STATE message, written out at once with every record before it."""
        self._buffer += serialize_jsonl({"type": "STATE", "value": value})
        self.flush()

    def flush(self) -> None:
        """Write out what the buffer holds; stdout refusing it (a full disk) is an OutputError."""
        try:
            if self._buffer:
                # Emptied first: a write that fails (a target gone) is not tried again at exit.
                pending, self._buffer = memoryview(self._buffer), bytearray()
                out = sys.stdout.buffer
                # Under PYTHONUNBUFFERED this is a raw file, whose write may take only part of
                # what it is given (a signal arriving mid-write): what it did not take is
                # written again, never dropped.
                while pending:
                    pending = pending[out.write(pending) or 0 :]
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            msg = (
                f"The tap's output (stdout) cannot be written: {exc.strerror or exc}. Free space "
                "where it goes, or check what reads it; the last STATE that got through covers "
                "only completed files, so a rerun loses nothing."
            )
            raise OutputError(msg) from None


class OutputError(ComplianceTapError):
    """Singer messages could not be written to stdout."""


@atexit.register
def _flush_at_exit() -> None:
    """Write out what every writer still holds when the process ends, however it ends."""
    for writer in list(_writers):
        # Whatever read stdout may be gone, stdout closed or its disk full: then nothing more
        # can go out.
        with contextlib.suppress(OSError, ValueError):
            writer.flush()
