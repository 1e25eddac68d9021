"""Settings and the API's refusals, as a user meets them on the command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tap_openai_compliance.feeds import KNOWN_FEEDS
from tap_openai_compliance.sandbox import Fault
from tests.conftest import (
    API_KEY,
    ORGANIZATION_ID,
    WORKSPACE_ID,
    add_files,
    events_of,
    hourly,
    tap_config,
)
from tests.tap_runner import TAP, error_lines, run_tap


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"api_key": None}, "'api_key' is missing"),
        ({"workspace_id": None, "organization_id": None}, "'workspace_id'"),
        ({"start_date": "last tuesday"}, "'start_date' is not a date-time"),
        ({"end_date": "2026-13-45"}, "'end_date' is not a date-time"),
        ({"page_size": 500}, "Setting 'page_size': 500 is greater than the maximum of 100"),
        ({"page_size": 0}, "Setting 'page_size': 0 is less than the minimum of 1"),
        ({"max_concurrent_downloads": 0}, "'max_concurrent_downloads'"),
        ({"retry_initial_wait": -1}, "Setting 'retry_initial_wait': -1 is less than or equal"),
        ({"retry_initial_wait": 1e9}, "Setting 'retry_initial_wait': 1000000000.0 is greater"),
        ({"lookback_minutes": -5}, "Setting 'lookback_minutes': -5 is less than the minimum"),
        ({"max_retry_after": 0}, "Setting 'max_retry_after': 0 is less than the minimum of 1"),
        ({"api_url": "api.chatgpt.com/v1/compliance"}, "Setting 'api_url' must be an https://"),
        ({"api_url": "ftp://api.chatgpt.com"}, "Setting 'api_url' must be an https://"),
        ({"event_types": ["COSTS"], "organization_id": None}, "set 'organization_id'"),
    ],
)
def test_bad_settings_fail_up_front_naming_the_setting(api, tmp_path, overrides, named):
    config = {k: v for k, v in {**tap_config(api), **overrides}.items() if v is not None}

    run = run_tap(tmp_path, config)

    assert run.returncode != 0
    assert named in run.stderr
    assert run.events() == []
    assert api.requests == []
    assert "Traceback" not in run.stderr


def test_a_bad_setting_never_quotes_the_key(api, tmp_path):
    run = run_tap(tmp_path, {**tap_config(api), "page_size": "many", "start_date": 7})

    assert run.returncode != 0
    assert "page_size" in run.stderr
    assert API_KEY not in run.stderr + run.stdout


def test_the_cookbook_key_variable_is_used_when_api_key_is_unset(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(1))
    config = {k: v for k, v in tap_config(api, event_types=["AUTH_LOG"]).items() if k != "api_key"}

    run = run_tap(tmp_path, config, env={"COMPLIANCE_API_KEY": API_KEY})

    assert run.returncode == 0, run.stderr
    assert len(run.events()) == len(events_of(api, file_ids))


def test_settings_can_come_from_the_environment(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(1))
    env = {
        "TAP_OPENAI_COMPLIANCE_API_KEY": API_KEY,
        "TAP_OPENAI_COMPLIANCE_WORKSPACE_ID": WORKSPACE_ID,
        "TAP_OPENAI_COMPLIANCE_API_URL": api.api_url,
        "TAP_OPENAI_COMPLIANCE_START_DATE": "2026-11-01T00:00:00Z",
        "TAP_OPENAI_COMPLIANCE_EVENT_TYPES": '["AUTH_LOG"]',
    }
    result = subprocess.run(
        [TAP, "--config", "ENV"], capture_output=True, text=True, timeout=60, env=env | _path_env()
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.count('"type":"RECORD","stream":"auth_log"') == 3


def _path_env() -> dict[str, str]:
    """Enough of the environment to find the interpreter, and nothing that sets a key."""
    import os

    return {"PATH": os.environ["PATH"]}


@pytest.mark.parametrize(
    ("status", "body", "says", "hint"),
    [
        (
            401,
            {"error": {"message": "Incorrect API key provided: sk-...RxIA.", "type": "auth"}},
            "Incorrect API key provided",
            "Check api_key",
        ),
        (
            404,
            {"error": {"message": "Workspace not found.", "type": "invalid_request_error"}},
            "Workspace not found.",
            "workspace_id",
        ),
        (
            400,
            {"error": {"message": "Use /organizations/{org_id}/logs", "type": "invalid"}},
            "Use /organizations/{org_id}/logs",
            "event_types",
        ),
        (
            422,
            {"detail": [{"loc": ["query", "after"], "msg": "invalid datetime", "type": "x"}]},
            "query.after: invalid datetime",
            "start_date",
        ),
    ],
)
def test_a_refused_listing_ends_the_sync_with_one_readable_line(
    api, tmp_path, status, body, says, hint
):
    add_files(api, "AUTH_LOG", hourly(1))
    api.inject("list", Fault.status(status, body=json.dumps(body).encode()))

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"]))

    assert run.returncode == 1
    (line,) = run.errors()
    assert "Listing AUTH_LOG log files failed" in line
    assert f"HTTP {status}" in line
    assert says in line
    assert hint in line
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("key", "workspace", "expected"),
    [
        ("sk-wrong-key-000000000000", WORKSPACE_ID, "HTTP 401"),
        (API_KEY, "99999999-0000-4000-8000-000000000000", "HTTP 404"),
    ],
)
def test_a_wrong_key_or_workspace_against_the_fake_says_what_to_check(
    api, tmp_path, key, workspace, expected
):
    run = run_tap(
        tmp_path,
        tap_config(api, api_key=key, workspace_id=workspace, event_types=["AUTH_LOG"]),
    )

    assert run.returncode == 1
    (line,) = run.errors()
    assert expected in line
    assert key not in run.stderr + run.stdout


def test_the_key_is_not_printed_even_at_debug_level(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(2))

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"]), env={"LOGLEVEL": "DEBUG"})

    assert run.returncode == 0, run.stderr
    assert "DEBUG" in run.stderr
    assert API_KEY not in run.stdout + run.stderr
    assert "signature=" not in run.stderr


def test_discovery_lists_one_stream_per_configured_event_type(api, tmp_path):
    run = run_tap(tmp_path, tap_config(api, organization_id=None), extra_args=["--discover"])

    catalog = json.loads(run.stdout)
    names = {entry["tap_stream_id"] for entry in catalog["streams"]}
    assert "auth_log" in names
    assert "costs" not in names
    assert API_KEY not in run.stdout + run.stderr
    auth_log = next(e for e in catalog["streams"] if e["tap_stream_id"] == "auth_log")
    assert auth_log["key_properties"] == ["event_id"]
    assert auth_log["replication_key"] == "_sdc_log_file_end_time"
    assert auth_log["replication_method"] == "INCREMENTAL"


def test_discovery_without_settings_lists_every_known_event_type(tmp_path):
    run = run_tap(tmp_path, {}, extra_args=["--discover"])

    assert run.returncode == 0, run.stderr
    names = {entry["tap_stream_id"] for entry in json.loads(run.stdout)["streams"]}
    assert names == {feed.stream_name for feed in KNOWN_FEEDS} | {"log_files"}


def test_the_readme_settings_table_is_the_one_the_tap_prints(tmp_path):
    about = subprocess.run(
        [TAP, "--about", "--format=markdown"], capture_output=True, text=True, timeout=60
    ).stdout
    table = [line for line in about.splitlines() if line.startswith("|")]

    readme = (Path(__file__).parent.parent / "README.md").read_text()

    assert table
    assert "\n".join(table) in readme, "regenerate: tap-openai-compliance --about --format=markdown"


def test_a_target_that_stops_reading_ends_the_sync_with_one_plain_line(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(20), events_per_file=50)
    args = [TAP, "--config", str(tmp_path / "config.json")]
    (tmp_path / "config.json").write_text(json.dumps(tap_config(api, event_types=["AUTH_LOG"])))
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stderr is not None

    process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    returncode = process.wait(timeout=60)

    assert returncode == 1
    assert "The target stopped reading the tap's output" in stderr
    assert len(error_lines(stderr)) == 1
    assert "Traceback" not in stderr


def test_the_pre_flight_check_reads_a_file_of_each_feed_and_syncs_nothing(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(3))
    add_files(api, "COSTS", hourly(1))

    run = run_tap(tmp_path, tap_config(api), extra_args=["--test"])

    assert run.returncode == 0, run.stderr
    assert run.messages == []
    rows = feed_rows(run.stderr)
    assert rows["AUTH_LOG"] == ["workspace", "yes", "a log file read from 127.0.0.2"]
    assert rows["COSTS"] == ["organization", "yes", "a log file read from 127.0.0.2"]
    assert rows["AUDIT_LOG"] == ["workspace", "yes", "no log file in 30 days"]
    assert rows.keys() == {feed.name for feed in KNOWN_FEEDS}
    # One download call per feed with a file, and its first bytes from storage.
    assert len(api.download_calls()) == len(api.storage_calls()) == 2
    assert run.errors() == []


def feed_rows(stderr: str) -> dict[str, list[str]]:
    """The pre-flight check's table: each feed's route, whether readable, and the detail."""
    rows = {}
    for line in stderr.splitlines():
        message = line.split(" | ")[-1]
        fields = message.split(maxsplit=3)
        if len(fields) == 4 and fields[2] in ("yes", "no"):
            rows[fields[0]] = fields[1:]
    return rows


def test_the_pre_flight_check_names_each_feed_the_key_may_not_read_and_its_scope(tmp_path):
    from tap_openai_compliance.sandbox import FakeComplianceAPI

    with FakeComplianceAPI(api_key=API_KEY, readable_types={"AUTH_LOG"}) as api:
        api.add_principal("workspaces", WORKSPACE_ID)
        api.add_principal("organizations", ORGANIZATION_ID)
        add_files(api, "AUTH_LOG", hourly(1))
        by_default = run_tap(tmp_path, tap_config(api), extra_args=["--test"])
        named = run_tap(
            tmp_path, tap_config(api, event_types=["AUTH_LOG", "COSTS"]), extra_args=["--test"]
        )

    rows = feed_rows(by_default.stderr)
    assert rows["AUTH_LOG"][1] == "yes"
    assert rows["COSTS"][1:] == [
        "no",
        "HTTP 403 Forbidden: Missing scopes: this API key does not have the "
        "chatgpt.enterprise.compliance_logs_platform.costs.read scope needed to read COSTS "
        "compliance logs.: grant chatgpt.enterprise.compliance_logs_platform.costs.read",
    ]
    # By default, a feed the key may not read is skipped: the check passes.
    assert by_default.returncode == 0, by_default.stderr
    # Named, it fails the check.
    assert named.returncode == 1
    (line,) = named.errors()
    assert "1 of 2 feeds and tables cannot be read (first: COSTS" in line


def test_the_pre_flight_check_with_a_wrong_key_fails_in_one_line(api, tmp_path):
    config = tap_config(api, event_types=["AUTH_LOG"], api_key="sk-wrong-key-000000000000")

    run = run_tap(tmp_path, config, extra_args=["--test"])

    assert run.returncode == 1
    (line,) = run.errors()
    assert "HTTP 401" in line
