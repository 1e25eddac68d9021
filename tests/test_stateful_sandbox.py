"""The sandbox's stateful endpoints: what they serve, how they page, and that they refuse writes."""

from __future__ import annotations

import json
import typing as t
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from jsonschema import Draft7Validator

from tap_openai_compliance.feeds import KNOWN_FEEDS
from tap_openai_compliance.sandbox import (
    DEMO_API_KEY,
    DEMO_WORKSPACE_ID,
    FakeComplianceAPI,
    build_demo_dataset,
)
from tap_openai_compliance.sandbox.stateful import Sizes, build_stateful_dataset
from tap_openai_compliance.stateful import table_schema
from tap_openai_compliance.tables import TABLES
from tests.conftest import API_KEY, WORKSPACE_ID
from tests.stateful_helpers import served_rows

ENDPOINTS = json.loads(
    (Path(__file__).parent / "fixtures" / "reference_stateful_endpoints.json").read_text()
)


@pytest.fixture
def demo() -> t.Iterator[FakeComplianceAPI]:
    """The sandbox as the quick start serves it: logs of every feed, and the stateful tables."""
    with FakeComplianceAPI(api_key=DEMO_API_KEY) as api:
        build_demo_dataset(api, now=datetime.now(UTC), days=1)
        yield api


def get(api: FakeComplianceAPI, path: str, key: str = DEMO_API_KEY, **params: str):
    """A GET of a path under the demo workspace, with the key."""
    return requests.get(
        f"{api.api_url}/workspaces/{DEMO_WORKSPACE_ID}/{path}",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def undeclared(value: t.Any, schema: dict[str, t.Any], path: str = "$") -> list[str]:
    """The fields of ``value`` its schema does not declare, where the schema lists fields (a
    free-form object, such as a repository map, declares none)."""
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for name, child in value.items():
            if name in schema["properties"]:
                found.extend(undeclared(child, schema["properties"][name], f"{path}.{name}"))
            else:
                found.append(f"{path}.{name}")
    elif isinstance(value, list):
        for item in value:
            found.extend(undeclared(item, schema.get("items", {}), f"{path}[]"))
    return found


def served_log_events(api: FakeComplianceAPI) -> list[dict[str, t.Any]]:
    """Every event of every log file the sandbox serves."""
    return [event for log_file in api.log_files() for event in api.events_of(log_file.id)]


def values_of(events: list[dict[str, t.Any]], key: str) -> set[str]:
    """Every string value of ``key``, at any depth, in ``events``."""
    found: set[str] = set()

    def walk(value: t.Any) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                if name == key and isinstance(item, str):
                    found.add(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(events)
    return found


@pytest.mark.parametrize("verb", ["DELETE", "POST", "PUT", "PATCH", "HEAD", "OPTIONS"])
def test_every_verb_but_get_is_refused_with_405_and_recorded(demo, verb):
    paths = [
        f"{demo.api_url}/workspaces/{DEMO_WORKSPACE_ID}/gpts/g-sbx-share",
        f"{demo.api_url}/workspaces/{DEMO_WORKSPACE_ID}/users/user-x/memory_contexts/c/memories/m",
        f"{demo.api_url}/workspaces/{DEMO_WORKSPACE_ID}/logs",
        f"{demo.storage_url}/storage/eclf_any",
    ]

    answers = [requests.request(verb, path, json={"x": 1}, timeout=10) for path in paths]

    assert [answer.status_code for answer in answers] == [405] * len(paths)
    assert [(r.method, r.host, r.status) for r in demo.requests] == [
        (verb, "api", 405),
        (verb, "api", 405),
        (verb, "api", 405),
        (verb, "storage", 405),
    ]
    # Nothing was deleted.
    assert "g-sbx-share" in {
        gpt["id"] for gpt in demo.stateful.workspace(DEMO_WORKSPACE_ID).list("gpts")
    }


def test_the_stateful_tables_name_the_people_and_things_the_log_events_name(demo):
    events = served_log_events(demo)
    data = demo.stateful.workspace(DEMO_WORKSPACE_ID)

    users = {user["id"]: user["email"] for user in data.list("users")}
    actors = {
        (event["actor"]["user_id"], event["actor"]["user_email"])
        for event in events
        if (event.get("actor") or {}).get("user_id")
    }
    assert actors
    assert all(users.get(user_id) == email for user_id, email in actors)
    emails = set(users.values())
    assert values_of(events, "user_email") - {"nul\x00user@example.com"} <= emails
    assert values_of(events, "new_owner_email") <= emails
    gpts = {gpt["id"] for gpt in data.list("gpts")}
    assert values_of(events, "gpt_id") <= gpts
    projects = {project["id"] for project in data.list("projects")}
    assert {p for p in values_of(events, "project_id") if p.startswith("g-p-")} <= projects
    assert values_of(events, "agent_id") <= {a["id"] for a in data.list("workspace_agents")}
    environments = {e["id"] for e in data.list("codex_environments")}
    assert {e for e in values_of(events, "environment_id") if e.startswith("env-")} <= environments
    plugins = {plugin["id"] for plugin in data.list("workspace_plugins")}
    assert values_of(events, "plugin_id") <= plugins
    # The audit log shares g-sbx-share with Dana Lee: so does the GPT.
    (dana,) = [user_id for user_id, email in users.items() if email == "dana.lee@example.com"]
    assert [user["id"] for user in data.list("gpt_shared_users", ("g-sbx-share",))] == [dana]


def test_each_list_answers_the_fields_its_endpoint_documents(demo):
    data = demo.stateful.workspace(DEMO_WORKSPACE_ID)
    for name, table in TABLES.items():
        parents = next(iter(served_rows(data, name)))[:-1]
        path = table.path
        for key, value in zip(table.keys[:-1], parents, strict=True):
            path = path.replace(f"{{{key}}}", value)

        answer = get(demo, path)

        assert answer.status_code == 200, name
        assert sorted(answer.json()) == ENDPOINTS[name]["answer_fields"], name


def test_a_page_past_a_limit_the_reference_allows_is_refused(demo):
    assert get(demo, "codex_tasks", limit="31").status_code == 400
    assert get(demo, "codex_tasks", limit="30").status_code == 200
    assert get(demo, "users", after="user-nobody").status_code == 400
    assert get(demo, "agents", cursor="bogus").status_code == 400


def test_every_row_served_is_valid_against_its_table_schema_and_fully_declared(demo):
    data = demo.stateful.workspace(DEMO_WORKSPACE_ID)
    for name, table in TABLES.items():
        schema = table_schema(table, download_urls=True)
        validator = Draft7Validator(schema)
        rows = served_rows(data, name)
        assert rows, name
        for row in rows.values():
            assert not list(validator.iter_errors(row)), (name, row["id"])
            assert undeclared(row, schema) == [], name


def test_a_deleted_gpt_is_gone_with_its_configurations_and_shares(demo):
    demo.stateful.delete_gpt(DEMO_WORKSPACE_ID, "g-sbx-procurement")

    listed = [gpt["id"] for gpt in get(demo, "gpts", limit="100").json()["data"]]
    assert "g-sbx-procurement" not in listed
    assert get(demo, "gpts/g-sbx-procurement/configs").status_code == 404
    assert get(demo, "gpts/g-sbx-procurement/shared_users").status_code == 404
    assert get(demo, "gpts/g-sbx-share/configs").status_code == 200


def test_a_key_without_the_scope_is_refused_with_403_and_a_wrong_key_with_401(demo):
    demo.stateful.unreadable = {"users"}

    assert get(demo, "users").status_code == 403
    assert "compliance_export.read" in get(demo, "users").text
    assert get(demo, "gpts", key="sk-wrong-key-000000").status_code == 401


def test_the_documented_limit_of_an_endpoint_is_enforced_when_asked(api):
    build_stateful_dataset(api, WORKSPACE_ID, sizes=Sizes(users=1))
    api.stateful.enforce_documented_limits = True
    url = f"{api.api_url}/workspaces/{WORKSPACE_ID}/codex_environments"
    headers = {"Authorization": f"Bearer {API_KEY}"}

    statuses = [requests.get(url, headers=headers, timeout=10) for _ in range(51)]

    assert [answer.status_code for answer in statuses[:50]] == [200] * 50
    assert statuses[50].status_code == 429
    assert 1 <= int(statuses[50].headers["Retry-After"]) <= 60


def test_the_demo_dataset_is_consistent_for_every_feed_it_serves(demo):
    assert {(f.event_type, f.scope) for f in demo.log_files()} == {
        (feed.event_type, feed.scope) for feed in KNOWN_FEEDS
    }
    assert all(served_rows(demo.stateful.workspace(DEMO_WORKSPACE_ID), name) for name in TABLES)
