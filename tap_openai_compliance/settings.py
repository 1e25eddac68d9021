"""The tap's settings: their schema, defaults, and checks that name what is wrong."""

from __future__ import annotations

import datetime
import decimal
import difflib
import ipaddress
import os
import re
import typing as t
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
from singer_sdk import typing as th

from tap_openai_compliance.feeds import (
    KNOWN_FEEDS,
    Feed,
    Scope,
    UnknownFeedError,
    default_feeds,
    feed_named,
)
from tap_openai_compliance.listing import MAX_PAGE_SIZE
from tap_openai_compliance.tables import STATEFUL_SETTINGS, stateful_table_problems
from tap_openai_compliance.timestamps import (
    OUT_OF_RANGE,
    OutOfRangeError,
    format_timestamp,
    latest_trusted,
    parse_timestamp,
)
from tap_openai_compliance.wording import REDACTED, shown

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
        "min_download_kib_per_second",
        th.NumberType(exclusive_minimum=0, maximum=1024 * 1024),
        default=64,
        title="Slowest download",
        description=(
            "KiB a second a log file's download must average (over its listed size, plus 10 s "
            "for the first bytes); a slower one is given up and tried again, so a storage host "
            "trickling bytes cannot hold a file for hours."
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
        "log_metrics",
        th.BooleanType,
        default=False,
        title="Log metrics",
        description=(
            "Log the SDK's METRIC lines (record counts and request timings, a line per stream "
            "and per listing request); off, the run ends with one summary line instead."
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
    # Unset, not empty: an empty one (an unset variable in meltano.yml) is refused by problems().
    if config.get("start_date") is None:
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
    if isinstance(api_url, str) and (problem := _api_url_problem(api_url)):
        found.append(problem)
    found.extend(_id_problems(config))
    found.extend(_date_problems(config))
    if config.get("batch_config") and (
        config.get("stream_maps") or config.get("flattening_enabled")
    ):
        found.append(
            "Setting 'batch_config' cannot be combined with 'stream_maps' or "
            "'flattening_enabled': the SDK writes batch files without them, so mapped, hashed "
            "or flattened fields would land as they came. Use RECORD messages for these."
        )
    found.extend(_event_type_problems(config))
    found.extend(_stream_map_config_problems(config))
    found.extend(stateful_table_problems(config))
    return found


_CONFIG_READ = re.compile(r"""config\[\s*['"]([^'"]+)['"]\s*\]""")


def _stream_map_config_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """Values the stream maps read from ``stream_map_config`` that are not set there.

    A map would fail on the first record with a message about None (an unset EMAIL_HASH_SALT
    under the masked extractor), deep in a stream.
    """
    maps = config.get("stream_maps")
    if not isinstance(maps, dict):
        return []
    given = config.get("stream_map_config")
    given = given if isinstance(given, dict) else {}
    expressions = [
        expression
        for stream_map in maps.values()
        if isinstance(stream_map, dict)
        for expression in stream_map.values()
        if isinstance(expression, str)
    ]
    read = sorted({name for text in expressions for name in _CONFIG_READ.findall(text)})
    return [
        f"Setting 'stream_map_config.{name}' is not set, but stream_maps read it "
        f"(config['{name}']): set it (the masked extractor takes it from EMAIL_HASH_SALT, a long "
        "random secret), or the maps fail on the first record."
        for name in read
        if given.get(name) in (None, "")
    ]


def warnings(config: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]) -> list[str]:
    """What in the settings is allowed but likely not meant: one line each, never the key."""
    found = []
    unknown = [name for name in config if name not in schema["properties"]]
    for name in sorted(unknown):
        near = difflib.get_close_matches(name, schema["properties"], n=1)
        guess = f" (did you mean '{near[0]}'?)" if near else ""
        found.append(f"Setting '{name}' is not a setting of this tap{guess}: it is ignored.")
    if not config.get("event_types"):
        for scope in Scope:
            if config.get(scope.id_setting):
                continue
            names = ", ".join(feed.name for feed in KNOWN_FEEDS if feed.scope is scope)
            found.append(
                f"'{scope.id_setting}' is not set, so the {scope.label}'s feeds ({names}) are "
                f"not synced; set it to sync them, or name the feeds to sync in event_types."
            )
    if (where := _key_written_in_meltano_yml()) is not None:
        found.append(
            f"The API key is written in {where}, a file kept in version control: move it to "
            ".env or the environment (TAP_OPENAI_COMPLIANCE_API_KEY), and replace the key."
        )
    return found


# A key written out in meltano.yml (not a $VARIABLE), but for the sandbox's own.
_KEY_IN_YAML = re.compile(r"^\s*api_key:\s*(?!\$|sandbox-key\s*$)['\"]?[^\s'\"#]", re.MULTILINE)


def _key_written_in_meltano_yml() -> str | None:
    """meltano.yml's path, when Meltano runs the tap and that file holds a key."""
    root = os.environ.get("MELTANO_PROJECT_ROOT")
    if not root:
        return None
    path = Path(root) / "meltano.yml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return str(path) if _KEY_IN_YAML.search(text) else None


def _date_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """Dates that are no date-time, out of range, empty, or that would sync nothing."""
    found = []
    dates: dict[str, datetime.datetime] = {}
    for name in ("start_date", "end_date"):
        value = config.get(name)
        if value is None:
            continue
        if isinstance(value, str) and not value.strip():
            found.append(
                f"Setting '{name}' is empty (in meltano.yml, a variable that is not set, such "
                f"as $BACKFILL_START?): set it to a date-time such as 2026-01-31T00:00:00Z, or "
                "remove it."
            )
            continue
        try:
            dates[name] = parse_timestamp(str(value))
        except OutOfRangeError:
            found.append(f"Setting '{name}' is {value!r}, {OUT_OF_RANGE}.")
        except ValueError:
            found.append(
                f"Setting '{name}' is not a date-time: {value!r}. Use ISO 8601, e.g. "
                "2026-01-31T00:00:00Z."
            )
    start, end = dates.get("start_date"), dates.get("end_date")
    if start is not None and start > latest_trusted():
        found.append(
            f"Setting 'start_date' is {format_timestamp(start)}, in the future: no log file "
            "ends after it yet. Set a date in the past (the API keeps 30 days), or remove it."
        )
    if start is not None and end is not None and end < start:
        found.append(
            f"Setting 'end_date' ({format_timestamp(end)}) is before 'start_date' "
            f"({format_timestamp(start)}): no log file lies between them. Swap them."
        )
    return found


def _api_url_problem(url: str) -> str | None:
    """What is wrong with ``api_url``, in words that never quote it (it may hold credentials)."""
    example = f"e.g. {DEFAULT_API_URL}"
    try:
        parts = urlsplit(url.strip())
        # A port that is no number fails here too.
        host, _port = parts.hostname or "", parts.port
    except ValueError:
        return f"Setting 'api_url' is not a URL: write the API's base address, {example}."
    if parts.scheme not in ("https", "http") or not host:
        return f"Setting 'api_url' must be an https:// address, {example}."
    if parts.username is not None or parts.password is not None:
        return (
            "Setting 'api_url' holds a user name or password: the API takes the key in a "
            f"header only. Write the address alone, {example}."
        )
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return f"Setting 'api_url' holds a '?' or '#': write the base address alone, {example}."
    if parts.scheme == "http" and not _is_local(host):
        return (
            "Setting 'api_url' is a plain http:// address, which would send the API key "
            f"unencrypted: use https://, {example} (http:// is for a local test server only)."
        )
    if not parts.path.rstrip("/").endswith("/compliance"):
        return (
            "Setting 'api_url' must be the Compliance API's base address, ending in "
            f"/compliance, {example}: every call goes below it."
        )
    return None


def _is_local(host: str) -> bool:
    """Whether ``host`` is this machine or a private network's (a local test server)."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


# The shape of each route's id, and what it is, as the API gives them.
ID_SHAPES = {
    "workspace_id": (
        re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        "a workspace UUID (8-4-4-4-12 hexadecimal digits, as the Admin Console shows it)",
    ),
    "organization_id": (
        re.compile(r"org-[A-Za-z0-9]+"),
        "an API Platform organization id (org- followed by letters and digits)",
    ),
}


def _id_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """Ids not of the shape the API gives them: they would address another path, or none."""
    return [
        f"Setting '{name}' is {shown(value, length=60)}, not {what}: copy it again, without "
        "spaces, quotes or a path."
        for name, (shape, what) in ID_SHAPES.items()
        if (value := config.get(name)) and not (isinstance(value, str) and shape.fullmatch(value))
    ]


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
