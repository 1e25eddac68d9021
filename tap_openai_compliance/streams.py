"""One stream per event type: list its log files, download each, emit its events."""

from __future__ import annotations

import threading
import typing as t

import requests
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_openai_compliance.client import (
    ComplianceAPIError,
    ComplianceStream,
    quote_body,
    request_path,
)
from tap_openai_compliance.download import download_directory, download_in_order, save_verified
from tap_openai_compliance.errors import ComplianceTapError
from tap_openai_compliance.event_types import scope_of, stream_name
from tap_openai_compliance.listing import (
    FileCursor,
    ListingPage,
    LogFile,
    LogFilePaginator,
    format_timestamp,
    parse_timestamp,
)
from tap_openai_compliance.parsing import iter_events
from tap_openai_compliance.schemas import event_schema

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

LOG_FILE_ID = "_sdc_log_file_id"
LOG_FILE_END_TIME = "_sdc_log_file_end_time"
UNKNOWN_FIELDS = "_sdc_unknown_fields"
DONE_AT_BOOKMARK = "log_files_at_bookmark"

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


class MissingEventIdError(ComplianceTapError):
    """An event without the key the targets upsert on."""


class LogEventsStream(ComplianceStream):
    """The events of one event type, read file by file in the listing's order."""

    primary_keys: t.ClassVar[list[str]] = ["event_id"]
    replication_key = LOG_FILE_END_TIME
    is_sorted = True
    # Records are parsed JSON already: conforming would only cost time, and could alter values.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, event_type: str) -> None:
        self.event_type = event_type
        self.scope = scope_of(event_type)
        schema = event_schema(event_type)
        self._declared_fields = frozenset(schema["properties"])
        schema["properties"].update(LOG_FILE_PROPERTIES)
        principal_id = tap.config[self.scope.id_setting]
        super().__init__(
            tap,
            name=stream_name(event_type),
            schema=schema,
            path=f"/{self.scope.value}/{principal_id}/logs",
        )
        self._storage = requests.Session()

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
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        data = response.json().get("data")
        if not isinstance(data, list):
            msg = f"Listing {self.event_type} log files returned no 'data' list"
            raise ComplianceAPIError(msg)
        yield from data

    @override
    def describe_request(self, response: requests.Response) -> str:
        path = request_path(response)
        if path.endswith("/logs"):
            return f"Listing {self.event_type} log files"
        return f"Downloading {self.event_type} log file {path.rsplit('/', 1)[-1]}"

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        done = self._resume_point()
        stopping = threading.Event()
        download = self.request_decorator(self._download_once)
        with download_directory() as directory:
            files = download_in_order(
                self._new_files(context),
                lambda log_file: download(log_file, directory, stopping),
                int(self.config["max_concurrent_downloads"]),
                stopping,
            )
            for log_file, path in files:
                yield from self._events_of(log_file, path)
                done.advance(log_file)
                self._save_bookmark(done)

    def _resume_point(self) -> FileCursor:
        """Where the last completed sync, or else ``start_date``, left off."""
        state = self.stream_state
        if bookmark := state.get("replication_key_value"):
            return FileCursor(parse_timestamp(bookmark), set(state.get(DONE_AT_BOOKMARK, [])))
        return FileCursor(parse_timestamp(self.config["start_date"]))

    def _new_files(self, context: Context | None) -> Iterator[LogFile]:
        """The listed files not yet synced, each once, up to ``end_date``."""
        listed = self._resume_point()
        end_date = self.config.get("end_date")
        last = parse_timestamp(end_date) if end_date else None
        for item in self.request_records(context):
            log_file = LogFile.from_listing(item)
            if last is not None and log_file.end_time > last:
                return
            if listed.covers(log_file):
                continue
            listed.advance(log_file)
            yield log_file

    def _download_once(self, log_file: LogFile, directory: Path, stopping: threading.Event) -> Path:
        """One try at a file: a fresh signed link from the API, then the body from storage."""
        return save_verified(self._open_body(log_file), log_file, directory, stopping)

    def _open_body(self, log_file: LogFile) -> requests.Response:
        """The response whose body is the file; the API key never leaves for the storage host."""
        request = self.build_prepared_request(
            method="GET", url=f"{self.get_url(None)}/{log_file.id}", headers=self.http_headers
        )
        response = self.requests_session.send(
            request, timeout=self.timeout, allow_redirects=False, stream=True
        )
        self.validate_response(response)
        if not response.is_redirect:
            return response
        response.close()
        storage = self._storage.get(
            response.headers["Location"], timeout=self.timeout, stream=True, allow_redirects=False
        )
        self._validate_storage_response(storage, log_file)
        return storage

    def _validate_storage_response(self, response: requests.Response, log_file: LogFile) -> None:
        """Retry what a fresh link or a later try can fix; fail on the rest."""
        status = response.status_code
        if status < requests.codes.multiple_choices:
            return
        message = (
            f"Downloading {self.event_type} log file {log_file.id} from storage failed: "
            f"HTTP {status}: {quote_body(response)}"
        )
        response.close()
        if status in {requests.codes.forbidden, requests.codes.too_many_requests} or status >= 500:
            # A 403 from storage is an expired signed link: the retry asks the API for a new one.
            raise RetriableAPIError(message)
        raise ComplianceAPIError(message)

    def _events_of(self, log_file: LogFile, path: Path) -> Iterator[dict[str, t.Any]]:
        """The file's events as records, each naming the file it came from."""
        end_time = format_timestamp(log_file.end_time)
        declared = self._declared_fields
        for line_number, event in enumerate(iter_events(path, log_file.id), start=1):
            if event.get("event_id") is None:
                msg = (
                    f"Event {line_number} of log file {log_file.id} ({self.event_type}) has no "
                    "event_id, the key targets upsert on"
                )
                raise MissingEventIdError(msg)
            if unknown := event.keys() - declared:
                event[UNKNOWN_FIELDS] = {name: event[name] for name in unknown}
            event[LOG_FILE_ID] = log_file.id
            event[LOG_FILE_END_TIME] = end_time
            yield event

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
