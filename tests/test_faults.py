"""Faults a production sync meets, injected into the fake API, ridden through by the CLI.

Every test checks that the records that come out equal the events that went in, field by field,
each once, or, when the tap must stop, that it says why and its last STATE is a safe resume point.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import signal
import socket
import time
import typing as t
from datetime import timedelta

import orjson
import pytest

from tap_openai_compliance.sandbox import FakeComplianceAPI, Fault, RequestRecord
from tap_openai_compliance.side_streams import REJECTED_LINES
from tests.conftest import (
    API_KEY,
    FIRST_END_TIME,
    WORKSPACE_ID,
    add_files,
    as_served,
    events_of,
    files_covered_by,
    hourly,
)
from tests.conftest import tap_config as base_config
from tests.tap_runner import TapRun, run_tap, run_tap_until

if t.TYPE_CHECKING:
    from collections.abc import Iterator


def tap_config(api: FakeComplianceAPI, **overrides: t.Any) -> dict[str, t.Any]:
    """Settings for an AUTH_LOG sync against the fake."""
    return base_config(api, event_types=["AUTH_LOG"], **overrides)


def assert_synced_exactly(run: TapRun, api: FakeComplianceAPI, file_ids: list[str]) -> None:
    """The run succeeded and emitted every event of the files once, unchanged, in order."""
    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.events()] == events_of(api, file_ids)


def file_of(call: RequestRecord) -> str:
    """The log file id a download or storage request was for."""
    return call.path.rsplit("/", 1)[-1]


def target_of(call: RequestRecord) -> str:
    """Which fault queue a request draws from: list, download or storage."""
    if call.host == "storage":
        return "storage"
    return "list" if call.path.endswith("/logs") else "download"


def auth_event(event_id: str) -> dict[str, t.Any]:
    """A small AUTH_LOG event."""
    return {
        "event_id": event_id,
        "type": "AUTH_LOG",
        "timestamp": "2026-11-20T07:59:00Z",
        "actor": {"type": "ACCOUNT_USER", "user_id": "user-1"},
    }


def jsonl(*lines: bytes | dict[str, t.Any]) -> bytes:
    """A body from events (encoded compactly) and raw lines, each ending with a newline."""
    return b"".join(
        (line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines
    )


def add_body(api: FakeComplianceAPI, body: bytes, hour: int) -> str:
    """Add an AUTH_LOG file with a hand-made body, ending ``hour`` hours after the first."""
    end_time = FIRST_END_TIME + timedelta(hours=hour)
    return api.add_log_file("workspaces", WORKSPACE_ID, "AUTH_LOG", body, end_time)


# -- transient failures: each retried, nothing lost, nothing duplicated -----------------------


@pytest.mark.parametrize("target", ["list", "download", "storage"])
def test_server_errors_429s_and_dropped_connections_are_retried(api, tmp_path, target):
    file_ids = add_files(api, "AUTH_LOG", hourly(3))
    faults = [
        Fault.status(500),
        Fault.status(502, body="<html>Bad Gateway</html>"),
        Fault.status(503),
        Fault.status(429),
        Fault.drop(),
    ]
    for fault in faults:
        api.inject(target, fault)

    run = run_tap(tmp_path, tap_config(api))

    assert_synced_exactly(run, api, file_ids)
    assert api.pending_faults() == 0
    calls = [call for call in api.requests if target_of(call) == target]
    failed = [call for call in calls if call.status in (0, 429) or call.status >= 500]
    assert len(failed) == len(faults)
    if target != "list":
        # Each failure cost one more try of one file; no file was fetched twice otherwise.
        assert len(calls) == len(file_ids) + len(faults)
    assert run.stderr.count("; try ") == len(faults)


@pytest.mark.parametrize(
    ("target", "fault_status", "retry_after"),
    [("list", 429, "seconds"), ("download", 429, "http-date"), ("storage", 503, "seconds")],
)
def test_retry_after_is_waited_out_before_the_next_call(
    api, tmp_path, target, fault_status, retry_after
):
    file_ids = add_files(api, "AUTH_LOG", hourly(2))
    not_before = int(time.time()) + 3
    header = "1" if retry_after == "seconds" else email.utils.formatdate(not_before, usegmt=True)
    api.inject(target, Fault.status(fault_status, headers={"Retry-After": header}))

    run = run_tap(tmp_path, tap_config(api, max_concurrent_downloads=1))

    assert_synced_exactly(run, api, file_ids)
    calls = [call for call in api.requests if target_of(call) == target]
    refused_index = next(i for i, call in enumerate(calls) if call.status == fault_status)
    refused, retried = calls[refused_index], calls[refused_index + 1]
    refused_at, retried_at = refused.answered_at, retried.answered_at
    if target != "list":
        assert file_of(retried) == file_of(refused)
    if retry_after == "seconds":
        assert retried_at - refused_at >= 1.0
    else:
        assert refused_at < not_before - 0.5, "the 429 should come well before the date it names"
        assert retried_at >= not_before


def test_read_timeouts_on_each_host_are_retried(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(2))
    for target in ("list", "download", "storage"):
        api.inject(target, Fault.delay(1.6))

    run = run_tap(tmp_path, tap_config(api, request_timeout=1, max_concurrent_downloads=1))

    assert_synced_exactly(run, api, file_ids)
    assert run.stderr.count("no data arrived for 1 s") == 3
    assert "Listing AUTH_LOG log files failed (no data arrived for 1 s)" in run.stderr


def test_an_expired_link_is_replaced_by_a_fresh_one_from_the_api(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(3))
    api.inject("download", Fault.expire_link(), file_id=file_ids[1])

    run = run_tap(tmp_path, tap_config(api))

    assert_synced_exactly(run, api, file_ids)
    assert [file_of(c) for c in api.download_calls()].count(file_ids[1]) == 2
    storage_statuses = [c.status for c in api.storage_calls() if file_of(c) == file_ids[1]]
    assert storage_statuses == [403, 200]


@pytest.mark.parametrize("damage", ["corrupt", "truncate"])
def test_a_damaged_body_is_downloaded_again_and_only_the_good_one_is_emitted(api, tmp_path, damage):
    file_ids = add_files(api, "AUTH_LOG", hourly(3), events_per_file=20)
    api.inject("storage", getattr(Fault, damage)(), file_id=file_ids[1])

    run = run_tap(tmp_path, tap_config(api))

    assert_synced_exactly(run, api, file_ids)
    assert [file_of(c) for c in api.storage_calls()].count(file_ids[1]) == 2
    assert f"Downloading AUTH_LOG log file {file_ids[1]} failed" in run.stderr


def test_a_rate_limited_sync_waits_its_turn_and_loses_nothing(tmp_path):
    with FakeComplianceAPI(api_key=API_KEY, rate_limit=8) as api:
        file_ids = add_files(api, "AUTH_LOG", hourly(30))

        run = run_tap(tmp_path, tap_config(api, max_concurrent_downloads=8))

    assert_synced_exactly(run, api, file_ids)
    refused = [call for call in api.requests if call.host == "api" and call.status == 429]
    assert refused, "the rate limit should have been met"
    # Only calls already in flight when the first refusal came are refused: from then on
    # every call waits its turn at the pace learned, instead of bouncing off the limit.
    first_pause_over = refused[0].answered_at + 1.0
    assert all(call.answered_at < first_pause_over for call in refused)


# -- when tries run out: a plain error naming the file and the cause ----------------------------


@pytest.mark.parametrize(
    ("target", "fault", "cause"),
    [
        ("storage", Fault.corrupt(), "the body arrived damaged: its SHA-256 differs"),
        ("storage", Fault.truncate(), "the connection broke off in the middle of the body"),
        ("storage", Fault.drop(), "the connection was dropped or reset"),
        ("download", Fault.status(503), "HTTP 503 Service Unavailable"),
        ("storage", Fault.status(500), "the storage host answered HTTP 500"),
    ],
    ids=["corrupt", "truncate", "drop", "api-503", "storage-500"],
)
def test_a_file_that_keeps_failing_stops_the_sync_naming_the_file_and_cause(
    api, tmp_path, target, fault, cause
):
    file_ids = add_files(api, "AUTH_LOG", hourly(3))
    api.inject(target, fault, times=3, file_id=file_ids[1])
    config = tap_config(api, max_tries=3)

    run = run_tap(tmp_path, config, env={"LOGLEVEL": "DEBUG"})

    assert run.returncode == 1
    (line,) = run.errors()
    assert f"Downloading AUTH_LOG log file {file_ids[1]} failed 3 times, giving up" in line
    assert cause in line
    assert "Traceback" not in run.stderr
    # Nothing of the failed file, or of any after it, was emitted; the bookmark is before it.
    assert {r["_sdc_log_file_id"] for r in run.events()} == {file_ids[0]}
    assert files_covered_by(run.last_state["bookmarks"]["auth_log"], api, file_ids) == {file_ids[0]}
    # A signed link is a credential: the file is named by its id, never by its URL.
    assert "signature=" not in run.stderr
    assert "expires=" not in run.stderr

    resumed = run_tap(tmp_path, config, run.last_state)

    assert_synced_exactly(resumed, api, file_ids[1:])


@pytest.mark.parametrize("listener", ["saturated", "closed"])
def test_a_host_that_cannot_be_reached_fails_fast_saying_so(api, tmp_path, listener):
    with unreachable_port(saturated=listener == "saturated") as port:
        config = tap_config(
            api,
            api_url=f"http://127.0.0.1:{port}/v1/compliance",
            connect_timeout=0.3,
            request_timeout=60,
            max_tries=2,
        )
        started = time.monotonic()
        run = run_tap(tmp_path, config)
        elapsed = time.monotonic() - started

    assert run.returncode == 1
    (line,) = run.errors()
    # Before anything ever answered at api_url, there is no retrying: the address is wrong.
    assert "Listing AUTH_LOG log files failed: " in line
    expected = "could not connect within 0.3 s" if listener == "saturated" else "refused"
    assert expected in line
    assert f"nothing answers at http://127.0.0.1:{port}. Check api_url" in line
    assert elapsed < 10


@contextlib.contextmanager
def unreachable_port(*, saturated: bool) -> Iterator[int]:
    """A loopback port that refuses connections, or whose accept queue is full so they hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    fillers = []
    if saturated:
        # Never accepting, with a backlog of 0: once a few connections wait, new ones hang.
        listener.listen(0)
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
    else:
        listener.close()
    try:
        yield port
    finally:
        for sock in [listener, *fillers]:
            sock.close()


# -- signals: a prompt stop, a STATE covering only completed files -----------------------------


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_a_signal_mid_sync_stops_promptly_with_a_state_covering_only_completed_files(
    api, tmp_path, sig
):
    file_ids = add_files(api, "AUTH_LOG", hourly(7), events_per_file=4)
    # When the signal comes, one download hangs in a read and one sleeps out a long
    # Retry-After; both start only after the first three files were downloaded, since a 429
    # pauses every download.
    api.inject("storage", Fault.delay(30), file_id=file_ids[3])
    api.inject("download", Fault.status(429, headers={"Retry-After": "30"}), file_id=file_ids[4])
    config = tap_config(api, request_timeout=60, max_concurrent_downloads=3)

    stopped = run_tap_until(
        tmp_path,
        config,
        None,
        count=3,
        sig=getattr(signal, sig),
        before_signal=lambda: wait_until(lambda: api.pending_faults() == 0),
    )

    # SIGKILL cannot be handled: the last STATE printed before it must be as safe.
    expected = {"SIGKILL": -signal.SIGKILL, "SIGTERM": 143, "SIGINT": 130}[sig]
    assert stopped.returncode == expected, stopped.stderr
    assert stopped.seconds_to_exit < 5
    assert {r["_sdc_log_file_id"] for r in stopped.events()} == set(file_ids[:3])
    bookmark = stopped.last_state["bookmarks"]["auth_log"]
    assert files_covered_by(bookmark, api, file_ids) == set(file_ids[:3])
    assert bookmark["replication_key_value"] == "2026-11-20T10:00:00.000000Z"

    resumed = run_tap(tmp_path, config, stopped.last_state)

    assert_synced_exactly(resumed, api, file_ids[3:])


def test_states_written_mid_file_by_the_sdk_or_a_signal_cover_only_completed_files(api, tmp_path):
    # Past 10,000 records the SDK writes a STATE of its own, and a SIGTERM writes one too,
    # both in the middle of the second file: neither may cover it.
    sizes = {"f1": 6_000, "f2": 6_000, "f3": 10}
    file_ids = [
        add_body(api, jsonl(*(auth_event(f"{name}-{n}") for n in range(size))), hour)
        for hour, (name, size) in enumerate(sizes.items())
    ]
    config = tap_config(api)

    stopped = run_tap_until(
        tmp_path, config, None, lines_holding=file_ids[1], count=4_500, sig=signal.SIGTERM
    )

    assert stopped.returncode == 143, stopped.stderr
    emitted: dict[str, int] = {}
    for message in stopped.messages:
        if message["type"] == "RECORD" and message["stream"] == "auth_log":
            file_id = message["record"]["_sdc_log_file_id"]
            emitted[file_id] = emitted.get(file_id, 0) + 1
        elif message["type"] == "STATE":
            bookmark = message["value"]["bookmarks"]["auth_log"]
            for file_id in files_covered_by(bookmark, api, file_ids):
                assert emitted.get(file_id) == len(api.events_of(file_id))
    assert 4_500 <= emitted[file_ids[1]] < sizes["f2"], "the signal should come mid-file"
    assert files_covered_by(stopped.last_state["bookmarks"]["auth_log"], api, file_ids) == {
        file_ids[0]
    }

    resumed = run_tap(tmp_path, config, stopped.last_state)

    assert_synced_exactly(resumed, api, file_ids[1:])


# -- bad data: never dropped in silence ----------------------------------------------------------


def test_a_malformed_line_stops_the_sync_naming_file_and_line_and_a_rerun_loses_nothing(
    api, tmp_path
):
    first = add_body(api, jsonl(auth_event("a1"), auth_event("a2")), 0)
    broken = add_body(api, jsonl(auth_event("b1"), auth_event("b2"), b'{"event_id": "b3",'), 1)
    last = add_body(api, jsonl(auth_event("c1")), 2)

    run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 1
    (line,) = run.errors()
    assert f"Line 3 of log file {broken} cannot be loaded: not valid JSON" in line
    assert "on_malformed_line" in line
    assert "Traceback" not in run.stderr
    bookmark = run.last_state["bookmarks"]["auth_log"]
    assert files_covered_by(bookmark, api, [first, broken, last]) == {first}
    assert last not in {r["_sdc_log_file_id"] for r in run.events()}

    # Once the cause is dealt with (here: by routing such lines aside), the rerun from the
    # last STATE reads the broken file again and the union holds every event and the bad line.
    rerun = run_tap(tmp_path, tap_config(api, on_malformed_line="reject"), run.last_state)

    assert rerun.returncode == 0, rerun.stderr
    emitted = {r["event_id"] for r in run.events() + rerun.records("auth_log")}
    assert emitted == {"a1", "a2", "b1", "b2", "c1"}
    (rejected,) = rerun.records("rejected_lines")
    assert (rejected["log_file_id"], rejected["line_number"]) == (broken, 3)
    assert rejected["raw_line"] == '{"event_id": "b3",'


def test_rejected_lines_go_whole_to_their_own_stream_with_file_line_text_and_error(api, tmp_path):
    add_body(api, jsonl(auth_event("a1")), 0)
    good = [auth_event("g1"), auth_event("g2"), auth_event("g3"), auth_event("g4")]
    body = jsonl(
        good[0],
        b"this is not json",
        b"[1, 2]",
        b'{"event_id":"half-good"}{"event_id":',
        b'\xff\xfe{"event_id":"latin"}',
        {"type": "AUTH_LOG", "note": "no key"},
        {"event_id": None, "type": "AUTH_LOG"},
        good[1],
        b"",
        b'{"event_id":"g3","type":"AUTH_LOG"}{"event_id":"g4","type":"AUTH_LOG"}\r',
    )
    mixed = add_body(api, body, 1)
    after = add_body(api, jsonl(auth_event("c1")), 2)

    run = run_tap(tmp_path, tap_config(api, on_malformed_line="reject"))

    assert run.returncode == 0, run.stderr
    assert [r["event_id"] for r in run.records("auth_log")] == ["a1", "g1", "g2", "g3", "g4", "c1"]
    loaded = [as_served(r) for r in run.records("auth_log") if r["_sdc_log_file_id"] == mixed]
    assert loaded == [
        good[0],
        good[1],
        {"event_id": "g3", "type": "AUTH_LOG"},
        {"event_id": "g4", "type": "AUTH_LOG"},
    ]
    rejected = run.records("rejected_lines")
    assert [(r["log_file_id"], r["line_number"], r["raw_line"]) for r in rejected] == [
        (mixed, 2, "this is not json"),
        (mixed, 3, "[1, 2]"),
        (mixed, 4, '{"event_id":"half-good"}{"event_id":'),
        (mixed, 5, '\\xff\\xfe{"event_id":"latin"}'),
        (mixed, 6, '{"type":"AUTH_LOG","note":"no key"}'),
        (mixed, 7, '{"event_id":null,"type":"AUTH_LOG"}'),
    ]
    errors = [r["error"] for r in rejected]
    assert errors[0].startswith("not valid JSON")
    assert errors[1] == "not a JSON object"
    assert errors[2].startswith("not valid JSON")
    assert errors[3] == "not UTF-8 text"
    assert "no event_id" in errors[4]
    assert "no event_id" in errors[5]
    assert {r["event_type"] for r in rejected} == {"AUTH_LOG"}
    assert {r["log_file_end_time"] for r in rejected} == {"2026-11-20T09:00:00.000000Z"}
    schema_at, schema = next(
        (i, m)
        for i, m in enumerate(run.messages)
        if m["type"] == "SCHEMA" and m["stream"] == "rejected_lines"
    )
    assert schema["key_properties"] == ["log_file_id", "line_number"]
    first_reject_at = next(
        i
        for i, m in enumerate(run.messages)
        if m["type"] == "RECORD" and m["stream"] == "rejected_lines"
    )
    assert schema_at < first_reject_at
    bookmark = run.last_state["bookmarks"]["auth_log"]
    assert files_covered_by(bookmark, api, [mixed, after]) == {mixed, after}


def test_an_event_without_event_id_stops_the_sync_by_default_and_never_loads_a_null_key(
    api, tmp_path
):
    first = add_body(api, jsonl(auth_event("k0")), 0)
    keyless = add_body(api, jsonl(auth_event("k1"), {"type": "AUTH_LOG"}, auth_event("k2")), 1)

    run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 1
    (line,) = run.errors()
    assert f"Line 2 of log file {keyless} cannot be loaded: an event has no event_id" in line
    assert all(isinstance(r.get("event_id"), str) for r in run.events())
    assert files_covered_by(run.last_state["bookmarks"]["auth_log"], api, [first, keyless]) == {
        first
    }


def test_rejecting_lines_into_a_deselected_stream_stops_rather_than_drop_them(api, tmp_path):
    broken = add_body(api, jsonl(auth_event("a1"), b"not json"), 0)
    config = tap_config(api, on_malformed_line="reject")
    discovered = run_tap(tmp_path, config, extra_args=["--discover"])
    catalog = json.loads(discovered.stdout)
    assert {entry["tap_stream_id"] for entry in catalog["streams"]} == {
        "auth_log",
        "log_files",
        REJECTED_LINES,
    }
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == "auth_log"
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))

    run = run_tap(tmp_path, config, extra_args=["--catalog", str(tmp_path / "catalog.json")])

    assert run.returncode == 1
    (line,) = run.errors()
    assert f"Line 2 of log file {broken} cannot be loaded" in line
    assert "rejected_lines stream is not selected" in line
    assert run.records("rejected_lines") == []


# -- security: the key and signed links never leak ----------------------------------------------


@pytest.mark.parametrize("target", ["list", "download"])
def test_an_api_echoing_the_key_back_in_an_error_is_quoted_with_the_key_masked(
    api, tmp_path, target
):
    add_files(api, "AUTH_LOG", hourly(2))
    api.inject(target, Fault.echo_auth())

    run = run_tap(tmp_path, tap_config(api), env={"LOGLEVEL": "DEBUG"})

    assert run.returncode == 1
    (line,) = run.errors()
    assert "HTTP 400" in line
    assert "Malformed header: Bearer <redacted>" in line
    assert API_KEY not in run.stdout + run.stderr


def test_a_listing_redirected_to_another_host_is_not_followed_with_the_key(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(1))
    elsewhere = f"{api.storage_url}/collect"
    api.inject("list", Fault.status(302, body=b"", headers={"Location": elsewhere}))

    run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 1
    (line,) = run.errors()
    assert f"HTTP 302, a redirect to {api.storage_url}, which" in line
    assert "/collect" not in line
    assert "Check api_url" in line
    assert api.storage_calls() == []


def test_a_key_with_a_line_break_fails_without_quoting_it(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(1))
    broken_key = f"{API_KEY[:12]}\n{API_KEY[12:]}"

    run = run_tap(tmp_path, tap_config(api, api_key=broken_key), env={"LOGLEVEL": "DEBUG"})

    assert run.returncode == 1
    assert any("Setting 'api_key' holds a space, a line break" in line for line in run.errors())
    assert api.requests == []
    assert "Traceback" not in run.stderr
    output = run.stdout + run.stderr
    assert API_KEY[:12] not in output
    assert API_KEY[12:] not in output


@pytest.mark.parametrize("about_format", [None, "json", "markdown"])
def test_about_does_not_print_the_key(api, tmp_path, about_format):
    format_args = ["--format", about_format] if about_format else []
    run = run_tap(tmp_path, tap_config(api), extra_args=["--about", *format_args])

    assert run.returncode == 0, run.stderr
    assert "on_malformed_line" in run.stdout
    assert API_KEY not in run.stdout + run.stderr


def test_an_error_body_is_quoted_short_on_one_line_without_control_characters(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(1))
    hostile = "\x1b[2J\x1b[31mfake log line\nCRITICAL injected\r\n" + "A" * 100_000
    api.inject("list", Fault.status(503, body=hostile), times=2)

    run = run_tap(tmp_path, tap_config(api, max_tries=2))

    assert run.returncode == 1
    (line,) = run.errors()
    assert "HTTP 503" in line
    assert "fake log line CRITICAL injected" in line
    assert len(line) < 1_000
    assert "\x1b" not in run.stderr


def wait_until(condition: t.Callable[[], bool], timeout: float = 10) -> None:
    """Return once ``condition`` holds; fail the test if it does not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.01)
