"""The event types the Compliance Logs Platform serves, and the scope each is listed under."""

from __future__ import annotations

import enum


class Scope(enum.StrEnum):
    """The path segment a log file listing lives under, and the setting holding its id."""

    WORKSPACE = "workspaces"
    ORGANIZATION = "organizations"

    @property
    def id_setting(self) -> str:
        """The name of the setting that holds this scope's id."""
        return "workspace_id" if self is Scope.WORKSPACE else "organization_id"


KNOWN_EVENT_TYPES: dict[str, Scope] = {
    "AUTH_LOG": Scope.WORKSPACE,
    "AUDIT_LOG": Scope.WORKSPACE,
    "APP_LOG": Scope.WORKSPACE,
    "APP_AUTH_LOG": Scope.WORKSPACE,
    "CODEX_LOG": Scope.WORKSPACE,
    "CODEX_SECURITY_LOG": Scope.WORKSPACE,
    "CUSTOM_AGENTS_LOG": Scope.WORKSPACE,
    "CONVERSATION_MESSAGE": Scope.WORKSPACE,
    "CHATGPT_PLUGIN_SPREADSHEET": Scope.WORKSPACE,
    "COSTS": Scope.ORGANIZATION,
}


def scope_of(event_type: str) -> Scope:
    """The scope of an event type.

    A type the tap does not know yet (the API adds types without notice) is listed under
    the organization when its name says so (``APP_ORGANIZATION_LOG``, ``COSTS`` style
    organization types), and under the workspace otherwise.
    """
    if event_type in KNOWN_EVENT_TYPES:
        return KNOWN_EVENT_TYPES[event_type]
    return Scope.ORGANIZATION if "ORGANIZATION" in event_type else Scope.WORKSPACE


def stream_name(event_type: str) -> str:
    """The Singer stream name of an event type: ``AUTH_LOG`` becomes ``auth_log``."""
    return event_type.lower()
