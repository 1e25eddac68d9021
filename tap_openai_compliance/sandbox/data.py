"""Synthetic events made from templates, and the demo dataset the sandbox serves."""

from __future__ import annotations

import functools
import random
import uuid
from datetime import datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson

from tap_openai_compliance.feeds import KNOWN_FEEDS, Scope
from tap_openai_compliance.sandbox.server import as_utc, format_timestamp
from tap_openai_compliance.sandbox.stateful import build_stateful_dataset

if TYPE_CHECKING:
    from tap_openai_compliance.feeds import Feed
    from tap_openai_compliance.sandbox.server import FakeComplianceAPI

DEMO_WORKSPACE_ID = "00000000-0000-4000-8000-000000000001"
DEMO_ORGANIZATION_ID = "org-sandbox000000000000000001"
# Every template writes "now" as this value; make_event swaps in the event's own time.
TEMPLATE_TIMESTAMP = "2030-01-01T00:00:00.000000Z"
GZIPPED_TYPE = "AUDIT_LOG"
REPEATED_EVENTS = 2
PRINCIPAL_TYPES = {Scope.WORKSPACE: "CHATGPT_WORKSPACE", Scope.ORGANIZATION: "API_PLATFORM_ORG"}


@functools.cache
def templates(event_type: str) -> tuple[dict[str, Any], ...]:
    """The template events of a type; empty when the sandbox has none."""
    resource = (
        resources.files("tap_openai_compliance.sandbox") / "templates" / f"{event_type}.jsonl"
    )
    if not resource.is_file():
        return ()
    return tuple(orjson.loads(line) for line in resource.read_bytes().splitlines() if line)


def make_event(
    event_type: str,
    *,
    principal_id: str,
    timestamp: datetime,
    rng: random.Random,
    scope: Scope | None = None,
) -> dict[str, Any]:
    """A fresh event of ``event_type`` from one of its templates, at ``timestamp``.

    With ``scope``, the event's principal is of that route's kind (a workspace, or an API
    Platform organization); without, it is the template's.
    """
    template = rng.choice(templates(event_type) or (_generic_template(event_type),))
    stamp = format_timestamp(timestamp)
    # Swap whole JSON strings, so that nested copies (workspace_id, created_at) follow too.
    raw = orjson.dumps(template)
    raw = raw.replace(orjson.dumps(template["principal"]["id"]), orjson.dumps(principal_id))
    raw = raw.replace(orjson.dumps(TEMPLATE_TIMESTAMP), orjson.dumps(stamp))
    event: dict[str, Any] = orjson.loads(raw)
    event["event_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    event["type"] = event_type
    event["timestamp"] = stamp
    event["principal"]["id"] = principal_id
    if scope is not None:
        event["principal"]["type"] = PRINCIPAL_TYPES[scope]
    return event


def _generic_template(event_type: str) -> dict[str, Any]:
    """A bare envelope, for a type the sandbox has no templates of."""
    return {
        "event_id": "",
        "type": event_type,
        "timestamp": TEMPLATE_TIMESTAMP,
        "principal": {"id": "template-principal", "type": PRINCIPAL_TYPES[Scope.WORKSPACE]},
        "actor": {
            "type": "ACCOUNT_USER",
            "user_id": "user-Sandbox0000000000000001",
            "user_email": "sandbox.user@example.com",
        },
    }


def build_demo_dataset(
    api: FakeComplianceAPI,
    *,
    workspace_id: str = DEMO_WORKSPACE_ID,
    organization_id: str = DEMO_ORGANIZATION_ID,
    now: datetime,
    days: int = 3,
    files_per_type_per_day: int = 4,
    events_per_file: int = 25,
    seed: int = 7,
) -> None:
    """Fill ``api`` with ``days`` of log files of every known feed, with the feed's quirks."""
    rng = random.Random(seed)
    principals = {Scope.WORKSPACE: workspace_id, Scope.ORGANIZATION: organization_id}
    for scope, principal_id in principals.items():
        api.add_principal(scope, principal_id)
    end = as_utc(now)
    window = timedelta(days=days) / (days * files_per_type_per_day)
    for feed in KNOWN_FEEDS:
        event_type, scope = feed.event_type, feed.scope
        end_times = _end_times(
            rng, end - timedelta(days=days), window, days * files_per_type_per_day
        )
        previous: list[dict[str, Any]] = []
        for index, end_time in enumerate(end_times):
            events = _file_events(rng, feed, principals[scope], end_time, window, events_per_file)
            if index % 4 == 2:
                # The feed repeats events: the last ones of the file before come again.
                events = previous[-REPEATED_EVENTS:] + events
            api.add_log_file(
                scope,
                principals[scope],
                event_type,
                events,
                end_time,
                file_id=f"eclf_{rng.getrandbits(128):032x}",
                # One compressed file: the API's compression is undocumented.
                gzip=event_type == GZIPPED_TYPE and index == 1,
            )
            previous = events
    # The stateful tables: the users, GPTs, projects... these events name.
    build_stateful_dataset(api, workspace_id, now=end.timestamp(), seed=seed)


def _end_times(
    rng: random.Random, start: datetime, window: timedelta, count: int
) -> list[datetime]:
    """Ascending file end times, one per window, the middle one tied with the one before."""
    jitter = min(window / 2, timedelta(seconds=1))
    end_times = [start + window * (index + 1) - jitter * rng.random() for index in range(count)]
    if count >= 2:
        # Several files can share one end_time, which is what makes paging by end_time hard.
        end_times[count // 2] = end_times[count // 2 - 1]
    return end_times


def _file_events(
    rng: random.Random,
    feed: Feed,
    principal_id: str,
    end_time: datetime,
    window: timedelta,
    count: int,
) -> list[dict[str, Any]]:
    """``count`` events timestamped in the window ending at ``end_time``."""
    stamps = sorted(end_time - window * rng.random() for _ in range(count))
    events = [
        make_event(
            feed.event_type, principal_id=principal_id, timestamp=stamp, rng=rng, scope=feed.scope
        )
        for stamp in stamps
    ]
    if events:
        # A field no schema knows yet: the API adds fields without notice.
        events[len(events) // 2]["risk_assessment"] = {
            "score": round(rng.random(), 2),
            "labels": ["demo"],
        }
    return events
