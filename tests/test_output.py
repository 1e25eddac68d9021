"""The message writer: the lean RECORD path writes what the SDK's path writes."""

from __future__ import annotations

from datetime import datetime, timezone

from singer_sdk.singerlib import RecordMessage

from tap_openai_compliance.output import MessageWriter

RECORD = {"event_id": "e1", "actor": {"user_email": "a@example.com"}, "n": 1.5, "x": None}
EXTRACTED = datetime(2026, 11, 27, 2, 30, 51, 123456, tzinfo=timezone.utc)


def test_the_lean_record_line_equals_the_sdk_message_line(capsysbinary):
    writer = MessageWriter()

    writer.write_message(RecordMessage(stream="auth_log", record=RECORD, time_extracted=EXTRACTED))
    writer.write_record("auth_log", RECORD, EXTRACTED)

    sdk_line, lean_line = capsysbinary.readouterr().out.splitlines()
    assert lean_line == sdk_line
    assert sdk_line.startswith(b'{"type":"RECORD","stream":"auth_log","record":{"event_id":"e1"')
