"""An operator's first week: each mistake a newcomer makes, and the one line that comes back.

Every mistake ends the run before any call with one line naming the setting and what to write
instead; where going on was a choice, one warning line says what was left out. Each run ends
with one summary line, whatever ends it.
"""

from __future__ import annotations

import signal

import pytest

from tests.conftest import API_KEY, WORKSPACE_ID, add_files, hourly, tap_config
from tests.tap_runner import TapRun, run_tap, run_tap_until


def one_error(run: TapRun) -> str:
    """The run's one ERROR line, after checking it failed plainly and only once."""
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert "Config validation failed" not in run.stderr
    (line,) = run.errors()
    return line


def warnings(run: TapRun) -> list[str]:
    """The lines a run logged at WARNING level."""
    return [line for line in run.stderr.splitlines() if "| WARNING" in line]


def summary(run: TapRun) -> str:
    """The run's one summary line."""
    (line,) = [line for line in run.stderr.splitlines() if "Run summary:" in line]
    return line


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"start_date": "2026-13-01"}, "Setting 'start_date' is not a date-time: '2026-13-01'"),
        ({"start_date": "yesterday"}, "Setting 'start_date' is not a date-time: 'yesterday'"),
        ({"start_date": ""}, "Setting 'start_date' is empty (in meltano.yml, a variable"),
        ({"start_date": "2999-01-01T00:00:00Z"}, "Setting 'start_date' is 2999-01-01"),
        (
            {"start_date": "2026-11-10T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"},
            "Setting 'end_date' (2026-11-01T00:00:00.000000Z) is before 'start_date'",
        ),
        ({"event_types": ["AUTH_LOGS"]}, "Did you mean AUTH_LOG?"),
        ({"workspace_id": f" '{WORKSPACE_ID}' "}, f"is \" '{WORKSPACE_ID}' \", not a workspace"),
        (
            {"workspace_id": "../organizations/org-test000000000000000001"},
            "not a workspace UUID",
        ),
        ({"organization_id": "org test"}, "Setting 'organization_id' is 'org test', not an API"),
        ({"api_url": "http://127.0.0.1:9"}, "must be the Compliance API's base address, ending in"),
        (
            {"api_url": "http://api.chatgpt.com/v1/compliance"},
            "a plain http:// address, which would send the API key unencrypted",
        ),
        (
            {"stream_maps": {"auth_log": {"actor": "sha256(config['email_salt'] + 'x')"}}},
            "Setting 'stream_map_config.email_salt' is not set, but stream_maps read it",
        ),
    ],
    ids=[
        "month-13",
        "yesterday",
        "empty-variable",
        "start-in-future",
        "end-before-start",
        "event-type-typo",
        "id-in-quotes",
        "id-with-a-path",
        "org-id-with-a-space",
        "api-url-without-path",
        "api-url-plain-http",
        "masking-without-salt",
    ],
)
def test_a_mistake_ends_the_run_before_any_call_in_one_line_naming_the_setting(
    api, tmp_path, overrides, says
):
    run = run_tap(tmp_path, tap_config(api, **overrides))

    assert says in one_error(run)
    assert api.requests == []
    assert API_KEY not in run.stderr


def test_nothing_answering_at_api_url_fails_at_once_naming_where(api, tmp_path):
    config = tap_config(api, api_url="http://127.0.0.1:9/v1/compliance", event_types=["AUTH_LOG"])

    run = run_tap(tmp_path, config, timeout=30)

    line = one_error(run)
    assert (
        "could not connect (refused or unreachable): nothing answers at http://127.0.0.1:9" in line
    )
    assert "Check api_url" in line
    assert "giving up" not in line  # no retries before anything ever answered


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (
            {"strat_date": "2026-11-01T00:00:00Z"},
            "Setting 'strat_date' is not a setting of this tap (did you mean 'start_date'?): "
            "it is ignored.",
        ),
        (
            {"organization_id": None},
            "'organization_id' is not set, so the organization's feeds (APP_ORGANIZATION_LOG, "
            "APP_AUTH_ORGANIZATION_LOG, COSTS) are not synced",
        ),
    ],
    ids=["setting-typo", "no-organization"],
)
def test_what_the_run_leaves_out_by_choice_is_one_warning_line(api, tmp_path, overrides, says):
    add_files(api, "AUTH_LOG", hourly(1))

    run = run_tap(tmp_path, tap_config(api, **overrides))

    assert run.returncode == 0, run.stderr
    assert [line for line in warnings(run) if says in line] != []
    assert len([line for line in run.stderr.splitlines() if says in line]) == 1


def test_an_api_key_written_in_meltano_yml_is_warned_about(api, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "meltano.yml").write_text(
        "plugins:\n  extractors:\n  - name: tap-openai-compliance\n    config:\n"
        f"      api_key: {API_KEY}\n"
    )

    run = run_tap(
        tmp_path,
        tap_config(api, event_types=["AUTH_LOG"]),
        env={"MELTANO_PROJECT_ROOT": str(project)},
    )

    assert run.returncode == 0, run.stderr
    (line,) = [line for line in warnings(run) if "The API key is written in" in line]
    assert "move it to .env or the environment" in line
    assert API_KEY not in run.stderr


def test_an_empty_state_file_is_said_to_start_from_start_date(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(1))
    state = tmp_path / "empty-state.json"
    state.write_text("")

    run = run_tap(
        tmp_path, tap_config(api, event_types=["AUTH_LOG"]), extra_args=["--state", str(state)]
    )

    assert run.returncode == 0, run.stderr
    (line,) = [line for line in warnings(run) if "is empty" in line]
    assert f"The state file {state} is empty: the sync starts from start_date" in line


def test_a_whole_state_message_given_as_state_is_said_to_be_unwrapped(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(1))
    first = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"]))

    again = run_tap(
        tmp_path,
        tap_config(api, event_types=["AUTH_LOG"]),
        {"type": "STATE", "value": first.last_state},
    )

    assert again.returncode == 0, again.stderr
    assert "The state given is a whole STATE message: the state it holds is used." in again.stderr
    assert again.events() == []


# -- a run that reports itself ----------------------------------------------------------------


def test_a_run_ends_with_one_summary_line_per_stream_and_no_metric_lines(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(2))
    add_files(api, "COSTS", hourly(1))

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG", "COSTS"]))

    assert run.returncode == 0, run.stderr
    line = summary(run)
    bookmark = run.last_state["bookmarks"]["auth_log"]["replication_key_value"]
    assert "Run summary: every log file listed was synced, in " in line
    assert f"auth_log: 2 files, 6 records, bookmark {bookmark}" in line
    assert "costs: 1 files, 3 records, bookmark " in line
    assert "METRIC" not in run.stderr
    assert "Skipping parse of env var settings" not in run.stderr
    assert "Pagination stopped" not in run.stderr
    assert "Starting incremental sync of" not in run.stderr


def test_metric_lines_come_when_asked_for(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(1))

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"], log_metrics=True))

    assert run.returncode == 0, run.stderr
    assert "METRIC" in run.stderr


def test_a_failed_run_still_ends_with_its_summary_before_the_error(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(2), events_per_file=2)
    api.add_log_file("workspaces", WORKSPACE_ID, "AUTH_LOG", b"not json\n", hourly(3)[-1])

    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"]))

    assert "cannot be loaded" in one_error(run)
    line = summary(run)
    assert "Run summary: failed (see below)" in line
    assert "auth_log: 2 files, 4 records" in line
    lines = run.stderr.splitlines()
    assert lines.index(line) < lines.index(run.errors()[0])


def test_a_run_stopped_by_a_signal_ends_with_its_summary(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(30), events_per_file=2)
    api.storage_latency = 0.2

    run = run_tap_until(
        tmp_path,
        tap_config(api, event_types=["AUTH_LOG"], max_concurrent_downloads=1),
        None,
        count=2,
        sig=signal.SIGTERM,
    )

    assert run.returncode == 128 + signal.SIGTERM
    assert "Run summary: stopped: by SIGTERM" in summary(run)


def test_a_run_out_of_time_ends_with_its_summary_saying_the_next_goes_on(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(12), events_per_file=2)
    api.storage_latency = 0.5

    run = run_tap(
        tmp_path,
        tap_config(api, event_types=["AUTH_LOG"], max_concurrent_downloads=1, max_run_minutes=0.02),
    )

    assert run.returncode == 0, run.stderr
    line = summary(run)
    assert "stopped taking new log files after max_run_minutes (0.02)" in line
    assert "the next run goes on from the last STATE" in line


def test_a_bookmark_past_end_date_says_the_window_needs_a_state_of_its_own(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(4))
    first = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG"]))
    earlier_window = {"start_date": "2026-11-01T00:00:00Z", "end_date": "2026-11-10T00:00:00Z"}

    run = run_tap(
        tmp_path, tap_config(api, event_types=["AUTH_LOG"], **earlier_window), first.last_state
    )

    assert run.returncode == 0, run.stderr
    (line,) = [line for line in warnings(run) if "past end_date" in line]
    assert "A backfill window needs a state of its own: meltano run --state-id-suffix" in line
