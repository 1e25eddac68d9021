"""Failures that end a sync with one plain message instead of a traceback."""

from __future__ import annotations

import signal

from singer_sdk.exceptions import AbortedSyncExceptionBase


class ComplianceTapError(Exception):
    """An expected failure: its message says what happened and what to check."""


class Interrupted(Exception):
    """SIGTERM or SIGINT asked the sync to stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"by {signal.Signals(signum).name}")
        self.signum = signum


# Stops that are no unhandled error: the tap's own failures, worded in one plain line
# (tap.py), a signal, a target that stopped reading, and a dry run (--test) ending at its
# record limit.
EXPECTED_STOPS = (ComplianceTapError, Interrupted, BrokenPipeError, AbortedSyncExceptionBase)
