"""What a record is: an event as the API served it, plus the log file it came from."""

from __future__ import annotations

import typing as t

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
            "The event's top-level fields that this schema does not declare (yet), unchanged: "
            "the record holds each of them here only."
        ),
    },
}


def as_record(
    event: dict[str, t.Any], declared: frozenset[str], file_id: str, end_time: str
) -> dict[str, t.Any]:
    """An event as a record of its stream's schema, naming the log file it came from.

    A top-level field the schema declares stays where it is, unchanged; one it does not
    declare (the API adds fields without notice) moves into ``_sdc_unknown_fields``, unchanged:
    nothing is lost, a strict target accepts the record, and a stream map finds each field in
    one place only.
    """
    if not declared.issuperset(event):
        unknown = [name for name in event if name not in declared]
        event[UNKNOWN_FIELDS] = {name: event.pop(name) for name in unknown}
    event[LOG_FILE_ID] = file_id
    event[LOG_FILE_END_TIME] = end_time
    return event


NUL, REPLACEMENT_CHARACTER = "\x00", "\ufffd"


def without_nul(value: t.Any) -> t.Any:
    """``value`` with every U+0000 in its text (keys too) replaced by U+FFFD.

    PostgreSQL's text and jsonb cannot hold U+0000: a file holding one would fail its load at
    every run until it expires. This is the one change the tap makes to a value
    (``replace_nul_characters``).
    """
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT_CHARACTER)
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value
