"""Syncs through the CLI against the fake API: records, bookmarks, paging traps, resumes."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta

import pytest

from tap_openai_compliance.feeds import KNOWN_FEEDS
from tap_openai_compliance.sandbox import FakeComplianceAPI
from tests.conftest import (
    FIRST_END_TIME,
    ORGANIZATION_ID,
    WORKSPACE_ID,
    add_files,
    as_served,
    events_of,
    files_covered_by,
    hourly,
    tap_config,
)
from tests.tap_runner import run_tap, run_tap_until


def test_full_sync_emits_every_event_unchanged_with_its_file(api, tmp_path):
    files = {feed.name: add_files(api, feed.name, hourly(3)) for feed in KNOWN_FEEDS}

    run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 0, run.stderr
    for name, file_ids in files.items():
        records = run.records(name.lower())
        assert records, name
        assert [as_served(r) for r in records] == events_of(api, file_ids)
        expected_files = [
            (file_id, api.log_file(file_id).end_time)
            for file_id in file_ids
            for _ in api.events_of(file_id)
        ]
        assert [(r["_sdc_log_file_id"], r["_sdc_log_file_end_time"]) for r in records] == [
            (file_id, end_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
            for file_id, end_time in expected_files
        ]
    bookmark = run.last_state["bookmarks"]["auth_log"]
    assert bookmark["replication_key_value"] == "2026-11-20T10:00:00.000000Z"
    assert files_covered_by(bookmark, api, files["AUTH_LOG"]) == set(files["AUTH_LOG"])


def test_schema_names_event_id_as_key_and_file_end_time_as_bookmark(api, tmp_path):
    add_files(api, "AUDIT_LOG", hourly(1))

    run = run_tap(tmp_path, tap_config(api, event_types=["AUDIT_LOG"]))

    schema = next(m for m in run.messages if m["type"] == "SCHEMA")
    assert schema["stream"] == "audit_log"
    assert schema["key_properties"] == ["event_id"]
    assert schema["bookmark_properties"] == ["_sdc_log_file_end_time"]
    assert schema["schema"]["properties"]["timestamp"]["format"] == "date-time"


def test_second_sync_with_nothing_new_downloads_nothing(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(4))
    first = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"]))
    api.clear_requests()

    second = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"]), first.last_state)

    assert second.returncode == 0, second.stderr
    assert second.events() == []
    assert api.download_calls() == []
    assert api.storage_calls() == []
    assert second.last_state["bookmarks"] == first.last_state["bookmarks"]


def test_new_files_after_the_bookmark_are_exactly_what_the_next_sync_emits(api, tmp_path):
    config = tap_config(api, event_types=["AUTH_LOG"])
    add_files(api, "AUTH_LOG", hourly(3))
    first = run_tap(tmp_path, config)
    newer = add_files(api, "AUTH_LOG", hourly(2, FIRST_END_TIME + timedelta(days=1)), seed=2)

    second = run_tap(tmp_path, config, first.last_state)

    assert [as_served(r) for r in second.events()] == events_of(api, newer)


@pytest.mark.parametrize("after_exclusive", [False, True], ids=["inclusive", "exclusive"])
def test_files_sharing_end_times_across_pages_come_once(tmp_path, after_exclusive):
    with FakeComplianceAPI(api_key="k", after_exclusive=after_exclusive) as api:
        api.add_principal("workspaces", WORKSPACE_ID)
        tie = FIRST_END_TIME + timedelta(hours=1)
        end_times = [FIRST_END_TIME, tie, tie, tie, tie, tie + timedelta(hours=1)]
        file_ids = add_files(api, "AUTH_LOG", end_times)
        config = tap_config(api, api_key="k", event_types=["AUTH_LOG"], page_size=2)

        first = run_tap(tmp_path, config)
        api.clear_requests()
        again = run_tap(tmp_path, config, first.last_state)

    assert first.returncode == 0, first.stderr
    assert [as_served(r) for r in first.events()] == events_of(api, file_ids)
    assert again.events() == []
    assert api.storage_calls() == []


def test_more_ties_than_a_small_page_holds_are_read_with_a_larger_page(api, tmp_path):
    tie = FIRST_END_TIME
    file_ids = add_files(api, "AUTH_LOG", [tie] * 5 + [tie + timedelta(hours=1)])

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"], page_size=2))

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.events()] == events_of(api, file_ids)
    assert {call.query["limit"] for call in api.listing_calls()} == {"2", "100"}


def test_more_ties_than_the_largest_page_stop_with_a_clear_error(api, tmp_path):
    add_files(api, "AUTH_LOG", [FIRST_END_TIME] * 101, events_per_file=1)

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"]))

    assert run.returncode != 0
    assert "More than 100 AUTH_LOG log files end at" in run.stderr
    assert "Traceback" not in run.stderr
    assert len(api.listing_calls()) < 5


def test_end_date_bounds_a_backfill(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(4))
    end_date = (FIRST_END_TIME + timedelta(hours=1, minutes=30)).isoformat()

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"], end_date=end_date))

    assert [as_served(r) for r in run.events()] == events_of(api, file_ids[:2])
    assert {call.path.rsplit("/", 1)[-1] for call in api.download_calls()} == set(file_ids[:2])


def test_start_date_skips_older_files(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(3))
    start_date = (FIRST_END_TIME + timedelta(minutes=30)).isoformat()

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"], start_date=start_date))

    assert [as_served(r) for r in run.events()] == events_of(api, file_ids[1:])


def test_gzip_bodies_are_detected_by_their_magic_bytes(api, tmp_path):
    file_ids = add_files(api, "CODEX_LOG", hourly(2), gzip=True)

    run = run_tap(tmp_path, tap_config(api, event_types=["CODEX_LOG"]))

    assert [as_served(r) for r in run.events()] == events_of(api, file_ids)


def test_crlf_blank_lines_and_objects_back_to_back_parse(api, tmp_path):
    body = (
        b'{"event_id":"e1","type":"AUTH_LOG"}\r\n\r\n'
        b'{"event_id":"e2","type":"AUTH_LOG"}{"event_id":"e3","type":"AUTH_LOG"}\n\n'
    )
    api.add_log_file("workspaces", WORKSPACE_ID, "AUTH_LOG", body, FIRST_END_TIME)

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"]))

    assert [r["event_id"] for r in run.events()] == ["e1", "e2", "e3"]


def test_fields_the_schema_does_not_know_are_kept_in_one_place_only(api, tmp_path):
    event = {
        "event_id": "e-new",
        "type": "AUTH_LOG",
        "risk_assessment": {"score": 0.7, "labels": ["new"]},
        "actor": {"type": "ACCOUNT_USER", "brand_new_nested": True},
    }
    api.add_log_file("workspaces", WORKSPACE_ID, "AUTH_LOG", [event], FIRST_END_TIME)

    (record,) = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"])).events()

    assert as_served(record) == event
    assert record["_sdc_unknown_fields"] == {"risk_assessment": event["risk_assessment"]}
    assert "risk_assessment" not in record
    # Nested objects keep what they do not declare where it was.
    assert record["actor"] == event["actor"]


@pytest.mark.parametrize(
    ("route", "stream"),
    [("workspace", "shiny_new_log"), ("organization", "shiny_new_organization_log")],
)
def test_an_event_type_the_tap_does_not_know_is_synced_on_the_route_named(
    api, tmp_path, route, stream
):
    event = {"event_id": "x1", "type": "SHINY_NEW_LOG", "widget": {"size": 3}}
    principal_id = WORKSPACE_ID if route == "workspace" else ORGANIZATION_ID
    api.add_log_file(f"{route}s", principal_id, "SHINY_NEW_LOG", [event], FIRST_END_TIME)

    run = run_tap(tmp_path, tap_config(api, event_types=[f"{route}:SHINY_NEW_LOG"]))

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.records(stream)] == [event]
    (call,) = api.listing_calls()
    assert call.path.endswith(f"/{route}s/{principal_id}/logs")
    assert call.query["event_type"] == "SHINY_NEW_LOG"


def test_the_api_key_never_reaches_the_storage_host(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(2))

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"]))

    assert run.returncode == 0, run.stderr
    assert len(api.storage_calls()) == 2
    assert all("authorization" not in call.headers for call in api.storage_calls())
    assert all("authorization" in call.headers for call in api.listing_calls())


@pytest.mark.parametrize("stop_after_states", [2, 4, 6])
def test_a_killed_sync_resumes_from_its_last_state_without_loss_or_resend(
    api, tmp_path, stop_after_states
):
    # Ties on end_time, so that a kill can fall between two files of one end_time.
    end_times = (
        hourly(3)
        + [FIRST_END_TIME + timedelta(hours=3)] * 3
        + hourly(2, FIRST_END_TIME + timedelta(hours=4))
    )
    file_ids = add_files(api, "AUTH_LOG", end_times, events_per_file=4)
    config = tap_config(api, event_types=["AUTH_LOG"], max_concurrent_downloads=2)

    killed = run_tap_until(tmp_path, config, None, count=stop_after_states, sig=signal.SIGKILL)
    resumed = run_tap(tmp_path, config, killed.last_state)

    assert killed.returncode == -signal.SIGKILL
    assert resumed.returncode == 0, resumed.stderr
    ids_before = [r["event_id"] for r in killed.events()]
    ids_after = [r["event_id"] for r in resumed.events()]
    all_ids = [e["event_id"] for e in events_of(api, file_ids)]
    assert set(ids_before) | set(ids_after) == set(all_ids)
    # Nothing a printed STATE covered is sent again.
    covered_files = files_covered_by(killed.last_state["bookmarks"]["auth_log"], api, file_ids)
    assert covered_files, "the kill should come after at least one completed file"
    assert not {r["_sdc_log_file_id"] for r in resumed.events()} & covered_files


def test_every_state_covers_only_files_whose_records_and_row_were_all_emitted(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(5), events_per_file=3)

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"]))

    emitted: dict[str, int] = {}
    rows: set[str] = set()
    for message in run.messages:
        if message["type"] == "RECORD" and message["stream"] == "auth_log":
            file_id = message["record"]["_sdc_log_file_id"]
            emitted[file_id] = emitted.get(file_id, 0) + 1
        elif message["type"] == "RECORD" and message["stream"] == "log_files":
            rows.add(message["record"]["id"])
        elif message["type"] == "STATE" and "auth_log" in message["value"].get("bookmarks", {}):
            bookmark = message["value"]["bookmarks"]["auth_log"]
            for file_id in files_covered_by(bookmark, api, file_ids):
                assert emitted.get(file_id) == 3, f"STATE covers {file_id} before all its records"
                assert file_id in rows, f"STATE covers {file_id} before its log_files row"


def test_log_files_has_one_row_per_file_synced_matching_the_listing(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(2), events_per_file=4)
    file_ids += add_files(api, "COSTS", hourly(1), events_per_file=2)

    before = datetime.now(UTC)
    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG", "COSTS"]))
    after = datetime.now(UTC)

    rows = {row["id"]: row for row in run.records("log_files")}
    assert set(rows) == set(file_ids)
    for file_id in file_ids:
        served = api.log_file(file_id)
        row = rows[file_id]
        assert row["event_type"] == served.event_type
        assert row["scope"] == served.scope.value
        assert row["principal_id"] == served.principal_id
        assert row["end_time"] == served.end_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert (row["file_name"], row["file_size"], row["file_sha256"]) == (
            served.file_name,
            served.size,
            served.sha256,
        )
        assert row["record_count"] == len(api.events_of(file_id))
        assert before <= datetime.fromisoformat(row["fetched_at"].replace("Z", "+00:00")) <= after
    schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == "log_files")
    assert schema["key_properties"] == ["id"]


def test_deselected_fields_stream_maps_and_flattening_still_apply(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(1), events_per_file=2)
    config = tap_config(
        api,
        event_types=["AUTH_LOG"],
        stream_maps={"auth_log": {"actor_type": "actor['type']", "action_data": "__NULL__"}},
        flattening_enabled=True,
        flattening_max_depth=1,
    )
    discovered = run_tap(tmp_path, config, extra_args=["--discover"])
    catalog = json.loads(discovered.stdout)
    (auth_log,) = [e for e in catalog["streams"] if e["tap_stream_id"] == "auth_log"]
    for entry in auth_log["metadata"]:
        entry["metadata"]["selected"] = entry["breadcrumb"] != ["properties", "request_metadata"]
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))

    run = run_tap(tmp_path, config, extra_args=["--catalog", str(tmp_path / "catalog.json")])

    assert run.returncode == 0, run.stderr
    records = run.records("auth_log")
    assert len(records) == 2
    for record in records:
        assert not any(key.startswith("request_metadata") for key in record)
        assert "action_data" not in record
        assert record["actor_type"] == "ACCOUNT_USER"
        assert "actor__user_email" in record
        assert "actor" not in record


def test_with_every_field_selected_records_pass_through_stream_maps(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(1), events_per_file=2)
    config = tap_config(
        api, event_types=["AUTH_LOG"], stream_maps={"auth_log": {"__alias__": "logins"}}
    )

    run = run_tap(tmp_path, config)

    assert run.records("auth_log") == []
    assert [as_served(r) for r in run.records("logins")] == events_of(api, file_ids)


def test_with_every_field_selected_records_are_still_flattened(api, tmp_path):
    (file_id,) = add_files(api, "AUTH_LOG", hourly(1), events_per_file=1)
    config = tap_config(
        api, event_types=["AUTH_LOG"], flattening_enabled=True, flattening_max_depth=1
    )

    (record,) = run_tap(tmp_path, config).records("auth_log")

    (event,) = api.events_of(file_id)
    assert record["actor__user_email"] == event["actor"]["user_email"]
    assert "actor" not in record


def test_progress_lines_say_files_records_rate_and_end_time_reached(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(3), events_per_file=2)

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"], progress_interval=0))

    lines = [
        line.split("| ")[-1] for line in run.stderr.splitlines() if "files listed so far" in line
    ]
    assert lines[0].startswith("auth_log: 1 of ")
    assert "2 records" in lines[0]
    assert "end_time reached: 2026-11-20T08:00:00.000000Z" in lines[0]
    assert lines[-1].startswith("Finished auth_log: 3 of 3 files listed so far done, 6 records")
    assert "end_time reached: 2026-11-20T10:00:00.000000Z" in lines[-1]


def test_progress_is_logged_every_few_seconds_not_every_file(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(5), events_per_file=1)

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"]))

    lines = [line for line in run.stderr.splitlines() if "files listed so far" in line]
    assert len(lines) == 1
    assert "Finished auth_log: 5 of 5" in lines[0]


def test_a_start_past_the_api_retention_is_warned_about(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(1))
    old_bookmark = {
        "bookmarks": {
            "auth_log": {
                "replication_key": "_sdc_log_file_end_time",
                "replication_key_value": "2026-01-01T00:00:00.000000Z",
                "log_files_at_bookmark": [],
            }
        }
    }

    resumed = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"]), old_bookmark)
    recent = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"], start_date=None))

    assert resumed.returncode == 0, resumed.stderr
    assert (
        "auth_log starts from 2026-01-01T00:00:00.000000Z, more than 30 days ago" in resumed.stderr
    )
    assert len(resumed.events()) == 3
    assert "more than 30 days ago" not in recent.stderr
