"""The feeds the Compliance Logs Platform serves: an event type on a route, and its stream.

A feed is an event type as one route lists it. The workspace route serves most types; the
organization route (an API Platform organization) serves APP_LOG, APP_AUTH_LOG and COSTS. APP_LOG
and APP_AUTH_LOG are on both: the same type name, two feeds, two streams (the organization's get
``_organization`` in their names, as the leading commercial connector names these tables).

``event_types`` names a feed by its stream name in capitals (``AUTH_LOG``, ``APP_LOG`` for the
workspace's, ``APP_ORGANIZATION_LOG`` for the organization's), or by its route and type
(``workspace:APP_LOG``, ``organization:APP_LOG``): the one way to name a type this release does
not know yet, since its route cannot be told from its name.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import re
import typing as t

from tap_openai_compliance.errors import ComplianceTapError

# One key reads every type with this scope (or its legacy name); otherwise, type by type.
BROAD_SCOPE = "chatgpt.enterprise.compliance_logs_platform.read"
LEGACY_BROAD_SCOPE = "chatgpt.enterprise.compliance_export.read"
_EVENT_TYPE = re.compile(r"[A-Z][A-Z0-9_]*")


class Scope(enum.StrEnum):
    """A route: the path segment its listing lives under, and the setting holding its id."""

    WORKSPACE = "workspaces"
    ORGANIZATION = "organizations"

    @property
    def label(self) -> str:
        """The route as people say it, and as ``event_types`` prefixes a type with it."""
        return "workspace" if self is Scope.WORKSPACE else "organization"

    @property
    def id_setting(self) -> str:
        """The name of the setting that holds this route's id."""
        return f"{self.label}_id"


class UnknownFeedError(ComplianceTapError):
    """A name in ``event_types`` that names no feed."""


@dataclasses.dataclass(frozen=True)
class Feed:
    """One event type as one route serves it."""

    event_type: str
    scope: Scope

    @property
    def stream_name(self) -> str:
        """The Singer stream (and table) of this feed.

        An organization's feed of a type the workspace route may serve too gets
        ``_organization`` before a final ``_log`` (``app_organization_log``), or at the end.
        """
        name = self.event_type.lower()
        if self.scope is Scope.WORKSPACE or self.event_type in ORGANIZATION_ONLY_TYPES:
            return name
        if name.endswith("_log"):
            return name.removesuffix("_log") + "_organization_log"
        return name + "_organization"

    @property
    def name(self) -> str:
        """How ``event_types`` names this feed: its stream name in capitals."""
        return self.stream_name.upper()

    @property
    def qualified_name(self) -> str:
        """The feed's route and type, as ``event_types`` also accepts it."""
        return f"{self.scope.label}:{self.event_type}"

    @property
    def read_scope(self) -> str:
        """The fine-grained scope an Admin API key needs to read this feed."""
        return f"chatgpt.enterprise.compliance_logs_platform.{self.event_type.lower()}.read"

    @property
    def known(self) -> bool:
        """Whether this release knows the feed (and has a schema for it)."""
        return self in KNOWN_FEEDS


ORGANIZATION_ONLY_TYPES = frozenset({"COSTS"})
KNOWN_FEEDS: tuple[Feed, ...] = (
    *(
        Feed(event_type, Scope.WORKSPACE)
        for event_type in (
            "AUTH_LOG",
            "AUDIT_LOG",
            "APP_LOG",
            "APP_AUTH_LOG",
            "CODEX_LOG",
            "CODEX_SECURITY_LOG",
            "CUSTOM_AGENTS_LOG",
            "CONVERSATION_MESSAGE",
            "CHATGPT_PLUGIN_SPREADSHEET",
        )
    ),
    *(Feed(event_type, Scope.ORGANIZATION) for event_type in ("APP_LOG", "APP_AUTH_LOG", "COSTS")),
)
KNOWN_EVENT_TYPES = frozenset(feed.event_type for feed in KNOWN_FEEDS)
_BY_NAME = {feed.name: feed for feed in KNOWN_FEEDS}
_SCOPES_BY_LABEL = {scope.label: scope for scope in Scope}


def feed_named(name: str) -> Feed:
    """The feed ``event_types`` names with ``name``; a name that names none fails plainly."""
    text = name.strip()
    label, colon, event_type = text.rpartition(":")
    if colon:
        scope = _SCOPES_BY_LABEL.get(label.strip().lower())
        event_type = event_type.strip().upper()
        if scope is None or not _EVENT_TYPE.fullmatch(event_type):
            msg = (
                f"Setting 'event_types' holds {name!r}: write a route and an event type as "
                "workspace:EVENT_TYPE or organization:EVENT_TYPE."
            )
            raise UnknownFeedError(msg)
        return Feed(event_type, scope)
    if (feed := _BY_NAME.get(text.upper())) is not None:
        return feed
    raise UnknownFeedError(_unknown(name))


def _unknown(name: str) -> str:
    """What to write instead of a name that names no known feed."""
    near = difflib.get_close_matches(name.strip().upper(), _BY_NAME, n=1)
    guess = f" Did you mean {near[0]}?" if near else ""
    type_name = name.strip().upper()
    new_type = (
        f" For an event type OpenAI added after this release, name its route: "
        f"workspace:{type_name} or organization:{type_name}."
        if _EVENT_TYPE.fullmatch(type_name)
        else ""
    )
    return (
        f"Setting 'event_types' holds {name!r}, which is not an event type this tap knows.{guess}"
        f"{new_type} Known: {', '.join(_BY_NAME)}."
    )


def default_feeds(config: t.Mapping[str, t.Any]) -> list[Feed]:
    """Every known feed whose route has an id set (every known feed when neither is set)."""
    scopes = {scope for scope in Scope if config.get(scope.id_setting)} or set(Scope)
    return [feed for feed in KNOWN_FEEDS if feed.scope in scopes]
