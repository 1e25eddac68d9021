"""The stateful tables as a user meets them: the tap's command over real HTTP to the sandbox.

Each table is read whole, page by page as its endpoint pages, children under every parent
row; once a table was read whole an ACTIVATE_VERSION tells the target which rows are current.
A table not read whole never gets one, so a failure never makes rows look deleted.
"""

from __future__ import annotations

import json
import math
import sys
import typing as t
from datetime import UTC, datetime

import pytest

from tap_openai_compliance.run import Run
from tap_openai_compliance.sandbox import Fault
from tap_openai_compliance.sandbox.stateful import Sizes, build_stateful_dataset
from tap_openai_compliance.stateful import MAX_PAGE_BYTES, StatefulStream
from tap_openai_compliance.tables import TABLES, Paging
from tap_openai_compliance.tap import TapOpenAICompliance
from tests.conftest import API_KEY, WORKSPACE_ID, add_files, hourly
from tests.stateful_helpers import (
    PER_USER_TABLES,
    WORKSPACE_TABLES,
    messages_of,
    served_rows,
    stateful_config,
    synced_rows,
    without_download_urls,
)
from tests.tap_runner import TapRun, run_tap

NOW = datetime(2026, 11, 25, tzinfo=UTC).timestamp()
# Few users, so that the per-user tables stay under every documented limit (100 a minute).
FEW_USERS = Sizes(users=12)


@pytest.fixture
def data(api):
    """The sandbox's stateful data in the tests' workspace: every table, some over a page."""
    return build_stateful_dataset(api, WORKSPACE_ID, now=NOW, sizes=FEW_USERS)


def activate_versions(run: TapRun, name: str) -> list[int]:
    """The versions of the ACTIVATE_VERSION messages of one table."""
    return [m["version"] for m in messages_of(run, name) if m["type"] == "ACTIVATE_VERSION"]


# -- what is synced ---------------------------------------------------------------------------


def test_the_workspace_tables_sync_by_default_every_row_once_as_served(api, data, tmp_path):
    run = run_tap(tmp_path, stateful_config(api))

    assert run.returncode == 0, run.stderr
    assert {name for name in TABLES if run.records(name)} == set(WORKSPACE_TABLES)
    for name in WORKSPACE_TABLES:
        served = {key: without_download_urls(row) for key, row in served_rows(data, name).items()}
        assert synced_rows(run, name) == served, name
        (schema,) = [m for m in messages_of(run, name) if m["type"] == "SCHEMA"]
        assert schema["key_properties"] == list(TABLES[name].keys), name
    assert api.stateful.calls("user_canvases") == []


def test_the_per_user_tables_are_read_under_each_user_only_when_asked(api, data, tmp_path):
    run = run_tap(tmp_path, stateful_config(api, per_user_tables=True, log_metrics=True))

    assert run.returncode == 0, run.stderr
    users = [user["id"] for user in data.list("users")]
    for name in PER_USER_TABLES:
        assert synced_rows(run, name) == served_rows(data, name), name
    calls = api.stateful.calls("user_pets")
    assert sorted(call.path.split("/")[-2] for call in calls) == sorted(users)
    # One state entry per table, however many users it was read under.
    assert all(run.last_state["bookmarks"][name] == {} for name in PER_USER_TABLES)
    # A line per table, not one per user; none at start about how the tables are built.
    assert "Beginning sync of 'user_pets'" not in run.stderr
    assert "as child stream to" not in run.stderr
    counts = [line for line in run.stderr.splitlines() if '"metric":"record_count"' in line]
    assert len([line for line in counts if '"stream":"user_pets"' in line]) == 1


def test_naming_tables_syncs_them_with_the_tables_they_are_read_under(api, data, tmp_path):
    run = run_tap(tmp_path, stateful_config(api, stateful_tables=["gpt_configs", "user_pets"]))

    assert run.returncode == 0, run.stderr
    synced = {name for name in TABLES if messages_of(run, name)}
    assert synced == {"gpts", "gpt_configs", "users", "user_pets"}
    called = {path.split("/")[5] for path in (call.path for call in api.stateful.calls())}
    assert called == {"gpts", "users"}


def test_an_empty_list_of_tables_syncs_none(api, data, tmp_path):
    run = run_tap(tmp_path, stateful_config(api, stateful_tables=[]))

    assert run.returncode == 0, run.stderr
    assert not any(messages_of(run, name) for name in TABLES)
    assert api.stateful.calls() == []


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ({"stateful_tables": ["gpt_config"]}, "Did you mean gpt_configs?"),
        ({"stateful_tables": ["users"], "workspace_id": None}, "set 'workspace_id'"),
    ],
)
def test_a_table_name_the_tap_cannot_sync_stops_before_any_call(api, tmp_path, overrides, said):
    config = {k: v for k, v in stateful_config(api, **overrides).items() if v is not None}

    run = run_tap(tmp_path, config)

    assert run.returncode == 1
    assert said in run.stderr
    assert api.requests == []


# -- paging ---------------------------------------------------------------------------------


def expected_paging(name: str, rows: list[dict[str, t.Any]]) -> list[str | None]:
    """The paging parameter each call of one list should carry, as its endpoint pages."""
    table = TABLES[name]
    size = table.page_items or 20
    pages = max(1, math.ceil(len(rows) / size))
    if table.paging is Paging.CURSOR:
        return [None, *(f"cur_{size * page}" for page in range(1, pages))]
    if table.paging is Paging.ONE_PAGE:
        return [None]
    return [None, *(rows[size * page - 1]["id"] for page in range(1, pages))]


def test_each_endpoint_is_paged_its_own_way_to_its_last_page(api, tmp_path):
    # Every workspace-level list over a page: 450 users is three pages of 200.
    sizes = Sizes(
        users=450, gpts=45, projects=45, agents=120, codex_tasks=70, codex_environments=70
    )
    data = build_stateful_dataset(api, WORKSPACE_ID, now=NOW, sizes=sizes)

    run = run_tap(tmp_path, stateful_config(api))

    assert run.returncode == 0, run.stderr
    for name in WORKSPACE_TABLES:
        table = TABLES[name]
        assert len(synced_rows(run, name)) == len(served_rows(data, name)), name
        calls = api.stateful.calls(name)
        by_parent: dict[str, list] = {}
        for call in calls:
            by_parent.setdefault(call.path, []).append(call)
        for path, parent_calls in by_parent.items():
            parent_id = path.split("/")[-2] if table.parent else None
            rows = data.list(name, (parent_id,) if parent_id else ())
            parameter = table.paging.parameter
            sent = [call.query.get(parameter) if parameter else None for call in parent_calls]
            assert sent == expected_paging(name, rows), (name, path)
            limits = {call.query.get("limit") for call in parent_calls}
            assert limits == {str(table.page_size) if table.page_size else None}, name
            assert all(call.query.get(k) == v for call in parent_calls for k, v in table.params)
    assert len(api.stateful.calls("users")) == 3


def test_a_user_with_more_rows_than_a_page_has_them_all(api, data, tmp_path):
    run = run_tap(
        tmp_path, stateful_config(api, stateful_tables=["user_canvases", "user_recordings"])
    )

    assert run.returncode == 0, run.stderr
    first = data.list("users")[0]["id"]
    for name, rows in (("user_canvases", 35), ("user_recordings", 25)):
        calls = [call for call in api.stateful.calls(name) if f"/users/{first}/" in call.path]
        assert len(calls) == 2, name
        assert [call.query.get(TABLES[name].paging.parameter) for call in calls] == (
            expected_paging(name, data.list(name, (first,)))
        )
        assert sum(record["user_id"] == first for record in run.records(name)) == rows


# -- deletes --------------------------------------------------------------------------------


def test_each_table_read_whole_ends_with_activate_version_of_its_records_version(
    api, data, tmp_path
):
    run = run_tap(tmp_path, stateful_config(api, per_user_tables=True))

    assert run.returncode == 0, run.stderr
    for name in TABLES:
        messages = messages_of(run, name)
        kinds = [message["type"] for message in messages]
        assert kinds.count("ACTIVATE_VERSION") == 1, name
        # After every record of the table, under every parent row.
        assert kinds[-1] == "ACTIVATE_VERSION", name
        versions = {m["version"] for m in messages if m["type"] in ("RECORD", "ACTIVATE_VERSION")}
        assert len(versions) == 1, name


def test_a_gpt_deleted_between_two_syncs_is_absent_from_the_next_version(api, data, tmp_path):
    first = run_tap(tmp_path, stateful_config(api))
    gone = "g-sbx-procurement"
    api.stateful.delete_gpt(WORKSPACE_ID, gone)

    second = run_tap(tmp_path, stateful_config(api))

    assert first.returncode == second.returncode == 0, second.stderr
    assert gone in {record["id"] for record in first.records("gpts")}
    assert gone not in {record["id"] for record in second.records("gpts")}
    assert gone not in {record["gpt_id"] for record in second.records("gpt_configs")}
    # The target marks deleted the rows of earlier versions the second sync did not send.
    assert activate_versions(second, "gpts")[0] > activate_versions(first, "gpts")[0]
    assert activate_versions(second, "gpt_configs") == activate_versions(second, "gpts")


def test_without_activate_version_messages_records_carry_no_version(api, data, tmp_path):
    run = run_tap(tmp_path, stateful_config(api, emit_activate_version_messages=False))

    assert run.returncode == 0, run.stderr
    assert run.records("gpts")
    assert not [m for m in run.messages if m["type"] == "ACTIVATE_VERSION"]
    assert not [m for m in run.messages if m["type"] == "RECORD" and "version" in m]


def test_a_table_not_read_whole_gets_no_activate_version(api, data, tmp_path):
    # The first GPT's configurations page is malformed: the sync stops there.
    api.stateful.inject("gpt_configs", Fault.status(200, {"object": "list", "data": []}), times=1)

    run = run_tap(tmp_path, stateful_config(api))

    assert run.returncode == 1
    (error,) = run.errors()
    assert "Listing gpt_configs of gpt" in error
    assert "has_more is None" in error
    assert "none was marked deleted" in error
    for name in ("gpts", "gpt_configs", "gpt_shared_users"):
        assert activate_versions(run, name) == [], name
    # Tables read whole before it keep theirs.
    assert activate_versions(run, "codex_tasks")


def test_out_of_time_a_table_is_not_read_and_nothing_is_marked_deleted(api, data, tmp_path):
    run = run_tap(tmp_path, stateful_config(api, max_run_minutes=0.0001))

    assert run.returncode == 0, run.stderr
    assert not [m for m in run.messages if m["type"] == "ACTIVATE_VERSION"]
    assert "stopped for max_run_minutes before the whole list was read" in run.stderr


# -- the API's refusals and failures ----------------------------------------------------------


def test_a_table_the_key_may_not_read_is_skipped_with_one_warning(api, data, tmp_path):
    api.stateful.unreadable = {"codex_tasks", "gpt_configs"}

    run = run_tap(tmp_path, stateful_config(api))

    assert run.returncode == 0, run.stderr
    warnings = [
        line for line in run.stderr.splitlines() if "may not read" in line and "WARNING" in line
    ]
    assert len(warnings) == 2
    assert all("chatgpt.enterprise.compliance_export.read" in line for line in warnings)
    # A child table refused under the first parent is not asked under the others.
    assert len(api.stateful.calls("gpt_configs")) == 1
    assert activate_versions(run, "codex_tasks") == activate_versions(run, "gpt_configs") == []
    assert activate_versions(run, "gpts")
    assert activate_versions(run, "gpt_shared_users")
    assert run.records("gpt_shared_users")


def test_a_named_table_the_key_may_not_read_stops_the_run_in_one_line(api, data, tmp_path):
    api.stateful.unreadable = {"codex_tasks"}

    run = run_tap(tmp_path, stateful_config(api, stateful_tables=["codex_tasks", "users"]))

    assert run.returncode == 1
    (error,) = run.errors()
    assert "may not read the codex_tasks table" in error
    assert "or remove codex_tasks from stateful_tables" in error
    assert "Traceback" not in run.stderr


def test_a_429_is_waited_out_for_as_long_as_retry_after_asks(api, data, tmp_path):
    api.stateful.inject("codex_tasks", Fault.status(429, headers={"Retry-After": "1"}))
    api.stateful.inject("workspace_plugins", Fault.status(503))

    run = run_tap(tmp_path, stateful_config(api))

    assert run.returncode == 0, run.stderr
    refused, retried, *_ = api.stateful.calls("codex_tasks")
    assert refused.status == 429
    assert retried.answered_at - refused.answered_at >= 1.0
    assert len(synced_rows(run, "codex_tasks")) == len(data.list("codex_tasks"))
    assert run.records("workspace_plugins")


def test_each_endpoint_is_paced_to_its_documented_limit(api, tmp_path):
    config = stateful_config(api, per_user_tables=True)
    tap = TapOpenAICompliance(config=config, validate_config=True, setup_mapper=False)

    paces = {
        stream.name: stream._pacer.rate
        for stream in tap.streams.values()
        if isinstance(stream, StatefulStream)
    }

    assert set(paces) == set(TABLES)
    for name, rate in paces.items():
        limit = TABLES[name].calls_per_minute
        assert (rate * 60 if rate else None) == limit, name
    assert {name for name, rate in paces.items() if rate} == {
        "codex_tasks",
        "codex_environments",
        "user_canvases",
        "user_recordings",
    }


@pytest.mark.waits
def test_a_call_past_the_documented_minute_waits_instead_of_being_refused(api, tmp_path):
    # 51 pages of Codex environments at 50 calls a minute: the last waits for the minute.
    build_stateful_dataset(
        api, WORKSPACE_ID, now=NOW, sizes=Sizes(users=1, codex_environments=1520)
    )
    api.stateful.enforce_documented_limits = True

    run = run_tap(
        tmp_path, stateful_config(api, stateful_tables=["codex_environments"]), timeout=180
    )

    assert run.returncode == 0, run.stderr
    calls = api.stateful.calls("codex_environments")
    assert [call.status for call in calls] == [200] * 51
    assert calls[50].answered_at - calls[0].answered_at >= 60
    assert len(run.records("codex_environments")) == 1520


# -- hostile answers --------------------------------------------------------------------------


def page(rows: list[t.Any], **fields: t.Any) -> dict[str, t.Any]:
    """A list page as the API answers one."""
    return {"object": "list", "data": rows, **fields}


@pytest.mark.parametrize(
    ("table", "answers", "said"),
    [
        (
            "users",
            [page([{"id": "user-a"}], has_more=True, last_id="user-a")] * 2,
            "the next page's after would be 'user-a', which does not advance",
        ),
        (
            "codex_tasks",
            [
                page([{"id": "t1"}], has_more=True, cursor="c1"),
                page([{"id": "t2"}], has_more=True, cursor="c1"),
            ],
            "the next page's cursor would be 'c1', which does not advance",
        ),
        (
            "workspace_agents",
            [page([], has_more=True, cursor=None)],
            "the next page's cursor would be None",
        ),
        ("users", [page([{"name": "no id"}], has_more=False)], "an entry's id is None"),
        ("users", [page(["user-a"], has_more=False)], "an entry is 'user-a', not an object"),
        ("gpts", [page([{"id": "g-1"}])], "has_more is None"),
        ("user_memories", [page([{"id": "user-a"}], has_more=True)], "takes no paging parameter"),
    ],
)
def test_a_page_the_tap_cannot_follow_stops_the_sync_in_one_plain_line(
    api, data, tmp_path, table, answers, said
):
    for answer in answers:
        api.stateful.inject(table, Fault.status(200, answer))

    run = run_tap(tmp_path, stateful_config(api, per_user_tables=True))

    assert run.returncode == 1
    (error,) = run.errors()
    assert said in error
    assert f"Listing {table}" in error
    assert "Traceback" not in run.stderr
    assert activate_versions(run, table) == []


def test_an_answer_that_is_no_page_is_tried_again_then_named(api, data, tmp_path):
    api.stateful.inject("users", Fault.status(200, "<html>proxy error</html>"), times=2)

    run = run_tap(tmp_path, stateful_config(api, max_tries=2))

    assert run.returncode == 1
    (error,) = run.errors()
    assert "Listing users failed 2 times" in error
    assert "not a JSON object with a 'data' list: <html>proxy error</html>" in error


def test_a_huge_answer_is_not_read_into_memory(api, data, tmp_path):
    api.stateful.inject("users", Fault.flood(2**30))

    run = run_tap(tmp_path, stateful_config(api, max_tries=1), measure_memory=True)

    assert run.returncode == 1
    assert f"larger than {MAX_PAGE_BYTES // 2**20} MiB" in run.errors()[0]
    assert run.peak_rss_mib < 250


def test_an_id_that_is_no_path_segment_stops_plainly_and_odd_ones_are_quoted(api, data, tmp_path):
    users = data.list("users")
    data.put("users", (), [*users, {**users[0], "id": "user/with?odd#chars"}])
    data.put("user_pets", ("user/with?odd#chars",), [{"id": "pet-odd"}])

    odd = run_tap(tmp_path, stateful_config(api, stateful_tables=["user_pets"]))

    assert odd.returncode == 0, odd.stderr
    assert {"user_id": "user/with?odd#chars", "id": "pet-odd"} in odd.records("user_pets")
    data.put("users", (), [*users, {**users[0], "id": ".."}])

    dots = run_tap(tmp_path, stateful_config(api, stateful_tables=["user_pets"]))

    assert dots.returncode == 1
    assert "a parent's id is '..'" in dots.errors()[0]


def test_an_error_echoing_the_key_is_quoted_with_the_key_masked(api, data, tmp_path):
    api.stateful.inject("users", Fault.echo_auth())

    run = run_tap(tmp_path, stateful_config(api))

    assert run.returncode == 1
    assert "Listing users failed: HTTP 400" in run.errors()[0]
    assert API_KEY not in run.stderr + run.stdout
    assert API_KEY[:12] not in run.stderr


def test_a_parent_gone_between_its_listing_and_its_children_has_no_rows_left(api, data, tmp_path):
    api.stateful.inject("gpt_configs", Fault.status(404))

    run = run_tap(tmp_path, stateful_config(api))

    assert run.returncode == 0, run.stderr
    first_gpt = data.list("gpts")[0]["id"]
    assert first_gpt not in {record["gpt_id"] for record in run.records("gpt_configs")}
    assert activate_versions(run, "gpt_configs")


# -- what a record holds ----------------------------------------------------------------------


def test_signed_download_links_are_left_out_unless_asked_for(api, data, tmp_path):
    served = json.dumps(list(served_rows(data, "gpt_configs").values()))
    assert "X-Amz-Signature" in served

    default = run_tap(tmp_path, stateful_config(api))
    kept = run_tap(tmp_path, stateful_config(api, keep_download_urls=True))

    assert default.returncode == kept.returncode == 0
    assert "download_url" not in default.stdout
    assert "X-Amz-Signature" not in default.stdout + default.stderr
    (file,) = default.records("gpts")[0]["latest_config"]["data"][0]["files"]["data"]
    assert file.keys() == {"object", "id", "name", "created_at"}
    for name in ("gpts", "gpt_configs", "projects", "project_configs"):
        assert synced_rows(kept, name) == served_rows(data, name), name


def test_a_field_the_schema_does_not_declare_is_kept_in_sdc_unknown_fields(api, data, tmp_path):
    users = data.list("users")
    data.put("users", (), [{**users[0], "mfa": {"enabled": True}}, *users[1:]])

    run = run_tap(tmp_path, stateful_config(api, stateful_tables=["users"]))

    record = synced_rows(run, "users")[(users[0]["id"],)]
    assert "mfa" not in record
    assert record["_sdc_unknown_fields"] == {"mfa": {"enabled": True}}


def test_a_nul_character_in_a_row_arrives_replaced(api, data, tmp_path):
    memories = data.list("workspace_memories")
    entry = memories[0]["memory_contexts"][0]["memory_entries"][0]
    entry["content"] = "likes\x00tea"

    run = run_tap(tmp_path, stateful_config(api, stateful_tables=["workspace_memories"]))

    (record, *_) = run.records("workspace_memories")
    assert record["memory_contexts"][0]["memory_entries"][0]["content"] == "likes\ufffdtea"


def test_batch_pipelines_still_send_the_stateful_tables_as_versioned_records(api, data, tmp_path):
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{tmp_path}/batches"},
    }

    run = run_tap(tmp_path, stateful_config(api, batch_config=batch_config))

    assert run.returncode == 0, run.stderr
    assert len(run.records("users")) == len(data.list("users"))
    assert activate_versions(run, "users")
    assert not [m for m in run.messages if m["type"] == "BATCH" and m["stream"] in TABLES]


# -- read only --------------------------------------------------------------------------------


def test_a_full_sync_sends_only_gets_to_the_api_and_storage_hosts(api, data, tmp_path):
    add_files(api, "AUTH_LOG", hourly(3))
    add_files(api, "COSTS", hourly(2))

    run = run_tap(tmp_path, stateful_config(api, per_user_tables=True))

    assert run.returncode == 0, run.stderr
    assert run.records("auth_log")
    assert run.records("costs")
    assert run.records("user_pets")
    assert {(call.method, call.host) for call in api.requests} == {
        ("GET", "api"),
        ("GET", "storage"),
    }
    assert len(api.stateful.calls()) > len(TABLES)
    # The key goes to the API host only.
    assert all(("authorization" in c.headers) == (c.host == "api") for c in api.requests)


def test_a_parent_cut_short_marks_nothing_deleted_under_it(api, capsysbinary):
    # Time runs out just after the last user of the first page had its pets read: the users
    # list is cut short, so the pets of the users not reached must not look deleted.
    build_stateful_dataset(api, WORKSPACE_ID, now=NOW, sizes=Sizes(users=450))
    config = stateful_config(api, stateful_tables=["user_pets"], organization_id=None)
    tap = TapOpenAICompliance(config=config)

    def pets_calls() -> int:
        return len(api.stateful.calls("user_pets"))

    run = Run(1, clock=lambda: 0.0 if pets_calls() < 200 else 3600.0)
    tap.__dict__["run"] = run
    for stream in tap.streams.values():
        if isinstance(stream, StatefulStream):
            stream._run = run

    tap.sync_all()
    sys.stdout.flush()
    messages = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]

    assert pets_calls() == 200
    assert {m["stream"] for m in messages if m["type"] == "RECORD"} == {"users", "user_pets"}
    assert not [m for m in messages if m["type"] == "ACTIVATE_VERSION"]


def test_the_run_summary_counts_each_tables_rows(api, data, tmp_path):
    run = run_tap(tmp_path, stateful_config(api, stateful_tables=["users", "gpts"]))

    assert run.returncode == 0, run.stderr
    (summary,) = [line for line in run.stderr.splitlines() if "Run summary:" in line]
    assert f"gpts: {len(served_rows(data, 'gpts'))} rows" in summary
    assert f"users: {len(served_rows(data, 'users'))} rows" in summary


def test_the_pre_flight_check_reads_a_row_of_each_table_and_names_those_it_may_not(
    api, data, tmp_path
):
    api.stateful.unreadable = {"gpts"}

    by_default = run_tap(tmp_path, stateful_config(api), extra_args=["--test"])
    named = run_tap(
        tmp_path, stateful_config(api, stateful_tables=["users", "gpts"]), extra_args=["--test"]
    )

    rows = {
        line.split(" | ")[-1].split()[0]: line.split(" | ")[-1].split(maxsplit=3)[1:]
        for line in by_default.stderr.splitlines()
        if " stateful " in line
    }
    assert rows["users"] == ["stateful", "yes", "a row read"]
    assert rows["gpts"][:2] == ["stateful", "no"]
    assert "grant chatgpt.enterprise.compliance_export.read" in rows["gpts"][2]
    assert "user_canvases" not in rows  # read under each user: no call before a sync
    assert by_default.returncode == 0, by_default.stderr
    assert named.returncode == 1
    (line,) = named.errors()
    assert "The pre-flight check failed: 1 of " in line
    assert "(first: gpts: HTTP 403" in line
