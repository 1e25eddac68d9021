"""The stateful tables end to end: `meltano run` from the sandbox into a real PostgreSQL.

What a compliance team sees: every table loaded with its keys, a GPT deleted in the workspace
marked deleted at the next run (``_sdc_deleted_at``, or gone with ``hard_delete``), the SQL of
docs/tables.md running on it, and the masked pipeline loading no email, name or text.
"""

from __future__ import annotations

import hashlib
import json
import re
import typing as t
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from psycopg import sql

from tap_openai_compliance.sandbox import (
    DEMO_API_KEY,
    DEMO_WORKSPACE_ID,
    FakeComplianceAPI,
    build_demo_dataset,
)
from tap_openai_compliance.sandbox.stateful import (
    INSTRUCTIONS_TEXT,
    MEMORY_TEXT,
    PROMPT_TEXT,
)
from tap_openai_compliance.tables import TABLES
from tests.meltano_fixtures import END_TO_END
from tests.meltano_project import PROJECT_ROOT
from tests.stateful_helpers import by_primary_key, served_rows, without_download_urls
from tests.test_meltano import as_loaded

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from tap_openai_compliance.sandbox.stateful import StatefulWorkspace
    from tests.meltano_fixtures import Project

pytestmark = [END_TO_END, pytest.mark.timeout(600)]
PER_USER = {"TAP_OPENAI_COMPLIANCE_PER_USER_TABLES": "true"}
DELETED_GPT = "g-sbx-procurement"
EMAIL_SALT = "salt-for-the-stateful-masking-test"


@pytest.fixture
def sandbox() -> Iterator[FakeComplianceAPI]:
    """The demo dataset with a day of logs: every stateful table, under 100 users (so that no
    per-user table waits for its documented minute)."""
    with FakeComplianceAPI(api_key=DEMO_API_KEY) as api:
        build_demo_dataset(api, now=datetime.now(UTC), days=1)
        yield api


def data_of(api: FakeComplianceAPI) -> StatefulWorkspace:
    """The demo workspace's stateful rows."""
    return api.stateful.workspace(DEMO_WORKSPACE_ID)


def loaded(project: Project, name: str) -> dict[tuple[str, ...], dict[str, t.Any]]:
    """A table's rows by primary key; a repeated key fails."""
    return by_primary_key(name, project.rows(name), "holds")


def as_stored(value: t.Any, sql_type: str) -> t.Any:
    """A JSON value as target-postgres stores it in a column of ``sql_type``."""
    if isinstance(value, float) and sql_type == "numeric":
        return Decimal(str(value))
    return as_loaded(value, sql_type)


def test_every_table_loads_with_its_keys_and_a_deleted_gpt_is_marked_deleted(project, sandbox):
    data = data_of(sandbox)

    project.run("sync-postgres", env=PER_USER)

    assert project.tables() >= set(TABLES)
    for name in TABLES:
        rows = loaded(project, name)
        served = served_rows(data, name)
        assert rows.keys() == served.keys(), name
        types = project.column_types(name)
        for key, row in served.items():
            for field, value in without_download_urls(row).items():
                stored = rows[key][field]
                if isinstance(stored, Decimal):
                    assert float(stored) == pytest.approx(value), (name, field)
                else:
                    assert stored == as_stored(value, types[field]), (name, field)
        assert all(row["_sdc_deleted_at"] is None for row in rows.values()), name
    types = project.column_types("gpts")
    assert types["sharing"] == types["latest_config"] == "jsonb"
    assert project.column_types("workspace_plugins")["created_at"].startswith("timestamp")
    assert project.column_types("codex_environments")["setup"] == "jsonb"
    configs_before = {key for key in loaded(project, "gpt_configs") if key[0] == DELETED_GPT}
    assert configs_before

    sandbox.stateful.delete_gpt(DEMO_WORKSPACE_ID, DELETED_GPT)
    project.run("sync-postgres", env=PER_USER)

    gpts = loaded(project, "gpts")
    assert gpts[(DELETED_GPT,)]["_sdc_deleted_at"] is not None
    assert [key for key, row in gpts.items() if row["_sdc_deleted_at"]] == [(DELETED_GPT,)]
    configs = loaded(project, "gpt_configs")
    deleted_configs = {key for key, row in configs.items() if row["_sdc_deleted_at"]}
    assert deleted_configs == configs_before
    shares = loaded(project, "gpt_shared_users")
    assert all(
        (row["_sdc_deleted_at"] is not None) == (key[0] == DELETED_GPT)
        for key, row in shares.items()
    )
    # Every other table: nothing marked deleted, one version.
    for name in set(TABLES) - {"gpts", "gpt_configs", "gpt_shared_users"}:
        current = loaded(project, name).values()
        assert all(row["_sdc_deleted_at"] is None for row in current), name
        assert len({row["_sdc_table_version"] for row in current}) == 1, name


def test_with_hard_delete_a_deleted_gpt_is_removed(project, sandbox):
    env = {
        "TAP_OPENAI_COMPLIANCE_STATEFUL_TABLES": '["gpts"]',
        "TARGET_POSTGRES_HARD_DELETE": "true",
    }
    project.run("sync-postgres", env=env)
    before = loaded(project, "gpts")

    sandbox.stateful.delete_gpt(DEMO_WORKSPACE_ID, DELETED_GPT)
    project.run("sync-postgres", env=env)

    after = loaded(project, "gpts")
    assert (DELETED_GPT,) in before
    assert after.keys() == before.keys() - {(DELETED_GPT,)}


def docs_sql_examples() -> list[str]:
    """The SQL examples of docs/tables.md."""
    text = (PROJECT_ROOT / "docs" / "tables.md").read_text()
    return re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL)


def test_the_docs_sql_examples_of_the_stateful_tables_run_on_what_meltano_yml_loads(
    project, sandbox
):
    examples = docs_sql_examples()
    assert len(examples) >= 4
    project.run("sync-postgres")
    sandbox.stateful.delete_gpt(DEMO_WORKSPACE_ID, DELETED_GPT)
    project.run("sync-postgres")

    joined = project.query_each(examples)

    assert all(joined.values()), "each example finds rows in the sandbox's data"
    logins = next(rows for sql_text, rows in joined.items() if "auth_log" in sql_text)
    assert {row["email"] for row in logins} >= {"priya.raman@example.com"}
    deleted = next(rows for text, rows in joined.items() if "_sdc_deleted_at IS NOT" in text)
    assert [row["gpt_id"] for row in deleted] == [DELETED_GPT]


def test_the_masked_extractor_loads_no_email_name_text_or_signed_link_of_these_tables(
    project, sandbox
):
    data = data_of(sandbox)
    users = data.list("users")
    secrets = {
        *(user["email"] for user in users),
        *(user["name"] for user in users),
        MEMORY_TEXT,
        INSTRUCTIONS_TEXT,
        PROMPT_TEXT,
        "Refactor the billing module",
        "X-Amz-Signature",
        "LOG_LEVEL",
    }

    project.run(
        "tap-openai-compliance--masked",
        "target-postgres",
        env={
            "TAP_OPENAI_COMPLIANCE__MASKED_STREAM_MAP_CONFIG_EMAIL_SALT": EMAIL_SALT,
            "TAP_OPENAI_COMPLIANCE__MASKED_PER_USER_TABLES": "true",
        },
    )

    assert project.tables() >= set(TABLES)
    with project.connect() as conn:
        for name in TABLES:
            query = sql.SQL("SELECT t::text AS row FROM {}.{} AS t").format(
                sql.Identifier(project.schema), sql.Identifier(name)
            )
            dump = "\n".join(row["row"] for row in conn.execute(query))
            assert dump, name
            assert not [secret for secret in secrets if secret in dump], name
            assert "actor" not in project.column_types(name), name

    def hashed(email: str) -> str:
        return hashlib.sha256((EMAIL_SALT + email).encode()).hexdigest()

    by_id = {user["id"]: user for user in users}
    for (user_id,), row in loaded(project, "users").items():
        assert row["email"] == hashed(by_id[user_id]["email"])
    gpts = loaded(project, "gpts")
    for gpt in data.list("gpts"):
        row = gpts[(gpt["id"],)]
        assert row["owner_email"] == hashed(gpt["owner_email"])
        recipients = gpt["sharing"]["recipients"]
        assert [r["email"] for r in row["sharing"]["recipients"]] == [
            hashed(recipient["email"]) for recipient in recipients
        ]
    projects = loaded(project, "projects")
    for item in data.list("projects"):
        recipients = projects[(item["id"],)]["sharing"]["recipients"]["data"]
        assert [r["email"] for r in recipients] == [
            hashed(r["email"]) for r in item["sharing"]["recipients"]["data"]
        ]
    memory = next(iter(loaded(project, "workspace_memories").values()))
    (entry,) = memory["memory_contexts"][0]["memory_entries"]
    assert entry.keys() == {"object", "id", "updated_at"}
    assert json.dumps(memory["memory_contexts"]).count("content") == 0


def test_the_per_user_pipeline_loads_the_per_user_tables_only(project, sandbox):
    data = data_of(sandbox)

    project.run("sync-per-user-postgres")

    per_user = {name for name, table in TABLES.items() if table.per_user}
    assert project.tables() == per_user
    for name in per_user:
        assert loaded(project, name).keys() == served_rows(data, name).keys(), name
    assert sandbox.listing_calls() == []
