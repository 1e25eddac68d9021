"""The tap's settings: their schema, defaults, and checks that name what is wrong."""

from __future__ import annotations

import datetime
import decimal
import os
import typing as t
from urllib.parse import urlsplit

import jsonschema
from singer_sdk import typing as th

from tap_openai_compliance.feeds import (
    KNOWN_FEEDS,
    Feed,
    UnknownFeedError,
    default_feeds,
    feed_named,
)
from tap_openai_compliance.listing import MAX_PAGE_SIZE
from tap_openai_compliance.tables import STATEFUL_SETTINGS, stateful_table_problems
from tap_openai_compliance.timestamps import format_timestamp, parse_timestamp
from tap_openai_compliance.wording import REDACTED

DEFAULT_API_URL = "https://api.chatgpt.com/v1/compliance"
# "rate limited to 50 requests per minute per endpoint per API key" (the download endpoint).
DOCUMENTED_DOWNLOADS_PER_MINUTE = 50
MAX_DOWNLOADS_PER_MINUTE = 1_000_000
LEGACY_KEY_VARIABLE = "COMPLIANCE_API_KEY"
RETENTION = datetime.timedelta(days=30)

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        required=True,
        secret=True,
        title="API key",
        description=(
            "Admin API key that a workspace owner creates in the OpenAI Admin Console "
            "(Credentials > Admin keys), preferably Restricted, with the Compliance Logs "
            "Platform read permission, or the per-type scopes of the feeds to sync. When unset, "
            f"the {LEGACY_KEY_VARIABLE} environment variable is used."
        ),
    ),
    th.Property(
        "workspace_id",
        th.StringType,
        title="Workspace ID",
        description="ChatGPT Enterprise/Edu workspace UUID: syncs the workspace's feeds.",
    ),
    th.Property(
        "organization_id",
        th.StringType,
        title="Organization ID",
        description=(
            "API Platform organization id (org-...): syncs the organization's feeds "
            "(APP_ORGANIZATION_LOG, APP_AUTH_ORGANIZATION_LOG, COSTS)."
        ),
    ),
    th.Property(
        "event_types",
        th.ArrayType(th.StringType),
        title="Event types",
        description=(
            "Feeds to sync, by stream name in capitals: AUTH_LOG, APP_LOG (the workspace's), "
            "APP_ORGANIZATION_LOG (the organization's APP_LOG), COSTS, ... Default: every known "
            "feed whose route has an id set, skipping with a warning those the key may not "
            "read; a feed named here that the key may not read stops the run. A type the tap "
            "does not know yet is named with its route, workspace:TYPE or organization:TYPE, and "
            "synced with a generic schema."
        ),
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        title="Start date",
        description=(
            "Where a first sync starts (log files ending at or after it). Default: 30 days "
            "ago, the API's retention."
        ),
    ),
    th.Property(
        "end_date",
        th.DateTimeType,
        title="End date",
        description="Optional: stop before log files that end after it (bounded backfills).",
    ),
    th.Property(
        "api_url",
        th.StringType,
        default=DEFAULT_API_URL,
        title="API URL",
        description=(
            "Base URL of the Compliance API (regional deployments, the local sandbox); the "
            "API key is sent to this host only."
        ),
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE),
        default=MAX_PAGE_SIZE,
        title="Page size",
        description=f"Log files per listing request, 1 to {MAX_PAGE_SIZE}.",
    ),
    th.Property(
        "max_concurrent_downloads",
        th.IntegerType(minimum=1, maximum=32),
        default=12,
        title="Concurrent downloads",
        description=(
            "Log files downloaded at once, 1 to 32; records still come out in order. Calls to "
            "the API are paced to its rate limit whatever this is."
        ),
    ),
    th.Property(
        "max_calls_per_minute",
        th.NumberType(exclusive_minimum=0, maximum=100_000),
        title="Calls a minute at most",
        description=(
            "Optional cap on calls a minute to the API, for a key several pipelines share "
            "(give each its share). Unset, the tap paces its calls to what the API allows, "
            "learned from its rate-limit headers or its 429s."
        ),
    ),
    th.Property(
        "downloads_per_minute",
        th.NumberType(exclusive_minimum=0, maximum=MAX_DOWNLOADS_PER_MINUTE),
        default=DOCUMENTED_DOWNLOADS_PER_MINUTE,
        title="Downloads a minute",
        description=(
            "Log file downloads a minute at most, from the first one: the API allows "
            f"{DOCUMENTED_DOWNLOADS_PER_MINUTE} a minute per key (raise it only where OpenAI "
            "allows more). A lower limit learned from the API's rate-limit headers or 429s "
            "takes over, and max_calls_per_minute caps every call."
        ),
    ),
    th.Property(
        "max_run_minutes",
        th.NumberType(exclusive_minimum=0, maximum=7 * 24 * 60),
        title="Run budget",
        description=(
            "Optional: minutes after which the run takes no new log file, emits the files "
            "already downloading, writes its last STATE, says how far it got and exits 0; the "
            "next run goes on from there. Set it below a scheduler's timeout, so that a long "
            "first sync ends cleanly rather than being killed."
        ),
    ),
    th.Property(
        "max_tries",
        th.IntegerType(minimum=1, maximum=100),
        default=6,
        title="Tries per request",
        description="Tries of a request (429, 5xx, timeouts, dropped connections) before failing.",
    ),
    th.Property(
        "retry_initial_wait",
        th.NumberType(exclusive_minimum=0, maximum=300),
        default=1.0,
        title="First retry wait",
        description=(
            "Seconds before the first retry; each further retry waits about twice as long "
            "(capped at 60 s), or as long as the API's Retry-After asks."
        ),
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1, maximum=3600),
        default=300,
        title="Request timeout",
        description="Seconds to wait for the next bytes of a response (the read timeout).",
    ),
    th.Property(
        "progress_interval",
        th.NumberType(minimum=0, maximum=3600),
        default=5.0,
        title="Progress interval",
        description=(
            "Seconds between progress lines per stream (files done of files listed so far, "
            "records, MB/s, end_time reached)."
        ),
    ),
    th.Property(
        "connect_timeout",
        th.NumberType(exclusive_minimum=0, maximum=600),
        default=10.0,
        title="Connect timeout",
        description=(
            "Seconds to wait for a connection to the API or the storage host; "
            "request_timeout then bounds each wait for the next bytes of a response."
        ),
    ),
    th.Property(
        "lookback_minutes",
        th.IntegerType(minimum=0, maximum=7 * 24 * 60),
        default=60,
        title="Lookback",
        description=(
            "Minutes before the bookmark every listing starts, so that a log file the API "
            "publishes late, or lists out of end_time order, is still synced on the next run "
            "(exactly once: files already synced in that window are skipped by id). 0 turns "
            "it off."
        ),
    ),
    th.Property(
        "max_retry_after",
        th.NumberType(minimum=1, maximum=24 * 60 * 60),
        default=900,
        title="Longest Retry-After",
        description=(
            "Seconds the tap waits at most when the API answers with a Retry-After; asked to "
            "wait longer, the sync stops at once saying so (the bookmark covers only "
            "completed files), rather than sleep for hours."
        ),
    ),
    th.Property(
        "max_line_size_mib",
        th.NumberType(minimum=1, maximum=1024),
        default=32,
        title="Longest line",
        description=(
            "MiB a log file line (one event) may hold; a longer line is a malformed line "
            "(see on_malformed_line), so one huge line cannot exhaust memory."
        ),
    ),
    th.Property(
        "replace_nul_characters",
        th.BooleanType,
        default=True,
        title="Replace NUL characters",
        description=(
            "Replace U+0000 (NUL) in an event's text with U+FFFD, the one change the tap makes "
            "to a value: PostgreSQL cannot store U+0000 in text or jsonb, so a file holding "
            "one would fail its load at every run until it expires. false keeps it, for "
            "targets that can store it."
        ),
    ),
    th.Property(
        "batch_max_seconds",
        th.NumberType(exclusive_minimum=0, maximum=24 * 60 * 60),
        default=60,
        title="Longest batch",
        description=(
            "With batch_config: seconds a batch file gathers whole log files before it is "
            "sent, if it does not reach batch_config.batch_size records first."
        ),
    ),
    th.Property(
        "on_malformed_line",
        th.StringType(allowed_values=["fail", "reject"]),
        default="fail",
        title="On a malformed line",
        description=(
            "What to do with a log file line that is not JSON objects, or an event without "
            "event_id: 'fail' stops the sync naming the file and line (the bookmark stays "
            "before that file); 'reject' loads the rest and emits the line, with its file, "
            "line number and error, to the rejected_lines stream."
        ),
    ),
).to_dict()
# The stateful tables' settings (tables.py).
CONFIG_SCHEMA["properties"].update(STATEFUL_SETTINGS)


def complete(config: dict[str, t.Any], schema: t.Mapping[str, t.Any]) -> None:
    """Fill in what is unset: defaults, the cookbook's key variable, a start 30 days back."""
    for name, value in config.items():
        # The SDK reads config files with decimals for numbers; settings are plain floats.
        if isinstance(value, decimal.Decimal):
            config[name] = float(value)
    for name, setting in schema["properties"].items():
        if "default" in setting:
            config.setdefault(name, setting["default"])
    if not config.get("api_key") and os.environ.get(LEGACY_KEY_VARIABLE):
        config["api_key"] = os.environ[LEGACY_KEY_VARIABLE]
    if isinstance(config.get("api_key"), str):
        # Copy and paste can add spaces or a line break at the ends.
        config["api_key"] = config["api_key"].strip()
    if not config.get("start_date"):
        now = datetime.datetime.now(datetime.UTC)
        config["start_date"] = format_timestamp(now - RETENTION)


def key_problem(api_key: str) -> str | None:
    """Why a key cannot travel in an HTTP header, if it cannot (never quoting the key)."""
    key = api_key.strip()
    if key.isascii() and key.isprintable() and " " not in key:
        return None
    return (
        "Setting 'api_key' holds a space, a line break or another character an HTTP header "
        "cannot carry: copy the key again, as one line."
    )


def problems(config: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]) -> list[str]:
    """Each thing wrong with the settings, in a sentence naming the setting."""
    found = _schema_problems(config, schema)
    if not isinstance(config.get("api_key"), str) or not config["api_key"].strip():
        found.append(
            "Setting 'api_key' is missing or empty: set it (or TAP_OPENAI_COMPLIANCE_API_KEY, or "
            f"{LEGACY_KEY_VARIABLE}) to your Compliance API key."
        )
    elif problem := key_problem(config["api_key"]):
        found.append(problem)
    if not config.get("workspace_id") and not config.get("organization_id"):
        found.append(
            "Set 'workspace_id' (a ChatGPT workspace UUID), 'organization_id' (org-...), or both."
        )
    api_url = config.get("api_url")
    if isinstance(api_url, str) and not _is_web_address(api_url):
        # Not quoted: a careless URL can hold credentials.
        found.append(
            "Setting 'api_url' must be an https:// address (http:// for a local test server)."
        )
    for name in ("start_date", "end_date"):
        value = config.get(name)
        if value is None:
            continue
        try:
            parse_timestamp(str(value))
        except ValueError:
            found.append(
                f"Setting '{name}' is not a date-time: {value!r}. Use ISO 8601, e.g. "
                "2026-01-31T00:00:00Z."
            )
    if config.get("batch_config") and (
        config.get("stream_maps") or config.get("flattening_enabled")
    ):
        found.append(
            "Setting 'batch_config' cannot be combined with 'stream_maps' or "
            "'flattening_enabled': the SDK writes batch files without them, so mapped, hashed "
            "or flattened fields would land as they came. Use RECORD messages for these."
        )
    found.extend(_event_type_problems(config))
    found.extend(stateful_table_problems(config))
    return found


def _is_web_address(url: str) -> bool:
    """Whether ``url`` names a host over HTTP(S)."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("https", "http") and bool(parts.hostname)
    except ValueError:
        return False


def _schema_problems(config: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]) -> list[str]:
    """What the settings' JSON Schema (the SDK's built-in settings included) finds wrong."""
    # jsonschema quotes the values it refuses: it sees the key masked.
    masked = {**config, "api_key": REDACTED} if "api_key" in config else config
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"Setting '{'.'.join(map(str, error.path))}': {error.message}."
        if error.path
        else f"Settings: {error.message}."
        for error in validator.iter_errors(masked)
        # The one required setting gets a message of its own (problems()).
        if error.validator != "required"
    ]


def _event_type_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """Names in ``event_types`` that name no feed, or a feed whose route has no id set."""
    found = []
    for name in config.get("event_types") or []:
        try:
            feed = feed_named(name) if isinstance(name, str) else None
        except UnknownFeedError as exc:
            found.append(str(exc))
            continue
        if feed is None:
            found.append(f"Setting 'event_types' holds {name!r}, which is not a feed's name.")
        elif not config.get(feed.scope.id_setting):
            found.append(_route_without_id(feed))
    return found


def _route_without_id(feed: Feed) -> str:
    """A feed named in ``event_types`` whose route has no id set."""
    twin = next(
        (other for other in KNOWN_FEEDS if other.event_type == feed.event_type and other != feed),
        None,
    )
    hint = f" The {twin.scope.label}'s {feed.event_type} is {twin.name}." if twin else ""
    return (
        f"Event type {feed.name} is the {feed.scope.label}'s feed: set '{feed.scope.id_setting}' "
        f"or remove it from 'event_types'.{hint}"
    )


def selected_feeds(config: t.Mapping[str, t.Any]) -> list[Feed]:
    """The feeds ``event_types`` names, or every known feed whose route has an id."""
    if configured := config.get("event_types"):
        return list(dict.fromkeys(feed_named(str(name)) for name in configured))
    return default_feeds(config)
