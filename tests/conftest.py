"""Fixtures: the fake API on loopback, and log files built from the sandbox's templates."""

from __future__ import annotations

import random
import subprocess
import typing as t
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tap_openai_compliance.feeds import Feed, Scope, feed_named
from tap_openai_compliance.sandbox import FakeComplianceAPI
from tap_openai_compliance.sandbox.data import make_event

# The end-to-end tests' shared fixtures (one PostgreSQL, one Meltano installation a session).
pytest_plugins = ["tests.meltano_fixtures"]

API_KEY = "sk-test-Zq8v3LkP0wXyT5uR2nM7"
WORKSPACE_ID = "11111111-2222-4333-8444-555555555555"
ORGANIZATION_ID = "org-test000000000000000001"
FIRST_END_TIME = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
UNLIMITED_DOWNLOADS = 1_000_000
# The cluster and the Meltano plugins of the tests through Meltano, shared by their modules.
pytest_plugins = ["tests.meltano_fixtures"]


@pytest.fixture
def api() -> t.Iterator[FakeComplianceAPI]:
    """The fake Compliance API, with one workspace and one organization."""
    with FakeComplianceAPI(api_key=API_KEY) as fake:
        fake.add_principal("workspaces", WORKSPACE_ID)
        fake.add_principal("organizations", ORGANIZATION_ID)
        yield fake


def tap_config(api: FakeComplianceAPI, **overrides: t.Any) -> dict[str, t.Any]:
    """Settings for a sync against the fake, with retries fast enough for tests, and downloads
    not held to the API's documented limit (the tests of that limit set their own); the
    stateful tables only where a test asks for them (tests/test_stateful*.py)."""
    return {
        "api_key": API_KEY,
        "workspace_id": WORKSPACE_ID,
        "organization_id": ORGANIZATION_ID,
        "api_url": api.api_url,
        "start_date": "2026-11-01T00:00:00Z",
        "retry_initial_wait": 0.01,
        "request_timeout": 10,
        "downloads_per_minute": UNLIMITED_DOWNLOADS,
        "stateful_tables": [],
        **overrides,
    }


def add_files(
    api: FakeComplianceAPI,
    feed_name: str,
    end_times: t.Sequence[datetime],
    *,
    events_per_file: int = 3,
    seed: int = 1,
    gzip: bool = False,
) -> list[str]:
    """Add one file per end time to the feed ``event_types`` names ``feed_name`` (AUTH_LOG,
    APP_ORGANIZATION_LOG, ...), each with fresh events; return their ids."""
    feed = feed_named(feed_name)
    rng = random.Random(f"{seed}-{feed_name}-{end_times[0].isoformat()}")
    principal_id = principal_of(feed)
    ids = []
    for end_time in end_times:
        events = [
            make_event(
                feed.event_type,
                principal_id=principal_id,
                timestamp=end_time - timedelta(seconds=n + 1),
                rng=rng,
                scope=feed.scope,
            )
            for n in range(events_per_file)
        ]
        ids.append(
            api.add_log_file(feed.scope, principal_id, feed.event_type, events, end_time, gzip=gzip)
        )
    return ids


def principal_of(feed: Feed) -> str:
    """The tests' workspace or organization id, for a feed of its route."""
    return WORKSPACE_ID if feed.scope is Scope.WORKSPACE else ORGANIZATION_ID


def hourly(count: int, start: datetime = FIRST_END_TIME) -> list[datetime]:
    """``count`` end times an hour apart."""
    return [start + timedelta(hours=n) for n in range(count)]


def events_of(api: FakeComplianceAPI, file_ids: t.Iterable[str]) -> list[dict[str, t.Any]]:
    """Every event the given files hold, in order."""
    return [event for file_id in file_ids for event in api.events_of(file_id)]


FILE_FIELDS = ("_sdc_log_file_id", "_sdc_log_file_end_time", "_sdc_unknown_fields")


def as_served(record: dict) -> dict:
    """The event as the API served it: the record without the tap's own fields, and with the
    fields its schema does not declare back at the top level."""
    event = {k: v for k, v in record.items() if k not in FILE_FIELDS}
    return {**event, **(record.get("_sdc_unknown_fields") or {})}


def files_covered_by(bookmark: dict, api: FakeComplianceAPI, file_ids: list[str]) -> set[str]:
    """The files a stream's bookmark says are done: all ending before its window, and the
    ones it names."""
    since = bookmark["log_files_done_since"]
    done = bookmark["log_files_done"]
    covered = set()
    for file_id in file_ids:
        end_time = api.log_file(file_id).end_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if end_time < since or file_id in done:
            covered.add(file_id)
    return covered


@pytest.fixture
def small_disk(tmp_path) -> t.Iterator[Path]:
    """A 2 MiB filesystem of its own (tmpfs: the tests run as root, as CI does)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)
