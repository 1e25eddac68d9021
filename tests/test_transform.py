"""The dbt models (transform/) end to end: the sandbox loaded by `meltano run`, built by dbt.

Each test loads the sandbox into a schema of its own and builds the models into another with
the job meltano.yml defines, then checks answers against what the sandbox served.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import random
import re
import subprocess
import typing as t
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from psycopg import sql

from tap_openai_compliance.feeds import KNOWN_FEEDS, Scope, feed_named
from tap_openai_compliance.sandbox import (
    DEMO_API_KEY,
    DEMO_WORKSPACE_ID,
    FakeComplianceAPI,
    build_demo_dataset,
    make_event,
)
from tap_openai_compliance.sandbox.stateful import INSTRUCTIONS_TEXT, MEMORY_TEXT, PROMPT_TEXT
from tests.meltano_fixtures import END_TO_END, MELTANO, Project, last_lines
from tests.meltano_project import PROJECT_ROOT, meltano_env
from tests.test_meltano import distinct_events, message_texts, sandbox_emails

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from tap_openai_compliance.sandbox.stateful import StatefulWorkspace
    from tests.postgres import PostgresCluster

pytestmark = [END_TO_END, pytest.mark.timeout(600)]
TRANSFORM = PROJECT_ROOT / "transform"
# The streams the staging models read: one per feed, the workspace's and the organization's.
STREAMS = [feed.stream_name for feed in KNOWN_FEEDS]
# dbt_project.yml's vars.
SIGN_INS = {"login_success", "native_login_success", "signup_success"}
FAILED_SIGN_INS = {"password_login_invalid_password", "password_login_sentinel_blocked"}
FAILED_SIGN_INS |= {"login_failed"}
EMAIL_SALT = "salt-for-the-transform-test"
# The stateful tables the models read, and the models over them.
STATEFUL = ["users", "gpts", "gpt_configs", "gpt_shared_users", "projects", "project_shared_users"]
STATEFUL_MODELS = {"user_activity", "sharing_recipients", "gpt_sharing", "project_sharing"}
# Someone from outside the workspace that a GPT is shared with (its shared users and its own
# recipients list them), and a project (its own recipients alone, by email).
GUEST = {
    "object": "compliance.workspace.user",
    "id": "user-Guest0Partner000000000Gg07",
    "email": "guest@partner.example",
    "name": "Gail Guest",
    "created_at": 1767225600,
    "role": "standard-user",
    "status": "active",
}
SHARED_WITH_GUEST = {"gpt": "g-sbx-0003x", "project": "g-p-sbx-0002x"}
# The GPT a test deletes between two loads: the audit log names it.
DELETED_GPT = "g-sbx-share"


@dataclasses.dataclass
class Warehouse:
    """A project whose loads go to one schema and whose models go to another."""

    project: Project
    models: str
    target: Path

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        """`meltano run` to its end; fail with its last words, else return its output."""
        result = self.project.meltano("run", *args, env=env)
        output = result.stderr + result.stdout
        assert result.returncode == 0, last_lines(output, 80)
        return output

    def query(self, query: str, *params: t.Any) -> list[dict[str, t.Any]]:
        """Rows of a query, where {models} and {raw} name the two schemas."""
        text = sql.SQL(query).format(
            models=sql.Identifier(self.models), raw=sql.Identifier(self.project.schema)
        )
        with self.project.connect() as conn:
            return conn.execute(text, params).fetchall()

    def relations(self) -> dict[str, str]:
        """The models' tables and views, by name: BASE TABLE or VIEW."""
        rows = self.query(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s",
            self.models,
        )
        return {row["table_name"]: row["table_type"] for row in rows}

    def rows_by_id(self, model: str) -> dict[str, dict[str, t.Any]]:
        """A model's rows by event_id."""
        rows = self.query(f"SELECT * FROM {{models}}.{model}")
        by_id = {row["event_id"]: row for row in rows}
        assert len(by_id) == len(rows), f"{model} holds an event_id twice"
        return by_id

    def loaded_streams(self) -> dict[str, tuple[str, Scope]]:
        """The streams the load created a table of: their event type and scope."""
        rows = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            self.project.schema,
        )
        tables = {row["table_name"] for row in rows}
        return {
            feed.stream_name: (feed.event_type, feed.scope)
            for feed in KNOWN_FEEDS
            if feed.stream_name in tables
        }

    def manifest_models(self) -> set[str]:
        """The models of the project, as dbt's last command listed them."""
        manifest = json.loads((self.target / "manifest.json").read_text())
        return {
            node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"
        }


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[FakeComplianceAPI]:
    """The sandbox's demo dataset, for the tests of this module that only read, with a sign-in
    event of an action the reference does not document (the API adds them without notice)."""
    with FakeComplianceAPI(api_key=DEMO_API_KEY) as api:
        now = datetime.now(UTC)
        build_demo_dataset(api, now=now)
        event = make_event(
            "AUTH_LOG", principal_id=DEMO_WORKSPACE_ID, timestamp=now, rng=random.Random(9)
        )
        event["action_data"] = {**event["action_data"], "action": "passkey_login_success"}
        api.add_log_file("workspaces", DEMO_WORKSPACE_ID, "AUTH_LOG", [event], now)
        share_with_a_guest(stateful_data(api))
        yield api


def stateful_data(api: FakeComplianceAPI) -> StatefulWorkspace:
    """The demo workspace's stateful rows, as the sandbox serves them."""
    return api.stateful.workspace(DEMO_WORKSPACE_ID)


def share_with_a_guest(data: StatefulWorkspace) -> None:
    """Share a GPT (in both of its lists) and a project (in its own list, by email only) with
    GUEST, who is none of the workspace's users."""
    gpt_id, project_id = SHARED_WITH_GUEST["gpt"], SHARED_WITH_GUEST["project"]
    permissions = {"can_read": True, "can_view_config": False, "can_write": False}
    (gpt,) = [gpt for gpt in data.list("gpts") if gpt["id"] == gpt_id]
    gpt["sharing"]["recipients"].append(
        {"object": "compliance.workspace.gpt.shared_user", "id": GUEST["id"]}
        | {"email": GUEST["email"], "permissions": permissions}
    )
    data.put("gpt_shared_users", (gpt_id,), [*data.list("gpt_shared_users", (gpt_id,)), GUEST])
    (project,) = [project for project in data.list("projects") if project["id"] == project_id]
    project["sharing"]["recipients"]["data"].append(
        {"object": "compliance.workspace.project.shared_user", "id": None}
        | {"email": GUEST["email"], "permissions": permissions}
    )


def stream_events(
    api: FakeComplianceAPI, event_type: str, scope: Scope | None = None
) -> dict[str, dict[str, t.Any]]:
    """The distinct events of a type served under a scope (the workspace's feed's, by default,
    where it has one)."""
    scope = scope or feed_named(event_type).scope
    files = sorted(
        (f for f in api.log_files() if f.event_type == event_type and f.scope == scope),
        key=lambda log_file: log_file.end_time,
    )
    return {event["event_id"]: event for f in files for event in api.events_of(f.id)}


def make_warehouse(
    name: str,
    tmp_path: Path,
    meltano_home: Path,
    postgres: PostgresCluster,
    sandbox: FakeComplianceAPI,
) -> Warehouse:
    """A project loading ``sandbox`` into schema ``name`` and building models in ``name``_models."""
    target = tmp_path / "dbt-target"
    env = meltano_env(
        meltano_home,
        tmp_path / "meltano.db",
        MELTANO_ENVIRONMENT="sandbox",
        TAP_OPENAI_COMPLIANCE_API_URL=sandbox.api_url,
        **postgres.target_postgres_env(name),
        DBT_POSTGRES_SCHEMA=f"{name}_models",
        # dbt's own files go out of the work tree.
        DBT_TARGET_PATH=str(target),
        DBT_LOG_PATH=str(tmp_path / "dbt-logs"),
    )
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    project = Project(env, postgres, name, tmp_path / "jsonl", logs)
    return Warehouse(project, f"{name}_models", target)


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
    meltano_home: Path,
    postgres: PostgresCluster,
    module_sandbox: FakeComplianceAPI,
) -> tuple[Warehouse, str]:
    """The sandbox loaded and the models built by the job, once; and the job's output."""
    warehouse = make_warehouse(
        "transform_built", tmp_path_factory.mktemp("built"), meltano_home, postgres, module_sandbox
    )
    return warehouse, warehouse.run("sync-postgres-transform")


# -- one load, one build ----------------------------------------------------------------------


def test_the_job_builds_every_model_and_runs_their_tests_and_freshness(built):
    warehouse, output = built
    relations = warehouse.relations()
    models = warehouse.manifest_models()
    assert models <= relations.keys()
    assert {f"stg_{stream}" for stream in STREAMS} <= models
    assert {
        "compliance_events",
        "sign_ins_daily",
        "failed_sign_ins",
        "admin_actions",
        "admin_actions_daily",
        "app_authorizations",
        "app_links",
        "conversation_activity_daily",
        "codex_activity_daily",
        "costs_daily",
        *(f"stg_{table}" for table in STATEFUL),
        *STATEFUL_MODELS,
    } <= models
    # Tests ran, none failed; the action the reference does not document warns, as designed.
    assert re.search(r"Done\. PASS=\d+ WARN=\d+ ERROR=0 SKIP=0", output), last_lines(output, 80)
    assert "WARN 1 stg_auth_log_auth_action_is_documented" in output
    # Freshness: every stream was loaded and is fresh; the organization's app feeds build
    # models of the same columns as the workspace's.
    assert set(STREAMS) <= warehouse.loaded_streams().keys()
    for stream in STREAMS + STATEFUL:
        assert re.search(rf"PASS freshness of openai_compliance\.{stream}\b", output), stream
    app_log_columns = warehouse.query(
        "SELECT table_name, array_agg(column_name::text ORDER BY column_name) AS columns "
        "FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name IN ('stg_app_log', 'stg_app_organization_log') GROUP BY table_name",
        warehouse.models,
    )
    assert len({tuple(row["columns"]) for row in app_log_columns}) == 1


def test_each_staging_model_holds_one_row_per_distinct_event_with_typed_columns(
    built, module_sandbox
):
    warehouse, _ = built
    for stream, (event_type, scope) in warehouse.loaded_streams().items():
        events = stream_events(module_sandbox, event_type, scope)
        rows = warehouse.rows_by_id(f"stg_{stream}")
        assert rows.keys() == events.keys(), stream
        for event_id, event in events.items():
            row = rows[event_id]
            assert row["event_type"] == event_type
            assert row["event_at"] == datetime.fromisoformat(event["timestamp"])
            assert row["event_at"].utcoffset() == timedelta(0)
            assert row["principal_id"] == event["principal"]["id"]
            actor = event.get("actor") or {}
            assert row["actor_type"] == actor.get("type")
            assert row["actor_email"] == actor.get("user_email")
            assert row["actor_key_id"] == actor.get("redacted_id")
            unknown = {key: event[key] for key in ("risk_assessment",) if key in event}
            assert (row["unknown_fields"] or {}) == unknown
    audit = warehouse.rows_by_id("stg_audit_log")
    by_key = [row for row in audit.values() if row["actor_type"] == "API_KEY"]
    assert by_key, "the sandbox serves audit events of an API key"
    assert all(row["actor_key_id"] == row["actor_identifier"] for row in by_key)


def test_compliance_events_counts_the_distinct_events_of_every_type(built, module_sandbox):
    warehouse, _ = built
    counts = warehouse.query(
        "SELECT source_stream, scope, count(*) AS events, count(DISTINCT event_id) AS ids, "
        "array_agg(DISTINCT event_type) AS types FROM {models}.compliance_events GROUP BY 1, 2"
    )
    loaded = warehouse.loaded_streams()
    expected = {
        stream: len(stream_events(module_sandbox, event_type, scope))
        for stream, (event_type, scope) in loaded.items()
    }
    assert {row["source_stream"]: row["events"] for row in counts} == expected
    assert all(row["ids"] == row["events"] for row in counts)
    assert {row["source_stream"]: (row["types"], row["scope"]) for row in counts} == {
        stream: ([event_type], "organization" if scope is Scope.ORGANIZATION else "workspace")
        for stream, (event_type, scope) in loaded.items()
    }


def auth_events(api: FakeComplianceAPI) -> list[dict[str, t.Any]]:
    """The distinct AUTH_LOG events, with their UTC day and action."""
    events = []
    for event in stream_events(api, "AUTH_LOG").values():
        day = datetime.fromisoformat(event["timestamp"]).astimezone(UTC).date()
        events.append({**event, "day": day, "action": event["action_data"]["action"]})
    return events


def test_sign_ins_of_a_user_on_a_day_are_the_sandbox_s(built, module_sandbox):
    warehouse, _ = built
    events = auth_events(module_sandbox)
    per_user_day = collections.Counter(
        (event["actor"]["user_id"], event["day"]) for event in events if event["action"] in SIGN_INS
    )
    (user_id, day), count = per_user_day.most_common(1)[0]
    theirs = [
        event
        for event in events
        if (event["actor"]["user_id"], event["day"]) == (user_id, day)
        and event["action"] in SIGN_INS
    ]
    (row,) = warehouse.query(
        "SELECT * FROM {models}.sign_ins_daily WHERE user_id = %s AND activity_date = %s",
        user_id,
        day,
    )
    assert row["sign_ins"] == count
    assert row["ip_addresses"] == sorted({e["request_metadata"]["client_ip"] for e in theirs})
    user_agents = {e["request_metadata"].get("client_user_agent") for e in theirs} - {None}
    assert (row["user_agents"] or []) == sorted(user_agents)
    assert row["first_sign_in_at"] == min(datetime.fromisoformat(e["timestamp"]) for e in theirs)
    # Every user and day, sign-ins and failures alike.
    totals = warehouse.query(
        "SELECT user_id, activity_date, sign_ins, failed_sign_ins FROM {models}.sign_ins_daily"
    )
    expected: dict[tuple[str, t.Any], list[int]] = collections.defaultdict(lambda: [0, 0])
    for event in events:
        key = (event["actor"]["user_id"], event["day"])
        if event["action"] in SIGN_INS:
            expected[key][0] += 1
        elif event["action"] in FAILED_SIGN_INS:
            expected[key][1] += 1
    assert {
        (row["user_id"], row["activity_date"]): [row["sign_ins"], row["failed_sign_ins"]]
        for row in totals
    } == expected
    failed = warehouse.query("SELECT event_id FROM {models}.failed_sign_ins")
    assert {row["event_id"] for row in failed} == {
        event["event_id"] for event in events if event["action"] in FAILED_SIGN_INS
    }


def test_admin_actions_app_authorizations_and_links_are_the_sandbox_s(built, module_sandbox):
    warehouse, _ = built
    audit = stream_events(module_sandbox, "AUDIT_LOG").values()
    expected = collections.Counter(
        (
            datetime.fromisoformat(event["timestamp"]).date(),
            event["actor"].get("user_id") or event["actor"].get("redacted_id"),
            event["action"],
        )
        for event in audit
        if event["action_privilege"] == "ADMIN"
    )
    rows = warehouse.query(
        "SELECT activity_date, actor_identifier, action, actions FROM {models}.admin_actions_daily"
    )
    assert {
        (row["activity_date"], row["actor_identifier"], row["action"]): row["actions"]
        for row in rows
    } == dict(expected)
    # Both feeds: the workspace's and the organization's app authorizations.
    auths = {
        **distinct_events(module_sandbox, feed_named("APP_AUTH_LOG")),
        **distinct_events(module_sandbox, feed_named("APP_AUTH_ORGANIZATION_LOG")),
    }
    rows = warehouse.query(
        "SELECT event_id, auth_action, app_name FROM {models}.app_authorizations"
    )
    assert {row["event_id"]: row["auth_action"] for row in rows} == {
        event_id: event["action"] for event_id, event in auths.items()
    }
    last_action: dict[str, tuple[str, str, str]] = {}
    for event in auths.values():
        latest = (event["timestamp"], event["event_id"], event["action"])
        last_action[event["link_id"]] = max(last_action.get(event["link_id"], latest), latest)
    links = warehouse.query("SELECT link_id, is_linked FROM {models}.app_links")
    assert {row["link_id"]: row["is_linked"] for row in links} == {
        link_id: action == "link" for link_id, (_, _, action) in last_action.items()
    }


def test_activity_and_costs_per_user_and_day_are_the_sandbox_s(built, module_sandbox):
    warehouse, _ = built

    def day_of(event: dict[str, t.Any]) -> t.Any:
        return datetime.fromisoformat(event["timestamp"]).astimezone(UTC).date()

    messages: dict[tuple[str, t.Any], set[str]] = collections.defaultdict(set)
    for event in stream_events(module_sandbox, "CONVERSATION_MESSAGE").values():
        if event["message"]["author"]["type"] == "user":
            messages[(event["actor"]["user_id"], day_of(event))].add(event["message"]["id"])
    rows = warehouse.query(
        "SELECT user_id, activity_date, messages_sent FROM {models}.conversation_activity_daily"
    )
    assert {
        (row["user_id"], row["activity_date"]): row["messages_sent"]
        for row in rows
        if row["messages_sent"]
    } == {key: len(ids) for key, ids in messages.items()}

    codex: dict[tuple[str, t.Any, str], list[int]] = collections.defaultdict(lambda: [0, 0])
    for event in stream_events(module_sandbox, "CODEX_LOG").values():
        key = (event["actor"]["user_id"], day_of(event), event["client_id"])
        codex[key][0] += 1
        usage = event["event_details"].get("token_usage") or {}
        codex[key][1] += usage.get("input_tokens") or 0
    rows = warehouse.query(
        "SELECT user_id, activity_date, client_id, events, input_tokens "
        "FROM {models}.codex_activity_daily"
    )
    assert {
        (row["user_id"], row["activity_date"], row["client_id"]): [
            row["events"],
            row["input_tokens"],
        ]
        for row in rows
    } == codex

    costs: dict[tuple[t.Any, ...], Decimal] = collections.defaultdict(Decimal)
    for event in stream_events(module_sandbox, "COSTS").values():
        payload = event["payload"]
        for charge in payload["measures"]["billing"]:
            cost_key = (
                payload["day"],
                payload["identity"].get("user_id"),
                payload["product"],
                charge["cost"]["unit"],
            )
            costs[cost_key] += Decimal(str(charge["cost"]["value"]))
    rows = warehouse.query(
        "SELECT usage_date::text AS day, user_id, product, cost_unit, cost "
        "FROM {models}.costs_daily"
    )
    assert {
        (row["day"], row["user_id"], row["product"], row["cost_unit"]): row["cost"] for row in rows
    } == costs


# -- the stateful tables ----------------------------------------------------------------------


def latest(events: t.Iterable[dict[str, t.Any]]) -> dict[str, t.Any] | None:
    """The event of the largest time, then event id (the models' order), or None."""
    return max(
        events,
        key=lambda event: (datetime.fromisoformat(event["timestamp"]), event["event_id"]),
        default=None,
    )


def test_user_activity_holds_each_user_s_last_sign_in_and_admin_actions(built, module_sandbox):
    warehouse, _ = built
    users = {user["id"]: user for user in stateful_data(module_sandbox).list("users")}
    rows = {row["user_id"]: row for row in warehouse.query("SELECT * FROM {models}.user_activity")}
    assert rows.keys() == users.keys()
    for user_id, user in users.items():
        row = rows[user_id]
        assert (row["email"], row["name"], row["role"], row["status"]) == (
            user["email"],
            user["name"],
            user["role"],
            user["status"],
        )
        joined = datetime.fromtimestamp(user["created_at"], UTC)
        assert abs(row["created_at"] - joined) < timedelta(milliseconds=1), user_id
    # Each user's latest sign-in in the AUTH_LOG served, and their failed ones (the sandbox's
    # three days are within the 30).
    events = auth_events(module_sandbox)
    signed_in = 0
    for user_id, row in rows.items():
        theirs = [event for event in events if event["actor"].get("user_id") == user_id]
        last = latest(event for event in theirs if event["action"] in SIGN_INS)
        if last is None:
            assert row["last_sign_in_at"] is None, user_id
            continue
        signed_in += 1
        assert row["last_sign_in_at"] == datetime.fromisoformat(last["timestamp"]), user_id
        assert row["last_sign_in_ip"] == last["request_metadata"]["client_ip"]
        assert row["last_sign_in_user_agent"] == last["request_metadata"].get("client_user_agent")
        assert row["failed_sign_ins_30d"] == sum(e["action"] in FAILED_SIGN_INS for e in theirs)
    assert signed_in >= 2
    # Admin actions: how many each user did, and the last one.
    audit = stream_events(module_sandbox, "AUDIT_LOG").values()
    admin: dict[str, list[dict[str, t.Any]]] = collections.defaultdict(list)
    for event in audit:
        if event["action_privilege"] == "ADMIN" and event["actor"].get("user_id") in users:
            admin[event["actor"]["user_id"]].append(event)
    assert len(admin) >= 2
    assert {
        user_id: (row["admin_actions"], row["last_admin_action"]) for user_id, row in rows.items()
    } == {
        user_id: (len(admin[user_id]), (latest(admin[user_id]) or {}).get("action"))
        for user_id in users
    }


def audit_gpt_id(event: dict[str, t.Any]) -> str | None:
    """The GPT an audit event names, under whichever key (as stg_audit_log reads it)."""
    data = event.get("action_data") or {}
    named = data.get("gpt_id") or data.get("third_party_gizmo_id")
    return named or (data.get("id") if event["action"].startswith("CUSTOM_GPT") else None)


def test_gpt_and_project_sharing_count_the_shares_the_sandbox_serves(built, module_sandbox):
    warehouse, _ = built
    data = stateful_data(module_sandbox)
    users = {user["id"] for user in data.list("users")}
    audit = stream_events(module_sandbox, "AUDIT_LOG").values()
    gpts = {row["gpt_id"]: row for row in warehouse.query("SELECT * FROM {models}.gpt_sharing")}
    assert gpts.keys() == {gpt["id"] for gpt in data.list("gpts")}
    for gpt in data.list("gpts"):
        row = gpts[gpt["id"]]
        shared = data.list("gpt_shared_users", (gpt["id"],))
        outside = [user for user in shared if user["id"] not in users]
        assert row["shared_users"] == len(shared) > 0, gpt["id"]
        assert row["external_shared_users"] == len(outside)
        assert row["is_shared_outside_workspace"] == bool(outside)
        assert row["gpt_name"] == gpt["latest_config"]["data"][0]["name"]
        assert (row["owner_user_id"], row["owner_email"]) == (gpt["owner_id"], gpt["owner_email"])
        naming = [event for event in audit if audit_gpt_id(event) == gpt["id"]]
        assert row["audit_events"] == len(naming)
        assert row["last_audit_action"] == (latest(naming) or {}).get("action")
    assert gpts[SHARED_WITH_GUEST["gpt"]]["external_shared_users"] == 1
    assert gpts["g-sbx-share"]["last_audit_action"] is not None
    # A project: its shared users and its own recipients (the guest is in those alone).
    projects = {
        row["project_id"]: row for row in warehouse.query("SELECT * FROM {models}.project_sharing")
    }
    assert projects.keys() == {project["id"] for project in data.list("projects")}
    for project in data.list("projects"):
        row = projects[project["id"]]
        listed = {user["id"] for user in data.list("project_shared_users", (project["id"],))}
        listed |= {r["id"] or r["email"] for r in project["sharing"]["recipients"]["data"]}
        assert row["shared_users"] == len(listed), project["id"]
        assert row["external_shared_users"] == len(listed - users)
    assert projects[SHARED_WITH_GUEST["project"]]["is_shared_outside_workspace"]
    assert projects["g-p-sbx-9"]["last_audit_action"] == "PROJECT_UPDATE_SHARING"


def model_dumps(warehouse: Warehouse) -> dict[str, str]:
    """Every row of every model as text, by model."""
    dumps = {}
    for name in warehouse.relations():
        rows = warehouse.query(f"SELECT m::text AS row FROM {{models}}.{name} AS m")
        dumps[name] = "\n".join(row["row"] for row in rows)
    return dumps


def find_texts(dumps: dict[str, str], texts: set[str]) -> dict[str, list[str]]:
    """Which of ``texts`` each dump holds, as JSON would write them."""
    found = {
        name: [text for text in texts if json.dumps(text)[1:-1] in dump]
        for name, dump in dumps.items()
    }
    return {name: hits for name, hits in found.items() if hits}


def stateful_texts(api: FakeComplianceAPI) -> set[str]:
    """What people wrote in the stateful tables the sandbox serves, which the masked extractor
    drops: GPTs' and projects' instructions, descriptions and conversation starters, a
    project's name (as a title), memories, automations' prompts."""
    data = stateful_data(api)
    texts = {INSTRUCTIONS_TEXT, MEMORY_TEXT, PROMPT_TEXT}
    for table in ("gpt_configs", "project_configs"):
        for configs in data.rows[table].values():
            for config in configs:
                texts |= {config["description"], *config["conversation_starters"]}
    texts |= {
        config["name"] for configs in data.rows["project_configs"].values() for config in configs
    }
    return texts


def stateful_people(api: FakeComplianceAPI) -> tuple[set[str], set[str]]:
    """The emails and names of the people of the stateful tables (the guest included)."""
    data = stateful_data(api)
    people = [*data.list("users"), GUEST]
    return {person["email"] for person in people}, {person["name"] for person in people}


def test_no_model_copies_what_people_wrote(built, module_sandbox):
    warehouse, _ = built
    texts = message_texts(module_sandbox) | stateful_texts(module_sandbox)
    assert len(texts) > 10
    assert find_texts(model_dumps(warehouse), texts) == {}
    # They are in the loaded tables, which the models leave them to.
    raw = warehouse.query("SELECT m::text AS row FROM {raw}.conversation_message AS m")
    assert find_texts({"raw": "\n".join(row["row"] for row in raw)}, texts)


# -- the masked extractor's load --------------------------------------------------------------


def test_a_masked_load_builds_every_model_without_an_email_or_a_message_text(
    tmp_path, meltano_home, postgres, module_sandbox
):
    warehouse = make_warehouse("transform_masked", tmp_path, meltano_home, postgres, module_sandbox)

    output = warehouse.run(
        "sync-masked-postgres-transform",
        env={"TAP_OPENAI_COMPLIANCE__MASKED_STREAM_MAP_CONFIG_EMAIL_SALT": EMAIL_SALT},
    )

    assert re.search(r"PASS no_email_address_in_any_model\b", output), last_lines(output, 80)
    assert re.search(r"Done\. PASS=\d+ WARN=\d+ ERROR=0 SKIP=0", output), last_lines(output, 80)
    models = warehouse.manifest_models()
    assert models <= warehouse.relations().keys()
    dumps = model_dumps(warehouse)
    emails, names = stateful_people(module_sandbox)
    assert find_texts(dumps, sandbox_emails(module_sandbox) | emails) == {}
    assert find_texts(dumps, message_texts(module_sandbox) | stateful_texts(module_sandbox)) == {}
    # Nor a name the masked extractor drops from the stateful tables. (The log models keep the
    # names the events carry, payload.identity.name of COSTS for one: masking.md keeps those
    # unless mapped.)
    stateful_models = {f"stg_{table}" for table in STATEFUL} | STATEFUL_MODELS
    assert find_texts({name: dumps[name] for name in stateful_models}, names) == {}
    # The dbt test that checks every model lists every model.
    masked_test = (TRANSFORM / "tests" / "masked" / "no_email_address_in_any_model.sql").read_text()
    assert set(re.findall(r"'((?:stg_)?[a-z_]+)'", masked_test)) >= models
    # Hashed, an email still tells users apart.
    rows = warehouse.rows_by_id("stg_auth_log")
    assert all(re.fullmatch(r"[0-9a-f]{64}", row["actor_email"]) for row in rows.values())
    sign_ins = warehouse.query("SELECT user_email FROM {models}.sign_ins_daily")
    assert all(re.fullmatch(r"[0-9a-f]{64}", row["user_email"]) for row in sign_ins)
    # The columns the masked extractor drops read as NULL.
    assert all(row["output_items"] is None for row in warehouse.rows_by_id("stg_app_log").values())
    assert all(row["unknown_fields"] is None for row in rows.values())
    # The stateful models answer the same: hashed emails join users, their shares and the logs
    # alike (names read as NULL).
    users = warehouse.query("SELECT * FROM {models}.user_activity")
    assert users
    assert all(re.fullmatch(r"[0-9a-f]{64}", row["email"]) for row in users)
    assert all(row["name"] is None for row in users)
    assert sum(row["last_sign_in_at"] is not None for row in users) >= 2
    sharing = warehouse.query(
        "SELECT gpt_id AS id, gpt_name, owner_email, shared_users, external_shared_users "
        "FROM {models}.gpt_sharing UNION ALL SELECT project_id, NULL, owner_email, shared_users, "
        "external_shared_users FROM {models}.project_sharing"
    )
    assert all(re.fullmatch(r"[0-9a-f]{64}", row["owner_email"]) for row in sharing)
    outside = {
        row["id"]: row["external_shared_users"] for row in sharing if row["external_shared_users"]
    }
    assert outside == dict.fromkeys(SHARED_WITH_GUEST.values(), 1)
    assert all(row["gpt_name"] for row in sharing if row["id"].startswith("g-sbx-"))


# -- the incremental path ---------------------------------------------------------------------


def auth_event(api: FakeComplianceAPI, timestamp: datetime, seed: int) -> dict[str, t.Any]:
    """A fresh AUTH_LOG sign-in."""
    event = make_event(
        "AUTH_LOG", principal_id=DEMO_WORKSPACE_ID, timestamp=timestamp, rng=random.Random(seed)
    )
    event["action_data"] = {"action": "login_success", "role": "standard-user"}
    return event


def newest_auth_files(api: FakeComplianceAPI) -> list[t.Any]:
    """The AUTH_LOG files, newest first."""
    files = [log_file for log_file in api.log_files() if log_file.event_type == "AUTH_LOG"]
    return sorted(files, key=lambda log_file: (log_file.end_time, log_file.id), reverse=True)


def test_a_late_file_a_deleted_gpt_and_a_second_load_change_only_what_they_should(
    tmp_path, meltano_home, postgres
):
    with FakeComplianceAPI(api_key=DEMO_API_KEY) as api:
        build_demo_dataset(api, now=datetime.now(UTC))
        warehouse = make_warehouse("transform_incremental", tmp_path, meltano_home, postgres, api)
        warehouse.run("sync-postgres-transform")
        before = {name: warehouse.rows_by_id(f"stg_{name}") for name in STREAMS}
        events_before = warehouse.rows_by_id("compliance_events")
        days_before = {
            (row["activity_date"], row["user_id"]): row
            for row in warehouse.query("SELECT * FROM {models}.sign_ins_daily")
        }
        gpts_before = warehouse.query("SELECT * FROM {models}.gpt_sharing ORDER BY gpt_id")
        audit_before = warehouse.query(
            "SELECT event_id FROM {models}.stg_audit_log WHERE gpt_id = %s ORDER BY 1", DELETED_GPT
        )
        assert DELETED_GPT in {row["gpt_id"] for row in gpts_before}
        assert audit_before, "the audit log names the GPT to delete"
        # Deleted in the workspace before the next load: the loader marks it, and its shares,
        # deleted (_sdc_deleted_at); the models leave it, and it only.
        api.stateful.delete_gpt(DEMO_WORKSPACE_ID, DELETED_GPT)

        newest = newest_auth_files(api)[0]
        copied, older, tied_low, tied_high = [
            dict(event) for event in api.events_of(newest.id)[-4:]
        ]
        workspace = Scope.WORKSPACE.value
        # A file published late, ending half an hour before the newest: an event never seen
        # yet, and an older copy of an event, changed, that must not replace the newer one.
        late_event = auth_event(api, newest.end_time - timedelta(hours=1), seed=1)
        older_copy = {**older, "request_metadata": {"client_ip": "203.0.113.250"}}
        late = api.add_log_file(
            workspace,
            DEMO_WORKSPACE_ID,
            "AUTH_LOG",
            [late_event, older_copy],
            newest.end_time - timedelta(minutes=30),
        )
        # A newer copy of an event, changed: it replaces the one modelled.
        newer_copy = {**copied, "request_metadata": {"client_ip": "203.0.113.251"}}
        newer = api.add_log_file(
            workspace,
            DEMO_WORKSPACE_ID,
            "AUTH_LOG",
            [newer_copy],
            newest.end_time + timedelta(minutes=1),
        )
        # Two files ending with the newest: of copies ending at the same time, the one of the
        # larger file id wins.
        tied: dict[str, tuple[str, dict[str, t.Any]]] = {}
        for event, file_id in ((tied_low, "eclf_" + "0" * 32), (tied_high, "eclf_" + "f" * 32)):
            copy = {**event, "request_metadata": {"client_ip": f"203.0.113.{len(tied) + 252}"}}
            api.add_log_file(
                workspace, DEMO_WORKSPACE_ID, "AUTH_LOG", [copy], newest.end_time, file_id=file_id
            )
            tied[event["event_id"]] = (file_id, copy)

        warehouse.run("sync-postgres-transform")

        (deleted,) = warehouse.query(
            "SELECT _sdc_deleted_at FROM {raw}.gpts WHERE id = %s", DELETED_GPT
        )
        assert deleted["_sdc_deleted_at"] is not None
        gpts_after = warehouse.query("SELECT * FROM {models}.gpt_sharing ORDER BY gpt_id")
        assert [row["gpt_id"] for row in gpts_after] == [
            row["gpt_id"] for row in gpts_before if row["gpt_id"] != DELETED_GPT
        ]
        unchanged = {"_transformed_at", "synced_at"}
        assert [
            {key: value for key, value in row.items() if key not in unchanged} for row in gpts_after
        ] == [
            {key: value for key, value in row.items() if key not in unchanged}
            for row in gpts_before
            if row["gpt_id"] != DELETED_GPT
        ]
        assert (
            warehouse.query(
                "SELECT * FROM {models}.sharing_recipients WHERE shared_id = %s", DELETED_GPT
            )
            == []
        )
        # Its history stays: the audit events that name it.
        assert (
            warehouse.query(
                "SELECT event_id FROM {models}.stg_audit_log WHERE gpt_id = %s ORDER BY 1",
                DELETED_GPT,
            )
            == audit_before
        )

        after = {name: warehouse.rows_by_id(f"stg_{name}") for name in STREAMS}
        auth_before, auth_after = before.pop("auth_log"), after.pop("auth_log")
        assert after == before, "streams without a new file are untouched, down to their times"
        changed = {
            event_id for event_id, row in auth_after.items() if row != auth_before.get(event_id)
        }
        high_id = tied_high["event_id"]
        assert changed == {late_event["event_id"], newer_copy["event_id"], high_id}
        assert auth_after[late_event["event_id"]]["log_file_id"] == late
        assert auth_after[newer_copy["event_id"]]["client_ip"] == "203.0.113.251"
        assert auth_after[newer_copy["event_id"]]["log_file_id"] == newer
        assert auth_after[high_id]["log_file_id"] == tied[high_id][0]
        assert auth_after[tied_low["event_id"]] == auth_before[tied_low["event_id"]]
        # The loaded table took the late file's older copy (the loader upserts whatever comes
        # last); the model kept the newer one.
        (raw,) = warehouse.query(
            "SELECT request_metadata FROM {raw}.auth_log WHERE event_id = %s", older["event_id"]
        )
        assert raw["request_metadata"]["client_ip"] == "203.0.113.250"
        assert auth_after[older["event_id"]] == auth_before[older["event_id"]]
        # Downstream, the same rows and days, and no others.
        events_after = warehouse.rows_by_id("compliance_events")
        assert {
            event_id for event_id, row in events_after.items() if row != events_before.get(event_id)
        } == changed
        days_after = {
            (row["activity_date"], row["user_id"]): row
            for row in warehouse.query("SELECT * FROM {models}.sign_ins_daily")
        }
        changed_days = {auth_after[event_id]["event_date"] for event_id in changed}
        assert {key for key in days_after if days_after[key] != days_before.get(key)} <= {
            key for key in days_after if key[0] in changed_days
        }
        assert {key: row for key, row in days_after.items() if key[0] not in changed_days} == {
            key: row for key, row in days_before.items() if key[0] not in changed_days
        }
        late_key = (
            auth_after[late_event["event_id"]]["event_date"],
            late_event["actor"]["user_id"],
        )
        assert (
            days_after[late_key]["sign_ins"] == days_before.get(late_key, {}).get("sign_ins", 0) + 1
        )

        # The same data loaded again, every file (a full refresh of the extractor's state):
        # the loaded tables are rewritten, the models are not.
        models_before = {name: warehouse.rows_by_id(f"stg_{name}") for name in STREAMS} | {
            "compliance_events": events_after
        }
        output = warehouse.run("--full-refresh", "sync-postgres-transform")

        assert "INSERT 0 0" in output
        assert {name: warehouse.rows_by_id(f"stg_{name}") for name in STREAMS} | {
            "compliance_events": warehouse.rows_by_id("compliance_events")
        } == models_before


# -- Snowflake ----------------------------------------------------------------------------------


def test_the_snowflake_transformer_compiles_every_model_without_an_account(tmp_path, meltano_home):
    target = tmp_path / "dbt-target"
    env = meltano_env(
        meltano_home,
        tmp_path / "meltano.db",
        SNOWFLAKE_ACCOUNT="example-account",
        SNOWFLAKE_USER="TRANSFORMER",
        SNOWFLAKE_PASSWORD="not-used",
        SNOWFLAKE_WAREHOUSE="TRANSFORM_WH",
        SNOWFLAKE_DATABASE="RAW",
        DBT_TARGET_PATH=str(target),
        DBT_LOG_PATH=str(tmp_path / "dbt-logs"),
    )

    compiled = subprocess.run(
        [
            MELTANO,
            *("invoke", "dbt-snowflake", "compile", "--no-populate-cache"),
            *("--vars", "{compile_offline: true}"),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert compiled.returncode == 0, last_lines(compiled.stderr + compiled.stdout, 80)
    files = {path.stem: path.read_text() for path in (target / "compiled").rglob("*.sql")}
    manifest = json.loads((target / "manifest.json").read_text())
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert models <= files.keys()
    assert manifest["metadata"]["adapter_type"] == "snowflake"
    # What PostgreSQL alone reads: none of it in Snowflake's SQL.
    for name in models:
        for postgres_only in ("->>", "jsonb", "distinct on", "filter (where", "::timestamptz"):
            assert postgres_only not in files[name].lower(), (name, postgres_only)
    assert "RAW.OPENAI_COMPLIANCE.auth_log" in files["stg_auth_log"]
    profile = yaml.safe_load((TRANSFORM / "profiles" / "snowflake" / "profiles.yml").read_text())
    assert profile["openai_compliance"]["outputs"]["snowflake"]["type"] == "snowflake"


def test_meltano_yml_wires_the_transformers_to_the_loaders_settings():
    meltano_yml = yaml.safe_load((PROJECT_ROOT / "meltano.yml").read_text())
    transformers = {plugin["name"]: plugin for plugin in meltano_yml["plugins"]["transformers"]}
    for name in ("dbt-postgres", "dbt-snowflake"):
        plugin = transformers[name]
        assert plugin["executable"] == "dbt"
        assert re.fullmatch(r"dbt-core==[\d.]+ dbt-(postgres|snowflake)==[\d.]+", plugin["pip_url"])
        assert {"build", "run", "test", "compile", "docs-generate", "freshness"} <= set(
            plugin["commands"]
        )
    settings = {s["name"]: s for s in transformers["dbt-postgres"]["settings"]}
    assert settings["host"]["env_aliases"] == ["TARGET_POSTGRES_HOST"]
    assert settings["source_schema"]["env_aliases"] == ["TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA"]
    jobs = {job["name"]: job["tasks"] for job in meltano_yml["jobs"]}
    assert jobs["sync-postgres-transform"] == [
        "tap-openai-compliance target-postgres dbt-postgres:build dbt-postgres:freshness"
    ]
