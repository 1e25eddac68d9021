"""A run that ends in time, at the pace the API allows, and says how far it got."""

from __future__ import annotations

import collections

import pytest

from tap_openai_compliance.sandbox import FakeComplianceAPI
from tests.conftest import (
    API_KEY,
    WORKSPACE_ID,
    add_files,
    as_served,
    events_of,
    files_covered_by,
    hourly,
    tap_config,
)
from tests.tap_runner import run_tap

STOPPED = "stopped taking new log files after max_run_minutes"


@pytest.mark.waits
def test_downloads_keep_to_the_documented_limit_from_the_first_call(tmp_path):
    # The download endpoint allows 5 calls a minute here: a sixth within it would be refused.
    with FakeComplianceAPI(api_key=API_KEY, downloads_per_window=(5, 60.0)) as api:
        api.add_principal("workspaces", WORKSPACE_ID)
        file_ids = add_files(api, "AUTH_LOG", hourly(6))
        # The sixth download's turn comes a minute after the first, long after the budget.
        config = tap_config(
            api, event_types=["AUTH_LOG"], downloads_per_minute=5, max_run_minutes=0.25
        )

        run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.records("auth_log")] == events_of(api, file_ids[:5])
    assert [call.status for call in api.download_calls()] == [307] * 5
    assert all(call.status != 429 for call in api.requests)
    bookmark = run.last_state["bookmarks"]["auth_log"]
    assert files_covered_by(bookmark, api, file_ids) == set(file_ids[:5])
    (line,) = [line for line in run.stderr.splitlines() if STOPPED in line]
    assert "Run summary: stopped taking new log files after max_run_minutes (0.25)" in line
    assert "auth_log: 5 files, 15 records" in line
    assert "the next run goes on from the last STATE" in line
    assert run.errors() == []


@pytest.mark.waits
def test_runs_ended_by_their_budget_together_load_every_event_once_downloading_none_twice(
    api, tmp_path
):
    # About 7 s of downloads, runs of 3 s (a second of it the tap's start): several runs.
    file_ids = {"auth_log": add_files(api, "AUTH_LOG", hourly(20))}
    file_ids["audit_log"] = add_files(api, "AUDIT_LOG", hourly(8))
    api.storage_latency = 0.5
    config = tap_config(
        api,
        event_types=["AUTH_LOG", "AUDIT_LOG"],
        max_run_minutes=0.05,
        max_concurrent_downloads=2,
    )

    records: dict[str, list[dict]] = collections.defaultdict(list)
    state = None
    stopped_runs = 0
    for _ in range(20):
        run = run_tap(tmp_path, config, state)
        assert run.returncode == 0, run.stderr
        for stream in file_ids:
            records[stream] += run.records(stream)
        state = run.last_state or state
        stopped_runs += any(STOPPED in line for line in run.stderr.splitlines())
        if not any(STOPPED in line for line in run.stderr.splitlines()):
            break

    assert stopped_runs >= 2, "the budget should have ended some runs"
    for stream, ids in file_ids.items():
        assert [as_served(r) for r in records[stream]] == events_of(api, ids), stream
    downloads = collections.Counter(call.path.rsplit("/", 1)[-1] for call in api.download_calls())
    assert downloads == {file_id: 1 for ids in file_ids.values() for file_id in ids}


def test_progress_lines_give_the_time_left_at_the_pace_the_api_allows(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(3))

    run = run_tap(
        tmp_path,
        tap_config(api, event_types=["AUTH_LOG"], progress_interval=0, downloads_per_minute=600),
    )

    assert run.returncode == 0, run.stderr
    assert "left for the files listed so far" in run.stderr


def test_end_date_is_sent_as_the_listings_before(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(4))

    run = run_tap(
        tmp_path,
        tap_config(api, event_types=["AUTH_LOG"], end_date="2026-11-20T09:00:00Z"),
    )

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.records("auth_log")] == events_of(api, file_ids[:2])
    (call,) = api.listing_calls()
    # before is strictly earlier: a file ending at end_date itself is still listed.
    assert call.query["before"] == "2026-11-20T09:00:00.000001Z"
