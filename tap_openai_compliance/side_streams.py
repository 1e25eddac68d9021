"""Streams the event streams write to as they read files: log_files and rejected_lines.

A row is written while its file is read, before the STATE that covers the file: so it follows
the events' rule. A kill before that STATE repeats the file and its rows on the next run (their
keys upsert them), and every file a STATE covers has its rows.
"""

from __future__ import annotations

import typing as t

from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

LOG_FILES = "log_files"
REJECTED_LINES = "rejected_lines"


class SideStream(Stream):
    """A stream written to from another stream's sync."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, name: str, schema: dict[str, t.Any]) -> None:
        super().__init__(tap, name=name, schema=schema)
        self._schema_written = False

    @override
    @property
    def emit_activate_version_messages(self) -> bool:
        # A full-table version would tell the target to drop the rows of earlier syncs.
        return False

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Nothing: the rows were written during the event streams' syncs."""
        return ()

    def write(self, record: dict[str, t.Any]) -> None:
        """Emit one row now, if the stream is selected, while an event stream is syncing."""
        if not self.selected:
            return
        # SDK seam (private; tests/test_sdk_seams.py): the SDK writes a stream's messages only
        # during that stream's own sync, and has no public way to write a row of one stream
        # while another syncs. These two calls keep the SDK's selection, stream maps and
        # flattening for the rows.
        if not self._schema_written:
            self._write_schema_message()
            self._schema_written = True
        self._write_record_message(record)


LOG_FILE_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="Log file id (eclf_...)."),
    th.Property("event_type", th.StringType, description="Event type of the file."),
    th.Property("scope", th.StringType, description="workspaces or organizations."),
    th.Property("principal_id", th.StringType, description="Workspace or organization id."),
    th.Property("end_time", th.DateTimeType, description="The file's end_time in the listing."),
    th.Property("file_name", th.StringType, description="File name in the listing."),
    th.Property("file_size", th.IntegerType, description="Bytes, as listed and verified."),
    th.Property("file_sha256", th.StringType, description="SHA-256, as listed and verified."),
    th.Property("record_count", th.IntegerType, description="Events emitted from the file."),
    th.Property("fetched_at", th.DateTimeType, description="When the verified download ended."),
).to_dict()

REJECTED_LINE_SCHEMA = th.PropertiesList(
    th.Property("log_file_id", th.StringType, required=True, description="Id of the log file."),
    th.Property(
        "line_number",
        th.IntegerType,
        required=True,
        description="Line number in the (decompressed) file, counting from 1.",
    ),
    th.Property("event_type", th.StringType, description="Event type of the log file."),
    th.Property("log_file_end_time", th.DateTimeType, description="end_time of the log file."),
    th.Property(
        "raw_line",
        th.StringType,
        description="The whole line as served, without its line ending (non-UTF-8 escaped).",
    ),
    th.Property("error", th.StringType, description="Why the line could not be loaded."),
).to_dict()


class LogFilesStream(SideStream):
    """One row per log file synced, to reconcile what the API listed with what landed."""

    primary_keys: t.ClassVar[list[str]] = ["id"]

    def __init__(self, tap: Tap) -> None:
        super().__init__(tap, LOG_FILES, LOG_FILE_SCHEMA)


class RejectedLinesStream(SideStream):
    """Lines of log files that could not be loaded as events, with why: a dead-letter table."""

    primary_keys: t.ClassVar[list[str]] = ["log_file_id", "line_number"]

    def __init__(self, tap: Tap) -> None:
        super().__init__(tap, REJECTED_LINES, REJECTED_LINE_SCHEMA)
