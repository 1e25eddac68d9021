"""The private SDK behaviour the tap relies on, so that an SDK upgrade is a test run.

Each test names the seam (see the "SDK seams" sections of streams.py, side_streams.py and
tap.py) and fails if the SDK stops behaving the way the override or call there assumes.
"""

from __future__ import annotations

import json
import sys
import typing as t

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_openai_compliance.streams import LogEventsStream
from tap_openai_compliance.tap import TapOpenAICompliance
from tests.conftest import API_KEY, add_files, files_covered_by, hourly, tap_config


class CountingStream(LogEventsStream):
    """The event stream, counting how often the SDK calls the private hooks it overrides."""

    calls: t.ClassVar[dict[str, int]] = {}

    def _increment_stream_state(self, latest_record, *, context=None):
        self.calls["_increment_stream_state"] = self.calls.get("_increment_stream_state", 0) + 1
        super()._increment_stream_state(latest_record, context=context)

    def _write_record_message(self, record):
        self.calls["_write_record_message"] = self.calls.get("_write_record_message", 0) + 1
        super()._write_record_message(record)


class CountingTap(TapOpenAICompliance):
    """The tap, with its event streams counting."""

    def discover_streams(self):
        streams = super().discover_streams()
        return [
            CountingStream(
                self,
                stream.feed,
                named=stream.named,
                pacers=stream._pacers,
                run=stream._run,
                log_files=stream._log_files,
                rejected_lines=stream._rejected_lines,
            )
            if isinstance(stream, LogEventsStream)
            else stream
            for stream in streams
        ]


def synced_messages(capsysbinary: pytest.CaptureFixture[bytes], tap: TapOpenAICompliance):
    """Run a sync in this process and return the messages it wrote."""
    tap.sync_all()
    sys.stdout.flush()
    return [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]


def test_the_sdk_sends_every_record_through_the_two_hooks_the_stream_overrides(api, capsysbinary):
    # streams.py: _write_record_message (the lean path) and _increment_stream_state (no
    # bookmark per record) only work while the SDK calls them once per record.
    file_ids = add_files(api, "AUTH_LOG", hourly(2), events_per_file=3)
    CountingStream.calls = {}
    tap = CountingTap(config=tap_config(api, event_types=["AUTH_LOG"]))

    messages = synced_messages(capsysbinary, tap)

    records = [m for m in messages if m["type"] == "RECORD" and m["stream"] == "auth_log"]
    assert len(records) == 6
    assert CountingStream.calls == {"_increment_stream_state": 6, "_write_record_message": 6}
    states = [m["value"]["bookmarks"]["auth_log"] for m in messages if m["type"] == "STATE"]
    assert files_covered_by(states[-1], api, file_ids) == set(file_ids)


def test_a_side_stream_row_goes_out_with_its_schema_through_the_stream_maps(api, capsysbinary):
    # side_streams.py: SideStream.write calls _write_schema_message and _write_record_message.
    (file_id,) = add_files(api, "AUTH_LOG", hourly(1))
    config = tap_config(
        api, event_types=["AUTH_LOG"], stream_maps={"log_files": {"__alias__": "files"}}
    )

    messages = synced_messages(capsysbinary, TapOpenAICompliance(config=config))

    kinds = [m["type"] for m in messages if m.get("stream") == "files"]
    # The SDK writes the SCHEMA again when it reaches log_files' own (empty) sync.
    assert kinds[:2] == ["SCHEMA", "RECORD"]
    (row,) = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "files"]
    assert row["id"] == file_id


def test_the_sdk_checks_the_settings_through_the_tap_when_it_is_built(api):
    # tap.py: _validate_config is how every problem is reported at once, key masked.
    config = tap_config(api, page_size=500, api_key=["not", API_KEY], workspace_id=None)

    with pytest.raises(ConfigValidationError) as raised:
        TapOpenAICompliance(config=config)

    errors = raised.value.errors
    assert "Setting 'page_size': 500 is greater than the maximum of 100." in errors
    assert any(error.startswith("Setting 'api_key' is missing or empty") for error in errors)
    assert API_KEY not in " ".join(errors)


def test_without_validation_the_settings_are_still_completed_with_their_defaults(api):
    # Discovery builds the tap without validation: the streams still read their defaults.
    tap = TapOpenAICompliance(config={"api_url": api.api_url}, validate_config=False)

    assert tap.config["max_concurrent_downloads"] == 12
    assert tap.config["start_date"]
