"""One stream per event type: list its log files, download each, emit its events.

Each completed file also gets its ``log_files`` row; lines that cannot be loaded go, when the
user asks for it, to ``rejected_lines``.
"""

from __future__ import annotations

import datetime
import functools
import threading
import typing as t
from urllib.parse import quote, urljoin

import requests
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_openai_compliance.client import (
    ComplianceAPIError,
    ComplianceStream,
    quote_body,
    request_path,
    signed_url_secrets,
)
from tap_openai_compliance.download import (
    DownloadCancelledError,
    download_directory,
    download_in_order,
    save_verified,
)
from tap_openai_compliance.event_types import scope_of, stream_name
from tap_openai_compliance.listing import (
    FileCursor,
    ListingPage,
    LogFile,
    LogFilePaginator,
    format_timestamp,
    parse_timestamp,
)
from tap_openai_compliance.output import MessageWriter
from tap_openai_compliance.parsing import Line, MalformedLineError, read_lines
from tap_openai_compliance.progress import Progress
from tap_openai_compliance.schemas import event_schema
from tap_openai_compliance.settings import RETENTION
from tap_openai_compliance.side_streams import LOG_FILES, REJECTED_LINES, SideStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_openai_compliance.throttle import ApiThrottle

LOG_FILE_ID = "_sdc_log_file_id"
LOG_FILE_END_TIME = "_sdc_log_file_end_time"
UNKNOWN_FIELDS = "_sdc_unknown_fields"
DONE_AT_BOOKMARK = "log_files_at_bookmark"
# The default start_date is exactly the retention ago: only a start well before it is worth a word.
RETENTION_MARGIN = datetime.timedelta(days=1)
# Records between two looks at the clock for a progress line, inside a large file.
PROGRESS_CHECK_EVERY = 10_000
ON_MALFORMED_LINE = "on_malformed_line"
FAIL, REJECT = "fail", "reject"

LOG_FILE_PROPERTIES: dict[str, t.Any] = {
    LOG_FILE_ID: {"type": ["string"], "description": "Id of the log file the event came from."},
    LOG_FILE_END_TIME: {
        "type": ["string"],
        "format": "date-time",
        "description": "end_time of the log file the event came from (the bookmark).",
    },
    UNKNOWN_FIELDS: {
        "type": ["object", "null"],
        "additionalProperties": True,
        "description": (
            "Top-level fields of the event that this schema does not declare yet, so that "
            "targets which only create declared columns keep them."
        ),
    },
}


class LogEventsStream(ComplianceStream):
    """The events of one event type, read file by file in the listing's order."""

    primary_keys: t.ClassVar[list[str]] = ["event_id"]
    replication_key = LOG_FILE_END_TIME
    is_sorted = True
    # Records are parsed JSON already: conforming would only cost time, and could alter values.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, event_type: str, throttle: ApiThrottle) -> None:
        self.event_type = event_type
        self.scope = scope_of(event_type)
        schema = event_schema(event_type)
        self._declared_fields = frozenset(schema["properties"])
        schema["properties"].update(LOG_FILE_PROPERTIES)
        # Discovery runs without settings too; a sync always has the id (settings check it).
        principal_id = tap.config.get(self.scope.id_setting) or f"{{{self.scope.id_setting}}}"
        super().__init__(
            tap,
            name=stream_name(event_type),
            schema=schema,
            path=f"/{self.scope.value}/{principal_id}/logs",
            throttle=throttle,
        )
        # Signed links are fetched with a session of their own, which never holds the key.
        self._storage = requests.Session()

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context | None]:
        # No child streams: skip the SDK's per-record copy of each record made for them.
        return ()

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: Context | None = None
    ) -> None:
        """Nothing per record: the bookmark moves once a file is complete (``_save_bookmark``)."""

    @override
    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        """Write a record's RECORD messages, skipping what the SDK does that these need not.

        The SDK walks each record against the selection mask to drop deselected properties
        (about half a record's time even when every field is selected), and builds a message
        object per record only to turn it back into a dict. Records need no conforming either
        (TYPE_CONFORMANCE_LEVEL is NONE). So when nothing is deselected, each record goes
        through the stream maps (aliases, hashing, flattening) straight to the writer;
        otherwise the SDK's own path runs.
        """
        if self._write_directly is None:
            super()._write_record_message(record)
        else:
            self._write_directly(record)

    @functools.cached_property
    def _write_directly(self) -> t.Callable[[dict[str, t.Any]], None] | None:
        """The lean way to write a record, or None when the SDK's path is needed.

        Decided once, at the first record, when the catalog is applied: with every field
        selected and the tap's own writer. The state stays "flushed" here, as nothing in it
        moves per record: the bookmark is written by ``_save_bookmark``.
        """
        writer = self._tap.message_writer
        if not (all(self.mask.values()) and isinstance(writer, MessageWriter)):
            return None
        maps = [(stream_map.transform, stream_map.stream_alias) for stream_map in self.stream_maps]
        write_record = writer.write_record
        now = datetime.datetime.now
        utc = datetime.timezone.utc

        def write(record: dict[str, t.Any]) -> None:
            time_extracted = now(utc)
            for transform, alias in maps:
                mapped = transform(record)
                if mapped is not None:
                    write_record(alias, mapped, time_extracted)

        return write

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: ListingPage | None
    ) -> dict[str, t.Any]:
        assert next_page_token is not None
        return {
            "event_type": self.event_type,
            "after": next_page_token.after,
            "limit": next_page_token.limit,
        }

    @override
    def get_new_paginator(self) -> LogFilePaginator:
        start = ListingPage(self._resume_point().listing_after(), int(self.config["page_size"]))
        return LogFilePaginator(start, self.event_type)

    @override
    def validate_response(self, response: requests.Response) -> None:
        super().validate_response(response)
        if not _is_listing(response):
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            # A proxy's error page or a cut body, most likely: worth another try.
            quoted = quote_body(response, [self.api_key])
            msg = f"the listing is not a JSON object with a 'data' list: {quoted}"
            raise RetriableAPIError(msg, response)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        yield from response.json()["data"]

    @override
    @property
    def request_subject(self) -> str:
        return f"Listing {self.event_type} log files"

    @override
    def describe_request(self, response: requests.Response) -> str:
        if _is_listing(response):
            return self.request_subject
        return self._download_subject(request_path(response).rsplit("/", 1)[-1])

    def _download_subject(self, file_id: str) -> str:
        """What downloading one file is, in messages."""
        return f"Downloading {self.event_type} log file {file_id}"

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        done = self._resume_point()
        self._warn_if_past_retention(done)
        stopping = threading.Event()
        progress = Progress(self.logger, self.name, float(self.config["progress_interval"]))

        def wait_unless_stopping(seconds: float) -> None:
            if stopping.wait(seconds):
                raise DownloadCancelledError

        def download(log_file: LogFile) -> Path:
            fetch = self.with_retries(
                self._download_once, self._download_subject(log_file.id), wait_unless_stopping
            )
            return fetch(log_file, directory, stopping)

        with download_directory() as directory:
            files = download_in_order(
                self._new_files(context, progress),
                download,
                int(self.config["max_concurrent_downloads"]),
                stopping,
            )
            for log_file, path in files:
                # The file was written once, verified, and not touched since.
                saved = path.stat()
                fetched_at = datetime.datetime.fromtimestamp(saved.st_mtime, datetime.timezone.utc)
                records_before = progress.records
                record_count = 0
                for record_count, record in enumerate(self._events_of(log_file, path), start=1):
                    yield record
                    if record_count % PROGRESS_CHECK_EVERY == 0:
                        progress.records = records_before + record_count
                        progress.log_if_due()
                progress.records = records_before + record_count
                self._write_log_file_row(log_file, record_count, fetched_at)
                done.advance(log_file)
                self._save_bookmark(done)
                progress.file_done(log_file, saved.st_size)
        progress.log(prefix="Finished ")

    def _warn_if_past_retention(self, start: FileCursor) -> None:
        """Say so when a sync starts further back than the API keeps log files."""
        now = datetime.datetime.now(datetime.timezone.utc)
        if start.end_time >= now - RETENTION - RETENTION_MARGIN:
            return
        self.logger.warning(
            "%s starts from %s, more than %d days ago, but the API keeps log files for about "
            "%d days: events of files that expired before this sync are gone. Sync more often "
            "than that to keep the audit trail complete.",
            self.name,
            format_timestamp(start.end_time),
            RETENTION.days,
            RETENTION.days,
        )

    def _resume_point(self) -> FileCursor:
        """Where the last completed sync, or else ``start_date``, left off."""
        state = self.stream_state
        if bookmark := state.get("replication_key_value"):
            return FileCursor(parse_timestamp(bookmark), set(state.get(DONE_AT_BOOKMARK, [])))
        return FileCursor(parse_timestamp(self.config["start_date"]))

    def _new_files(self, context: Context | None, progress: Progress) -> Iterator[LogFile]:
        """The listed files not yet synced, each once, up to ``end_date``."""
        listed = self._resume_point()
        end_date = self.config.get("end_date")
        last = parse_timestamp(end_date) if end_date else None
        for item in self.request_records(context):
            log_file = self._log_file(item)
            if last is not None and log_file.end_time > last:
                return
            if listed.covers(log_file):
                continue
            listed.advance(log_file)
            progress.file_listed()
            yield log_file

    def _log_file(self, item: t.Any) -> LogFile:
        """A listing entry as a LogFile, or an error saying the listing is malformed."""
        try:
            return LogFile.from_listing(item)
        except (KeyError, TypeError, ValueError, AttributeError):
            msg = (
                f"{self.request_subject} failed: an entry lacks a valid id or end_time, so "
                "the tap cannot tell which files it covers. Report the listing to OpenAI "
                "support."
            )
            raise ComplianceAPIError(msg) from None

    def _download_once(self, log_file: LogFile, directory: Path, stopping: threading.Event) -> Path:
        """One try at a file: a fresh signed link from the API, then the body from storage."""
        return save_verified(self._open_body(log_file), log_file, directory, stopping)

    def _open_body(self, log_file: LogFile) -> requests.Response:
        """The response whose body is the file; the API key never leaves for the storage host."""
        request = self.build_prepared_request(
            method="GET",
            url=f"{self.get_url(None)}/{quote(log_file.id, safe='')}",
            headers=self.http_headers,
        )
        with self.throttle.slot():
            response = self.requests_session.send(
                request, timeout=self.timeout, allow_redirects=False, stream=True
            )
            if not response.is_redirect:
                try:
                    self.validate_response(response)
                except BaseException:
                    response.close()
                    raise
        if not response.is_redirect:
            return response
        link = urljoin(response.url, response.headers["Location"])
        response.close()
        # The storage session holds no key, so following the storage host's redirects is safe.
        storage = self._storage.get(link, timeout=self.timeout, stream=True)
        self._validate_storage_response(storage, log_file, link)
        return storage

    def _validate_storage_response(
        self, response: requests.Response, log_file: LogFile, link: str
    ) -> None:
        """Retry what a fresh link or a later try can fix; fail on the rest."""
        status = response.status_code
        if status < requests.codes.multiple_choices:
            return
        answer = self.status_text(response, signed_url_secrets(link))
        response.close()
        if status in {requests.codes.forbidden, requests.codes.too_many_requests} or status >= 500:
            # A 403 from storage is an expired signed link: the retry asks the API for a new one.
            raise RetriableAPIError(f"the storage host answered {answer}", response)
        msg = f"{self._download_subject(log_file.id)} failed: the storage host answered {answer}"
        raise ComplianceAPIError(msg)

    def _events_of(self, log_file: LogFile, path: Path) -> Iterator[dict[str, t.Any]]:
        """The file's events as records, each naming the file it came from."""
        end_time = format_timestamp(log_file.end_time)
        declared = self._declared_fields
        for line in read_lines(path):
            problem = line.problem or _missing_key(line.events)
            if problem is not None:
                self._set_aside(log_file, line, problem)
                continue
            for event in line.events:
                if not declared.issuperset(event):
                    event[UNKNOWN_FIELDS] = {k: v for k, v in event.items() if k not in declared}
                event[LOG_FILE_ID] = log_file.id
                event[LOG_FILE_END_TIME] = end_time
                yield event

    def _set_aside(self, log_file: LogFile, line: Line, problem: str) -> None:
        """Send a line that cannot be loaded to ``rejected_lines``, or stop the sync there."""
        mode = self.config.get(ON_MALFORMED_LINE) or FAIL
        rejects = self._side_stream(REJECTED_LINES)
        if mode == REJECT and rejects is not None:
            rejects.write(
                {
                    "log_file_id": log_file.id,
                    "line_number": line.number,
                    "event_type": self.event_type,
                    "log_file_end_time": format_timestamp(log_file.end_time),
                    "raw_line": line.text(),
                    "error": problem,
                }
            )
            return
        if mode == REJECT:
            advice = (
                f"{ON_MALFORMED_LINE} is '{REJECT}' but the {REJECTED_LINES} stream is not "
                "selected, and a line is never dropped in silence: select it"
            )
        else:
            advice = (
                f"The sync stopped before this {self.event_type} file, so a rerun loses "
                f"nothing; or set {ON_MALFORMED_LINE} to '{REJECT}' to load the rest and "
                f"keep such lines in the {REJECTED_LINES} stream"
            )
        raise MalformedLineError(log_file.id, line.number, f"{problem}. {advice}.")

    def _side_stream(self, name: str) -> SideStream | None:
        """The side stream ``name``, if it is in the catalog and selected."""
        stream = self._tap.streams.get(name)
        return stream if isinstance(stream, SideStream) and stream.selected else None

    def _write_log_file_row(
        self, log_file: LogFile, record_count: int, fetched_at: datetime.datetime
    ) -> None:
        """The ``log_files`` row of a completed file, if that stream is selected."""
        if (log_files := self._side_stream(LOG_FILES)) is None:
            return
        log_files.write(
            {
                "id": log_file.id,
                "event_type": self.event_type,
                "scope": self.scope.value,
                "principal_id": self.config[self.scope.id_setting],
                "end_time": format_timestamp(log_file.end_time),
                "file_name": log_file.file_name,
                "file_size": log_file.file_size,
                "file_sha256": log_file.file_sha256,
                "record_count": record_count,
                "fetched_at": format_timestamp(fetched_at),
            }
        )

    def _save_bookmark(self, done: FileCursor) -> None:
        """Record that every file up to ``done`` was fully emitted, and say so in a STATE."""
        state = self.stream_state
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = format_timestamp(done.end_time)
        state[DONE_AT_BOOKMARK] = sorted(done.ids)
        # The SDK writes STATE only every 10,000 records; a file boundary is the one safe
        # resume point, so write it now (even after a file with no events).
        self.state_manager.is_flushed = False
        self._write_state_message()


def _is_listing(response: requests.Response) -> bool:
    """Whether the response answers a listing call (the other calls are downloads)."""
    return request_path(response).endswith("/logs")


def _missing_key(events: list[dict[str, t.Any]]) -> str | None:
    """Why events cannot be loaded for want of a usable ``event_id``, if that is so."""
    for event in events:
        event_id = event.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            return "an event has no event_id (a string), the key targets deduplicate on"
    return None
