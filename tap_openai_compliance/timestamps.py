"""Instants as the tap reads and writes them: ISO 8601 in, UTC with microseconds and ``Z`` out."""

from __future__ import annotations

import datetime
import functools
import re

_FRACTION = re.compile(r"\.(\d+)")

# Every instant read from outside (listings, state, settings) lies between these: all Python
# can hold, but for a day at the start, since the tap lists from a microsecond before an
# instant.
EARLIEST = datetime.datetime.min.replace(tzinfo=datetime.UTC) + datetime.timedelta(days=1)
LATEST = datetime.datetime.max.replace(tzinfo=datetime.UTC)
OUT_OF_RANGE = "outside the years 1 to 9999"


class OutOfRangeError(ValueError):
    """A date-time, but outside the years the tap reads."""


# Clocks differ: an instant up to this far past this machine's clock is still the present.
CLOCK_SKEW = datetime.timedelta(minutes=10)


def parse_timestamp(value: str) -> datetime.datetime:
    """Parse an ISO 8601 instant; a value without a zone is taken as UTC.

    An instant outside the years 1 to 9999 (in UTC) is refused with ``OutOfRangeError``.
    """
    # Exactly six fraction digits: fromisoformat rejects other counts on some Pythons.
    text = _FRACTION.sub(lambda m: "." + m[1][:6].ljust(6, "0"), value.strip(), count=1)
    text = text.replace("Z", "+00:00").replace("z", "+00:00")
    parsed = datetime.datetime.fromisoformat(text)
    try:
        instant = (
            parsed.replace(tzinfo=datetime.UTC)
            if parsed.tzinfo is None
            else parsed.astimezone(datetime.UTC)
        )
    except OverflowError:
        instant = None
    if instant is None or not EARLIEST <= instant <= LATEST:
        raise OutOfRangeError(OUT_OF_RANGE)
    return instant


# Each file's end_time is written into its records, its log_files row and many STATEs.
@functools.lru_cache(maxsize=4096)
def format_timestamp(value: datetime.datetime) -> str:
    """Format an instant the one way the tap writes them: UTC, microseconds, ``Z``."""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def latest_trusted() -> datetime.datetime:
    """The latest instant a listing or a state may hold and still be believed: now, give or
    take the clocks' skew. A later one would move the bookmark past files not yet written."""
    return datetime.datetime.now(datetime.UTC) + CLOCK_SKEW
