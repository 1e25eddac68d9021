"""What a record is: an event as the API served it, plus the log file it came from."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

LOG_FILE_ID = "_sdc_log_file_id"
LOG_FILE_END_TIME = "_sdc_log_file_end_time"
UNKNOWN_FIELDS = "_sdc_unknown_fields"

TAP_FIELDS_SCHEMA: dict[str, t.Any] = {
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


def as_records(
    events: Iterable[dict[str, t.Any]],
    declared: frozenset[str],
    file_id: str,
    end_time: str,
) -> Iterator[dict[str, t.Any]]:
    """Each event, unchanged, with its log file and a copy of the fields not declared."""
    for event in events:
        if not declared.issuperset(event):
            event[UNKNOWN_FIELDS] = {k: v for k, v in event.items() if k not in declared}
        event[LOG_FILE_ID] = file_id
        event[LOG_FILE_END_TIME] = end_time
        yield event
