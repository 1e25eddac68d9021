"""The stateful Compliance API as tables: each list endpoint, its paging, its limits, its keys.

Besides the log files, the API answers "who and what the events are about" as current state:
the workspace's users, GPTs and their configurations and shares, projects, agents, Codex
tasks and environments, plugins and memories, and per user their automations, canvases,
recordings, files, pets, memories and remote-control sessions. Each list endpoint is a table,
re-read whole at every sync (full table), so that a row gone from the API can be marked
deleted in the warehouse (``ACTIVATE_VERSION``, see ``stateful.py``).

Everything here is what OpenAI's reference (2.5.3) documents for the endpoint: the path under
``/workspaces/{workspace_id}/``, how it pages, the page size it allows and the calls a minute
it allows. A child table (a GPT's configurations, a user's canvases) is read once per row of
its parent table; its records carry the parent's id (``user_id``, ``gpt_id``, ...), which
is part of their key.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import typing as t

from singer_sdk import typing as th

from tap_openai_compliance.errors import ComplianceTapError

# The stateful endpoints' security scheme in the reference: the Compliance API read scope.
STATEFUL_SCOPE = "chatgpt.enterprise.compliance_export.read"
STATEFUL_TABLES = "stateful_tables"
PER_USER_TABLES = "per_user_tables"
KEEP_DOWNLOAD_URLS = "keep_download_urls"
EMIT_ACTIVATE_VERSION = "emit_activate_version_messages"


class Paging(enum.Enum):
    """How an endpoint asks for its next page."""

    # ``after`` = the page's ``last_id``, or the last item's id when the page gives none.
    AFTER = "after"
    # ``cursor`` = the page's opaque ``cursor``.
    CURSOR = "cursor"
    # ``cursor`` = the page's ``last_id``: the remote-control lists take a cursor but answer
    # only ``last_id`` (GenericList in the reference).
    CURSOR_FROM_LAST_ID = "cursor from last_id"
    # No paging parameter: one page is the whole list.
    ONE_PAGE = "one page"

    @property
    def parameter(self) -> str | None:
        """The query parameter that asks for the next page."""
        if self is Paging.AFTER:
            return "after"
        return None if self is Paging.ONE_PAGE else "cursor"


@dataclasses.dataclass(frozen=True)
class Table:
    """One list endpoint of the stateful API, as a stream."""

    name: str
    # Under /workspaces/{workspace_id}/; {user_id}, {gpt_id}... come from the parent's row.
    path: str
    paging: Paging
    # What a row is, and how often rows change (docs/tables.md).
    row: str
    changes: str
    parent: str | None = None
    # The parent row's id, as this table's records carry it (and the path names it).
    parent_key: str | None = None
    # The ``limit`` sent (the endpoint's documented maximum); None: not sent, the API's
    # default applies (``default_page_size``, for the cost figures).
    page_size: int | None = None
    default_page_size: int | None = None
    # Calls a minute the reference documents for this endpoint (per API key), if any.
    calls_per_minute: float | None = None
    # Query parameters sent with every call.
    params: tuple[tuple[str, str], ...] = ()

    @property
    def per_user(self) -> bool:
        """Whether this table costs a call per user (it is read under each user)."""
        return self.parent is not None and (self.parent == USERS or TABLES[self.parent].per_user)

    @property
    def keys(self) -> tuple[str, ...]:
        """The primary key: the parents' ids, outermost first, then the row's own id."""
        parent_keys = TABLES[self.parent].keys[:-1] if self.parent else ()
        own_parent = (self.parent_key,) if self.parent_key else ()
        return (*parent_keys, *own_parent, "id")

    @property
    def ancestors(self) -> tuple[Table, ...]:
        """The tables this one is read under, outermost first."""
        if self.parent is None:
            return ()
        parent = TABLES[self.parent]
        return (*parent.ancestors, parent)

    @property
    def page_items(self) -> int | None:
        """Rows a page holds at most: the limit sent, or the API's documented default."""
        return self.page_size or self.default_page_size


USERS = "users"
# "The endpoint will return the next ... after the ... identified by `after`": every list
# the reference pages this way.
TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table(
            USERS,
            "users",
            Paging.AFTER,
            row="a workspace user: email, name, role, status, when created",
            changes="as people join, leave or change role",
            default_page_size=200,
        ),
        Table(
            "gpts",
            "gpts",
            Paging.AFTER,
            row="a live workspace GPT: owner, sharing and recipients, its latest configuration",
            changes="as GPTs are created, shared, edited or deleted",
            default_page_size=20,
            params=(("file_format", "url"),),
        ),
        Table(
            "gpt_configs",
            "gpts/{gpt_id}/configs",
            Paging.AFTER,
            row="a version of a GPT's configuration: name, instructions, files, tools, author",
            changes="a row per version; a GPT's edit adds one",
            parent="gpts",
            parent_key="gpt_id",
            default_page_size=20,
            params=(("file_format", "url"),),
        ),
        Table(
            "gpt_shared_users",
            "gpts/{gpt_id}/shared_users",
            Paging.AFTER,
            row="a user a GPT is directly shared with",
            changes="as a GPT's sharing changes",
            parent="gpts",
            parent_key="gpt_id",
        ),
        Table(
            "projects",
            "projects",
            Paging.AFTER,
            row="a live workspace project: owner, sharing, latest configuration, connectors",
            changes="as projects are created, shared, edited or deleted",
            default_page_size=20,
            params=(("file_format", "url"),),
        ),
        Table(
            "project_configs",
            "projects/{project_id}/configs",
            Paging.AFTER,
            row="a version of a project's configuration: name, instructions, files, tools",
            changes="a row per version; a project's edit adds one",
            parent="projects",
            parent_key="project_id",
            default_page_size=20,
            params=(("file_format", "url"),),
        ),
        Table(
            "project_shared_users",
            "projects/{project_id}/shared_users",
            Paging.AFTER,
            row="a user a project is directly shared with",
            changes="as a project's sharing changes",
            parent="projects",
            parent_key="project_id",
        ),
        Table(
            "workspace_agents",
            "agents",
            Paging.CURSOR,
            row="a workspace agent (not draft-only): name, status, owner, when created/updated",
            changes="as agents are built, published or deleted",
            page_size=50,
        ),
        Table(
            "codex_tasks",
            "codex_tasks",
            Paging.CURSOR,
            row="a Codex task: title, creator, when created and updated",
            changes="constantly: every Codex task run adds or updates one",
            # The reference gives 30 as the default and maximum, and 50 as the maximum.
            page_size=30,
            calls_per_minute=100,
        ),
        Table(
            "codex_environments",
            "codex_environments",
            Paging.AFTER,
            row="a Codex environment: repositories, setup, environment variables, creator",
            changes="rarely: as environments are configured",
            page_size=30,
            calls_per_minute=50,
        ),
        Table(
            "workspace_plugins",
            "plugins",
            Paging.CURSOR,
            row="a live workspace plugin: creator, discoverability, policies, current release",
            changes="rarely: as plugins are published or changed",
            page_size=100,
        ),
        Table(
            "workspace_memories",
            "memories",
            Paging.AFTER,
            row="a user's memories: their memory contexts and entries (what ChatGPT remembers)",
            changes="daily: as ChatGPT saves or users delete memories",
            default_page_size=200,
        ),
        Table(
            "user_automations",
            "users/{user_id}/automations",
            Paging.AFTER,
            row="a user's scheduled task: title, schedule, prompt, enabled",
            changes="as users schedule tasks",
            parent=USERS,
            parent_key="user_id",
            default_page_size=100,
        ),
        Table(
            "user_canvases",
            "users/{user_id}/canvases",
            Paging.AFTER,
            row="a user's canvas document (its id)",
            changes="as users write canvases",
            parent=USERS,
            parent_key="user_id",
            default_page_size=30,
            calls_per_minute=100,
        ),
        Table(
            "user_recordings",
            "users/{user_id}/recordings",
            Paging.CURSOR,
            row="a user's recording: when it started and ended, its conversation and canvas",
            changes="as users record meetings",
            parent=USERS,
            parent_key="user_id",
            page_size=20,
            calls_per_minute=100,
        ),
        Table(
            "user_library_files",
            "users/{user_id}/library_files",
            Paging.CURSOR,
            row="a file in a user's Library (trashed ones too): name, type, size, state",
            changes="as users upload, trash or delete files",
            parent=USERS,
            parent_key="user_id",
            default_page_size=200,
        ),
        Table(
            "user_pets",
            "users/{user_id}/pets",
            Paging.CURSOR,
            row="a custom ChatGPT pet a user made",
            changes="rarely",
            parent=USERS,
            parent_key="user_id",
            default_page_size=100,
        ),
        Table(
            "user_shared_pets",
            "users/{user_id}/shared_pets",
            Paging.CURSOR,
            row="a snapshot of a pet a user shared with the workspace",
            changes="rarely",
            parent=USERS,
            parent_key="user_id",
            default_page_size=100,
        ),
        Table(
            "user_memories",
            "users/{user_id}/memories",
            Paging.ONE_PAGE,
            row="a user's memories, read under the user (as workspace_memories holds them)",
            changes="daily: as ChatGPT saves or users delete memories",
            parent=USERS,
            parent_key="user_id",
        ),
        Table(
            "user_remote_control_environments",
            "users/{user_id}/remote_control/environments",
            Paging.CURSOR_FROM_LAST_ID,
            row="a machine a user's Codex can be remote-controlled on, and its app server",
            changes="as users connect machines",
            parent=USERS,
            parent_key="user_id",
            page_size=50,
        ),
        Table(
            "user_remote_control_threads",
            "users/{user_id}/remote_control/environments/{environment_id}/threads",
            Paging.CURSOR_FROM_LAST_ID,
            row="a Codex thread on a remote-control environment: title, preview, status",
            changes="constantly, while users work with Codex remotely",
            parent="user_remote_control_environments",
            parent_key="environment_id",
            page_size=50,
        ),
        Table(
            "user_remote_control_clients",
            "users/{user_id}/remote_control/clients",
            Paging.CURSOR_FROM_LAST_ID,
            row="a device a user remote-controls Codex from: platform, versions, last seen",
            changes="as users add devices; last seen at every use",
            parent=USERS,
            parent_key="user_id",
            page_size=50,
        ),
    )
}


class UnknownTableError(ComplianceTapError):
    """A name in ``stateful_tables`` that names no table."""


def table_named(name: str) -> Table:
    """The table ``stateful_tables`` names with ``name``; a name that names none fails plainly."""
    if (table := TABLES.get(name.strip().lower())) is not None:
        return table
    near = difflib.get_close_matches(name.strip().lower(), TABLES, n=1)
    guess = f" Did you mean {near[0]}?" if near else ""
    msg = (
        f"Setting '{STATEFUL_TABLES}' holds {name!r}, which is not a stateful table.{guess} "
        f"Known: {', '.join(TABLES)}."
    )
    raise UnknownTableError(msg)


def selected_tables(config: t.Mapping[str, t.Any]) -> list[Table]:
    """The tables to sync, each after the tables it is read under.

    ``stateful_tables`` names them (and ``[]`` none); unset, every workspace-level table, and
    the per-user ones with ``per_user_tables``. Either way only with a ``workspace_id``. A
    table is read under its parent, so naming one syncs its parents too.
    """
    if not config.get("workspace_id"):
        return []
    named = config.get(STATEFUL_TABLES)
    if named is None:
        wanted = [
            table for table in TABLES.values() if not table.per_user or config.get(PER_USER_TABLES)
        ]
    else:
        wanted = [table_named(str(name)) for name in named]
    with_parents = {
        ancestor.name: ancestor for table in wanted for ancestor in (*table.ancestors, table)
    }
    # In the catalogue's order, which lists every parent before its children.
    return [table for table in TABLES.values() if table.name in with_parents]


def stateful_table_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """What is wrong with ``stateful_tables``, in sentences naming the setting."""
    named = config.get(STATEFUL_TABLES)
    if not named or not isinstance(named, list):
        return []
    found = []
    for name in named:
        try:
            table_named(str(name))
        except UnknownTableError as exc:
            found.append(str(exc))
    if not found and not config.get("workspace_id"):
        found.append(
            f"Setting '{STATEFUL_TABLES}' names tables of a workspace: set 'workspace_id' "
            f"(or set '{STATEFUL_TABLES}' to [])."
        )
    return found


# The settings of the stateful tables, added to the tap's (settings.py).
STATEFUL_SETTINGS: dict[str, t.Any] = th.PropertiesList(
    th.Property(
        STATEFUL_TABLES,
        th.ArrayType(th.StringType),
        title="Stateful tables",
        description=(
            "Stateful tables to sync, by stream name (users, gpts, gpt_configs, ..., "
            "user_canvases: see docs/tables.md), each read whole at every sync, with the "
            "tables it is read under. Default: every workspace-level table when workspace_id "
            "is set (the per-user ones too with per_user_tables), skipping with a warning "
            "those the key may not read; a table named here that the key may not read stops "
            "the run. [] syncs none."
        ),
    ),
    th.Property(
        PER_USER_TABLES,
        th.BooleanType,
        default=False,
        title="Per-user tables",
        description=(
            "Also sync, by default, the tables read under each user (user_automations, "
            "user_canvases, user_recordings, user_library_files, user_pets, user_shared_pets, "
            "user_memories and the user_remote_control_* ones): at least one call per user and "
            "table at every sync, about 100 minutes for 10,000 users at the API's documented "
            "limits (docs/tables.md)."
        ),
    ),
    th.Property(
        KEEP_DOWNLOAD_URLS,
        th.BooleanType,
        default=False,
        title="Keep download URLs",
        description=(
            "Keep the download_url of GPT and project files in their records: a signed link, "
            "valid for an hour, that downloads the file without a key (a credential). By "
            "default the tap removes every download_url before a record leaves it."
        ),
    ),
    th.Property(
        EMIT_ACTIVATE_VERSION,
        th.BooleanType,
        default=True,
        title="Capture deletes",
        description=(
            "Send ACTIVATE_VERSION once a stateful table was read whole (and the sync's "
            "version on its records), so that a target that supports it marks the rows gone "
            "from the API as deleted (target-postgres: _sdc_deleted_at, or removes them with "
            "hard_delete). false for a target that refuses the message."
        ),
    ),
).to_dict()["properties"]
