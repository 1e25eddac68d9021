"""meltano.yml's pipelines end to end: `meltano run` from the sandbox into PostgreSQL and JSONL."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import typing as t
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from psycopg import sql
from singer_sdk.helpers.capabilities import FLATTENING_CONFIG, STREAM_MAPS_CONFIG

from tap_openai_compliance.feeds import KNOWN_FEEDS, Feed, Scope, feed_named
from tap_openai_compliance.sandbox import (
    DEMO_ORGANIZATION_ID,
    DEMO_WORKSPACE_ID,
    FakeComplianceAPI,
    make_event,
)
from tests.conftest import as_served
from tests.meltano_fixtures import END_TO_END, Project, last_lines
from tests.meltano_project import PROJECT_ROOT

if t.TYPE_CHECKING:
    from collections.abc import Iterator

EMAIL_SALT = "salt-for-the-masking-test"
STREAMS = [feed.stream_name for feed in KNOWN_FEEDS]
TAP_FIELDS = {"_sdc_log_file_id", "_sdc_log_file_end_time", "_sdc_unknown_fields"}
UNKNOWN_FIELD = "risk_assessment"
pytestmark = [END_TO_END, pytest.mark.timeout(600)]


# -- what the sandbox serves -------------------------------------------------------------------


def feed_of(log_file: t.Any) -> Feed:
    """The feed a sandbox log file belongs to."""
    return Feed(log_file.event_type, log_file.scope)


def served_events(api: FakeComplianceAPI, feed: Feed) -> list[dict[str, t.Any]]:
    """Every event of a feed, repeats included, in the order the API lists its files."""
    files = sorted(
        (log_file for log_file in api.log_files() if feed_of(log_file) == feed),
        key=lambda log_file: log_file.end_time,
    )
    return [event for log_file in files for event in api.events_of(log_file.id)]


def distinct_events(api: FakeComplianceAPI, feed: Feed) -> dict[str, dict[str, t.Any]]:
    """The events of a feed by event_id: what one row each should hold."""
    return {event["event_id"]: event for event in served_events(api, feed)}


def add_newer_files(
    api: FakeComplianceAPI, feed_name: str, count: int, *, repeat: dict[str, t.Any] | None = None
) -> list[str]:
    """Add ``count`` files to a feed, ending after every file so far; the first repeats
    ``repeat``."""
    feed = feed_named(feed_name)
    latest = max(log_file.end_time for log_file in api.log_files())
    rng = random.Random(f"newer-{feed_name}-{count}")
    principal_id = DEMO_WORKSPACE_ID if feed.scope is Scope.WORKSPACE else DEMO_ORGANIZATION_ID
    file_ids = []
    for index in range(count):
        end_time = latest + timedelta(minutes=index + 1)
        events = [
            make_event(
                feed.event_type,
                principal_id=principal_id,
                timestamp=end_time,
                rng=rng,
                scope=feed.scope,
            )
            for _ in range(25)
        ]
        if index == 0 and repeat is not None:
            events.insert(0, repeat)
        file_ids.append(
            api.add_log_file(feed.scope, principal_id, feed.event_type, events, end_time)
        )
    return file_ids


def downloaded_file_ids(api: FakeComplianceAPI) -> set[str]:
    """The files the API was asked to download since its request log was last cleared."""
    return {call.path.rsplit("/", 1)[-1] for call in api.download_calls()}


# -- what landed ----------------------------------------------------------------------------


def as_loaded(value: t.Any, sql_type: str) -> t.Any:
    """A JSON value as target-postgres stores it in a column of ``sql_type``."""
    if value is not None and sql_type.startswith("timestamp"):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # target-postgres stores UTC date-times without a zone.
        return moment.astimezone(UTC).replace(tzinfo=None)
    return value


def assert_rows_hold_events(
    project: Project, table: str, events: dict[str, dict[str, t.Any]]
) -> None:
    """One row per event, each holding the event's values in typed columns."""
    rows = project.rows_by_id(table)
    assert rows.keys() == events.keys(), table
    types = project.column_types(table)
    for event_id, event in events.items():
        row = rows[event_id]
        for name, value in event.items():
            if name in types:
                assert row[name] == as_loaded(value, types[name]), (table, event_id, name)
            else:
                # Undeclared: no column, but kept whole by the tap.
                assert row["_sdc_unknown_fields"][name] == value, (table, event_id, name)


def assert_everything_loaded_once(project: Project, api: FakeComplianceAPI) -> None:
    """Every table holds exactly one row per distinct event the sandbox served."""
    assert project.tables() >= set(STREAMS)
    for feed in KNOWN_FEEDS:
        rows = project.rows_by_id(feed.stream_name)
        assert rows.keys() == distinct_events(api, feed).keys(), feed


# -- the tests ------------------------------------------------------------------------------


def test_meltano_yml_declares_what_the_tap_advertises():
    about = subprocess.run(
        [str(Path(sys.executable).with_name("tap-openai-compliance")), "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    advertised = json.loads(about.stdout)
    meltano_yml = yaml.safe_load((PROJECT_ROOT / "meltano.yml").read_text())
    (extractor,) = [
        plugin
        for plugin in meltano_yml["plugins"]["extractors"]
        if plugin["name"] == "tap-openai-compliance"
    ]
    declared = {setting["name"]: setting for setting in extractor["settings"]}

    assert set(extractor["capabilities"]) == set(advertised["capabilities"])
    # Every setting of the tap's own; of the SDK's built-in ones, those worth showing.
    every_setting = set(advertised["settings"]["properties"])
    built_in = {*STREAM_MAPS_CONFIG["properties"], *FLATTENING_CONFIG["properties"]}
    assert every_setting - built_in <= declared.keys()
    assert declared.keys() <= every_setting
    for name, setting in declared.items():
        assert {"kind", "label", "description"} <= setting.keys(), name
    assert declared["api_key"]["kind"] == "string"
    assert declared["api_key"]["sensitive"] is True
    # `meltano config list` shows each default as the tap applies it.
    for name, setting in advertised["settings"]["properties"].items():
        if "default" in setting and name in declared:
            assert declared[name].get("value") == setting["default"], name
    # Dates reach the tap as written, for the tap to check: Meltano's date kinds rewrite them.
    assert declared["start_date"]["kind"] == declared["end_date"]["kind"] == "string"


@pytest.mark.parametrize("start_date", ["2026-13-01", "yesterday"])
def test_a_date_set_through_meltano_reaches_the_tap_as_written(project, start_date):
    result = project.meltano(
        "invoke",
        "tap-openai-compliance",
        env={"TAP_OPENAI_COMPLIANCE_START_DATE": start_date},
    )

    assert result.returncode != 0
    output = result.stderr + result.stdout
    assert f"Setting 'start_date' is not a date-time: '{start_date}'" in output


def test_first_sync_loads_one_row_per_event_with_json_objects_and_timestamps(project, sandbox):
    project.run("sync-postgres")

    for feed in KNOWN_FEEDS:
        table = feed.stream_name
        events = distinct_events(sandbox, feed)
        # The sandbox repeats events across files: upserts on event_id keep one row each.
        assert len(served_events(sandbox, feed)) > len(events)
        assert_rows_hold_events(project, table, events)
        types = project.column_types(table)
        assert types["actor"] == types["principal"] == "jsonb"
        assert types["timestamp"].startswith("timestamp")
        assert types["_sdc_log_file_end_time"].startswith("timestamp")
        with_unknown = [event for event in events.values() if UNKNOWN_FIELD in event]
        assert with_unknown, f"the sandbox serves {UNKNOWN_FIELD} in some {feed.name} events"


def test_a_second_sync_with_nothing_new_changes_no_row_and_downloads_nothing(project, sandbox):
    project.run("sync-postgres")
    before = {table: project.rows_by_id(table) for table in STREAMS}
    state = project.state("sandbox:tap-openai-compliance-to-target-postgres")
    sandbox.clear_requests()

    project.run("sync-postgres")

    assert sandbox.listing_calls(), "the second sync should still ask for new files"
    assert sandbox.download_calls() == []
    assert sandbox.storage_calls() == []
    assert {table: project.rows_by_id(table) for table in STREAMS} == before
    assert project.state("sandbox:tap-openai-compliance-to-target-postgres") == state


def test_a_sync_after_new_files_loads_exactly_their_events(project, sandbox):
    project.run("sync-postgres")
    before = {table: project.rows_by_id(table) for table in STREAMS}
    repeated = next(iter(distinct_events(sandbox, feed_named("AUTH_LOG")).values()))
    new_files = add_newer_files(sandbox, "AUTH_LOG", 2, repeat=repeated)
    new_files += add_newer_files(sandbox, "COSTS", 1)
    sandbox.clear_requests()

    project.run("sync-postgres")

    assert downloaded_file_ids(sandbox) == set(new_files)
    for table in STREAMS:
        rows = project.rows_by_id(table)
        new_rows = {
            event_id for event_id, row in rows.items() if row["_sdc_log_file_id"] in new_files
        }
        new_events = {
            event["event_id"]
            for file_id in new_files
            if feed_of(sandbox.log_file(file_id)).stream_name == table
            for event in sandbox.events_of(file_id)
        }
        assert new_rows == new_events, table
        # Rows not in the new files are untouched, down to their _sdc_batched_at.
        assert {k: v for k, v in rows.items() if k not in new_rows} == {
            k: v for k, v in before[table].items() if k not in new_rows
        }, table
    assert_everything_loaded_once(project, sandbox)


def test_a_killed_sync_loses_nothing_and_duplicates_nothing_when_run_again(project, sandbox):
    state_id = "sandbox:tap-openai-compliance-to-target-postgres"
    project.run("sync-postgres")
    saved = project.state(state_id)
    new_files = {
        event_type: add_newer_files(sandbox, event_type, 12)
        for event_type in ("AUTH_LOG", "CODEX_LOG", "CONVERSATION_MESSAGE")
    }
    all_new = [file_id for file_ids in new_files.values() for file_id in file_ids]
    # Slow listing and links, and small batches, so that rows land while the sync goes on.
    sandbox.latency = 0.3
    sync = project.start("sync-postgres", env={"TARGET_POSTGRES_BATCH_SIZE_ROWS": "25"})
    try:
        deadline = time.monotonic() + 120
        while project.count_rows_from_files("auth_log", all_new) == 0:
            assert sync.poll() is None, "the sync ended before it could be killed"
            assert time.monotonic() < deadline, "no new rows landed within two minutes"
            time.sleep(0.05)
    finally:
        # As a machine that dies would: meltano, the tap and the target at once.
        os.killpg(sync.pid, signal.SIGKILL)
        sync.wait()
    landed = sum(
        project.count_rows_from_files(feed_named(name).stream_name, new_files[name])
        for name in new_files
    )
    assert 0 < landed < sum(len(sandbox.events_of(file_id)) for file_id in all_new)
    # SDK targets confirm state only when all their batches are written (at the end, or every
    # five minutes): the killed run confirmed nothing, so the saved state still is the first's.
    assert project.state(state_id) == saved
    sandbox.latency = 0.0
    sandbox.clear_requests()

    # The killed run still counts as running until its heartbeat is five minutes old.
    refused = project.meltano("run", "sync-postgres")
    assert refused.returncode != 0
    assert "pipeline is already running" in refused.stderr + refused.stdout
    project.run("--force", "sync-postgres")

    assert downloaded_file_ids(sandbox) == set(all_new)
    assert_everything_loaded_once(project, sandbox)


def test_the_first_sync_into_jsonl_writes_every_served_event(project, sandbox):
    project.run("sync-jsonl")

    for feed in KNOWN_FEEDS:
        path = project.jsonl_dir / f"{feed.stream_name}.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        # Files are appended to as events come, repeats included: readers dedupe on event_id.
        assert [as_served(record) for record in records] == served_events(sandbox, feed)
        # A field the schema does not declare is in _sdc_unknown_fields only.
        assert any(UNKNOWN_FIELD in (r.get("_sdc_unknown_fields") or {}) for r in records)
        assert not any(UNKNOWN_FIELD in record for record in records)


def test_every_stream_loads_into_target_csv_whose_columns_are_the_schema(project, sandbox):
    project.run("sync-csv")

    for feed in KNOWN_FEEDS:
        path = project.jsonl_dir.parent / "csv" / f"{feed.stream_name}.csv"
        with path.open(newline="") as file:
            rows = list(csv.DictReader(file))
        served = served_events(sandbox, feed)
        assert [row["event_id"] for row in rows] == [event["event_id"] for event in served]
        # target-csv writes a nested object as Python's repr of it.
        assert any(f"'{UNKNOWN_FIELD}'" in row["_sdc_unknown_fields"] for row in rows), feed
    with (project.jsonl_dir.parent / "csv" / "log_files.csv").open(newline="") as file:
        assert {row["id"] for row in csv.DictReader(file)} == {f.id for f in sandbox.log_files()}


def sandbox_emails(api: FakeComplianceAPI) -> set[str]:
    """Every email address anywhere in the events the sandbox serves."""
    found: set[str] = set()
    for feed in KNOWN_FEEDS:
        text = json.dumps(served_events(api, feed))
        found.update(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", text))
    return found


# What people wrote, by where the known event types carry it (on every route serving them).
MESSAGE_TEXT: dict[str, list[tuple[str, ...]]] = {
    "CONVERSATION_MESSAGE": [("message", "content"), ("conversation", "title")],
    "CODEX_LOG": [
        ("event_details", "prompt_text"),
        ("event_details", "response_text"),
        ("event_details", "result_preview"),
        ("event_details", "tool_input"),
        ("event_details", "environment_fields", "description"),
    ],
    "AUDIT_LOG": [
        ("action_data", "system_instruction"),
        ("action_data", "workspace_policy"),
        ("action_data", "markdown"),
    ],
    "CHATGPT_PLUGIN_SPREADSHEET": [
        ("event_details", "prompt_text"),
        ("event_details", "response_text"),
    ],
    "CUSTOM_AGENTS_LOG": [
        ("event_details", "text"),
        ("event_details", "invoker", "user_message_text"),
        ("event_details", "agent_fields", "prompt"),
        ("event_details", "agent_fields", "starter_prompts"),
        ("event_details", "trigger_fields", "instructions"),
    ],
    "APP_LOG": [("input", "query"), ("output",)],
}


def message_texts(api: FakeComplianceAPI) -> set[str]:
    """Every sentence of message text the sandbox serves (ids and names aside)."""
    found: set[str] = set()

    def strings(value: t.Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict | list):
            for item in value.values() if isinstance(value, dict) else value:
                yield from strings(item)

    for feed in KNOWN_FEEDS:
        for event in served_events(api, feed):
            paths = MESSAGE_TEXT.get(feed.event_type, [])
            for path in paths:
                value: t.Any = event
                for key in path:
                    value = value.get(key) if isinstance(value, dict) else None
                found.update(text for text in strings(value) if len(text.split()) >= 3)
    return found


# Where the log events name a person beside an email.
PEOPLE_NAMES: dict[str, tuple[str, ...]] = {
    "COSTS": ("payload", "identity", "name"),
    "CUSTOM_AGENTS_LOG": ("event_details", "invoker", "initiator", "display_name"),
}


def people_names(api: FakeComplianceAPI) -> set[str]:
    """Every person's name the log events carry beside an email."""
    found = set()
    for feed in KNOWN_FEEDS:
        path = PEOPLE_NAMES.get(feed.event_type)
        for event in served_events(api, feed) if path else ():
            value: t.Any = event
            for key in path or ():
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, str) and value:
                found.add(value)
    return found


def test_the_masked_extractor_loads_no_email_and_no_message_text_anywhere(project, sandbox):
    # A field no schema declares yet, holding an email and text: it must not leak either.
    leaky = next(iter(distinct_events(sandbox, feed_named("AUTH_LOG")).values()))
    leaky = {**leaky, "event_id": "leaky-0001", "reviewer": "leak.check@example.com"}
    leaky["annotation"] = "a sentence somebody wrote about this login"
    add_newer_files(sandbox, "AUTH_LOG", 1, repeat=leaky)
    emails = sandbox_emails(sandbox)
    texts = message_texts(sandbox) | {leaky["annotation"]}
    names = people_names(sandbox)
    assert "leak.check@example.com" in emails
    assert len(texts) > 10
    assert names

    project.run(
        "tap-openai-compliance--masked",
        "target-postgres",
        env={"TAP_OPENAI_COMPLIANCE__MASKED_STREAM_MAP_CONFIG_EMAIL_SALT": EMAIL_SALT},
    )

    assert project.tables() >= set(STREAMS)
    with project.connect() as conn:
        for table in project.tables():
            query = sql.SQL("SELECT t::text AS row FROM {}.{} AS t").format(
                sql.Identifier(project.schema), sql.Identifier(table)
            )
            dump = "\n".join(row["row"] for row in conn.execute(query))
            assert not [email for email in emails if email in dump], table
            assert not [text for text in texts if json.dumps(text)[1:-1] in dump], table
            assert not [name for name in names if json.dumps(name) in dump], table
    for feed in KNOWN_FEEDS:
        rows = project.rows_by_id(feed.stream_name)
        events = distinct_events(sandbox, feed)
        assert rows.keys() == events.keys()
        for event_id, event in events.items():
            email = event["actor"].get("user_email")
            expected = hashlib.sha256((EMAIL_SALT + email).encode()).hexdigest() if email else None
            assert rows[event_id]["actor"].get("user_email") == expected
    messages = project.rows("conversation_message")
    assert all("content" not in row["message"] for row in messages)
    assert all(row["message"]["id"] and row["message"]["author"] for row in messages)
    assert "_sdc_unknown_fields" not in project.column_types("auth_log")


def test_two_pipelines_in_parallel_keep_their_own_state_and_load_everything_once(project, sandbox):
    with project.connect() as conn:
        # Two loaders creating one schema at the same moment can collide: make it first,
        # as a database owner would when granting the loader its rights.
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(project.schema)))
    # Likewise two meltano processes creating the system database: any command creates it.
    initialized = project.meltano("state", "list")
    assert initialized.returncode == 0, last_lines(initialized.stderr)
    jobs = ("sync-conversations-postgres", "sync-activity-postgres")

    def run_in_parallel() -> None:
        syncs = [project.start(job) for job in jobs]
        for sync in syncs:
            assert sync.wait(timeout=300) == 0, f"{sync.args} failed: see {project.logs}"

    run_in_parallel()

    assert_everything_loaded_once(project, sandbox)
    conversations = project.state(
        "sandbox:tap-openai-compliance--conversations-to-target-postgres--conversations"
    )
    activity = project.state("sandbox:tap-openai-compliance--activity-to-target-postgres--activity")
    # Streams that are not event types (such as rejected lines) may keep bookmarks of their own.
    assert set(conversations["singer_state"]["bookmarks"]) & set(STREAMS) == {
        "conversation_message"
    }
    assert set(activity["singer_state"]["bookmarks"]) & set(STREAMS) == set(STREAMS) - {
        "conversation_message"
    }
    sandbox.clear_requests()

    run_in_parallel()

    assert sandbox.download_calls() == []
    assert_everything_loaded_once(project, sandbox)


# Columns target-postgres adds of its own; a BATCH load leaves them NULL.
TARGET_METADATA = re.compile(
    r"^_sdc_(extracted|received|batched|deleted)_at$|^_sdc_(sequence|table_version|sync_started_at)$"
)


def data_rows(project: Project, table: str) -> dict[str, dict[str, t.Any]]:
    """A table's rows by event_id, without the target's own metadata columns."""
    return {
        event_id: {name: value for name, value in row.items() if not TARGET_METADATA.match(name)}
        for event_id, row in project.rows_by_id(table).items()
    }


def test_batch_messages_load_the_same_rows_as_record_messages(project, sandbox):
    started = time.time()
    batch_project = dataclasses.replace(project, schema=f"{project.schema[:55]}_batch")

    project.run("sync-postgres")
    project.run(
        "sync-postgres-batch",
        env={"TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": batch_project.schema},
    )

    batch_dirs = [
        path
        for path in (PROJECT_ROOT / "output" / "batches").glob("batches-tap-openai-compliance-*")
        if path.is_dir() and path.stat().st_mtime >= started - 1
    ]
    try:
        assert batch_dirs, "the batch files go to output/batches/ as meltano.yml says"
        for table in STREAMS:
            assert data_rows(batch_project, table) == data_rows(project, table), table
        # A BATCH load skips the target's per-record metadata.
        assert all(row["_sdc_batched_at"] is None for row in batch_project.rows("auth_log"))
        state = project.state("sandbox:tap-openai-compliance--batch-to-target-postgres")
        assert set(state["singer_state"]["bookmarks"]) >= set(STREAMS)
    finally:
        for path in batch_dirs:
            shutil.rmtree(path, ignore_errors=True)
            path.with_suffix(".lock").unlink(missing_ok=True)


def test_a_nul_character_lands_replaced_instead_of_blocking_the_load(project, sandbox):
    event = make_event(
        "AUTH_LOG",
        principal_id=DEMO_WORKSPACE_ID,
        timestamp=datetime.now(UTC),
        rng=random.Random(9),
    )
    event["actor"] = {
        "type": "ACCOUNT_USER",
        "user_email": "nul\x00user@example.com",
        "nested": {"deeper": ["a\x00b"]},
    }
    (file_id,) = add_newer_files(sandbox, "AUTH_LOG", 1, repeat=event)

    project.run("sync-postgres")

    row = project.rows_by_id("auth_log")[event["event_id"]]
    assert row["actor"] == {
        "type": "ACCOUNT_USER",
        "user_email": "nul\ufffduser@example.com",
        "nested": {"deeper": ["a\ufffdb"]},
    }
    assert row["_sdc_log_file_id"] == file_id
    assert_everything_loaded_once(project, sandbox)


def docs_sql_examples() -> list[str]:
    """The SQL examples of docs/loading.md."""
    text = (PROJECT_ROOT / "docs" / "loading.md").read_text()
    return re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL)


def test_the_docs_sql_examples_run_on_what_meltano_yml_loads(project, sandbox):
    examples = docs_sql_examples()
    assert len(examples) >= 4
    event = next(iter(distinct_events(sandbox, feed_named("AUDIT_LOG")).values()))
    add_newer_files(
        sandbox, "AUDIT_LOG", 1, repeat={**event, "event_id": "no-actor", "actor": None}
    )

    project.run("sync-postgres")

    found = project.query_each(examples)
    assert all(found.values()), "each example finds rows in the sandbox's data"
    no_actor = next(rows for example, rows in found.items() if "actor IS NULL" in example)
    assert [row["event_id"] for row in no_actor] == ["no-actor"]
