"""Reading a state as a person would, and dropping one stream's bookmark to sync it again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import add_files, hourly, tap_config
from tests.tap_runner import run_tap

STATE_VIEW = str(Path(sys.executable).with_name("tap-openai-compliance-state"))


@pytest.fixture
def state(api, tmp_path) -> dict:
    """The state after a sync of two streams."""
    add_files(api, "AUTH_LOG", hourly(3))
    add_files(api, "COSTS", hourly(2))
    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG", "COSTS"]))
    assert run.returncode == 0, run.stderr
    return run.last_state


@pytest.mark.parametrize("shape", ["state", "meltano", "message"])
def test_each_streams_bookmark_window_and_files_in_one_line(state, shape):
    given = {
        "state": state,
        "meltano": {"singer_state": state},
        "message": {"type": "STATE", "value": state},
    }[shape]

    shown = subprocess.run(
        [STATE_VIEW], input=json.dumps(given), capture_output=True, text=True, check=True
    ).stdout.splitlines()

    assert shown[0].split() == [
        "stream",
        "bookmark",
        "(latest",
        "file",
        "end)",
        "window",
        "starts",
        "files",
    ]
    auth = state["bookmarks"]["auth_log"]
    assert shown[1].split() == [
        "auth_log",
        auth["replication_key_value"],
        auth["log_files_done_since"],
        str(len(auth["log_files_done"])),
    ]
    assert shown[2].split()[0] == "costs"
    assert len(shown) == 3  # log_files keeps no bookmark


def test_without_a_stream_the_next_run_syncs_it_again_and_only_it(api, tmp_path, state):
    dropped = subprocess.run(
        [STATE_VIEW, "--without", "auth_log"],
        input=json.dumps({"singer_state": state}),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    resync = json.loads(dropped)

    assert set(resync["singer_state"]["bookmarks"]) == set(state["bookmarks"]) - {"auth_log"}
    run = run_tap(tmp_path, tap_config(api, event_types=["AUTH_LOG", "COSTS"]), resync)
    assert run.returncode == 0, run.stderr
    assert len(run.records("auth_log")) == 9
    assert run.records("costs") == []


def test_a_stream_the_state_does_not_hold_is_said_so(state):
    result = subprocess.run(
        [STATE_VIEW, "--without", "auth_logs"],
        input=json.dumps(state),
        capture_output=True,
        text=True,
    )

    assert result.returncode == 1
    assert "The state holds no bookmark of auth_logs." in result.stderr
