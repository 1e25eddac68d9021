"""The end-to-end tests' fixtures: a throwaway PostgreSQL, Meltano's plugins installed once,
the sandbox, and a Meltano project per test (test_meltano.py, test_stateful_meltano.py,
test_transform.py).

A plugin of the whole test session (tests/conftest.py), so that both files share one cluster
and one installation; psycopg is imported only when a test connects, so that the tests without
Meltano and PostgreSQL run without it (CI's [test] virtualenv).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
import time
import typing as t
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tap_openai_compliance.sandbox import DEMO_API_KEY, FakeComplianceAPI, build_demo_dataset
from tests.meltano_project import PROJECT_ROOT, meltano_env
from tests.postgres import PostgresCluster, throwaway_cluster

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import psycopg

MELTANO = shutil.which("meltano", path=str(Path(sys.executable).parent)) or "meltano"
# The end-to-end modules' mark: under pytest-xdist (scripts/test.sh) they all run in one worker,
# so that the session's cluster and Meltano installation are made once, while the other workers
# take the tests without Meltano.
END_TO_END = pytest.mark.xdist_group("meltano-and-postgres")
# What the tests run. Inherited plugins share their parent's virtualenv; the dbt transformers
# each get one of their own.
PLUGINS = (
    "tap-openai-compliance",
    "target-postgres",
    "target-jsonl",
    "target-csv",
    "dbt-postgres",
    "dbt-snowflake",
)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for the whole session; failing to start it fails the tests."""
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def meltano_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .meltano directory outside the work tree, with the plugins the tests run installed."""
    home = tmp_path_factory.mktemp("meltano-home")
    env = meltano_env(home, home / "install.db")
    installed = subprocess.run(
        [MELTANO, "install", *PLUGINS],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return home


@pytest.fixture
def sandbox() -> Iterator[FakeComplianceAPI]:
    """The sandbox's demo dataset (three days of every type), served in this process."""
    with FakeComplianceAPI(api_key=DEMO_API_KEY) as api:
        build_demo_dataset(api, now=datetime.now(UTC))
        yield api


@dataclasses.dataclass
class Project:
    """Runs meltano in the sandbox environment, against one schema of its own."""

    env: dict[str, str]
    postgres: PostgresCluster
    schema: str
    jsonl_dir: Path
    logs: Path

    def meltano(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a meltano command to its end."""
        return subprocess.run(
            [MELTANO, *args],
            cwd=PROJECT_ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def run(self, *blocks: str, env: dict[str, str] | None = None) -> None:
        """`meltano run` the blocks; fail the test with meltano's last words if it fails."""
        result = self.meltano("run", *blocks, env=env)
        assert result.returncode == 0, last_lines(result.stderr + result.stdout)

    def start(self, *blocks: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start `meltano run` in a process group of its own, logging to a file."""
        log = self.logs / f"{'-'.join(blocks)}-{time.monotonic_ns()}.log"
        with log.open("wb") as output:
            return subprocess.Popen(
                [MELTANO, "run", *blocks],
                cwd=PROJECT_ROOT,
                env={**self.env, **(env or {})},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def state(self, state_id: str) -> dict[str, t.Any]:
        """The Singer state Meltano keeps under ``state_id``."""
        result = self.meltano("state", "get", state_id)
        assert result.returncode == 0, last_lines(result.stderr)
        state: dict[str, t.Any] = json.loads(result.stdout)
        return state

    def connect(self) -> psycopg.Connection[dict[str, t.Any]]:
        """A connection whose rows are dicts."""
        import psycopg
        from psycopg.rows import dict_row

        return psycopg.connect(self.postgres.conninfo, row_factory=dict_row, autocommit=True)

    def query_each(self, queries: Iterable[str]) -> dict[str, list[dict[str, t.Any]]]:
        """Each query's rows, run on this project's schema where it names the docs' one."""
        with self.connect() as conn:
            return {
                query: conn.execute(
                    query.replace("openai_compliance.", f"{self.schema}.")
                ).fetchall()
                for query in queries
            }

    def tables(self) -> set[str]:
        """The tables the loads created in this project's schema."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (self.schema,),
            ).fetchall()
        return {row["table_name"] for row in rows}

    def rows(self, table: str) -> list[dict[str, t.Any]]:
        """Every row of a table."""
        from psycopg import sql

        query = sql.SQL("SELECT * FROM {}.{}").format(
            sql.Identifier(self.schema), sql.Identifier(table)
        )
        with self.connect() as conn:
            return conn.execute(query).fetchall()

    def rows_by_id(self, table: str) -> dict[str, dict[str, t.Any]]:
        """Every row of a table by event_id, failing on a repeated event_id."""
        rows = self.rows(table)
        by_id = {row["event_id"]: row for row in rows}
        assert len(by_id) == len(rows), f"{table} holds an event_id more than once"
        return by_id

    def column_types(self, table: str) -> dict[str, str]:
        """Each column's SQL type."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                (self.schema, table),
            ).fetchall()
        return {row["column_name"]: row["data_type"] for row in rows}

    def count_rows_from_files(self, table: str, file_ids: Iterable[str]) -> int:
        """How many rows of a table came from the given log files (0 if it does not exist)."""
        if table not in self.tables():
            return 0
        from psycopg import sql

        query = sql.SQL("SELECT count(*) AS n FROM {}.{} WHERE _sdc_log_file_id = ANY(%s)").format(
            sql.Identifier(self.schema), sql.Identifier(table)
        )
        with self.connect() as conn:
            row = conn.execute(query, (list(file_ids),)).fetchone()
        assert row is not None
        return int(row["n"])


@pytest.fixture
def project(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    meltano_home: Path,
    postgres: PostgresCluster,
    sandbox: FakeComplianceAPI,
) -> Project:
    """Meltano with a system database (so state) of this test's own, and a schema of its own."""
    schema = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:60]
    jsonl_dir = tmp_path / "jsonl"
    logs = tmp_path / "logs"
    logs.mkdir()
    env = meltano_env(
        meltano_home,
        tmp_path / "meltano.db",
        MELTANO_ENVIRONMENT="sandbox",
        # The sandbox environment names the CLI sandbox's default port; this one's is free.
        TAP_OPENAI_COMPLIANCE_API_URL=sandbox.api_url,
        **postgres.target_postgres_env(schema),
        TARGET_JSONL_DESTINATION_PATH=str(jsonl_dir),
        TARGET_CSV_OUTPUT_PATH=str(tmp_path / "csv"),
    )
    return Project(env, postgres, schema, jsonl_dir, logs)


def last_lines(text: str, count: int = 40) -> str:
    """The end of a command's output, for an assertion message."""
    return "\n".join(text.splitlines()[-count:])
