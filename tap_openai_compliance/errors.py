"""Failures that end a sync with one plain message instead of a traceback."""

from __future__ import annotations

from singer_sdk.exceptions import AbortedSyncExceptionBase


class ComplianceTapError(Exception):
    """An expected failure: its message says what happened and what to check."""


# Stops that are no unhandled error: the tap's own failures, worded in one plain line
# (tap.py), a target that stopped reading, and a dry run (--test) ending at its record limit.
EXPECTED_STOPS = (ComplianceTapError, BrokenPipeError, AbortedSyncExceptionBase)
