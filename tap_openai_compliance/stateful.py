"""The stateful tables as streams: each list endpoint read whole, at every sync, GET only.

A table's sync pages through its endpoint as the endpoint pages (``after``, ``cursor``),
until ``has_more`` is false; a child table (a GPT's configurations, a user's canvases) is an
SDK child stream, read once per row of its parent. Every record carries the sync's version,
and once a table has been read whole (its children under every parent too) the tap sends
``ACTIVATE_VERSION``: a target that supports it (MeltanoLabs target-postgres) then marks the
rows the sync did not see as deleted (``_sdc_deleted_at``), or removes them (``hard_delete``).
A table not read whole (refused, stopped for time, failed) gets no ``ACTIVATE_VERSION``, so a
failure never makes rows look deleted.

Calls go to the API host only, with the key, as GET: the same endpoints take DELETE and POST
(spot deletion), which this tap never sends. Each endpoint keeps its own documented pace.
"""

from __future__ import annotations

import logging
import sys
import typing as t
from http import HTTPStatus
from importlib import resources
from urllib.parse import quote

import orjson
from singer_sdk import metrics
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_openai_compliance.client import (
    AccessDeniedError,
    ComplianceAPIError,
    ComplianceAPIStream,
    RetryPolicy,
    check_api_response,
)
from tap_openai_compliance.errors import EXPECTED_STOPS, ComplianceTapError
from tap_openai_compliance.pacing import Pacer
from tap_openai_compliance.pages import once_per_response, read_page
from tap_openai_compliance.records import UNKNOWN_FIELDS, without_nul
from tap_openai_compliance.run import AccessCheck
from tap_openai_compliance.tables import (
    EMIT_ACTIVATE_VERSION,
    KEEP_DOWNLOAD_URLS,
    STATEFUL_SCOPE,
    STATEFUL_TABLES,
    TABLES,
    Paging,
    Table,
    selected_tables,
)
from tap_openai_compliance.wording import (
    ADMIN_KEYS,
    Masker,
    http_status,
    shown,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from types import TracebackType

    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers._batch import BatchConfig
    from singer_sdk.helpers.types import Context

    from tap_openai_compliance.run import Run

P = t.ParamSpec("P")
R = t.TypeVar("R")

# A page of 200 users takes about 40 KB, of 30 GPT configurations with their instructions a
# few MB: an answer far larger is no page, and is not read into memory.
MAX_PAGE_BYTES = 64 * 2**20
MAX_ID_LENGTH = 256
# Every signed file link of the stateful API is a ``download_url`` (GPT and project files).
DOWNLOAD_URL = "download_url"


class MalformedPageError(ComplianceTapError):
    """A page the tap cannot follow: no ``has_more``, an entry without an id, a stuck cursor."""


class ParentGoneError(ComplianceTapError):
    """HTTP 404 under a parent row listed moments ago: the GPT, project or user is gone."""


def table_schema(table: Table, *, download_urls: bool = False) -> dict[str, t.Any]:
    """A fresh schema of ``table``: the reference's object, its parents' ids, unknown fields,
    and the files' ``download_url`` only where records keep it."""
    text = resources.files("tap_openai_compliance.schemas").joinpath(f"stateful/{table.name}.json")
    schema: dict[str, t.Any] = orjson.loads(text.read_bytes())
    if not download_urls:
        drop_download_urls(schema)
    for name in table.keys[:-1]:
        schema["properties"].setdefault(
            name,
            {
                "description": f"The id of the {name.removesuffix('_id')} this row was read under.",
                "type": ["string"],
            },
        )
    schema["properties"][UNKNOWN_FIELDS] = {
        "type": ["object", "null"],
        "additionalProperties": True,
        "description": (
            "The row's top-level fields that this schema does not declare (yet), unchanged: "
            "the record holds each of them here only."
        ),
    }
    return schema


def child_key(table: Table) -> str | None:
    """The field a row of ``table`` gives its children's records (user_id, gpt_id...)."""
    keys = {child.parent_key for child in TABLES.values() if child.parent == table.name}
    return keys.pop() if keys else None


@once_per_response
def page_of(
    response: requests.Response, subject: str, mask: Masker, *, replace_nul: bool = True
) -> dict[str, t.Any]:
    """The page's JSON object, read no further than a page can be; checked to be followed.

    A body that is no JSON object with a ``data`` list (a proxy's error page, a cut body) is
    worth another try; a page that is JSON but cannot be followed stops the sync plainly.
    With ``replace_nul``, U+0000 in the rows' text becomes U+FFFD (see
    replace_nul_characters): PostgreSQL cannot store it in text or jsonb.
    """
    body, raw = read_page(
        response,
        MAX_PAGE_BYTES,
        named="the answer",
        oversize=f"the answer is larger than {MAX_PAGE_BYTES // 2**20} MiB, far more than a page",
        mask=mask,
    )
    if not isinstance(body.get("has_more"), bool):
        # Rows the tap does not see would be marked deleted: it must know the list is whole.
        raise malformed_page(subject, f"has_more is {shown(body.get('has_more'))}", mask)
    for item in body["data"]:
        if not isinstance(item, dict):
            raise malformed_page(subject, f"an entry is {shown(item)}, not an object", mask)
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise malformed_page(subject, f"an entry's id is {shown(item_id)}", mask)
    if replace_nul and b"\\u0000" in raw:
        # JSON can only hold U+0000 escaped: pages without the escape skip the walk.
        body["data"] = [without_nul(row) for row in body["data"]]
    return body


def malformed_page(subject: str, problem: str, mask: Masker) -> MalformedPageError:
    """The one error for a page the tap cannot follow; ``problem`` may quote the server."""
    msg = (
        f"{subject} failed: the page cannot be followed ({mask(problem)}), so the tap cannot "
        "tell that it read the whole list. Rows read so far were sent, none was marked "
        "deleted; report the answer to OpenAI support."
    )
    return MalformedPageError(msg)


def path_segment(value: str, subject: str, mask: Masker) -> str:
    """An id from the API as one segment of a path, or a plain error if it cannot be one."""
    if value in (".", "..") or len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise malformed_page(subject, f"a parent's id is {shown(value)}", mask)
    return quote(value, safe="")


class StatefulPaginator(BaseAPIPaginator[str | None]):
    """Follows an endpoint's own paging to ``has_more`` false; a repeated token stops it."""

    def __init__(self, stream: StatefulStream) -> None:
        super().__init__(None)
        self._stream = stream
        self._seen: set[str] = set()

    @override
    def has_more(self, response: requests.Response) -> bool:
        stream = self._stream
        more = bool(stream.page(response)["has_more"])
        if more and stream.out_of_time():
            return False
        return more

    @override
    def get_next(self, response: requests.Response) -> str | None:
        stream = self._stream
        page = stream.page(response)
        paging = stream.table.paging
        if paging is Paging.CURSOR:
            token = page.get("cursor")
        elif paging is Paging.ONE_PAGE:
            token = None
        else:
            # The API names the last row; the endpoints that do not have it last on the page.
            token = page.get("last_id") or (page["data"][-1]["id"] if page["data"] else None)
        if not isinstance(token, str) or not token or token in self._seen:
            problem = (
                "the API says more rows follow but takes no paging parameter here"
                if paging is Paging.ONE_PAGE
                else f"the next page's {paging.parameter} would be {shown(token)}, "
                "which does not advance"
            )
            raise malformed_page(stream.subject, problem, stream.masker)
        self._seen.add(token)
        return token

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        # An empty page that says more follow is followed; has_more ends the loop.
        return True


class StatefulStream(ComplianceAPIStream[str | None]):
    """One stateful table: its endpoint read whole, as GET, at the pace it allows."""

    table: t.ClassVar[Table]
    # Rows are parsed JSON already: conforming would only cost time, and could alter values.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    # The key must never follow a redirect to another host.
    allow_redirects = False

    def __init__(
        self,
        tap: Tap,
        *,
        named: bool,
        pacer: Pacer,
        run: Run,
        version: int | None,
    ) -> None:
        super().__init__(
            tap,
            name=self.table.name,
            schema=table_schema(self.table, download_urls=bool(tap.config.get(KEEP_DOWNLOAD_URLS))),
            path=f"/workspaces/{{workspace_id}}/{self.table.path}",
            # Read only, always: these paths also take DELETE and POST (spot deletion).
            http_method="GET",
        )
        self.primary_keys = list(self.table.keys)
        if self.table.parent:
            # One state entry for the table, not one per parent row.
            self.state_partitioning_keys = ()
        # Named in stateful_tables: a table the key may not read stops the run.
        self.named = named
        self.masker = Masker(api_key=str(self.config.get("api_key") or ""))
        self._pacer = pacer
        self._run = run
        self._version = version
        self._declared = frozenset(self.schema["properties"])
        self._keep_download_urls = bool(self.config.get(KEEP_DOWNLOAD_URLS))
        self._replace_nul = bool(self.config.get("replace_nul_characters", True))
        self._child_key = child_key(self.table)
        self._schema_written = False
        # A child table's meters count over all its parent rows (see RunningCounter).
        self._counters: dict[str, RunningCounter] = {}
        # Read whole this sync: False once refused, stopped for time, or cut short.
        self.complete = True
        self.skipped = False
        self._retry = RetryPolicy(
            max_tries=int(self.config["max_tries"]),
            initial_wait=float(self.config["retry_initial_wait"]),
            max_retry_after=float(self.config["max_retry_after"]),
            timeouts=self.timeout,
            logger=self.logger,
        )
        self._write_version_on_records(version)

    # -- the shape of a sync --------------------------------------------------------------

    @property
    def subject(self) -> str:
        """What the current call is for, in messages: the table, and its parent row."""
        context = self.context or {}
        parent_key = self.table.parent_key
        if parent_key and parent_key in context:
            return (
                f"Listing {self.name} of {parent_key.removesuffix('_id')} "
                f"{self.masker(str(context[parent_key]))}"
            )
        return f"Listing {self.name}"

    def page(self, response: requests.Response) -> dict[str, t.Any]:
        """The page ``response`` holds, checked (see ``page_of``)."""
        return page_of(response, self.subject, self.masker, replace_nul=self._replace_nul)

    def out_of_time(self) -> bool:
        """Whether the run's time is up: then this table is not read whole."""
        if self._run.out_of_time():
            if self.complete:
                self.complete = False
                self.logger.warning(
                    "%s: stopped for max_run_minutes before the whole list was read. The "
                    "rows read were sent; none is marked deleted this run.",
                    self.name,
                )
            return True
        return False

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        if self.skipped or self.out_of_time():
            return
        try:
            yield from self.request_records(context)
        except AccessDeniedError as refused:
            self._not_readable(refused)
            return
        except ParentGoneError:
            # Listed moments ago, gone now: it has no rows here any more.
            self.logger.debug("%s: the parent row is gone (HTTP 404)", self.subject)
            return
        if self.parent_stream_type is None:
            self._activate_versions()
            for stream in self.descendent_streams:
                if isinstance(stream, StatefulStream):
                    stream.close_counters()

    def preflight(self) -> AccessCheck:
        """Whether this table can be read, in one call (a table read under another: none)."""
        try:
            first = next(iter(self.request_records(None)), None)
        except AccessDeniedError as refused:
            detail = f"{refused.answer}: grant {STATEFUL_SCOPE}"
            return AccessCheck(self.name, "stateful", False, detail, named=self.named)
        except ComplianceTapError as exc:
            return AccessCheck(self.name, "stateful", False, str(exc), failed=True)
        detail = "a row read" if first is not None else "no rows"
        return AccessCheck(self.name, "stateful", True, detail, named=self.named)

    def _not_readable(self, refused: AccessDeniedError) -> None:
        """A table the key may not read: the run stops if it was named, else it goes on."""
        self.skipped = True
        self.complete = False
        message = (
            f"The API key may not read the {self.name} table ({refused.answer}). Grant the "
            f"Admin API key the scope {STATEFUL_SCOPE} in {ADMIN_KEYS}"
        )
        if self.named:
            msg = f"{message}, or remove {self.name} from {STATEFUL_TABLES}."
            raise ComplianceTapError(msg) from None
        self.logger.warning(
            "%s. Skipped, and nothing of it is marked deleted: name the tables to sync in "
            "%s ([] for none) to stop this warning.",
            message,
            STATEFUL_TABLES,
        )
        self._run.skip(self.name, "the API key may not read it")

    def _activate_versions(self) -> None:
        """Tell the target which rows are current: of this table and every table under it.

        Sent once a table was read whole, under every parent row: the target then marks the
        rows of earlier versions deleted. Nothing is sent for a table not read whole, nor for
        the tables under it (they were read under part of its rows only).
        """
        if self._version is None or not self.complete:
            return
        if self.selected:
            self._send_activate_version()
        for child in self.child_streams:
            if isinstance(child, StatefulStream):
                child._activate_versions()

    @override
    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any]:
        """The row as the API sent it, with its parents' ids, signed links left out."""
        for key in self.table.keys[:-1]:
            if row.get(key) is None and context:
                row[key] = context[key]
        if not self._declared.issuperset(row):
            unknown = [name for name in row if name not in self._declared]
            row[UNKNOWN_FIELDS] = {name: row.pop(name) for name in unknown}
        if not self._keep_download_urls:
            drop_download_urls(row)
        self._run.rows[self.name] += 1
        return row

    @override
    def get_child_context(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Context | None:
        if self._child_key is None:
            return None
        return {**(context or {}), self._child_key: record["id"]}

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context | None]:
        # A table without child tables synced skips the SDK's per-record copy of each record.
        if not self.child_streams:
            return ()
        return (self.get_child_context(record, context),)

    @override
    def get_batch_config(self, config: t.Mapping[str, t.Any]) -> BatchConfig | None:
        # RECORD messages always: they carry the version that captures deletes, which a
        # BATCH load leaves out, and these tables are small next to the logs.
        return None

    # -- SDK hooks: metrics -----------------------------------------------------------------

    @override
    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = metrics.DEFAULT_LOG_INTERVAL
    ) -> metrics.Counter:
        if self.parent_stream_type is None:
            return super().get_record_counter(endpoint=endpoint, log_interval=log_interval)
        return self._running_counter(metrics.Metric.RECORD_COUNT, log_interval)

    @override
    def get_http_request_counter(self) -> metrics.Counter:
        if self.parent_stream_type is None:
            return super().get_http_request_counter()
        return self._running_counter(metrics.Metric.HTTP_REQUEST_COUNT)

    @override
    def get_sync_timer(self) -> metrics.Timer:
        # A child table is synced within its parent's sync, whose timer covers it.
        if self.parent_stream_type is None:
            return super().get_sync_timer()
        return QuietTimer(metrics.Metric.SYNC_DURATION, {metrics.Tag.STREAM: self.name})

    def _running_counter(
        self, metric: metrics.Metric, log_interval: float = metrics.DEFAULT_LOG_INTERVAL
    ) -> RunningCounter:
        """This child table's counter of ``metric``, the same for every parent row."""
        if (counter := self._counters.get(metric.value)) is None:
            tags = {metrics.Tag.STREAM: self.name}
            counter = self._counters[metric.value] = RunningCounter(metric, tags, log_interval)
        return counter

    def close_counters(self) -> None:
        """Log this child table's counts over every parent row."""
        for counter in self._counters.values():
            counter.close()
        self._counters.clear()

    # -- SDK hooks: calling the API, and paging ------------------------------------------

    @override
    def get_url(self, context: Context | None) -> str:
        """The endpoint under this workspace (and parent rows), each id one path segment."""
        values = {"workspace_id": str(self.config["workspace_id"]), **(context or {})}
        path = self.table.path
        for name, value in values.items():
            path = path.replace(f"{{{name}}}", path_segment(str(value), self.subject, self.masker))
        workspace = path_segment(values["workspace_id"], self.subject, self.masker)
        return f"{self.url_base}/workspaces/{workspace}/{path}"

    @override
    def request_decorator(self, func: Callable[P, R]) -> Callable[P, R]:
        return self._retry.wrap(func, lambda *_: self.subject, self._pacer.wait_turn)

    @override
    def validate_response(self, response: requests.Response) -> None:
        self._pacer.observe(response)
        status = response.status_code
        if self.table.parent and status == HTTPStatus.NOT_FOUND:
            raise ParentGoneError(self.subject)
        if status in (HTTPStatus.BAD_REQUEST, HTTPStatus.UNPROCESSABLE_ENTITY):
            # The log feeds' hints (event_types, dates) do not apply: the tap sent only
            # the paging the reference documents.
            msg = (
                f"{self.subject} failed: {http_status(response, self.masker)}. The API refused "
                "a page request the reference documents; nothing was marked deleted. Report "
                "it with this line."
            )
            raise ComplianceAPIError(msg)
        check_api_response(response, self.subject, self.masker)
        self.page(response)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        yield from self.page(response)["data"]

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, t.Any]:
        params: dict[str, t.Any] = dict(self.table.params)
        if self.table.page_size:
            params["limit"] = self.table.page_size
        if next_page_token is not None and self.table.paging.parameter:
            params[self.table.paging.parameter] = next_page_token
        return params

    @override
    def get_new_paginator(self) -> StatefulPaginator:
        return StatefulPaginator(self)

    # -- SDK seams: private hooks, each checked by tests/test_sdk_seams.py ------------------

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        # The SDK announces every failed sync at ERROR; the tap's one-line message says it
        # all (tap.py). A child table's sync starts once per parent row: said at DEBUG.
        expected_stop = level >= logging.ERROR and isinstance(sys.exc_info()[1], EXPECTED_STOPS)
        per_parent = self.parent_stream_type is not None and message.startswith("Beginning")
        super().log(
            message, *args, level=logging.DEBUG if expected_stop or per_parent else level, **kwargs
        )

    def _write_version_on_records(self, version: int | None) -> None:
        """Every RECORD of this sync carries ``version``.

        The SDK puts ``_stream_version`` on each RECORD message, but sets it only where it
        also sends ACTIVATE_VERSION at the start of a sync (once per parent row for a child
        table): then the target would mark every row deleted before the sync re-reads it,
        and leave them so if the sync failed. This tap sends it at the end instead.
        """
        self._stream_version = version

    @override
    @property
    def emit_activate_version_messages(self) -> bool:
        # Sent by _activate_versions, once the table was read whole (not by the SDK).
        return False

    def _send_activate_version(self) -> None:
        """ACTIVATE_VERSION for this table (after its SCHEMA, if no row was synced yet)."""
        assert self._version is not None
        self._write_schema_message()
        self._write_activate_version_message(self._version)

    @override
    def _write_schema_message(self) -> None:
        """Once a sync: the SDK writes SCHEMA at every sync of a child table, once per parent
        row, and an unchanged SCHEMA tells the target nothing."""
        if not self._schema_written:
            self._schema_written = True
            super()._write_schema_message()


class RunningCounter(metrics.Counter):
    """A child table's count over all its parent rows: a line a minute and one at the end.

    The SDK counts per sync, and a child table is synced once per parent row: 10,000 users
    would make 10,000 lines of each meter.
    """

    @override
    def __enter__(self) -> t.Self:
        return self

    @override
    def exit(self) -> None:
        """Go on counting: the next parent row's sync adds to the same count."""

    @override
    def with_context(self, value: Context | None) -> None:
        """No parent row's context: the count is of them all."""

    def close(self) -> None:
        """Log the count."""
        super().exit()


class QuietTimer(metrics.Timer):
    """A timer that logs nothing: a child table's sync is timed within its parent's."""

    @override
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        """Nothing to log."""


def drop_download_urls(value: t.Any) -> None:
    """Remove every ``download_url`` in ``value``, at any depth: each is a credential."""
    if isinstance(value, dict):
        value.pop(DOWNLOAD_URL, None)
        for item in value.values():
            if isinstance(item, dict | list):
                drop_download_urls(item)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                drop_download_urls(item)


# -- one stream class per table: the SDK links a child to its parent by the parent's class --


class UsersStream(StatefulStream):
    """The workspace's users."""

    table = TABLES["users"]


class GPTsStream(StatefulStream):
    """The workspace's live GPTs."""

    table = TABLES["gpts"]


class GPTConfigsStream(StatefulStream):
    """Every version of each GPT's configuration."""

    table = TABLES["gpt_configs"]
    parent_stream_type = GPTsStream


class GPTSharedUsersStream(StatefulStream):
    """The users each GPT is directly shared with."""

    table = TABLES["gpt_shared_users"]
    parent_stream_type = GPTsStream


class ProjectsStream(StatefulStream):
    """The workspace's live projects."""

    table = TABLES["projects"]


class ProjectConfigsStream(StatefulStream):
    """Every version of each project's configuration."""

    table = TABLES["project_configs"]
    parent_stream_type = ProjectsStream


class ProjectSharedUsersStream(StatefulStream):
    """The users each project is directly shared with."""

    table = TABLES["project_shared_users"]
    parent_stream_type = ProjectsStream


class WorkspaceAgentsStream(StatefulStream):
    """The workspace's agents."""

    table = TABLES["workspace_agents"]


class CodexTasksStream(StatefulStream):
    """The workspace's Codex tasks."""

    table = TABLES["codex_tasks"]


class CodexEnvironmentsStream(StatefulStream):
    """The workspace's Codex environments."""

    table = TABLES["codex_environments"]


class WorkspacePluginsStream(StatefulStream):
    """The workspace's live plugins."""

    table = TABLES["workspace_plugins"]


class WorkspaceMemoriesStream(StatefulStream):
    """Every user's memories, listed for the workspace."""

    table = TABLES["workspace_memories"]


class UserAutomationsStream(StatefulStream):
    """Each user's scheduled tasks."""

    table = TABLES["user_automations"]
    parent_stream_type = UsersStream


class UserCanvasesStream(StatefulStream):
    """Each user's canvases."""

    table = TABLES["user_canvases"]
    parent_stream_type = UsersStream


class UserRecordingsStream(StatefulStream):
    """Each user's recordings."""

    table = TABLES["user_recordings"]
    parent_stream_type = UsersStream


class UserLibraryFilesStream(StatefulStream):
    """The files in each user's Library."""

    table = TABLES["user_library_files"]
    parent_stream_type = UsersStream


class UserPetsStream(StatefulStream):
    """Each user's custom pets."""

    table = TABLES["user_pets"]
    parent_stream_type = UsersStream


class UserSharedPetsStream(StatefulStream):
    """The pets each user shared with the workspace."""

    table = TABLES["user_shared_pets"]
    parent_stream_type = UsersStream


class UserMemoriesStream(StatefulStream):
    """Each user's memories, read under the user."""

    table = TABLES["user_memories"]
    parent_stream_type = UsersStream


class UserRemoteControlEnvironmentsStream(StatefulStream):
    """The machines each user's Codex can be remote-controlled on."""

    table = TABLES["user_remote_control_environments"]
    parent_stream_type = UsersStream


class UserRemoteControlThreadsStream(StatefulStream):
    """The Codex threads of each remote-control environment."""

    table = TABLES["user_remote_control_threads"]
    parent_stream_type = UserRemoteControlEnvironmentsStream


class UserRemoteControlClientsStream(StatefulStream):
    """The devices each user remote-controls Codex from."""

    table = TABLES["user_remote_control_clients"]
    parent_stream_type = UsersStream


STREAM_TYPES: dict[str, type[StatefulStream]] = {
    stream_type.table.name: stream_type
    for stream_type in (
        UsersStream,
        GPTsStream,
        GPTConfigsStream,
        GPTSharedUsersStream,
        ProjectsStream,
        ProjectConfigsStream,
        ProjectSharedUsersStream,
        WorkspaceAgentsStream,
        CodexTasksStream,
        CodexEnvironmentsStream,
        WorkspacePluginsStream,
        WorkspaceMemoriesStream,
        UserAutomationsStream,
        UserCanvasesStream,
        UserRecordingsStream,
        UserLibraryFilesStream,
        UserPetsStream,
        UserSharedPetsStream,
        UserMemoriesStream,
        UserRemoteControlEnvironmentsStream,
        UserRemoteControlThreadsStream,
        UserRemoteControlClientsStream,
    )
}


def stateful_streams(tap: Tap, shared_cap: Pacer | None, run: Run) -> list[StatefulStream]:
    """The stateful tables the settings ask for (see ``tables.selected_tables``).

    Each endpoint has a pace of its own, at its documented limit where it has one, under
    the cap every call of the run shares (``max_calls_per_minute``). The sync's version is
    the run's start in milliseconds: each later sync's is greater.
    """
    config = tap.config
    named = config.get(STATEFUL_TABLES) is not None
    version = tap.initialized_at if config.get(EMIT_ACTIVATE_VERSION, True) else None
    max_pause = float(config["max_retry_after"])
    return [
        STREAM_TYPES[table.name](
            tap,
            named=named,
            pacer=Pacer(
                max_pause=max_pause,
                budget_per_minute=table.calls_per_minute,
                shared_cap=shared_cap,
            ),
            run=run,
            version=version,
        )
        for table in selected_tables(config)
    ]
