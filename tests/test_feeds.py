"""Every feed the API serves, named unambiguously, synced with the key's own scopes."""

from __future__ import annotations

import re

import pytest

from tap_openai_compliance.feeds import (
    BROAD_SCOPE,
    KNOWN_FEEDS,
    Feed,
    Scope,
    UnknownFeedError,
    default_feeds,
    feed_named,
)
from tap_openai_compliance.sandbox import FakeComplianceAPI
from tests.conftest import (
    API_KEY,
    ORGANIZATION_ID,
    WORKSPACE_ID,
    add_files,
    as_served,
    events_of,
    hourly,
    tap_config,
)
from tests.tap_runner import run_tap

ORGANIZATION_FEEDS = ["APP_ORGANIZATION_LOG", "APP_AUTH_ORGANIZATION_LOG", "COSTS"]


@pytest.mark.parametrize(
    ("name", "feed"),
    [
        ("AUTH_LOG", Feed("AUTH_LOG", Scope.WORKSPACE)),
        ("auth_log", Feed("AUTH_LOG", Scope.WORKSPACE)),
        ("APP_LOG", Feed("APP_LOG", Scope.WORKSPACE)),
        ("APP_ORGANIZATION_LOG", Feed("APP_LOG", Scope.ORGANIZATION)),
        ("organization:APP_LOG", Feed("APP_LOG", Scope.ORGANIZATION)),
        ("workspace:app_log", Feed("APP_LOG", Scope.WORKSPACE)),
        ("APP_AUTH_ORGANIZATION_LOG", Feed("APP_AUTH_LOG", Scope.ORGANIZATION)),
        ("COSTS", Feed("COSTS", Scope.ORGANIZATION)),
        ("organization:COSTS", Feed("COSTS", Scope.ORGANIZATION)),
        ("workspace:WORKSPACE_ANALYTICS", Feed("WORKSPACE_ANALYTICS", Scope.WORKSPACE)),
    ],
)
def test_event_types_name_each_feed_unambiguously(name, feed):
    assert feed_named(name) == feed


def test_each_known_feed_has_a_stream_of_its_own_named_as_the_leading_connector_does():
    names = {feed.name: feed.stream_name for feed in KNOWN_FEEDS}

    assert len(set(names.values())) == len(KNOWN_FEEDS)
    assert names["APP_ORGANIZATION_LOG"] == "app_organization_log"
    assert names["APP_AUTH_ORGANIZATION_LOG"] == "app_auth_organization_log"
    assert names["COSTS"] == "costs"
    assert names["APP_LOG"] == "app_log"
    assert Feed("NEW_THING", Scope.ORGANIZATION).stream_name == "new_thing_organization"


def test_the_default_feeds_are_those_of_the_routes_with_an_id():
    organization_only = default_feeds({"organization_id": ORGANIZATION_ID})
    workspace_only = default_feeds({"workspace_id": WORKSPACE_ID})

    assert [feed.name for feed in organization_only] == ORGANIZATION_FEEDS
    assert "APP_LOG" in [feed.name for feed in workspace_only]
    assert "COSTS" not in [feed.name for feed in workspace_only]


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("AUTH_LOGS", "Did you mean AUTH_LOG? For an event type OpenAI added after this release"),
        ("SHINY_NEW_LOG", "name its route: workspace:SHINY_NEW_LOG or organization:SHINY_NEW_LOG"),
        ("org:APP_LOG", "write a route and an event type as workspace:EVENT_TYPE"),
        ("workspace:not a type", "write a route and an event type"),
    ],
)
def test_a_name_that_names_no_feed_is_refused_saying_what_to_write(name, says):
    with pytest.raises(UnknownFeedError, match=re.escape(says)):
        feed_named(name)


def test_each_feed_names_the_fine_grained_scope_of_its_type():
    assert feed_named("APP_ORGANIZATION_LOG").read_scope == (
        "chatgpt.enterprise.compliance_logs_platform.app_log.read"
    )
    assert BROAD_SCOPE == "chatgpt.enterprise.compliance_logs_platform.read"


def test_with_only_an_organization_id_the_organizations_three_feeds_are_synced(api, tmp_path):
    files = {name: add_files(api, name, hourly(2)) for name in ORGANIZATION_FEEDS}
    add_files(api, "APP_LOG", hourly(2))  # the workspace's: not asked for

    run = run_tap(tmp_path, tap_config(api, workspace_id=None))

    assert run.returncode == 0, run.stderr
    for name, file_ids in files.items():
        records = run.records(name.lower())
        assert [as_served(record) for record in records] == events_of(api, file_ids)
        assert {record["principal"]["type"] for record in records} == {"API_PLATFORM_ORG"}
    assert not run.records("app_log")
    listed = {(call.path, call.query["event_type"]) for call in api.listing_calls()}
    assert listed == {
        (f"/v1/compliance/organizations/{ORGANIZATION_ID}/logs", event_type)
        for event_type in ("APP_LOG", "APP_AUTH_LOG", "COSTS")
    }
    assert set(run.last_state["bookmarks"]) >= {name.lower() for name in ORGANIZATION_FEEDS}


def test_the_workspaces_and_the_organizations_app_log_land_in_two_streams(api, tmp_path):
    workspace_files = add_files(api, "APP_LOG", hourly(2))
    organization_files = add_files(api, "APP_ORGANIZATION_LOG", hourly(3))

    run = run_tap(
        tmp_path, tap_config(api, event_types=["APP_LOG", "organization:APP_LOG", "AUTH_LOG"])
    )

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.records("app_log")] == events_of(api, workspace_files)
    assert [as_served(r) for r in run.records("app_organization_log")] == events_of(
        api, organization_files
    )
    log_files = {row["id"]: row for row in run.records("log_files")}
    assert {log_files[file_id]["scope"] for file_id in organization_files} == {"organizations"}
    assert {log_files[file_id]["principal_id"] for file_id in organization_files} == {
        ORGANIZATION_ID
    }


def test_the_workspaces_feed_named_without_a_workspace_points_to_the_organizations(api, tmp_path):
    run = run_tap(tmp_path, tap_config(api, workspace_id=None, event_types=["APP_LOG"]))

    assert run.returncode == 1
    (line,) = run.errors()
    assert "Event type APP_LOG is the workspace's feed: set 'workspace_id'" in line
    assert "The organization's APP_LOG is APP_ORGANIZATION_LOG." in line
    assert api.requests == []


@pytest.fixture
def scoped_api():
    """The fake API, its key allowed AUTH_LOG and COSTS only: a fine-grained Admin API key."""
    with FakeComplianceAPI(api_key=API_KEY, readable_types={"AUTH_LOG", "COSTS"}) as fake:
        fake.add_principal("workspaces", WORKSPACE_ID)
        fake.add_principal("organizations", ORGANIZATION_ID)
        yield fake


def test_by_default_a_feed_the_key_may_not_read_is_skipped_with_one_warning(scoped_api, tmp_path):
    auth_files = add_files(scoped_api, "AUTH_LOG", hourly(2))
    costs_files = add_files(scoped_api, "COSTS", hourly(2))
    add_files(scoped_api, "AUDIT_LOG", hourly(2))

    run = run_tap(tmp_path, tap_config(scoped_api))

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.records("auth_log")] == events_of(scoped_api, auth_files)
    assert [as_served(r) for r in run.records("costs")] == events_of(scoped_api, costs_files)
    assert not run.records("audit_log")
    warnings = [
        line for line in run.stderr.splitlines() if "may not read" in line and "WARNING" in line
    ]
    # One per unreadable feed, each naming it and the scope that lets the key read it.
    unreadable = [feed for feed in KNOWN_FEEDS if feed.event_type not in {"AUTH_LOG", "COSTS"}]
    assert len(warnings) == len(unreadable)
    for feed in unreadable:
        (line,) = [line for line in warnings if f"may not read {feed.name} " in line]
        assert "WARNING" in line
        assert feed.read_scope in line
        assert "Admin Console (Credentials > Admin keys)" in line
    assert run.errors() == []
    assert API_KEY not in run.stderr + run.stdout


def test_a_named_feed_the_key_may_not_read_stops_the_run_naming_its_scope(scoped_api, tmp_path):
    add_files(scoped_api, "AUTH_LOG", hourly(2))
    add_files(scoped_api, "AUDIT_LOG", hourly(2))

    run = run_tap(tmp_path, tap_config(scoped_api, event_types=["AUDIT_LOG", "AUTH_LOG"]))

    assert run.returncode == 1
    (line,) = run.errors()
    assert "The API key may not read AUDIT_LOG (HTTP 403" in line
    assert "chatgpt.enterprise.compliance_logs_platform.audit_log.read" in line
    assert "or remove AUDIT_LOG from event_types" in line
    assert "Traceback" not in run.stderr


def test_a_key_that_may_read_no_feed_fails_the_run(tmp_path):
    with FakeComplianceAPI(api_key=API_KEY, readable_types=set()) as api:
        api.add_principal("workspaces", WORKSPACE_ID)
        api.add_principal("organizations", ORGANIZATION_ID)
        add_files(api, "AUTH_LOG", hourly(1))
        run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 1
    (line,) = run.errors()
    assert "The API key may read none of the feeds" in line
