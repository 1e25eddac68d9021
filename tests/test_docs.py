"""Every code block of README.md and docs/*.md runs as a user would run it, or says why not.

A fenced block in ``bash``/``sh`` or ``sql`` runs; any other block, or one that must not run,
carries on the line just before it an HTML comment ``<!-- not run in CI: <the reason> -->``
(or ``<!-- run in CI by .ci/run -->`` for the commands CI runs itself, which this test checks).
A block neither run nor marked fails, and so does a run block that fails.

Each page is worked through in a scratch copy of the project of its own (what a clone holds, its
own ``.env``, ``output/``, ``state.json``...; the tests' virtualenv as its ``.venv``), its shell
blocks in document order, each in ``bash -euo pipefail``, with a Meltano database of the page's
own. Plugins are the ones this session installed (the extractor installed once for this module).
The commands reach a sandbox (the fake Compliance API) instead of OpenAI, and a throwaway
PostgreSQL cluster with the docs' own names (database ``compliance``, login ``loader``, schema
``openai_compliance``), through:

- ``.env``, as the README's real-key steps write it (on the README's page, that block itself
  writes it) with masking.md's salt, plus what the docs cannot know: where the sandbox and the
  cluster listen (``harness_dotenv``);
- ``SUBSTITUTIONS``: the placeholders the docs show (``sk-admin-...``, ``db.internal``...),
  rewritten into the sandbox's and the cluster's values. Nothing else is rewritten.

SQL blocks run on that cluster, on what the page's own commands loaded. Where a command's effect
can be checked cheaply, ``EXPECTED`` checks it, found by a line of its block.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import typing as t
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql
from psycopg.rows import dict_row

from tap_openai_compliance.feeds import KNOWN_FEEDS, Feed, Scope, feed_named
from tap_openai_compliance.sandbox import (
    DEMO_API_KEY,
    DEMO_ORGANIZATION_ID,
    FakeComplianceAPI,
    build_demo_dataset,
)
from tap_openai_compliance.tables import TABLES
from tests.meltano_fixtures import END_TO_END
from tests.meltano_project import PROJECT_ROOT, without_foreign_settings

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.postgres import PostgresCluster

pytestmark = [END_TO_END, pytest.mark.timeout(900)]

MELTANO = shutil.which("meltano", path=str(Path(sys.executable).parent)) or "meltano"

PAGES = ["README.md", *sorted(f"docs/{path.name}" for path in (PROJECT_ROOT / "docs").glob("*.md"))]
SHELL = {"bash", "sh"}
SQL = {"sql"}
NOT_RUN = re.compile(r"^\s*<!-- not run in CI: (?P<reason>\S.*?) -->\s*$")
RUN_BY_CI = re.compile(r"^\s*<!-- run in CI by \.ci/run -->\s*$")
FENCE = re.compile(r"^(?P<indent> *)```(?P<language>[\w+-]*)\s*$")

# The README's example workspace id, served by the sandbox as it is.
WORKSPACE_ID = "6f1c0000-0000-4000-8000-000000000000"
# The stateful tables a sync reads by default, with a workspace id.
WORKSPACE_TABLES = [name for name, table in TABLES.items() if not table.per_user]
DATABASE, LOGIN = "compliance", "loader"
EMAIL_HASH_SALT = "salt-of-the-docs-test"
BLOCK_TIMEOUT = 600

# What the harness writes instead of what the docs show, in every shell block (and in the
# README's config.json example): the docs' placeholders, and the sandbox's ports. Nothing else.
SUBSTITUTIONS: list[tuple[str, str]] = [
    # Placeholders: the sandbox's key and organization, the cluster's address and password.
    ("sk-admin-...", DEMO_API_KEY),
    ("org-...", DEMO_ORGANIZATION_ID),
    ("TARGET_POSTGRES_HOST=db.internal", "TARGET_POSTGRES_HOST={host}"),
    ("TARGET_POSTGRES_PORT=5432", "TARGET_POSTGRES_PORT={port}"),
    ("TARGET_POSTGRES_PASSWORD=...", "TARGET_POSTGRES_PASSWORD={password}"),
    # "A PostgreSQL you can write to": the login the other pages use.
    ("TARGET_POSTGRES_USER=me", f"TARGET_POSTGRES_USER={LOGIN}"),
    # An example backfill window: one where the sandbox's log files are (its last 3 days).
    ("BACKFILL_START=2026-11-16T00:00:00Z", "BACKFILL_START={backfill_start}"),
    ("BACKFILL_END=2026-11-23T00:00:00Z", "BACKFILL_END={backfill_end}"),
    # The sandbox a block starts listens on ports free now rather than on 8788 and 8789, and
    # the sandbox environment follows it (as scripts/quickstart.sh does); the next command
    # waits for it to listen, as a user typing it would. See PRELUDE.
    (".venv/bin/tap-openai-compliance-sandbox &", "sandbox_on_free_ports"),
]

# Defined before each shell block: what the substitutions above call.
PRELUDE = """\
sandbox_on_free_ports() {
  rm -f .sandbox-url
  .venv/bin/tap-openai-compliance-sandbox --port 0 --storage-port 0 --ready-file .sandbox-url \\
    2>.sandbox.log &
  for _ in $(seq 300); do [ -s .sandbox-url ] && break; sleep 0.05; done
  [ -s .sandbox-url ] || { echo "The sandbox did not start:" >&2; cat .sandbox.log >&2; return 1; }
  TAP_OPENAI_COMPLIANCE_API_URL=$(cat .sandbox-url)
  export TAP_OPENAI_COMPLIANCE_API_URL
}
"""

# `crontab` on the scratch PATH: the table is a file of the page's, never the machine's.
CRONTAB_SHIM = """\
#!/usr/bin/env bash
# crontab -l prints the table, crontab - replaces it with stdin; nothing else.
table='{table}'
case "$*" in
  -l) if [ -f "$table" ]; then cat "$table"; else echo "no crontab for $USER" >&2; exit 1; fi ;;
  -) cat >"$table" ;;
  *) echo "crontab (test shim): unsupported arguments: $*" >&2; exit 2 ;;
esac
"""


# -- the blocks ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Block:
    """A fenced code block of a page."""

    page: str
    line: int
    language: str
    text: str
    not_run: str | None
    run_by_ci: bool

    def __str__(self) -> str:
        return f"{self.page}:{self.line} ({self.language or 'no language'})"

    @property
    def runs(self) -> bool:
        """Whether the test runs it."""
        return self.not_run is None and not self.run_by_ci and self.language in SHELL | SQL


def blocks_of(page: str) -> list[Block]:
    """The fenced code blocks of a page, with the marker on the line before each, if any."""
    lines = (PROJECT_ROOT / page).read_text().splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent = opening["indent"]
        end = next(
            (n for n in range(index + 1, len(lines)) if lines[n].strip() == "```"), len(lines)
        )
        assert end < len(lines), f"{page}:{index + 1}: a code block that never ends"
        body = [line.removeprefix(indent) for line in lines[index + 1 : end]]
        before = lines[index - 1] if index else ""
        not_run = NOT_RUN.match(before)
        blocks.append(
            Block(
                page=page,
                line=index + 1,
                language=opening["language"],
                text="\n".join(body) + "\n",
                not_run=not_run["reason"] if not_run else None,
                run_by_ci=bool(RUN_BY_CI.match(before)),
            )
        )
        index = end + 1
    return blocks


def every_block() -> list[Block]:
    """Every block of every page."""
    return [block for page in PAGES for block in blocks_of(page)]


def commands(text: str) -> list[str]:
    """A block's command lines, comments and blank lines left out."""
    lines = (re.sub(r"(^|\s)#.*$", "", line).strip() for line in text.splitlines())
    return [line for line in lines if line]


# -- what the test needs once: a sandbox, a cluster, the plugins ----------------------------------


def distinct_events(api: FakeComplianceAPI, feed: Feed) -> dict[str, dict[str, t.Any]]:
    """The events a feed served, by event_id (the sandbox repeats a few across files)."""
    return {
        event["event_id"]: event
        for log_file in api.log_files()
        if Feed(log_file.event_type, log_file.scope) == feed
        for event in api.events_of(log_file.id)
    }


def sandbox_emails(api: FakeComplianceAPI) -> set[str]:
    """Every email address anywhere in the events the sandbox serves."""
    text = json.dumps([api.events_of(log_file.id) for log_file in api.log_files()])
    return set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", text))


@dataclasses.dataclass
class World:
    """The sandbox and the database every page's commands reach, and the plugins they run."""

    sandbox: FakeComplianceAPI
    postgres: PostgresCluster
    password: str
    meltano_dir: Path
    no_actor_event_id: str
    # A day of the sandbox's log files: the backfill example's window.
    backfill_window: tuple[datetime, datetime]

    def values(self) -> dict[str, str]:
        """What the substitutions write."""
        host, port = self.postgres.host, str(self.postgres.port)
        start, end = (moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in self.backfill_window)
        return {"host": host, "port": port, "password": self.password} | {
            "backfill_start": start,
            "backfill_end": end,
        }

    def substitute(self, text: str) -> str:
        """``text`` with the docs' placeholders replaced."""
        for shown, written in SUBSTITUTIONS:
            text = text.replace(shown, written.format(**self.values()))
        return text

    def connect(self) -> psycopg.Connection[dict[str, t.Any]]:
        """The docs' database, as its loader logs in."""
        return psycopg.connect(
            host=self.postgres.host,
            port=self.postgres.port,
            user=LOGIN,
            password=self.password,
            dbname=DATABASE,
            row_factory=dict_row,
            autocommit=True,
        )

    def event_ids(self, table: str, schema: str = "openai_compliance") -> set[str]:
        """The event ids a loaded table holds."""
        query = sql.SQL("SELECT event_id FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        with self.connect() as conn:
            return {row["event_id"] for row in conn.execute(query)}

    def relations(self, schema: str) -> set[str]:
        """The tables and views of a schema."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchall()
        return {row["table_name"] for row in rows}

    def file_ids(self, event_type: str | None = None) -> set[str]:
        """The sandbox's log files, of one event type or all."""
        return {
            log_file.id
            for log_file in self.sandbox.log_files()
            if event_type in (None, log_file.event_type)
        }

    def downloaded(self) -> set[str]:
        """The files downloaded since the sandbox's requests were last cleared."""
        return {call.path.rsplit("/", 1)[-1] for call in self.sandbox.download_calls()}


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, meltano_home: Path, postgres: PostgresCluster
) -> Iterator[World]:
    """One sandbox, the docs' database and login, and a Meltano plugin directory for the
    module: the session's plugins, and the extractor installed from a copy of the project (the
    docs' `meltano install` reinstalls it from the page's copy: never from the work tree)."""
    password = "docs-" + os.urandom(8).hex()
    with psycopg.connect(postgres.conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(LOGIN), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DATABASE), sql.Identifier(LOGIN)
            )
        )
    meltano_dir = tmp_path_factory.mktemp("docs-meltano")
    for plugin in meltano_home.glob("*/*/venv"):
        kind, name = plugin.parent.parent.name, plugin.parent.name
        if name != "tap-openai-compliance":
            (meltano_dir / kind).mkdir(exist_ok=True)
            (meltano_dir / kind / name).symlink_to(plugin.parent)
    base = scratch_copy(tmp_path_factory.mktemp("docs-base"))
    installed = subprocess.run(
        [MELTANO, "install", "extractor", "tap-openai-compliance"],
        cwd=base,
        env=without_foreign_settings(os.environ)
        | {"MELTANO_SYS_DIR_ROOT": str(meltano_dir), "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
        | {"MELTANO_DATABASE_URI": f"sqlite:///{base / 'install.db'}"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    with FakeComplianceAPI(api_key=DEMO_API_KEY) as api:
        now = datetime.now(UTC)
        build_demo_dataset(
            api, workspace_id=WORKSPACE_ID, organization_id=DEMO_ORGANIZATION_ID, now=now
        )
        # An audit event without an actor, which docs/loading.md's second query finds.
        audit = next(iter(distinct_events(api, feed_named("AUDIT_LOG")).values()))
        no_actor = {**audit, "event_id": "docs-no-actor", "actor": None}
        api.add_log_file("workspaces", WORKSPACE_ID, "AUDIT_LOG", [no_actor], now)
        hour = now.replace(minute=30, second=0, microsecond=0)
        window = (hour - timedelta(days=2), hour - timedelta(days=1))
        yield World(api, postgres, password, meltano_dir, no_actor["event_id"], window)


def scratch_copy(destination: Path) -> Path:
    """The project as a clone holds it (tracked files and new ones, nothing git ignores: no
    .env, no output/), with the tests' virtualenv as its .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    (destination / ".venv").symlink_to(Path(sys.prefix))
    return destination


# -- a page, worked through -----------------------------------------------------------------------


@dataclasses.dataclass
class Ran:
    """What a block printed, and for SQL its rows."""

    output: str
    rows: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Page:
    """A user working through one page, in a scratch copy of the project."""

    name: str
    root: Path
    env: dict[str, str]
    logs: Path
    world: World

    def shell(self, text: str, label: str) -> Ran:
        """Run ``text`` as a bash script in the project, as written; fail with its output."""
        log = self.logs / f"{len(list(self.logs.iterdir())):02d}-{label}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                ["bash", "-euo", "pipefail", "-c", PRELUDE + text],
                cwd=self.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                returncode = process.wait(timeout=BLOCK_TIMEOUT)
            finally:
                # What it left running (a sandbox started with &) ends with it.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        printed = log.read_text(errors="replace")
        tail = "\n".join(printed.splitlines()[-60:])
        assert returncode == 0, f"{label} failed ({returncode}):\n{text}\n--- its output:\n{tail}"
        return Ran(printed)

    def meltano(self, *args: str) -> Ran:
        """A meltano command the page does not show, run the same way."""
        return self.shell(" ".join([".venv/bin/meltano", *args]), "harness")

    def query(self, text: str) -> Ran:
        """Run a SQL block on the docs' database."""
        with self.world.connect() as conn:
            return Ran("", conn.execute(text).fetchall())


def harness_dotenv(world: World) -> str:
    """What the docs cannot know: where the sandbox and the cluster listen, and that the
    sandbox allows any pace."""
    return (
        f"TAP_OPENAI_COMPLIANCE_API_URL={world.sandbox.api_url}\n"
        "TAP_OPENAI_COMPLIANCE_DOWNLOADS_PER_MINUTE=1000000\n"
        f"TARGET_POSTGRES_PORT={world.postgres.port}\n"
    )


def readme_dotenv(world: World) -> str:
    """The .env the README's real-key steps write, as the harness rewrites it."""
    (block,) = [b for b in blocks_of("README.md") if "cat >> .env" in b.text]
    heredoc = re.search(r"<<'EOF'\n(.*?)\nEOF\n", block.text, flags=re.DOTALL)
    assert heredoc, "the README's real-key steps write .env with a heredoc"
    return world.substitute(heredoc[1] + "\n")


def start_page(name: str, world: World, tmp_path: Path) -> Page:
    """A scratch project for the page, set up as a user who followed the README (its .env;
    the README's own page writes it itself), and masking.md's salt, but on that page."""
    root = scratch_copy(tmp_path / "project")
    dotenv = harness_dotenv(world)
    if name != "README.md":
        dotenv += readme_dotenv(world)
    if name not in ("README.md", "docs/masking.md"):
        dotenv += f"EMAIL_HASH_SALT={EMAIL_HASH_SALT}\n"
    (root / ".env").write_text(dotenv)
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "crontab").write_text(CRONTAB_SHIM.format(table=tmp_path / "crontab.txt"))
    (shims / "crontab").chmod(0o755)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = without_foreign_settings(os.environ) | {
        "PATH": os.pathsep.join([str(shims), str(root / ".venv" / "bin"), os.environ["PATH"]]),
        "MELTANO_SYS_DIR_ROOT": str(world.meltano_dir),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return Page(name, root, env, logs, world)


# -- what the blocks do, where it can be checked ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Expect:
    """A check of the one block of a page holding ``line``, and what it needs before."""

    line: str
    before: Callable[[Page], None] | None = None
    after: Callable[[Page, Ran], None] | None = None


def every_event_loaded(world: World, schema: str = "openai_compliance") -> None:
    """Each stream's table holds every event the sandbox served."""
    for feed in KNOWN_FEEDS:
        served = distinct_events(world.sandbox, feed).keys()
        missing = served - world.event_ids(feed.stream_name, schema)
        assert not missing, f"{schema}.{feed.stream_name} lacks {len(missing)} events"


# README.md


def real_key_steps(page: Page, ran: Ran) -> None:
    dotenv = (page.root / ".env").read_text()
    assert f"TAP_OPENAI_COMPLIANCE_WORKSPACE_ID={WORKSPACE_ID}" in dotenv
    # `meltano config list --all`: every setting, its value and variable, defaults as applied.
    for line in (
        "api_key [env: TAP_OPENAI_COMPLIANCE_API_KEY] current value: (redacted) (from the "
        "TAP_OPENAI_COMPLIANCE_API_KEY variable in `.env`)",
        "page_size [env: TAP_OPENAI_COMPLIANCE_PAGE_SIZE] current value: 100 (default)",
        "lookback_minutes [env: TAP_OPENAI_COMPLIANCE_LOOKBACK_MINUTES] current value: 60 "
        "(default)",
    ):
        assert line in ran.output
    assert "The pre-flight check passed" in ran.output
    assert "Run summary: every log file listed was synced" in ran.output
    every_event_loaded(page.world)


def write_config_json(page: Page) -> None:
    """The config.json the README shows in its text, pointed at the sandbox."""
    text = (PROJECT_ROOT / "README.md").read_text()
    (example,) = re.findall(r'`(\{"api_key".*?\})`', text, flags=re.DOTALL)
    config = json.loads(page.world.substitute(" ".join(example.split())))
    config |= {"api_url": page.world.sandbox.api_url, "downloads_per_minute": 1_000_000}
    (page.root / "config.json").write_text(json.dumps(config))


def resumed_from_the_state(page: Page, ran: Ran) -> None:
    (state,) = (page.root / "state.json").read_text().splitlines()
    assert json.loads(state)["type"] == "STATE"
    first = [json.loads(line) for line in (page.root / "run-1.jsonl").read_text().splitlines()]
    streams = {message["stream"] for message in first if message["type"] == "RECORD"}
    # The example names a workspace only: its feeds and its tables, not the organization's.
    workspace_feeds = {feed.stream_name for feed in KNOWN_FEEDS if feed.scope is Scope.WORKSPACE}
    assert streams - {"log_files"} == workspace_feeds | set(WORKSPACE_TABLES)
    second = [json.loads(line) for line in (page.root / "run-2.jsonl").read_text().splitlines()]
    # No log file new since the first run: no event again (the tables are read whole at every
    # sync), and the tap says which state it used.
    again = {message["stream"] for message in second if message["type"] == "RECORD"}
    assert again == set(WORKSPACE_TABLES)
    assert "The state given is a whole STATE message: the state it holds is used." in ran.output


# docs/development.md


def sandbox_rows(page: Page) -> dict[str, int]:
    return {
        path.stem: len(path.read_text().splitlines())
        for path in (page.root / "output" / "sandbox").glob("*.jsonl")
    }


def synced_again_after_a_first_sync(page: Page, ran: Ran) -> None:
    first = sandbox_rows(page)
    assert all(first.get(feed.stream_name) for feed in KNOWN_FEEDS), first
    # Again, as after the quick start: a new sandbox, dated from now, synced whole again.
    (block,) = [b for b in blocks_of(page.name) if "sync-jsonl" in b.text]
    page.shell(page.world.substitute(block.text), "again")
    again = sandbox_rows(page)
    assert all(again[stream] >= 2 * rows for stream, rows in first.items()), (first, again)


# docs/loading.md


def loaded_into_the_documented_schema(page: Page, ran: Ran) -> None:
    every_event_loaded(page.world)


def sign_ins_over_the_last_day(page: Page, ran: Ran) -> None:
    (block,) = [b for b in blocks_of(page.name) if "sign_ins" in b.text]
    cutoff = datetime.now(UTC) - timedelta(days=1)
    expected: collections.Counter[str] = collections.Counter()
    for event in distinct_events(page.world.sandbox, feed_named("AUTH_LOG")).values():
        action = event["action_data"]["action"]
        if action in {"login_success", "native_login_success", "signup_success"} and (
            datetime.fromisoformat(event["timestamp"]) > cutoff
        ):
            expected[event["actor"]["user_email"]] += 1
    assert expected
    # The same answer whatever the session's time zone.
    for zone in ("UTC", "Pacific/Kiritimati", "America/Los_Angeles"):
        with page.world.connect() as conn:
            conn.execute(sql.SQL("SET TIME ZONE {}").format(sql.Literal(zone)))
            rows = conn.execute(block.text).fetchall()
        assert {row["user_email"]: row["sign_ins"] for row in rows} == expected, zone


def finds_the_event_without_an_actor(page: Page, ran: Ran) -> None:
    assert page.world.no_actor_event_id in {row["event_id"] for row in ran.rows}


def batch_files_in_a_directory_per_stream_and_run(page: Page, ran: Ran) -> None:
    every_event_loaded(page.world)
    directories = [path for path in (page.root / "output" / "batches").iterdir() if path.is_dir()]
    streams = set()
    for directory in directories:
        (stream,) = {path.name.split("-")[0] for path in directory.iterdir()}
        streams.add(stream)
        assert directory.stat().st_mode & 0o077 == 0, f"{directory} is readable by others"
    # One run: a directory per stream (log_files rows go as RECORD messages).
    assert len(directories) == len(streams)
    assert streams == {feed.stream_name for feed in KNOWN_FEEDS}


def extractor_in_meltano_yml(page: Page) -> dict[str, t.Any]:
    """The extractor as the page's meltano.yml now defines it (`meltano config set` and
    `meltano select` without --environment write there, for every environment)."""
    meltano_yml = yaml.safe_load((page.root / "meltano.yml").read_text())
    (extractor,) = [
        plugin
        for plugin in meltano_yml["plugins"]["extractors"]
        if plugin["name"] == "tap-openai-compliance"
    ]
    return t.cast("dict[str, t.Any]", extractor)


def event_types_set_in_meltano_yml(page: Page, ran: Ran) -> None:
    assert extractor_in_meltano_yml(page)["config"]["event_types"] == ["AUTH_LOG", "AUDIT_LOG"]


def select_rules_in_meltano_yml(page: Page, ran: Ran) -> None:
    # --list --all: the streams the settings sync, with their fields.
    assert "auth_log.actor" in ran.output
    assert extractor_in_meltano_yml(page)["select"] == [
        "auth_log.*",
        "!conversation_message.message.content",
    ]


# docs/masking.md


def hashed_emails_in_a_schema_of_their_own(page: Page, ran: Ran) -> None:
    assert re.search(r"^EMAIL_HASH_SALT=[0-9a-f]{64}$", (page.root / ".env").read_text(), re.M)
    every_event_loaded(page.world, "openai_compliance_masked")
    emails = sandbox_emails(page.world.sandbox)
    with page.world.connect() as conn:
        for table in page.world.relations("openai_compliance_masked"):
            query = sql.SQL("SELECT t::text AS row FROM openai_compliance_masked.{} AS t")
            dump = "\n".join(
                row["row"] for row in conn.execute(query.format(sql.Identifier(table)))
            )
            assert not [email for email in emails if email in dump], table


# docs/scaling-out.md


def schema_and_system_database_made(page: Page) -> None:
    """What the page says to do before the first parallel run."""
    with page.world.connect() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS openai_compliance")
    page.meltano("state", "list")


def both_pipelines_loaded(page: Page, ran: Ran) -> None:
    assert ran.output.count("Run summary: every log file listed was synced") == 2
    every_event_loaded(page.world)
    states = page.meltano("--environment=prod", "state", "list").output
    assert "prod:tap-openai-compliance--conversations-to-target-postgres--conversations" in states
    assert "prod:tap-openai-compliance--activity-to-target-postgres--activity" in states


def backfill_window_synced(page: Page, ran: Ran) -> None:
    assert "Run summary: every log file listed was synced" in ran.output
    start, end = page.world.backfill_window
    in_window = {
        log_file.id
        for log_file in page.world.sandbox.log_files()
        if start <= log_file.end_time <= end
    }
    assert in_window
    assert page.world.downloaded() == in_window


# docs/scheduling.md


def prod_config(page: Page) -> dict[str, t.Any]:
    meltano_yml = yaml.safe_load((page.root / "meltano.yml").read_text())
    (prod,) = [env for env in meltano_yml["environments"] if env["name"] == "prod"]
    (extractor,) = prod["config"]["plugins"]["extractors"]
    config: dict[str, t.Any] = extractor["config"]
    return config


def run_budget_set(page: Page, ran: Ran) -> None:
    assert prod_config(page)["max_run_minutes"] == 50


def schedule_listed_and_run(page: Page, ran: Ran) -> None:
    assert "[@hourly] job hourly-postgres: sync-postgres" in ran.output
    assert "Run summary: every log file listed was synced" in ran.output


def cron_line_installed_and_working(page: Page, ran: Ran) -> None:
    assert "TAP_OPENAI_COMPLIANCE_MAX_RUN_MINUTES" in (page.root / ".env").read_text()
    (line,) = (page.logs.parent / "crontab.txt").read_text().splitlines()
    assert line == (
        f"0 * * * * cd {page.root} && flock -n /tmp/tap-openai-compliance.lock timeout 58m "
        ".venv/bin/meltano --environment=prod schedule run hourly-postgres "
        ">> output/hourly.log 2>&1"
    )
    # What cron runs at the hour: sh, from the home directory, with little of an environment
    # (the lock of the page's own: the machine's is shared with any other run of this test).
    command = line.split(" ", 5)[5].replace(
        "/tmp/tap-openai-compliance.lock", str(page.logs.parent / "hourly.lock")
    )
    cron_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(page.logs.parent),
        "SHELL": "/bin/sh",
        "MELTANO_SYS_DIR_ROOT": page.env["MELTANO_SYS_DIR_ROOT"],
        "MELTANO_DATABASE_URI": page.env["MELTANO_DATABASE_URI"],
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    fired = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=page.logs.parent,
        env=cron_env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    log = page.root / "output" / "hourly.log"
    printed = log.read_text() if log.exists() else fired.stderr
    assert fired.returncode == 0, printed[-3000:]
    assert "Run summary:" in printed


# docs/state.md

STATE_ID = "prod:tap-openai-compliance-to-target-postgres"


def a_pipeline_that_has_run(page: Page) -> None:
    """The page's premise: sync-postgres has run in prod."""
    page.meltano("--environment=prod", "run", "sync-postgres")
    page.world.sandbox.clear_requests()


def state_read_cleared_and_reloaded(page: Page, ran: Ran) -> None:
    assert STATE_ID in ran.output
    assert '"singer_state"' in ran.output
    # --full-refresh: every file again.
    assert page.world.downloaded() == page.world.file_ids()


def state_as_a_table(page: Page, ran: Ran) -> None:
    streams = {line.split()[0] for line in ran.output.splitlines() if line.strip()}
    assert {feed.stream_name for feed in KNOWN_FEEDS} <= streams


def a_gpt_deleted_since_a_sync(page: Page) -> None:
    """The query's premise: a sync, a GPT deleted in the workspace, then the next sync."""
    page.meltano("--environment=prod", "run", "sync-postgres")
    gpt = page.world.sandbox.stateful.workspace(WORKSPACE_ID).list("gpts")[0]["id"]
    page.world.sandbox.stateful.delete_gpt(WORKSPACE_ID, gpt)
    page.meltano("--environment=prod", "run", "sync-postgres")


def clear_requests(page: Page) -> None:
    page.world.sandbox.clear_requests()


def one_stream_synced_again(page: Page, ran: Ran) -> None:
    resync = json.loads((page.root / "resync.json").read_text())
    assert "auth_log" not in resync["singer_state"]["bookmarks"]
    assert "audit_log" in resync["singer_state"]["bookmarks"]
    assert page.world.downloaded() == page.world.file_ids("AUTH_LOG")


# docs/transform.md


def built(output: str, warnings: int | None = None) -> None:
    builds = re.findall(r"Done\. PASS=\d+ WARN=(\d+) ERROR=0 SKIP=0", output)
    assert builds, output[-3000:]
    if warnings is not None:
        assert [int(found) for found in builds] == [warnings] * len(builds), builds


def models_built_after_the_load(page: Page, ran: Ran) -> None:
    built(ran.output, warnings=0)
    assert "PASS freshness of openai_compliance.auth_log" in ran.output
    assert "compliance_events" in page.world.relations("openai_compliance_analytics")


def sandbox_built_without_a_warning(page: Page, ran: Ran) -> None:
    built(ran.output, warnings=0)


def schedule_added_and_run(page: Page, ran: Ran) -> None:
    meltano_yml = yaml.safe_load((page.root / "meltano.yml").read_text())
    schedules = {schedule["name"]: schedule for schedule in meltano_yml["schedules"]}
    assert schedules["hourly-compliance"]["job"] == "sync-postgres-transform"
    built(ran.output)


def masked_models_built(page: Page, ran: Ran) -> None:
    built(ran.output)
    assert re.search(r"PASS no_email_address_in_any_model\b", ran.output)
    assert "compliance_events" in page.world.relations("openai_compliance_masked_analytics")


def docs_generated(page: Page, ran: Ran) -> None:
    target = page.root / "transform" / "target"
    assert (target / "index.html").exists()
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    models = [node for node in manifest["nodes"].values() if node["resource_type"] == "model"]
    assert len(models) > 20
    # The catalog describes every model's columns; every model says what it is, and each
    # question model asks its question.
    assert {node["name"] for node in models} <= {
        node["metadata"]["name"] for node in catalog["nodes"].values()
    }
    assert all(node["description"] for node in models)
    marts = [node for node in models if "/marts/" in node["original_file_path"]]
    assert all("?" in node["description"] for node in marts if node["name"] != "compliance_events")


def rebuilt(page: Page, ran: Ran) -> None:
    built(ran.output)
    assert len(re.findall(r"Done\. PASS=", ran.output)) == 2


EXPECTED: dict[str, list[Expect]] = {
    "README.md": [
        Expect("cat >> .env <<'EOF'", after=real_key_steps),
        Expect("--config config.json > run-1.jsonl", write_config_json, resumed_from_the_state),
    ],
    "docs/development.md": [
        Expect("run --full-refresh sync-jsonl", after=synced_again_after_a_first_sync),
    ],
    "docs/loading.md": [
        Expect("TARGET_POSTGRES_DATABASE=compliance", after=loaded_into_the_documented_schema),
        Expect("AS sign_ins", after=sign_ins_over_the_last_day),
        Expect("WHERE actor IS NULL", after=finds_the_event_without_an_actor),
        Expect("run sync-postgres-batch", after=batch_files_in_a_directory_per_stream_and_run),
        Expect("event_types '[", after=event_types_set_in_meltano_yml),
        Expect("--exclude conversation_message", after=select_rules_in_meltano_yml),
    ],
    "docs/masking.md": [
        Expect("run sync-masked-postgres", after=hashed_emails_in_a_schema_of_their_own),
    ],
    "docs/scaling-out.md": [
        Expect(
            "run sync-conversations-postgres &",
            schema_and_system_database_made,
            both_pipelines_loaded,
        ),
        Expect(
            "tap-openai-compliance--backfill target-postgres",
            clear_requests,
            backfill_window_synced,
        ),
    ],
    "docs/scheduling.md": [
        Expect("config set tap-openai-compliance max_run_minutes 50", after=run_budget_set),
        Expect("schedule run hourly-postgres\n", after=schedule_listed_and_run),
        Expect("| crontab -", after=cron_line_installed_and_working),
    ],
    "docs/state.md": [
        Expect("state list", a_pipeline_that_has_run, state_read_cleared_and_reloaded),
        Expect("| .venv/bin/tap-openai-compliance-state\n", after=state_as_a_table),
        Expect("--without auth_log", clear_requests, one_stream_synced_again),
    ],
    "docs/tables.md": [
        Expect("WHERE _sdc_deleted_at IS NOT NULL", before=a_gpt_deleted_since_a_sync),
    ],
    "docs/transform.md": [
        Expect("run sync-postgres-transform   #", after=models_built_after_the_load),
        Expect("--environment=sandbox run", after=sandbox_built_without_a_warning),
        Expect("schedule add hourly-compliance", after=schedule_added_and_run),
        Expect("run sync-masked-postgres-transform", after=masked_models_built),
        Expect("dbt-postgres:docs-generate", after=docs_generated),
        Expect("--full-refresh\n", after=rebuilt),
    ],
}


# -- the tests ----------------------------------------------------------------------------------


def test_every_block_is_run_or_marked_with_its_reason():
    blocks = every_block()
    assert len(blocks) > 40
    unmarked = [
        str(block)
        for block in blocks
        if block.language not in SHELL | SQL and block.not_run is None and not block.run_by_ci
    ]
    assert unmarked == [], "blocks the test cannot run: mark each with <!-- not run in CI: why -->"
    for page in PAGES:
        lines = (PROJECT_ROOT / page).read_text().splitlines()
        for number, line in enumerate(lines[:-1]):
            if NOT_RUN.match(line) or RUN_BY_CI.match(line):
                assert FENCE.match(lines[number + 1]), f"{page}:{number + 1}: a marker of no block"


def test_the_commands_marked_as_run_by_ci_are_in_ci_run():
    ci_run = (PROJECT_ROOT / ".ci" / "run").read_text()
    marked = [block for block in every_block() if block.run_by_ci]
    assert marked
    for block in marked:
        for command in commands(block.text):
            assert any(line.strip().endswith(command) for line in ci_run.splitlines()), command


def test_the_quick_start_runs_the_command_the_docs_say_it_runs():
    quickstart = (PROJECT_ROOT / "scripts" / "quickstart.sh").read_text()
    said = [
        command
        for page in ("README.md", "docs/development.md")
        for command in re.findall(
            r"`(meltano --environment=sandbox run [^`]*)`", (PROJECT_ROOT / page).read_text()
        )
    ]
    assert said
    assert [command for command in said if command not in quickstart] == []


def test_the_state_shown_is_the_table_the_state_command_prints_of_it(tmp_path):
    blocks = blocks_of("docs/state.md")
    (state,) = [block for block in blocks if block.language == "json"]
    (table,) = [block for block in blocks if block.text.startswith("stream ")]
    (tmp_path / "state.json").write_text(state.text)

    shown = subprocess.run(
        [str(Path(sys.executable).with_name("tap-openai-compliance-state")), "state.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )

    assert shown.stdout == table.text


def test_every_check_and_substitution_finds_its_block():
    runnable = [block for block in every_block() if block.runs]
    for page, expectations in EXPECTED.items():
        for expect in expectations:
            holding = [
                block for block in runnable if block.page == page and expect.line in block.text
            ]
            assert len(holding) == 1, f"{page}: {len(holding)} blocks hold {expect.line!r}"
    shown = "".join(block.text for block in runnable) + (PROJECT_ROOT / "README.md").read_text()
    assert [placeholder for placeholder, _ in SUBSTITUTIONS if placeholder not in shown] == []


def test_every_number_setting_can_be_given_in_the_environment(world, tmp_path):
    """The README: "Every setting has an environment variable"; scheduling.md puts one in .env."""
    meltano_yml = yaml.safe_load((PROJECT_ROOT / "meltano.yml").read_text())
    (extractor,) = [
        plugin
        for plugin in meltano_yml["plugins"]["extractors"]
        if plugin["name"] == "tap-openai-compliance"
    ]
    # Meltano 4.4 fails to write a `decimal` setting given as a variable into the tap's config.
    assert [s["name"] for s in extractor["settings"] if s["kind"] == "decimal"] == []
    numbers = [s["name"] for s in extractor["settings"] if s["kind"] == "integer"]
    page = start_page("docs/scheduling.md", world, tmp_path)
    page.env |= {f"TAP_OPENAI_COMPLIANCE_{name.upper()}": "7" for name in numbers}

    dumped = page.meltano("--environment=prod", "invoke", "--dump=config", "tap-openai-compliance")

    config = json.loads(dumped.output[dumped.output.index("{") :])
    assert {name: config[name] for name in numbers} == dict.fromkeys(numbers, 7)


@pytest.mark.parametrize("page_name", PAGES)
def test_the_page_s_blocks_run_as_written(page_name, world, tmp_path):
    blocks = [block for block in blocks_of(page_name) if block.runs]
    if not blocks:
        return
    page = start_page(page_name, world, tmp_path)
    expectations = EXPECTED.get(page_name, [])
    started = time.monotonic()
    for block in blocks:
        found = [expect for expect in expectations if expect.line in block.text]
        for expect in found:
            if expect.before:
                expect.before(page)
        if block.language in SQL:
            ran = page.query(block.text)
            assert ran.rows, f"{block} finds no row in the sandbox's data"
        else:
            ran = page.shell(world.substitute(block.text), f"line-{block.line}")
        for expect in found:
            if expect.after:
                expect.after(page, ran)
    print(f"{page_name}: {len(blocks)} blocks in {time.monotonic() - started:.1f} s")
