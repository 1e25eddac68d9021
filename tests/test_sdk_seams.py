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


# -- stateful.py's seams ------------------------------------------------------------------------


def stateful_messages(
    capsysbinary: pytest.CaptureFixture[bytes], api: t.Any, **settings: t.Any
) -> tuple[TapOpenAICompliance, list[dict[str, t.Any]]]:
    """A sync of stateful tables (and the workspace's empty log feeds), in this process."""
    from tap_openai_compliance.sandbox.stateful import Sizes, build_stateful_dataset
    from tests.conftest import WORKSPACE_ID

    build_stateful_dataset(api, WORKSPACE_ID, sizes=Sizes(users=8))
    config = tap_config(api, organization_id=None, **settings)
    tap = TapOpenAICompliance(config=config)
    return tap, synced_messages(capsysbinary, tap)


def test_records_carry_the_version_the_stateful_stream_puts_in_stream_version(api, capsysbinary):
    # stateful.py: _write_version_on_records sets _stream_version, which the SDK writes on each
    # RECORD only while emit_activate_version_messages is off keeps it from resetting it.
    tap, messages = stateful_messages(capsysbinary, api, stateful_tables=["gpts"])

    records = [m for m in messages if m["type"] == "RECORD" and m["stream"] == "gpts"]
    assert records
    assert {m["version"] for m in records} == {tap.initialized_at}


def test_the_sdk_writes_a_child_tables_schema_at_every_parent_row_and_the_tap_once(
    api, capsysbinary, monkeypatch
):
    # stateful.py: _write_schema_message writes once a sync, though the SDK calls it at each
    # sync of a child table, once per parent row.
    from tap_openai_compliance.stateful import StatefulStream

    calls: list[str] = []
    original = StatefulStream._write_schema_message

    def counting(stream: StatefulStream) -> None:
        calls.append(stream.name)
        original(stream)

    monkeypatch.setattr(StatefulStream, "_write_schema_message", counting)

    _, messages = stateful_messages(capsysbinary, api, stateful_tables=["user_pets"])

    assert calls.count("user_pets") > 1
    schemas = [m for m in messages if m["type"] == "SCHEMA" and m["stream"] == "user_pets"]
    assert len(schemas) == 1


def test_activate_version_goes_to_every_stream_map_of_a_table_once(api, capsysbinary):
    # stateful.py: _send_activate_version calls _write_activate_version_message, which writes
    # one message per stream map (an alias too); the SDK's sync sends none of its own.
    maps = {"users_copy": {"__source__": "users"}}

    tap, messages = stateful_messages(
        capsysbinary, api, stateful_tables=["users"], stream_maps=maps
    )

    activations = [m for m in messages if m["type"] == "ACTIVATE_VERSION"]
    assert sorted(m["stream"] for m in activations) == ["users", "users_copy"]
    assert {m["version"] for m in activations} == {tap.initialized_at}
