"""Errors that end a sync with one plain message instead of a traceback."""

from __future__ import annotations


class ComplianceTapError(Exception):
    """An expected failure: its message says what happened and what to check."""
