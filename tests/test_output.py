"""The message writer: the lean RECORD path writes what the SDK's path writes, buffered."""

from __future__ import annotations

from datetime import UTC, datetime

from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_openai_compliance.output import BUFFER_BYTES, MessageWriter

RECORD = {"event_id": "e1", "actor": {"user_email": "a@example.com"}, "n": 1.5, "x": None}
EXTRACTED = datetime(2026, 11, 27, 2, 30, 51, 123456, tzinfo=UTC)


def test_the_lean_record_line_equals_the_sdk_message_line(capsysbinary):
    writer = MessageWriter()

    writer.write_message(RecordMessage(stream="auth_log", record=RECORD, time_extracted=EXTRACTED))
    writer.write_record("auth_log", RECORD, EXTRACTED)
    writer.flush()

    sdk_line, lean_line = capsysbinary.readouterr().out.splitlines()
    assert lean_line == sdk_line
    assert sdk_line.startswith(b'{"type":"RECORD","stream":"auth_log","record":{"event_id":"e1"')


def test_records_wait_in_the_buffer_and_a_state_takes_them_out_first(capsysbinary):
    writer = MessageWriter()

    writer.write_record("auth_log", RECORD, EXTRACTED)
    assert capsysbinary.readouterr().out == b""
    writer.write_message(StateMessage(value={"bookmarks": {"auth_log": {"n": 2**64}}}))

    lines = capsysbinary.readouterr().out.splitlines()
    assert [line[:16] for line in lines] == [b'{"type":"RECORD"', b'{"type":"STATE",']
    assert (
        lines[1]
        == b'{"type":"STATE","value":{"bookmarks":{"auth_log":{"n":18446744073709551616}}}}'
    )


def test_a_full_buffer_goes_out_without_waiting_for_a_state(capsysbinary):
    writer = MessageWriter()
    line_length = len(
        MessageWriter().format_message(
            RecordMessage(stream="auth_log", record=RECORD, time_extracted=EXTRACTED)
        )
    )

    for _ in range(BUFFER_BYTES // line_length + 1):
        writer.write_record("auth_log", RECORD, EXTRACTED)

    written = capsysbinary.readouterr().out
    assert len(written) >= BUFFER_BYTES
    assert written.endswith(b"\n")


class ShortWrites:
    """A raw stdout, as PYTHONUNBUFFERED makes it, whose writes take at most 1,000 bytes."""

    def __init__(self) -> None:
        self.buffer = self
        self.written = bytearray()

    def write(self, data: memoryview) -> int:
        self.written += data[:1000]
        return min(len(data), 1000)

    def flush(self) -> None:
        pass


def test_what_a_raw_stdout_does_not_take_at_once_is_written_again(monkeypatch):
    stdout = ShortWrites()
    monkeypatch.setattr("sys.stdout", stdout)
    writer = MessageWriter()

    for _ in range(100):
        writer.write_record("auth_log", RECORD, EXTRACTED)
    writer.write_message(StateMessage(value={"bookmarks": {}}))

    lines = bytes(stdout.written).splitlines()
    assert len(lines) == 101
    assert lines[-1] == b'{"type":"STATE","value":{"bookmarks":{}}}'
