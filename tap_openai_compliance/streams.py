"""One stream per event type: list its log files, download each, emit its events in order.

A sync reads as ``get_records``: the files not yet synced are listed (the SDK's REST hooks below
page through the listing), downloaded several at once by a ``Downloader``, and each verified
file's events are emitted in listing order; only after a file's last record does a STATE
cover it.
"""

from __future__ import annotations

import datetime
import functools
import logging
import sys
import typing as t
from urllib.parse import quote

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import StateMessage
from typing_extensions import override

from tap_openai_compliance.batching import (
    BATCH_DIRECTORY_PREFIX,
    KEEP_BATCH_FILES,
    BatchConfigError,
    BatchFile,
    local_root,
)
from tap_openai_compliance.bookmark import Bookmark
from tap_openai_compliance.client import (
    AccessDeniedError,
    ComplianceAPIStream,
    RetryPolicy,
    check_api_response,
    nothing_answers,
)
from tap_openai_compliance.download import Downloader
from tap_openai_compliance.errors import EXPECTED_STOPS, ComplianceTapError
from tap_openai_compliance.feeds import BROAD_SCOPE, Feed
from tap_openai_compliance.listing import (
    ONE_MICROSECOND,
    ListingPage,
    LogFile,
    LogFilePaginator,
    listing_after,
    listing_page,
    listing_subject,
)
from tap_openai_compliance.output import MessageWriter
from tap_openai_compliance.parsing import MalformedLineError, read_lines
from tap_openai_compliance.progress import Progress
from tap_openai_compliance.records import (
    LOG_FILE_END_TIME,
    TAP_FIELDS_SCHEMA,
    as_record,
    without_nul,
)
from tap_openai_compliance.run import AccessCheck, quiet
from tap_openai_compliance.schemas import event_schema
from tap_openai_compliance.scratch import run_directory
from tap_openai_compliance.settings import RETENTION
from tap_openai_compliance.side_streams import REJECTED_LINES
from tap_openai_compliance.timestamps import (
    LATEST,
    format_timestamp,
    latest_trusted,
    parse_timestamp,
)
from tap_openai_compliance.wording import Masker, address_of, cause_of, feed_not_readable

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig
    from singer_sdk.helpers.types import Context
    from singer_sdk.mapper import StreamMap

    from tap_openai_compliance.pacing import Pacer
    from tap_openai_compliance.parsing import Line
    from tap_openai_compliance.run import Run
    from tap_openai_compliance.side_streams import LogFilesStream, RejectedLinesStream

P = t.ParamSpec("P")
R = t.TypeVar("R")

# The default start_date is exactly the retention ago: only a start well before it is worth a word.
RETENTION_MARGIN = datetime.timedelta(days=1)
# Records between two looks at the clock for a progress line, inside a large file.
PROGRESS_CHECK_EVERY = 10_000
ON_MALFORMED_LINE = "on_malformed_line"
REJECT = "reject"


class Pacers(t.NamedTuple):
    """The pace of each API endpoint the log streams call, shared by every stream."""

    listing: Pacer
    download: Pacer


class LogEventsStream(ComplianceAPIStream[ListingPage]):
    """The events of one feed, read file by file in the listing's order."""

    primary_keys: t.ClassVar[list[str]] = ["event_id"]
    replication_key = LOG_FILE_END_TIME
    is_sorted = True
    # Records are parsed JSON already: conforming would only cost time, and could alter values.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    # The key must never follow a redirect: download links are fetched key-less by the Downloader.
    allow_redirects = False

    def __init__(
        self,
        tap: Tap,
        feed: Feed,
        *,
        named: bool,
        pacers: Pacers,
        run: Run,
        log_files: LogFilesStream,
        rejected_lines: RejectedLinesStream | None,
    ) -> None:
        self.feed = feed
        self.event_type = feed.event_type
        self.scope = feed.scope
        # Named in event_types: a feed the key may not read stops the run, not only the stream.
        self.named = named
        schema = event_schema(feed.event_type)
        self._declared_fields = frozenset(schema["properties"])
        schema["properties"].update(TAP_FIELDS_SCHEMA)
        # Discovery runs without settings too; a sync always has the id (settings check it).
        # Escaped as one path segment: an id can only ever address its own route.
        principal_id = quote(
            str(tap.config.get(self.scope.id_setting) or f"{{{self.scope.id_setting}}}"), safe="{}"
        )
        super().__init__(
            tap,
            name=feed.stream_name,
            schema=schema,
            path=f"/{self.scope.value}/{principal_id}/logs",
        )
        self.listing_subject = listing_subject(feed.name)
        quiet(self.logger)
        self.masker = Masker(api_key=str(self.config.get("api_key") or ""))
        self._log_files = log_files
        self._rejected_lines = rejected_lines
        self._message_writer = tap.message_writer
        self._pacers = pacers
        self._run = run
        self._paginator: LogFilePaginator | None = None
        # Where this sync started: the bookmark the listing starts from (see _bookmark).
        self._done: Bookmark | None = None
        self._extracted_at = datetime.datetime.now(datetime.UTC)
        end_date = self.config.get("end_date")
        # The last end_time to sync (end_date): the API is asked for no later file, and a
        # later one it lists all the same is not synced.
        self._last_end_time = parse_timestamp(end_date) if end_date else None
        self._workers = int(self.config["max_concurrent_downloads"])
        self._max_line_bytes = int(float(self.config["max_line_size_mib"]) * 2**20)
        self._replace_nul = bool(self.config["replace_nul_characters"])
        self._retry = RetryPolicy(
            max_tries=int(self.config["max_tries"]),
            initial_wait=float(self.config["retry_initial_wait"]),
            max_retry_after=float(self.config["max_retry_after"]),
            timeouts=self.timeout,
            logger=self.logger,
        )

    # -- the shape of a sync --------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        done = self._bookmark()
        for records in self._synced_files(context, done, lambda: self._save_bookmark(done)):
            yield from records

    def _not_readable(self, refused: AccessDeniedError) -> None:
        """A feed the key may not read: the run stops if it was named, else it goes on."""
        message = feed_not_readable(
            self.feed.name, self.feed.read_scope, BROAD_SCOPE, refused.answer
        )
        if self.named:
            msg = f"{message}, or remove {self.feed.name} from event_types."
            raise ComplianceTapError(msg) from None
        self.logger.warning(
            "%s. Skipped: the other feeds sync; name the feeds to sync in event_types to "
            "stop this warning.",
            message,
        )
        self._run.skip(self.name, "the API key may not read it")

    @override
    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterator[tuple[BaseBatchFileEncoding, list[str]]]:
        """Whole log files gathered into batch files; see ``batching``."""
        self._check_batchable()
        max_seconds = float(self.config["batch_max_seconds"])
        done = self._bookmark()
        root = local_root(batch_config)
        with run_directory(root, BATCH_DIRECTORY_PREFIX, keep_for=KEEP_BATCH_FILES) as directory:
            batch: BatchFile | None = None
            for number, records in enumerate(self._synced_files(context, done, lambda: None)):
                # Checked as the next file comes: by then the bookmark covers every file so
                # far, all of them in this batch or earlier ones.
                if batch is not None and batch.is_full():
                    yield self._closed(batch, done, batch_config)
                    batch = None
                if batch is None:
                    name = f"{self.name}-{number:06d}"
                    batch = BatchFile(directory, name, batch_config.batch_size, max_seconds)
                batch.write(records)
            if batch is not None:
                yield self._closed(batch, done, batch_config)

    def _closed(
        self, batch: BatchFile, done: Bookmark, batch_config: BatchConfig
    ) -> tuple[BaseBatchFileEncoding, list[str]]:
        """Close a batch, and cover its files: the SDK writes the STATE after the BATCH."""
        manifest = [batch.close()]
        done.save_to(self.stream_state, LOG_FILE_END_TIME)
        return batch_config.encoding, manifest

    def _check_batchable(self) -> None:
        """Refuse what batch files would silently skip: deselected fields."""
        if not all(self.mask.values()):
            msg = (
                f"Stream {self.name} has fields deselected, which batch files would still "
                "hold: with batch_config, select every field (or drop batch_config)."
            )
            raise BatchConfigError(msg)

    def _synced_files(
        self, context: Context | None, done: Bookmark, file_done: Callable[[], None]
    ) -> Iterator[Iterator[dict[str, t.Any]]]:
        """The records of each file to sync, a file at a time, in listing order.

        Once the caller has taken every record of a file, ``done`` covers it and
        ``file_done`` is called.
        """
        if self._run.out_of_time():
            return
        self._warn_if_past_retention(done)
        self._warn_if_window_done(done)
        lookback = datetime.timedelta(minutes=int(self.config["lookback_minutes"]))
        progress = Progress(
            self.logger,
            self.name,
            float(self.config["progress_interval"]),
            seconds_for=self._pacers.download.seconds_for,
        )
        self._run.track(self.name, progress)
        # Listed but not yet complete: the bookmark's window must not pass them.
        in_flight: dict[str, datetime.datetime] = {}
        files = self._files_to_sync(context, done, in_flight, progress)
        try:
            for log_file, path in self._downloader().in_order(files, progress.waiting):
                yield self._emit_file(log_file, path, progress)
                del in_flight[log_file.id]
                done.complete(log_file, lookback, [*in_flight.values(), *self._listing_position()])
                file_done()
        except AccessDeniedError as exc:
            self._not_readable(exc)
            return
        progress.log(prefix="Stopped for time " if self._run.out_of_time() else "Finished ")

    def _files_to_sync(
        self,
        context: Context | None,
        done: Bookmark,
        in_flight: dict[str, datetime.datetime],
        progress: Progress,
    ) -> Iterator[LogFile]:
        """Each listed file not yet synced, once, wherever it sits in the listing."""
        last = self._last_end_time
        unverifiable_warned = future_warned = False
        for item in self.request_records(context):
            log_file = LogFile.from_listing(item, self.listing_subject, self.masker)
            if log_file.id in in_flight or done.covers(log_file):
                continue
            if last is not None and log_file.end_time > last:
                if any(position > last for position in self._listing_position()):
                    return
                continue
            if self._paginator is not None:
                self._paginator.new_file_listed()
            if not unverifiable_warned and log_file.file_size is None:
                unverifiable_warned = True
                self.logger.warning(
                    "%s: the listing gives no file_size for log file %s, so its download is "
                    "checked only against the storage host's Content-Length, when it sends "
                    "one (and against file_sha256 if listed).",
                    self.name,
                    log_file.id,
                )
            if not future_warned and log_file.end_time > latest_trusted():
                future_warned = True
                self.logger.warning(
                    "%s: log file %s ends at %s, in the future by this machine's clock: it is "
                    "synced, but the bookmark does not move past the present. Check this "
                    "machine's clock, or report the listing to OpenAI support.",
                    self.name,
                    log_file.id,
                    format_timestamp(log_file.end_time),
                )
            in_flight[log_file.id] = log_file.end_time
            progress.file_listed()
            yield log_file

    def _emit_file(
        self, log_file: LogFile, path: Path, progress: Progress
    ) -> Iterator[dict[str, t.Any]]:
        """Emit one verified file: its events as records, then its ``log_files`` row.

        A line that cannot be loaded is set aside (``_set_aside``).
        """
        saved = path.stat()
        # Each file's records were extracted together: when its download was verified.
        self._extracted_at = datetime.datetime.fromtimestamp(saved.st_mtime, datetime.UTC)
        end_time = format_timestamp(log_file.end_time)
        declared, file_id, replace_nul = self._declared_fields, log_file.id, self._replace_nul
        record_count = 0
        for line in read_lines(path, self._max_line_bytes):
            if (problem := line.problem or _missing_key(line.events)) is not None:
                self._set_aside(log_file, line, problem)
                progress.rejected += 1
                continue
            # JSON can only hold NUL escaped: lines without the escape skip the walk.
            nul = replace_nul and b"\\u0000" in line.raw
            for event in line.events:
                yield as_record(without_nul(event) if nul else event, declared, file_id, end_time)
                record_count += 1
                if record_count % PROGRESS_CHECK_EVERY == 0:
                    progress.log_if_due(records_in_file=record_count)
        self._write_log_file_row(log_file, record_count, self._extracted_at)
        progress.file_done(log_file, saved.st_size, record_count)

    def _set_aside(self, log_file: LogFile, line: Line, problem: str) -> None:
        """Send a line that cannot be loaded to ``rejected_lines``, or stop the sync there."""
        rejects = self._rejected_lines
        if rejects is not None and rejects.selected:
            rejects.write(
                {
                    "log_file_id": log_file.id,
                    "line_number": line.number,
                    "event_type": self.event_type,
                    "log_file_end_time": format_timestamp(log_file.end_time),
                    "raw_line": without_nul(line.text()) if self._replace_nul else line.text(),
                    "error": problem,
                }
            )
            return
        if self.config.get(ON_MALFORMED_LINE) == REJECT:
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

    def _write_log_file_row(
        self, log_file: LogFile, record_count: int, fetched_at: datetime.datetime
    ) -> None:
        """The ``log_files`` row of a completed file."""
        self._log_files.write(
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

    def _bookmark(self) -> Bookmark:
        """Where the last completed sync, or else ``start_date``, left off."""
        bookmark = Bookmark.from_state(self.stream_state, self.config["start_date"], self.name)
        if bookmark.distrusted is not None:
            self.logger.warning(
                "The state's bookmark of stream %s lies in the future (%s, by this machine's "
                "clock), which would skip every log file of the present: the stream syncs "
                "again from start_date (%s), and the target upserts the events it has.",
                self.name,
                format_timestamp(bookmark.distrusted),
                self.config["start_date"],
            )
        self._done = bookmark
        return bookmark

    def check_bookmark(self, state: t.Mapping[str, t.Any]) -> None:
        """Fail plainly, before anything is synced, if this stream's state is not usable."""
        Bookmark.from_state(state, self.config["start_date"], self.name)

    def _listing_position(self) -> list[datetime.datetime]:
        """Where the listing has reached, while files not listed yet may end no earlier."""
        position = self._paginator.position if self._paginator is not None else None
        return [parse_timestamp(position)] if position is not None else []

    def preflight(self) -> AccessCheck:
        """Whether this feed can be read, as a sync reads it, in one listing call (and, when it
        lists a file, that file's first bytes)."""
        since = datetime.datetime.now(datetime.UTC) - RETENTION
        params: dict[str, str | int] = {
            "event_type": self.event_type,
            "after": listing_after(since),
            "limit": 1,
        }

        def list_one() -> requests.Response:
            response = self.requests_session.get(
                self.get_url(None),
                params=params,
                headers={**self.http_headers, **self.authenticator.auth_headers},
                timeout=self.timeout,
                allow_redirects=False,
            )
            self.validate_response(response)
            return response

        try:
            response = self._retry.wrap(
                list_one,
                lambda: self.listing_subject,
                self._pacers.listing.wait_turn,
                self._unreached,
            )()
            entries = listing_page(response, self.masker)["data"]
            if not entries:
                return self._checked(readable=True, detail="no log file in 30 days")
            log_file = LogFile.from_listing(entries[0], self.listing_subject, self.masker)
            host = self._downloader().probe(log_file)
        except AccessDeniedError as refused:
            detail = f"{refused.answer}: grant {self.feed.read_scope}"
            return self._checked(readable=False, detail=detail)
        except ComplianceTapError as exc:
            return self._checked(readable=False, detail=str(exc), failed=True)
        return self._checked(readable=True, detail=f"a log file read from {host}")

    def _checked(self, *, readable: bool, detail: str, failed: bool = False) -> AccessCheck:
        """What the pre-flight check found of this feed."""
        return AccessCheck(self.feed.name, self.scope.label, readable, detail, failed, self.named)

    def _save_bookmark(self, done: Bookmark) -> None:
        """Record that every file up to ``done`` was fully emitted, and say so in a STATE."""
        done.save_to(self.stream_state, LOG_FILE_END_TIME)
        # A file boundary is the one safe resume point, so a STATE goes out now, even after a
        # file with no events. (Not through the SDK's StateWriter: it deep-copies the whole
        # state at every STATE to skip repeats, and these never repeat.)
        self._message_writer.write_message(StateMessage(value=self.tap_state))

    def _warn_if_window_done(self, done: Bookmark) -> None:
        """Say so when the state says the window up to end_date is synced already."""
        if self._last_end_time is None or done.done_since <= self._last_end_time:
            return
        self.logger.warning(
            "%s: the state's bookmark (%s) is past end_date (%s): this window has nothing left "
            "to sync. A backfill window needs a state of its own: meltano run "
            "--state-id-suffix=<window> ..., or a state file of its own without Meltano.",
            self.name,
            format_timestamp(done.done_since),
            format_timestamp(self._last_end_time),
        )

    def _warn_if_past_retention(self, start: Bookmark) -> None:
        """Say so when a sync starts further back than the API keeps log files."""
        now = datetime.datetime.now(datetime.UTC)
        if start.done_since >= now - RETENTION - RETENTION_MARGIN:
            return
        self.logger.warning(
            "%s starts from %s, more than %d days ago, but the API keeps log files for about "
            "%d days: events of files that expired before this sync are gone. Sync more often "
            "than that to keep the audit trail complete.",
            self.name,
            format_timestamp(start.done_since),
            RETENTION.days,
            RETENTION.days,
        )

    def _downloader(self) -> Downloader:
        """The downloads of this sync, through the same API pool, key and retry policy."""
        return Downloader(
            feed=self.feed.name,
            logs_url=self.get_url(None),
            api_headers={**self.http_headers, **self.authenticator.auth_headers},
            timeouts=self.timeout,
            retry=self._retry,
            pacer=self._pacers.download,
            mask=self.masker,
            workers=self._workers,
            out_of_time=self._run.out_of_time,
            min_bytes_per_second=float(self.config["min_download_kib_per_second"]) * 1024,
        )

    # -- SDK hooks: calling the API, and paging through the listing ----------------------

    @override
    def request_decorator(self, func: Callable[P, R]) -> Callable[P, R]:
        return self._retry.wrap(
            func, lambda *_: self.listing_subject, self._pacers.listing.wait_turn, self._unreached
        )

    def _unreached(self, exception: BaseException) -> str | None:
        """Why retrying is no use: nothing has answered at api_url this run, and nothing does."""
        if self._run.api_answered or not nothing_answers(exception):
            return None
        return (
            f"{cause_of(exception, self.timeout)}: nothing answers at "
            f"{address_of(self.url_base, self.masker)}. Check api_url, and that this machine "
            "can reach it (a proxy, a firewall)"
        )

    @override
    def validate_response(self, response: requests.Response) -> None:
        self._run.api_answered = True
        self._pacers.listing.observe(response)
        check_api_response(response, self.listing_subject, self.masker)
        listing_page(response, self.masker)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        yield from listing_page(response, self.masker)["data"]

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: ListingPage | None
    ) -> dict[str, t.Any]:
        assert next_page_token is not None
        params = {
            "event_type": self.event_type,
            "after": next_page_token.after,
            "limit": next_page_token.limit,
        }
        if self._last_end_time is not None and self._last_end_time < LATEST:
            # The API's before is strictly earlier; end_date includes files ending at it.
            params["before"] = format_timestamp(self._last_end_time + ONE_MICROSECOND)
        return params

    @override
    def get_new_paginator(self) -> LogFilePaginator:
        # A sync reads its bookmark (_bookmark) before it lists.
        assert self._done is not None
        start = ListingPage(self._done.listing_after(), int(self.config["page_size"]))
        self._paginator = LogFilePaginator(start, self.feed.name, self.masker, self.logger)
        return self._paginator

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context | None]:
        # No child streams: skip the SDK's per-record copy of each record made for them.
        return ()

    # -- SDK seams: private hooks, each checked by tests/test_sdk_seams.py ------------------

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        # The SDK announces every failed sync at ERROR; for an expected failure the tap's own
        # one-line message (tap.py) says it all, so the announcement drops to DEBUG.
        if level >= logging.ERROR and isinstance(sys.exc_info()[1], EXPECTED_STOPS):
            level = logging.DEBUG

        super().log(message, *args, level=level, **kwargs)

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: Context | None = None
    ) -> None:
        """Nothing per record: the bookmark moves once a file is complete (``_save_bookmark``).

        The SDK would advance it record by record, so a STATE written mid-file (every
        10,000 records, or at a stop) would cover a file not yet fully emitted.
        """

    @override
    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        """Write a record's RECORD messages the lean way when nothing is deselected.

        The SDK walks each record against the selection mask to drop deselected properties
        (about half a record's time even when every field is selected), and builds a message
        object per record only to turn it back into a dict. So with every field selected,
        each record goes through the stream maps (aliases, hashing, flattening) straight to
        the writer; otherwise the SDK's own path runs.
        """
        self._record_writer(record)

    @functools.cached_property
    def _record_writer(self) -> Callable[[dict[str, t.Any]], None]:
        """How this sync writes a record: decided once, when the catalog is applied."""
        writer = self._message_writer
        if not (all(self.mask.values()) and isinstance(writer, MessageWriter)):
            return super()._write_record_message
        write_record = writer.write_record
        (only_map, *other_maps) = self.stream_maps
        if not other_maps and _keeps_records_as_they_are(only_map):
            alias = only_map.stream_alias
            return lambda record: write_record(alias, record, self._extracted_at)
        maps = [(stream_map.transform, stream_map.stream_alias) for stream_map in self.stream_maps]

        def write(record: dict[str, t.Any]) -> None:
            time_extracted = self._extracted_at
            for transform, alias in maps:
                mapped = transform(record)
                if mapped is not None:
                    write_record(alias, mapped, time_extracted)

        return write


def _keeps_records_as_they_are(stream_map: StreamMap) -> bool:
    """Whether a stream map would hand each record back unchanged (no alias is a change)."""
    return isinstance(stream_map, SameRecordTransform) and not stream_map.flattening_enabled


def _missing_key(events: list[dict[str, t.Any]]) -> str | None:
    """Why events cannot be loaded for want of a usable ``event_id``, if that is so."""
    for event in events:
        event_id = event.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            return "an event has no event_id (a string), the key targets deduplicate on"
    return None
