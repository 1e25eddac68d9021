"""Writing Singer messages to stdout: msgspec's encoder, one flush per STATE, a lean RECORD path."""

from __future__ import annotations

import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from singer_sdk.singerlib.encoding.base import SingerMessageType
from typing_extensions import override

if t.TYPE_CHECKING:
    import datetime

    from singer_sdk.singerlib.encoding.simple import Message


class MessageWriter(MsgSpecWriter):
    """msgspec's encoder, with stdout flushed at every message but RECORD.

    Flushing after each record costs a system call per record. Unflushed records still reach
    the pipe before the STATE written after them (its flush pushes them out first), so a kill
    can only lose records that no STATE covered yet: they are sent again on the next run.
    """

    @override
    def write_message(self, message: Message) -> None:
        sys.stdout.buffer.write(self.format_message(message))
        if message.type != SingerMessageType.RECORD:
            sys.stdout.flush()

    def write_record(
        self, stream: str, record: dict[str, t.Any], time_extracted: datetime.datetime
    ) -> None:
        """A RECORD message, the same line ``write_message`` writes, without its message object."""
        line = {
            "type": "RECORD",
            "stream": stream,
            "record": record,
            "time_extracted": time_extracted,
        }
        sys.stdout.buffer.write(serialize_jsonl(line))
