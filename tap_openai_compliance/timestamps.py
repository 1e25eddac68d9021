"""Instants as the tap reads and writes them: ISO 8601 in, UTC with microseconds and ``Z`` out."""

from __future__ import annotations

import datetime
import functools
import re

_FRACTION = re.compile(r"\.(\d+)")


def parse_timestamp(value: str) -> datetime.datetime:
    """Parse an ISO 8601 instant; a value without a zone is taken as UTC."""
    # Exactly six fraction digits: fromisoformat rejects other counts on some Pythons.
    text = _FRACTION.sub(lambda m: "." + m[1][:6].ljust(6, "0"), value.strip(), count=1)
    text = text.replace("Z", "+00:00").replace("z", "+00:00")
    parsed = datetime.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC)


# Each file's end_time is written into its records, its log_files row and many STATEs.
@functools.lru_cache(maxsize=4096)
def format_timestamp(value: datetime.datetime) -> str:
    """Format an instant the one way the tap writes them: UTC, microseconds, ``Z``."""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
