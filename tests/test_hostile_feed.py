"""A late or unsorted feed, a hostile server and a careless operator, met through the CLI.

Each test says what holds: nothing lost, memory and disk bounded, one plain error, no secret
shown, and a STATE that never covers a file whose records were not all emitted.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import stat
import subprocess
import time
import typing as t
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from tap_openai_compliance.sandbox import FakeComplianceAPI, Fault
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
from tests.tap_runner import TAP, TapRun, run_tap, run_tap_until, write_inputs

# Far more than the tap needs, far less than the inputs below would take if read whole.
FLAT_MEMORY_MIB = 200
GIB = 2**30


def tap_config(api: FakeComplianceAPI, **overrides: t.Any) -> dict[str, t.Any]:
    """Settings for an AUTH_LOG sync against the fake."""
    return base_config(api, event_types=["AUTH_LOG"], **overrides)


def bookmark_of(run: TapRun) -> dict[str, t.Any]:
    """The AUTH_LOG bookmark of the last STATE a run printed."""
    bookmark: dict[str, t.Any] = run.last_state["bookmarks"]["auth_log"]
    return bookmark


def assert_every_state_covers_only_emitted_files(
    run: TapRun, api: FakeComplianceAPI, file_ids: list[str], given: dict | None = None
) -> None:
    """Walk the messages: each STATE covers only files whose every record came before it
    (or that the state the run was ``given`` covered already)."""
    done_before = files_covered_by(given["bookmarks"]["auth_log"], api, file_ids) if given else ()
    emitted: Counter[str] = Counter({file_id: 10**9 for file_id in done_before})
    for message in run.messages:
        if message["type"] == "RECORD" and message["stream"] == "auth_log":
            emitted[message["record"]["_sdc_log_file_id"]] += 1
        elif message["type"] == "STATE" and "auth_log" in message["value"]["bookmarks"]:
            for file_id in files_covered_by(
                message["value"]["bookmarks"]["auth_log"], api, file_ids
            ):
                assert emitted[file_id] >= len(api.events_of(file_id)), file_id


# -- 1. late and unsorted log files --------------------------------------------------------


def test_a_file_published_late_within_the_lookback_is_synced_by_the_next_run_exactly_once(
    api, tmp_path
):
    config = tap_config(api)
    add_files(api, "AUTH_LOG", hourly(3))
    first = run_tap(tmp_path, config)
    # Published after the first run, ending half an hour before the latest file it synced.
    (late,) = add_files(api, "AUTH_LOG", [FIRST_END_TIME + timedelta(hours=1.5)], seed=2)

    second = run_tap(tmp_path, config, first.last_state)
    api.clear_requests()
    third = run_tap(tmp_path, config, second.last_state)

    assert [as_served(r) for r in second.events()] == events_of(api, [late])
    assert third.events() == []
    assert api.download_calls() == []
    assert late in bookmark_of(third)["log_files_done"]


def test_with_lookback_off_only_files_after_the_bookmark_are_listed(api, tmp_path):
    config = tap_config(api, lookback_minutes=0)
    add_files(api, "AUTH_LOG", hourly(3))
    first = run_tap(tmp_path, config)
    add_files(api, "AUTH_LOG", [FIRST_END_TIME + timedelta(hours=1.5)], seed=2)

    second = run_tap(tmp_path, config, first.last_state)

    assert second.events() == []
    assert {call.query["after"] for call in api.listing_calls()} >= {"2026-11-20T09:59:59.999999Z"}


def test_the_state_keeps_only_the_files_inside_the_window(api, tmp_path):
    file_ids = add_files(
        api, "AUTH_LOG", [FIRST_END_TIME + timedelta(minutes=20 * n) for n in range(9)]
    )

    run = run_tap(tmp_path, tap_config(api))

    bookmark = bookmark_of(run)
    # The latest file ends at 10:40: the window holds the files from 09:40 on.
    assert bookmark["log_files_done_since"] == "2026-11-20T09:40:00.000000Z"
    assert list(bookmark["log_files_done"]) == file_ids[-4:]
    assert bookmark["replication_key_value"] == "2026-11-20T10:40:00.000000Z"


@pytest.mark.parametrize("stop_after_states", [0, 1, 3, 6])
def test_unsorted_pages_sync_every_file_once_and_a_kill_anywhere_loses_nothing(
    tmp_path, stop_after_states
):
    with FakeComplianceAPI(api_key=API_KEY, page_order="reversed") as api:
        api.add_principal("workspaces", WORKSPACE_ID)
        file_ids = add_files(api, "AUTH_LOG", hourly(10), events_per_file=2)
        config = tap_config(api, page_size=3, max_concurrent_downloads=2)

        if stop_after_states:
            killed = run_tap_until(tmp_path, config, None, count=stop_after_states)
            assert_every_state_covers_only_emitted_files(killed, api, file_ids)
            resumed = run_tap(tmp_path, config, killed.last_state)
            runs = [killed, resumed]
        else:
            runs = [run_tap(tmp_path, config)]

    if stop_after_states:
        assert_every_state_covers_only_emitted_files(resumed, api, file_ids, killed.last_state)
    else:
        assert_every_state_covers_only_emitted_files(runs[0], api, file_ids)
    emitted = Counter(r["event_id"] for run in runs for r in run.events())
    served = Counter(event["event_id"] for event in events_of(api, file_ids))
    assert set(emitted) == set(served)
    if not stop_after_states:
        assert emitted == served, "one run: every event exactly once"
    assert files_covered_by(bookmark_of(runs[-1]), api, file_ids) == set(file_ids)


def test_state_of_the_release_before_the_window_resumes_and_is_written_anew(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(3))
    old = {
        "bookmarks": {
            "auth_log": {
                "replication_key": "_sdc_log_file_end_time",
                "replication_key_value": "2026-11-20T09:00:00.000000Z",
                "log_files_at_bookmark": [file_ids[1]],
            }
        }
    }

    run = run_tap(tmp_path, tap_config(api), old)

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.events()] == events_of(api, file_ids[2:])
    assert {call.path.rsplit("/", 1)[-1] for call in api.download_calls()} == {file_ids[2]}
    assert "log_files_at_bookmark" not in bookmark_of(run)
    assert files_covered_by(bookmark_of(run), api, file_ids) == set(file_ids)


# -- 2. reads bounded by what was listed ----------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [Fault.oversize(GIB), Fault.gzip_bomb(2 * GIB)],
    ids=["1-gib-past-its-size", "gzip-bomb-of-2-gib"],
)
def test_a_body_running_past_its_listed_size_is_cut_off_and_fetched_again(api, tmp_path, fault):
    file_ids = add_files(api, "AUTH_LOG", hourly(2))
    api.inject("storage", fault, file_id=file_ids[1])

    run = run_tap(tmp_path, tap_config(api), measure_memory=True)

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.events()] == events_of(api, file_ids)
    assert f"runs past the {api.log_file(file_ids[1]).size:,} bytes listed" in run.stderr
    assert run.peak_rss_mib < FLAT_MEMORY_MIB


@pytest.mark.parametrize(
    ("target", "fault", "says"),
    [
        ("list", Fault.flood(GIB), "the listing answered more than 16 MiB"),
        ("list", Fault.flood(GIB, status=503), "HTTP 503"),
        ("download", Fault.flood(GIB, status=500), "HTTP 500"),
        ("storage", Fault.flood(GIB, status=500), "the storage host answered HTTP 500"),
    ],
    ids=["listing", "listing-error", "download-error", "storage-error"],
)
def test_an_answer_of_a_gigabyte_is_read_no_further_than_needed(api, tmp_path, target, fault, says):
    file_ids = add_files(api, "AUTH_LOG", hourly(2))
    api.inject(target, fault)

    run = run_tap(tmp_path, tap_config(api), measure_memory=True)

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.events()] == events_of(api, file_ids)
    assert says in run.stderr
    assert run.peak_rss_mib < FLAT_MEMORY_MIB


def test_files_listed_without_size_are_checked_against_content_length_with_one_warning(tmp_path):
    with FakeComplianceAPI(api_key=API_KEY, listing_checksums=False) as api:
        api.add_principal("workspaces", WORKSPACE_ID)
        file_ids = add_files(api, "AUTH_LOG", hourly(3))
        api.inject("storage", Fault.truncate(), file_id=file_ids[1])

        run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.events()] == events_of(api, file_ids)
    assert [file_id for file_id in file_ids if f"log file {file_id} failed" in run.stderr] == [
        file_ids[1]
    ]
    assert run.stderr.count("the listing gives no file_size") == 1


# -- 3. waits that never end ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "says"),
    [
        ("1000000000", "asked to wait 1,000,000,000 s"),
        ("Tue, 01 Dec 2099 00:00:00 GMT", "asked to wait 2,"),
        ("1e20", "asked to wait 100,000,000,000,000,000,000 s"),
    ],
)
def test_a_retry_after_past_the_cap_ends_the_sync_at_once_saying_what_was_asked(
    api, tmp_path, retry_after, says
):
    add_files(api, "AUTH_LOG", hourly(1))
    api.inject("list", Fault.status(429, headers={"Retry-After": retry_after}))

    started = time.monotonic()
    run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 1
    (line,) = run.errors()
    assert says in line
    assert "more than max_retry_after (900 s) allows" in line
    assert "Traceback" not in run.stderr
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("retry_after", ["soon", "-5", "nan", "inf"])
def test_an_unusable_retry_after_counts_as_absent(api, tmp_path, retry_after):
    file_ids = add_files(api, "AUTH_LOG", hourly(1))
    api.inject("list", Fault.status(429, headers={"Retry-After": retry_after}))

    run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.events()] == events_of(api, file_ids)
    assert "; try 2 of 6 in 0.0" in run.stderr


def test_progress_lines_keep_coming_while_a_download_is_stuck(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(2))
    api.inject("storage", Fault.delay(4), file_id=file_ids[0])

    run = run_tap(tmp_path, tap_config(api, progress_interval=1))

    assert run.returncode == 0, run.stderr
    waiting = [line for line in run.stderr.splitlines() if "Waiting" in line]
    assert len(waiting) >= 2
    assert f"for log file {file_ids[0]} to download" in waiting[0]


# -- 4. secrets -----------------------------------------------------------------------------


def test_a_storage_error_echoing_the_signed_url_in_any_encoding_shows_no_secret(api, tmp_path):
    (file_id,) = add_files(api, "AUTH_LOG", hourly(1))
    api.inject("storage", Fault.echo_url(403), times=2)

    run = run_tap(tmp_path, tap_config(api, max_tries=2), env={"LOGLEVEL": "DEBUG"})

    assert run.returncode == 1
    (line,) = run.errors()
    assert f"Downloading AUTH_LOG log file {file_id} failed 2 times" in line
    signatures = {call.query["signature"] for call in api.storage_calls()}
    output = run.stderr + run.stdout
    for signature in signatures:
        for form in (signature, quote(signature), quote(quote(signature))):
            assert form[:12] not in output


def test_the_key_echoed_in_another_case_or_cut_short_is_masked(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(1))
    echoed = f"keys {API_KEY.upper()} and {API_KEY[:20]} and {API_KEY[-14:].lower()} refused"
    api.inject("list", Fault.status(401, body={"error": {"message": echoed}}))

    run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 1
    (line,) = run.errors()
    assert "keys <redacted> and <redacted> and <redacted> refused" in line
    for piece in (API_KEY.upper(), API_KEY[:20], API_KEY[-14:].lower()):
        assert piece not in run.stderr


# -- 5. valid JSON the fast parser refuses ------------------------------------------------


ODD_BUT_VALID = [
    b'{"event_id":"big","n":18446744073709551616,"m":-9223372036854775809}',
    b'{"event_id":"emoji","s":"\\ud83d\\ude00"}',
    b'{"event_id":"lone","s":"\\ud800"}',
    b'{"event_id":"nan","x":NaN}',
    b'{"event_id":"inf","x":-Infinity}',
    b'{"event_id":"huge","x":1e400}',
    b'{"event_id":"deep","x":' + b"[" * 600 + b"]" * 600 + b"}",
]


def test_json_the_fast_parser_refuses_stops_the_sync_in_one_plain_line(api, tmp_path):
    file_id = api.add_log_file(
        "workspaces", WORKSPACE_ID, "AUTH_LOG", b"\n".join(ODD_BUT_VALID) + b"\n", FIRST_END_TIME
    )

    run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 1
    (line,) = run.errors()
    assert f"Line 3 of log file {file_id} cannot be loaded: holds a lone UTF-16 surrogate" in line
    assert "Traceback" not in run.stderr


def test_integers_arrive_exact_and_what_cannot_be_written_as_json_is_rejected(api, tmp_path):
    file_id = api.add_log_file(
        "workspaces", WORKSPACE_ID, "AUTH_LOG", b"\n".join(ODD_BUT_VALID) + b"\n", FIRST_END_TIME
    )

    run = run_tap(tmp_path, tap_config(api, on_malformed_line="reject"))

    assert run.returncode == 0, run.stderr
    big, emoji = (as_served(record) for record in run.records("auth_log"))
    assert (big["n"], big["m"]) == (2**64, -(2**63) - 1)
    assert '"n":18446744073709551616' in run.stdout
    assert emoji["s"] == "\N{GRINNING FACE}"
    rejected = {row["line_number"]: row["error"] for row in run.records("rejected_lines")}
    assert set(rejected) == {3, 4, 5, 6, 7}
    assert "lone UTF-16 surrogate" in rejected[3]
    assert "NaN" in rejected[4]
    assert "Infinity" in rejected[5]
    assert "64-bit float" in rejected[6]
    assert "nested deeper than 512 levels" in rejected[7]
    assert {row["log_file_id"] for row in run.records("rejected_lines")} == {file_id}


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_a_line_of_hundreds_of_megabytes_is_a_malformed_line_read_in_flat_memory(
    api, tmp_path, compressed
):
    body = tmp_path / "body"
    head, tail = b'{"event_id":"before"}\n', b'\n{"event_id":"after"}\n'
    with gzip.open(body, "wb", compresslevel=1) if compressed else body.open("wb") as out:
        out.write(head + b'{"event_id":"long","pad":"')
        for _ in range(200):
            out.write(b"x" * 2**20)
        out.write(b'"}' + tail)
    file_id = api.add_log_file("workspaces", WORKSPACE_ID, "AUTH_LOG", body, FIRST_END_TIME)

    run = run_tap(tmp_path, tap_config(api, on_malformed_line="reject"), measure_memory=True)

    assert run.returncode == 0, run.stderr
    assert [r["event_id"] for r in run.records("auth_log")] == ["before", "after"]
    (row,) = run.records("rejected_lines")
    assert (row["log_file_id"], row["line_number"]) == (file_id, 2)
    assert "longer than the 32 MiB a line may hold" in row["error"]
    assert len(row["raw_line"]) == 64 * 1024
    assert run.peak_rss_mib < FLAT_MEMORY_MIB


# -- 6. one plain error line, the bookmark unchanged ----------------------------------------


def listing_with(entry: dict[str, t.Any]) -> Fault:
    """A listing page holding one hand-made entry."""
    page = {"data": [entry], "has_more": False, "last_end_time": entry.get("end_time")}
    return Fault.status(200, body=page)


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"id": "..", "end_time": "2026-11-20T08:00:00Z"}, "id is '..'"),
        ({"id": ".", "end_time": "2026-11-20T08:00:00Z"}, "id is '.'"),
        ({"id": "", "end_time": "2026-11-20T08:00:00Z"}, "id is ''"),
        ({"id": "a", "end_time": "2026-11-20T08:00:00Z", "file_sha256": 5}, "file_sha256 is 5"),
    ],
)
def test_a_listing_entry_the_tap_cannot_trust_stops_the_sync_before_any_download(
    api, tmp_path, entry, says
):
    api.inject("list", listing_with(entry))

    run = run_tap(tmp_path, tap_config(api), env={"LOGLEVEL": "DEBUG"})

    assert run.returncode == 1
    (line,) = run.errors()
    assert "Listing AUTH_LOG log files failed: the listing is malformed" in line
    assert says in line
    assert "Traceback" not in run.stderr
    assert api.download_calls() == []


@pytest.mark.parametrize("last_end_time", ["soon", 5, "2020-01-01T00:00:00Z"])
def test_a_page_pointing_nowhere_or_back_stops_the_sync_in_one_plain_line(
    api, tmp_path, last_end_time
):
    file_id = api.add_log_file(
        "workspaces", WORKSPACE_ID, "AUTH_LOG", [{"event_id": "a"}], FIRST_END_TIME
    )
    entry = api.log_file(file_id).listing_entry()
    api.inject(
        "list",
        Fault.status(200, body={"data": [entry], "has_more": True, "last_end_time": last_end_time}),
    )

    run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 1
    (line,) = run.errors()
    assert (
        "Listing AUTH_LOG log files failed: the listing is malformed (a page's last_end_time"
        in line
    )
    assert "Traceback" not in run.stderr


def corrupt_gzip(damage: str) -> bytes:
    """A gzip body of two events, damaged: the listing's size and SHA-256 will match it."""
    body = gzip.compress(
        b'{"event_id":"g1","type":"AUTH_LOG"}\n{"event_id":"g2","type":"AUTH_LOG"}\n'
    )
    if damage == "crc":
        return body[:-8] + bytes(4) + body[-4:]
    if damage == "truncated":
        return body[: len(body) // 2]
    return body[:3] + b"\xff" + body[4:]


@pytest.mark.parametrize("damage", ["crc", "truncated", "header"])
def test_a_damaged_gzip_body_whose_checksum_matches_stops_the_sync_naming_the_file(
    api, tmp_path, damage
):
    (first,) = add_files(api, "AUTH_LOG", hourly(1))
    damaged = api.add_log_file(
        "workspaces",
        WORKSPACE_ID,
        "AUTH_LOG",
        corrupt_gzip(damage),
        FIRST_END_TIME + timedelta(hours=1),
    )

    failed = run_tap(tmp_path, tap_config(api))
    rejected = run_tap(tmp_path, tap_config(api, on_malformed_line="reject"), failed.last_state)

    assert failed.returncode == 1
    (line,) = failed.errors()
    assert f"log file {damaged} cannot be loaded: the file's gzip compression is damaged" in line
    assert "Traceback" not in failed.stderr
    assert files_covered_by(bookmark_of(failed), api, [first, damaged]) == {first}
    assert rejected.returncode == 0, rejected.stderr
    (row,) = rejected.records("rejected_lines")
    assert row["log_file_id"] == damaged
    assert "gzip compression is damaged" in row["error"]


def test_a_full_disk_stops_the_sync_naming_the_directory_and_what_to_change(
    api, tmp_path, small_disk
):
    file_ids = add_files(api, "AUTH_LOG", hourly(2), events_per_file=3)
    big = api.add_log_file(
        "workspaces",
        WORKSPACE_ID,
        "AUTH_LOG",
        b'{"event_id":"big","pad":"' + b"x" * (3 * 2**20) + b'"}\n',
        FIRST_END_TIME + timedelta(hours=2),
    )

    config = tap_config(api, max_concurrent_downloads=1)
    run = run_tap(tmp_path, config, env={"TMPDIR": str(small_disk)})

    assert run.returncode == 1
    (line,) = run.errors()
    assert f"No space left in {small_disk}/tap-openai-compliance-" in line
    assert f"to save log file {big}" in line
    assert "TMPDIR" in line
    assert "max_concurrent_downloads" in line
    assert "Traceback" not in run.stderr
    assert files_covered_by(bookmark_of(run), api, [*file_ids, big]) == set(file_ids)


def state_file_run(tmp_path: Path, api: FakeComplianceAPI, text: str) -> TapRun:
    """Run the tap with a state file holding ``text``."""
    (tmp_path / "given-state.json").write_text(text)
    return run_tap(
        tmp_path, tap_config(api), extra_args=["--state", str(tmp_path / "given-state.json")]
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "is not JSON"),
        ('["a"]', "is not a Singer state"),
        ('{"bookmarks": {"auth_log": 5}}', "is not a Singer state"),
        (
            '{"bookmarks": {"auth_log": {"replication_key_value": "last tuesday"}}}',
            "bookmark of stream auth_log is not usable",
        ),
        (
            '{"bookmarks": {"auth_log": {"replication_key_value": "2026-11-20T08:00:00Z",'
            ' "log_files_at_bookmark": [1, 2]}}}',
            "1 is not a log file id",
        ),
    ],
    ids=["not-json", "not-an-object", "bookmark-not-an-object", "not-a-date", "ids-not-strings"],
)
def test_a_state_in_another_shape_stops_with_one_plain_line_before_any_request(
    api, tmp_path, text, says
):
    add_files(api, "AUTH_LOG", hourly(1))

    run = state_file_run(tmp_path, api, text)

    assert run.returncode == 1
    (line,) = run.errors()
    assert says in line
    assert "Traceback" not in run.stderr
    assert api.requests == []


def test_a_whole_state_message_given_as_state_resumes_where_it_left_off(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(3))
    first = run_tap(tmp_path, tap_config(api))
    last_state_line = [
        line for line in first.stdout.splitlines() if json.loads(line)["type"] == "STATE"
    ][-1]
    api.clear_requests()

    second = state_file_run(tmp_path, api, last_state_line)

    assert second.returncode == 0, second.stderr
    assert second.events() == []
    assert api.download_calls() == []
    assert files_covered_by(bookmark_of(second), api, file_ids) == set(file_ids)


# -- 7. signals and leftovers ---------------------------------------------------------------


@pytest.mark.parametrize(("sig", "exit_code"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_ends_the_sync_promptly_with_the_exit_code_an_orchestrator_expects(
    api, tmp_path, sig, exit_code
):
    file_ids = add_files(api, "AUTH_LOG", hourly(4))
    api.inject("storage", Fault.delay(30), file_id=file_ids[2])

    stopped = run_tap_until(tmp_path, tap_config(api), None, count=2, sig=getattr(signal, sig))

    assert stopped.returncode == exit_code, stopped.stderr
    assert stopped.seconds_to_exit < 5
    assert f"Stopped by {sig}" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert files_covered_by(bookmark_of(stopped), api, file_ids) == set(file_ids[:2])


def download_directories(root: Path) -> set[Path]:
    """The tap's download directories under ``root``."""
    return {path for path in root.glob("tap-openai-compliance-*") if path.is_dir()}


def start_stuck_tap(tmp_path: Path, api: FakeComplianceAPI, tmpdir: Path) -> subprocess.Popen:
    """A tap whose second download hangs, returned once its download directory is there."""
    file_ids = add_files(api, "AUTH_LOG", hourly(2), seed=int(time.time_ns() % 1000))
    api.inject("storage", Fault.delay(60), file_id=file_ids[1])
    config_dir = tmp_path / f"run-{time.monotonic_ns()}"
    config_dir.mkdir()
    args = [TAP, *write_inputs(config_dir, tap_config(api, max_concurrent_downloads=1), None)]
    before = download_directories(tmpdir)
    process = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(tmpdir)},
    )
    deadline = time.monotonic() + 30
    while not download_directories(tmpdir) - before:
        assert time.monotonic() < deadline, "the tap made no download directory"
        time.sleep(0.05)
    return process


def test_downloads_are_private_and_a_dead_runs_leftovers_go_at_the_next_run_only(api, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    killed = start_stuck_tap(tmp_path, api, tmpdir)
    (leftover,) = download_directories(tmpdir)
    assert stat.S_IMODE(leftover.stat().st_mode) == 0o700
    killed.kill()
    killed.wait()
    assert download_directories(tmpdir) == {leftover}

    running = start_stuck_tap(tmp_path, api, tmpdir)
    try:
        # The dead run's downloads (personal data) went when the next run started.
        (in_use,) = download_directories(tmpdir)
        assert in_use != leftover
        assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in in_use.iterdir())

        finished = run_tap(
            tmp_path,
            # A window with no file in it: the run lists, downloads nothing, and ends.
            tap_config(api, start_date="2026-11-01T00:00:00Z", end_date="2026-11-02T00:00:00Z"),
            env={"TMPDIR": str(tmpdir)},
        )

        assert finished.returncode == 0, finished.stderr
        # A run still going keeps its downloads, whatever other runs start meanwhile.
        assert download_directories(tmpdir) == {in_use}
    finally:
        running.kill()
        running.wait()
