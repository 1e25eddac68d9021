"""The sandbox's stateful Compliance API: users, GPTs, projects... as the list endpoints serve them.

Each table of ``tables.py`` is served at its path under ``/workspaces/{workspace_id}/``, paged
as the reference documents it (``after`` = an id, or an opaque ``cursor``; ``has_more``),
with the list fields each endpoint answers (``last_id`` and ``cursor`` only where the
reference gives them). The demo data names the users, GPTs, projects, agents, environments
and plugins the sandbox's log events name. GET only: any other verb is refused with 405 and
recorded, so that a test can tell the tap never sent one.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
import threading
import time
import zlib
from collections import defaultdict
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tap_openai_compliance.feeds import Scope
from tap_openai_compliance.tables import STATEFUL_SCOPE, TABLES, Paging, Table

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from tap_openai_compliance.sandbox.server import FakeComplianceAPI, Fault, _ApiHandler

WORKSPACE_PREFIX = "/v1/compliance/workspaces/"
# Rows a page holds when the call sends no limit: the reference's defaults.
DEFAULT_PAGE_SIZE = 20
MAX_UNDOCUMENTED_LIMIT = 1000
# The list fields each endpoint answers, beside object, data and has_more (the reference's).
NO_LAST_ID = frozenset(
    {"codex_environments", "codex_tasks", "workspace_plugins", "user_automations"}
)
WITH_CURSOR = frozenset(table.name for table in TABLES.values() if table.paging is Paging.CURSOR)
# The log templates' people, GPTs, projects...: the stateful data names them too.
NAMED_USERS = (
    ("user-Q1w2E3r4T5y6U7i8O9p0Aa01", "priya.raman@example.com", "Priya Raman", "standard-user"),
    ("user-Z9x8C7v6B5n4M3l2K1j0Bb02", "tomas.berg@example.com", "Tomas Berg", "standard-user"),
    ("user-H5g6F7d8S9a0P1o2I3u4Cc03", "mei.chen@example.com", "Mei Chen", "account-admin"),
    ("user-D4n4L3e3Xx0000000000Dd04", "dana.lee@example.com", "Dana Lee", "standard-user"),
)
OTHER_NAMES = (
    "omar.haddad",
    "ines.garcia",
    "lukas.meyer",
    "sam.kowalski",
    "jo.ortiz",
    "new.hire",
)
NAMED_GPTS = ("g-sbx-share", "g-sbx-procurement")
NAMED_PROJECTS = ("g-p-sbx-0001", "g-p-sbx-9")
NAMED_AGENTS = ("agent-sbx1", "agent-sbx2", "agent-sbx3")
NAMED_ENVIRONMENTS = ("env-sbx-1", "env-sbx-2")
NAMED_PLUGINS = ("plugin_sbx_0001", "plugin_sbx_0002")
# Text people wrote, in rows: each a sentence the masked extractor must not load.
MEMORY_TEXT = "Prefers answers in metric units and short summaries first"
INSTRUCTIONS_TEXT = "Answer procurement questions using the attached vendor policy only"
PROMPT_TEXT = "Summarise the open procurement requests every Monday morning"


def _path_pattern(table: Table) -> re.Pattern[str]:
    """A table's path under the workspace, its parents' ids as named groups."""
    parts = [
        f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
        for part in table.path.split("/")
    ]
    return re.compile(f"^{'/'.join(parts)}$")


_PATTERNS = [(table, _path_pattern(table)) for table in TABLES.values()]


@dataclasses.dataclass
class StatefulWorkspace:
    """One workspace's rows, by table and by parent ids (outermost first), in API order."""

    rows: dict[str, dict[tuple[str, ...], list[dict[str, Any]]]] = dataclasses.field(
        default_factory=lambda: defaultdict(dict)
    )
    _ids: dict[tuple[str, tuple[str, ...]], tuple[list[dict[str, Any]], set[str]]] = (
        dataclasses.field(default_factory=dict, repr=False)
    )

    def put(self, table: str, parents: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> None:
        """Set the rows of ``table`` under ``parents``."""
        self.rows[table][parents] = list(rows)

    def list(self, table: str, parents: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """The rows of ``table`` under ``parents``, in the order the API lists them."""
        return self.rows[table].get(parents, [])

    def has(self, table: str, parents: tuple[str, ...], row_id: str) -> bool:
        """Whether ``table`` has a row ``row_id`` under ``parents``.

        Each list's ids are indexed while the list stays the same object: a child call of
        10,000 users would otherwise scan the users at every call.
        """
        rows = self.list(table, parents)
        cached = self._ids.get((table, parents))
        if cached is None or cached[0] is not rows:
            cached = self._ids[(table, parents)] = (rows, {row["id"] for row in rows})
        return row_id in cached[1]


class StatefulAPI:
    """The stateful endpoints of a ``FakeComplianceAPI``: data, faults, limits, answers."""

    def __init__(self, api: FakeComplianceAPI) -> None:
        self._api = api
        self._lock = threading.Lock()
        self._workspaces: dict[str, StatefulWorkspace] = defaultdict(StatefulWorkspace)
        self._faults: dict[str, list[Fault]] = defaultdict(list)
        # Tables the API key may not read (a key without the scope): answered 403.
        self.unreadable: set[str] = set()
        # Per-endpoint limits, as documented: None serves every call.
        self._windows: dict[str, Any] = {}
        self.enforce_documented_limits = False

    # -- data --------------------------------------------------------------------------------

    def workspace(self, workspace_id: str) -> StatefulWorkspace:
        """The rows of one workspace (made on first use)."""
        with self._lock:
            return self._workspaces[workspace_id]

    def delete_gpt(self, workspace_id: str, gpt_id: str) -> None:
        """Delete a GPT, with its configurations and shares, as the admin console would."""
        data = self.workspace(workspace_id)
        with self._lock:
            gpts = data.rows["gpts"][()]
            remaining = [gpt for gpt in gpts if gpt["id"] != gpt_id]
            if len(remaining) == len(gpts):
                raise KeyError(f"no GPT {gpt_id} in workspace {workspace_id}")
            data.rows["gpts"][()] = remaining
            for child in ("gpt_configs", "gpt_shared_users"):
                data.rows[child].pop((gpt_id,), None)

    # -- faults ------------------------------------------------------------------------------

    def inject(self, table: str, fault: Fault, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``table``'s endpoint with ``fault``."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        with self._lock:
            self._faults[table].extend([fault] * times)

    def _take_fault(self, table: str) -> Fault | None:
        """The oldest fault queued for ``table``, removed from the queue."""
        with self._lock:
            queue = self._faults[table]
            return queue.pop(0) if queue else None

    # -- what the tests read -----------------------------------------------------------------

    def calls(self, table: str | None = None) -> list[Any]:
        """The API host's GETs of the stateful endpoints (of one table's endpoint)."""
        found = []
        for request in self._api.requests:
            if request.host != "api" or not request.path.startswith(WORKSPACE_PREFIX):
                continue
            matched = route_of(request.path)
            if matched is not None and (table is None or matched[0].name == table):
                found.append(request)
        return found

    # -- answering ---------------------------------------------------------------------------

    def answer(self, handler: _ApiHandler) -> bool:
        """Answer a call of a stateful endpoint; False when the path is none of them."""
        matched = route_of(handler.url_path)
        if matched is None:
            return False
        table, workspace_id, parents = matched
        api = self._api
        if api.latency:
            time.sleep(api.latency)
        if handler.apply_fault(self._take_fault(table.name)):
            return True
        if self._refuse_over_rate(handler, table) or handler.refuse_key():
            return True
        if not api._has_principal(Scope.WORKSPACE, workspace_id):
            message = f"Workspace {workspace_id} not found."
            handler.send_json(404, _error(message, "invalid_request_error"))
            return True
        if table.name in self.unreadable:
            message = f"Missing scopes: this API key does not have the {STATEFUL_SCOPE} scope."
            handler.send_json(403, _error(message, "permission_error"))
            return True
        data = self.workspace(workspace_id)
        if table.parent and not self._parent_exists(data, table, parents):
            handler.send_json(404, _error("Not found.", "invalid_request_error"))
            return True
        page = self._page(table, data.list(table.name, parents), handler.query)
        if isinstance(page, str):
            handler.send_json(400, _error(page, "invalid_request_error"))
            return True
        handler.send_json(200, page)
        return True

    def _refuse_over_rate(self, handler: _ApiHandler, table: Table) -> bool:
        """429 past the API's token bucket, or the endpoint's documented limit when enforced."""
        api = self._api
        wait = api._bucket.take() if api._bucket else 0.0
        if not wait and self.enforce_documented_limits and table.calls_per_minute:
            from tap_openai_compliance.sandbox.server import _FixedWindow

            with self._lock:
                window = self._windows.setdefault(
                    table.name, _FixedWindow(int(table.calls_per_minute), 60.0)
                )
            wait = window.take()
        if not wait:
            return False
        body = _error("Rate limit reached for requests.", "requests")
        handler.send_json(429, body, {"Retry-After": str(max(1, math.ceil(wait)))})
        return True

    @staticmethod
    def _parent_exists(data: StatefulWorkspace, table: Table, parents: tuple[str, ...]) -> bool:
        """Whether the row a child path names exists (a deleted GPT's configs are a 404)."""
        return data.has(table.parent or "", parents[:-1], parents[-1])

    @staticmethod
    def _page(
        table: Table, rows: Sequence[dict[str, Any]], query: dict[str, str]
    ) -> dict[str, Any] | str:
        """One page of ``rows`` as the endpoint answers it, or why the call is refused."""
        maximum = table.page_size or MAX_UNDOCUMENTED_LIMIT
        size = table.page_items or DEFAULT_PAGE_SIZE
        if "limit" in query:
            if not query["limit"].isdigit() or not 1 <= int(query["limit"]) <= maximum:
                return f"limit must be an integer from 1 to {maximum}"
            size = int(query["limit"])
        start = 0
        if table.paging is Paging.CURSOR and "cursor" in query:
            cursor = query["cursor"]
            if not cursor.startswith("cur_") or not cursor[4:].isdigit():
                return "The pagination cursor is invalid."
            start = int(cursor[4:])
        elif table.paging.parameter and table.paging.parameter in query:
            # after, or the remote-control lists' cursor: the last id of the page before.
            after = query[table.paging.parameter]
            ids = [row["id"] for row in rows]
            if after not in ids:
                return f"{table.paging.parameter} {after!r} names no row of this list."
            start = ids.index(after) + 1
        if table.paging is Paging.ONE_PAGE:
            size = len(rows) or 1
        data = list(rows[start : start + size])
        page: dict[str, Any] = {"object": "list", "data": data}
        has_more = start + size < len(rows)
        if table.name not in NO_LAST_ID:
            page["last_id"] = data[-1]["id"] if data else None
        if table.name in WITH_CURSOR:
            page["cursor"] = f"cur_{start + size}" if has_more else None
        page["has_more"] = has_more
        return page


def route_of(path: str) -> tuple[Table, str, tuple[str, ...]] | None:
    """The table a path lists, its workspace, and its parents' ids; None for another path."""
    if not path.startswith(WORKSPACE_PREFIX):
        return None
    workspace_id, _, rest = path[len(WORKSPACE_PREFIX) :].partition("/")
    for table, pattern in _PATTERNS:
        if match := pattern.match(rest):
            parents = tuple(unquote(match[key]) for key in table.keys[:-1])
            return table, unquote(workspace_id), parents
    return None


def _error(message: str, error_type: str) -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": error_type}}


# -- the demo data -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How many rows of each kind the demo workspace holds."""

    users: int = 60
    gpts: int = 25
    projects: int = 22
    agents: int = 60
    codex_tasks: int = 40
    codex_environments: int = 35
    # One user in this many has rows in each per-user table.
    per_user_every: int = 4


def build_stateful_dataset(
    api: FakeComplianceAPI,
    workspace_id: str,
    *,
    now: float | None = None,
    sizes: Sizes = Sizes(),
    seed: int = 7,
) -> StatefulWorkspace:
    """Fill the workspace's stateful tables: the log templates' people and things, and more."""
    rng = random.Random(seed)
    now = time.time() if now is None else now
    api.add_principal(Scope.WORKSPACE, workspace_id)
    data = api.stateful.workspace(workspace_id)
    users = _users(sizes.users, now)
    data.put("users", (), users)
    emails = {user["id"]: user["email"] for user in users}
    gpts = [
        _gpt(gpt_id, users, rng, now, index)
        for index, gpt_id in enumerate(_ids(NAMED_GPTS, "g-sbx-", sizes.gpts))
    ]
    data.put("gpts", (), sorted(gpts, key=lambda gpt: gpt["id"]))
    for gpt in gpts:
        data.put("gpt_configs", (gpt["id"],), _configs(gpt, "gpt", rng, now, emails))
        data.put("gpt_shared_users", (gpt["id"],), _shared_users(gpt, users))
    projects = [
        _project(project_id, users, rng, now)
        for project_id in _ids(NAMED_PROJECTS, "g-p-sbx-", sizes.projects)
    ]
    data.put("projects", (), sorted(projects, key=lambda project: project["id"]))
    for project in projects:
        data.put(
            "project_configs", (project["id"],), _configs(project, "project", rng, now, emails)
        )
        data.put("project_shared_users", (project["id"],), _shared_users(project, users))
    data.put(
        "workspace_agents",
        (),
        [
            _agent(agent_id, users, rng, now)
            for agent_id in _ids(NAMED_AGENTS, "agent-sbx", sizes.agents)
        ],
    )
    tasks = [_task(index, users, rng, now) for index in range(sizes.codex_tasks)]
    data.put("codex_tasks", (), sorted(tasks, key=lambda task: -task["updated_at"]))
    environments = [
        _environment(env_id, users, rng, now, index)
        for index, env_id in enumerate(
            _ids(NAMED_ENVIRONMENTS, "env-sbx-", sizes.codex_environments)
        )
    ]
    data.put("codex_environments", (), sorted(environments, key=lambda env: -env["created_at"]))
    data.put(
        "workspace_plugins",
        (),
        [_plugin(plugin_id, workspace_id, users, now) for plugin_id in NAMED_PLUGINS],
    )
    with_rows = users[:: sizes.per_user_every]
    memories = [_memory(user, now) for user in with_rows]
    data.put("workspace_memories", (), memories)
    for index, user in enumerate(with_rows):
        _per_user_rows(data, user, index, rng, now)
    return data


def _ids(named: Sequence[str], prefix: str, count: int) -> list[str]:
    """The named ids first, then made-up ones up to ``count``."""
    made = [f"{prefix}{index:04d}x" for index in range(max(0, count - len(named)))]
    return [*named[:count], *made]


def _users(count: int, now: float) -> list[dict[str, Any]]:
    """The workspace's users in ascending id order, the log events' people among them."""
    people = list(NAMED_USERS)
    for name in OTHER_NAMES:
        first, _, last = name.partition(".")
        people.append(
            (
                f"user-Sbx{name.replace('.', '')[:10]:0<10}000000Ee",
                f"{name}@example.com",
                f"{first.title()} {last.title()}",
                "standard-user",
            )
        )
    for index in range(max(0, count - len(people))):
        people.append(
            (
                f"user-Gen{index:021d}",
                f"person{index:05d}@example.com",
                f"Person {index}",
                "standard-user",
            )
        )
    users = [
        {
            "object": "compliance.workspace.user",
            "id": user_id,
            "email": email,
            "name": name,
            "created_at": round(now - 86400 * (30 + index), 3),
            "role": role if index else "account-owner",
            "status": "inactive" if index % 17 == 16 else "active",
        }
        for index, (user_id, email, name, role) in enumerate(people[:count])
    ]
    return sorted(users, key=lambda user: user["id"])


def _permissions(kind: str, *, write: bool) -> dict[str, Any]:
    """A GPT's or project's sharing permissions."""
    return {
        "object": f"compliance.workspace.{kind}.permissions",
        "can_read": True,
        "can_view_config": write,
        "can_write": write,
    }


def _recipients(kind: str, users: Sequence[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The first ``count`` users after the owner, as sharing recipients."""
    return [
        {
            "object": f"compliance.workspace.{kind}.shared_user",
            "id": user["id"],
            "email": user["email"],
            "permissions": _permissions(kind, write=False),
        }
        for user in users[:count]
    ]


def _file(kind: str, name: str, now: float) -> dict[str, Any]:
    """A GPT or project file, with a signed download link valid for an hour."""
    file_id = f"file-{zlib.crc32(name.encode()):020d}"
    expires = int(now) + 3600
    return {
        "object": f"compliance.workspace.{kind}.file",
        "id": file_id,
        "name": name,
        "created_at": round(now - 3600, 3),
        "download_url": (
            f"https://files.example.com/{file_id}?X-Amz-Expires=3600&Expires={expires}"
            f"&X-Amz-Signature=sig{zlib.crc32(file_id.encode()):016x}"
        ),
    }


def _gpt(
    gpt_id: str, users: Sequence[dict[str, Any]], rng: random.Random, now: float, index: int
) -> dict[str, Any]:
    """A live workspace GPT; the shared one is shared with Dana Lee, as the audit log says."""
    # Mei Chen, the admin of the audit log's GPT events, owns the GPTs it names.
    admin = [user for user in users if user["id"] == NAMED_USERS[2][0]]
    owner = admin[0] if admin and gpt_id in NAMED_GPTS else users[index % len(users)]
    others = [user for user in users if user["id"] != owner["id"]]
    if gpt_id == "g-sbx-share":
        others = [user for user in users if user["id"] == NAMED_USERS[3][0]]
    recipients = _recipients("gpt", others, 1 + index % 3)
    return {
        "object": "compliance.workspace.gpt",
        "id": gpt_id,
        "created_at": round(now - 86400 * (index + 1), 3),
        "owner_id": owner["id"],
        "owner_email": owner["email"],
        "builder_name": owner["name"],
        "sharing": {
            "object": "compliance.workspace.gpt.sharing",
            "visibility": "invite-only" if recipients else "workspace",
            "permissions": _permissions("gpt", write=False),
            "recipients": recipients,
        },
        "latest_config": {
            "object": "list",
            "data": [_config(gpt_id, "gpt", 0, rng, now, owner)],
            "last_id": None,
            "has_more": False,
        },
    }


def _config(
    owner_id: str, kind: str, version: int, rng: random.Random, now: float, author: dict[str, Any]
) -> dict[str, Any]:
    """Version ``version`` of a GPT's or project's configuration."""
    prefix = "gzm_cnf" if kind == "gpt" else "pr_cnf"
    config: dict[str, Any] = {
        "object": f"compliance.workspace.{kind}.configuration",
        "id": f"{prefix}_{owner_id}_{version:03d}",
        "name": f"{owner_id} v{version}",
        "description": f"Sandbox {kind} {owner_id}",
        "categories": ["productivity"],
        "conversation_starters": ["What changed this week?"],
        "created_at": round(now - 3600 * (version + 1) - rng.random(), 3),
        "instructions": INSTRUCTIONS_TEXT,
        "files": {
            "object": "list",
            "data": [_file(kind, f"{owner_id}-policy-{version}.pdf", now)],
            "last_id": None,
            "has_more": False,
        },
        "tools": {
            "object": "list",
            "data": [{"type": "code_interpreter", "created_at": round(now - 7200, 3)}],
            "last_id": None,
            "has_more": False,
        },
    }
    if kind == "gpt":
        config["version_author"] = {
            "object": "compliance.workspace.gpt.version_author",
            "id": author["id"],
            "email": author["email"],
        }
    return config


def _configs(
    owner: dict[str, Any], kind: str, rng: random.Random, now: float, emails: dict[str, str]
) -> list[dict[str, Any]]:
    """Every configuration version of a GPT or project, latest first."""
    author = {"id": owner["owner_id"], "email": emails.get(owner["owner_id"], "")}
    versions = 1 + len(owner["id"]) % 3
    return [_config(owner["id"], kind, version, rng, now, author) for version in range(versions)]


def _shared_users(owner: dict[str, Any], users: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The users a GPT or project is directly shared with, in ascending id order."""
    recipients = owner["sharing"]["recipients"]
    # A project lists its recipients as a list object, a GPT as an array.
    listed = recipients["data"] if isinstance(recipients, dict) else recipients
    shared = {recipient["id"] for recipient in listed}
    return [user for user in users if user["id"] in shared]


def _project(
    project_id: str, users: Sequence[dict[str, Any]], rng: random.Random, now: float
) -> dict[str, Any]:
    """A live workspace project; g-p-sbx-9 is shared with Ines Garcia, as the audit log says."""
    index = int(re.sub(r"\D", "", project_id) or 0)
    owner = users[index % len(users)]
    others = [user for user in users if user["id"] != owner["id"]]
    if project_id == "g-p-sbx-9":
        others = [user for user in users if user["email"].startswith("ines.garcia")]
    recipients = _recipients("project", others, 1 + index % 2)
    return {
        "object": "compliance.workspace.project",
        "id": project_id,
        "created_at": round(now - 86400 * (index % 40 + 1), 3),
        "owner_id": owner["id"],
        "owner_email": owner["email"],
        "builder_name": owner["name"],
        "sharing": {
            "object": "compliance.workspace.project.sharing",
            "visibility": "invite-only",
            "permissions": _permissions("project", write=True),
            "recipients": {
                "object": "list",
                "data": recipients,
                "last_id": None,
                "has_more": False,
            },
        },
        "latest_config": {
            "object": "list",
            "data": [_config(project_id, "project", 0, rng, now, owner)],
            "last_id": None,
            "has_more": False,
        },
        "connector_scopes": {"object": "list", "data": [], "last_id": None, "has_more": False},
    }


def _iso(moment: float) -> str:
    """A Unix time as the API writes its date strings."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(moment))


def _agent(
    agent_id: str, users: Sequence[dict[str, Any]], rng: random.Random, now: float
) -> dict[str, Any]:
    """A workspace agent (the log events' agent-sbx1 to 3 among them)."""
    owner = users[int(re.sub(r"\D", "", agent_id) or 0) % len(users)]
    created = int(now) - rng.randrange(86400, 86400 * 60)
    return {
        "object": "compliance.workspace.agent",
        "id": agent_id,
        "name": f"Agent {agent_id}",
        "status": "published",
        "owner_id": owner["id"],
        "owner_email": owner["email"],
        "created_at": created,
        "updated_at": created + rng.randrange(3600, 86400),
    }


def _task(
    index: int, users: Sequence[dict[str, Any]], rng: random.Random, now: float
) -> dict[str, Any]:
    """A Codex task."""
    created = round(now - rng.uniform(3600, 86400 * 20), 3)
    return {
        "object": "compliance.workspace.codex_task",
        "id": f"task_sbx_{index:05d}",
        "created_at": created,
        "updated_at": round(created + rng.uniform(60, 3600), 3),
        "created_by_id": users[index % len(users)]["id"],
        "title": f"Fix flaky test {index}",
        "denormalized_metadata": {"environment_id": NAMED_ENVIRONMENTS[index % 2]},
    }


def _environment(
    env_id: str, users: Sequence[dict[str, Any]], rng: random.Random, now: float, index: int
) -> dict[str, Any]:
    """A Codex environment; its setup is a command or a list of them, as documented."""
    repository = f"sandbox/repo-{index}"
    return {
        "object": "compliance.workspace.codex_environment",
        "id": env_id,
        "created_at": round(now - 86400 * (index + 1) - rng.random(), 3),
        "machine_id": f"machine-{index:04d}",
        "label": f"Environment {index}",
        "description": None,
        "workspace_dir": f"/workspace/repo-{index}",
        "is_pinned": index == 0,
        "repos": [f"github:{repository}"],
        "setup": "npm ci" if index % 2 else ["pip install -e .", "pytest -q"],
        "repo_map": {
            f"github:{repository}": {
                "url": f"https://git.example.com/{repository}",
                "branch": "main",
                "commit": f"{index:040x}",
            }
        },
        "env_vars": {"LOG_LEVEL": "info"},
        "secrets": {},
        "task_count": index,
        "creator_id": users[index % len(users)]["id"],
        "share_settings": "workspace",
    }


def _plugin(
    plugin_id: str, workspace_id: str, users: Sequence[dict[str, Any]], now: float
) -> dict[str, Any]:
    """A live workspace plugin (the log events' plugin_sbx_0001 and 2)."""
    return {
        "object": "compliance.workspace.plugin",
        "id": plugin_id,
        "name": plugin_id.replace("_", "-"),
        "created_at": _iso(now - 86400 * 3),
        "scope": "WORKSPACE",
        "workspace_id": workspace_id,
        "creator_account_user_id": users[0]["id"],
        "marketplace_name": None,
        "discoverability": "PRIVATE",
        "status": "ACTIVE",
        "installation_policy": "AVAILABLE",
        "authentication_policy": "ON_INSTALL",
        "current_release": {
            "id": f"rel_{plugin_id}",
            "version": "1.2.0",
            "display_name": f"Plugin {plugin_id}",
            "description": "Sandbox plugin",
        },
    }


def _memory(user: dict[str, Any], now: float) -> dict[str, Any]:
    """A user's memories: their primary context, with one entry."""
    return {
        "object": "compliance.workspace.user.memory",
        "id": user["id"],
        "memory_contexts": [
            {
                "object": "compliance.workspace.user.memory.context",
                "id": user["id"],
                "memory_entries": [
                    {
                        "object": "compliance.workspace.user.memory.context.entry",
                        "id": f"mem_{user['id'][-8:]}",
                        "content": MEMORY_TEXT,
                        "updated_at": round(now - 7200, 3),
                    }
                ],
            }
        ],
    }


def _per_user_rows(
    data: StatefulWorkspace, user: dict[str, Any], index: int, rng: random.Random, now: float
) -> None:
    """The per-user tables' rows of one user; the first user's fill more than a page."""
    user_id = user["id"]
    key = (user_id,)
    short = user_id[-8:]
    canvases = 35 if index == 0 else 2
    recordings = 25 if index == 0 else 1
    data.put(
        "user_automations",
        key,
        [
            {
                "id": f"auto_{short}_{n}",
                "title": "Weekly digest",
                "schedule": "RRULE:FREQ=WEEKLY;BYDAY=MO",
                "is_enabled": True,
                "prompt": PROMPT_TEXT,
            }
            for n in range(2)
        ],
    )
    data.put("user_canvases", key, [{"id": f"textdoc_{short}_{n:03d}"} for n in range(canvases)])
    data.put(
        "user_recordings",
        key,
        [
            {
                "id": f"rec_{short}_{n:03d}",
                "start": round(now - 3600 * (n + 2), 3),
                "end": round(now - 3600 * (n + 1), 3),
                "conversation_id": f"conv_{short}_{n}",
                "canvas_id": None,
            }
            for n in range(recordings)
        ],
    )
    data.put(
        "user_library_files",
        key,
        [
            {
                "object": "compliance.workspace.user.library_file",
                "id": f"lib_{short}_{n}",
                "file_id": f"file-lib{short}{n}",
                "name": f"notes-{n}.md",
                "user_id": user_id,
                "created_at": round(now - 86400, 3),
                "mime_type": "text/markdown",
                "file_size_bytes": 1024 * (n + 1),
                "state": "ready",
                "trashed_at": None,
                "expires_at": None,
                "is_project": False,
            }
            for n in range(2)
        ],
    )
    data.put(
        "user_pets",
        key,
        [
            {
                "object": "compliance.workspace.user.pet",
                "id": f"pet_{short}",
                "user_id": user_id,
                "name": "Biscuit",
                "description": None,
                "spritesheet_file_id": f"file-sprite{short}",
                "created_at": round(now - 86400 * 2, 3),
                "updated_at": round(now - 86400, 3),
            }
        ],
    )
    data.put(
        "user_shared_pets",
        key,
        [
            {
                "object": "compliance.workspace.user.shared_pet",
                "id": f"spet_{short}",
                "user_id": user_id,
                "source_pet_id": f"pet_{short}",
                "name": "Biscuit",
                "description": None,
                "spritesheet_file_id": f"file-sprite{short}",
                "created_at": round(now - 86400, 3),
                "updated_at": round(now - 3600, 3),
            }
        ],
    )
    data.put("user_memories", key, [_memory(user, now)])
    environment_id = f"rcenv_{short}"
    data.put(
        "user_remote_control_environments",
        key,
        [
            {
                "object": "compliance.workspace.user.remote_control.environment",
                "id": environment_id,
                "account_user_id": user_id,
                "name": f"{short}-laptop",
                "kind": "desktop",
                "app_server": {
                    "object": "compliance.workspace.user.remote_control.app_server",
                    "id": f"srv_{short}",
                    "environment_id": environment_id,
                    "name": "codex-app-server",
                    "os": "macos",
                    "os_version": "15.1",
                    "arch": "arm64",
                    "app_server_version": "0.40.0",
                    "originator": None,
                    "terminal": None,
                    "client_name": None,
                    "client_version": None,
                    "presence_cluster_full_name": "us-east",
                    "connection_status": "connected",
                    "connection_updated_at": _iso(now - 600),
                    "last_seen_at": _iso(now - 60),
                    "busy": False,
                },
            }
        ],
    )
    data.put(
        "user_remote_control_threads",
        (user_id, environment_id),
        [
            {
                "object": "compliance.workspace.user.remote_control.thread",
                "id": f"rct_{short}_{n}",
                "account_user_id": user_id,
                "environment_id": environment_id,
                "server_id": f"srv_{short}",
                "thread_id": f"thr_{short}_{n}",
                "title": "Refactor the billing module",
                "preview": None,
                "thread_created_at": _iso(now - 7200),
                "cwd": "/home/dev/billing",
                "cli_version": "0.40.0",
                "model_provider": "openai",
                "source": {"kind": "cli"},
                "path": None,
                "status": "idle",
                "active_turn_id": None,
                "thread_updated_at": _iso(now - 3600),
                "is_archived": False,
            }
            for n in range(1 + rng.randrange(2))
        ],
    )
    data.put(
        "user_remote_control_clients",
        key,
        [
            {
                "object": "compliance.workspace.user.remote_control.client",
                "id": f"rcc_{short}",
                "habitat_id": f"hab_{short}",
                "account_user_id": user_id,
                "display_name": "Phone",
                "device_type": "phone",
                "platform": "ios",
                "os_version": "18.1",
                "device_model": "iPhone",
                "app_version": "1.2025.300",
                "last_seen_at": _iso(now - 300),
                "last_seen_city": "Utrecht",
                "last_seen_region_code": "UT",
                "last_seen_country": "NL",
                "deleted_at": None,
                "device_key_id": f"key_{short}",
                "device_key_public_spki_der_base64": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
                "device_key_algorithm": "ES256",
                "device_key_protection_class": "secure_enclave",
            }
        ],
    )
