"""The tap: its settings, its streams, and a plain message when a sync cannot go on."""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import json
import logging
import os
import signal
import sys
import threading
import typing as t
from pathlib import Path

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from typing_extensions import override

from tap_openai_compliance import settings
from tap_openai_compliance.bookmark import UnusableStateError, given_state
from tap_openai_compliance.errors import ComplianceTapError, Interrupted
from tap_openai_compliance.output import MessageWriter, OutputError
from tap_openai_compliance.pacing import Pacer
from tap_openai_compliance.run import Run, quiet
from tap_openai_compliance.side_streams import LogFilesStream, RejectedLinesStream
from tap_openai_compliance.stateful import StatefulStream, stateful_streams
from tap_openai_compliance.streams import REJECT, LogEventsStream, Pacers

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

    import click
    from singer_sdk.plugin_base import _ConfigInput


class TapOpenAICompliance(Tap):
    """Singer tap for the OpenAI Compliance Logs Platform."""

    name = "tap-openai-compliance"
    config_jsonschema = settings.CONFIG_SCHEMA
    message_writer_class = MessageWriter
    capabilities: t.ClassVar[list[t.Any]] = [
        PluginCapabilities.BATCH,
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
        # The stateful tables (stateful.py).
        TapCapabilities.ACTIVATE_VERSION,
    ]

    def __init__(self, **kwargs: t.Any) -> None:
        quiet(type(self).logger)
        super().__init__(**kwargs)
        # METRIC lines (a line per stream and per request) only when asked for.
        if not self.config.get("log_metrics"):
            self.metrics_logger.setLevel(logging.WARNING)
        # urllib3 logs every request line at DEBUG, and a download's request line is a
        # signed URL whose query string is a credential.
        logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLogger().level))
        if threading.current_thread() is threading.main_thread():
            # In place of the SDK's handlers, which end the process with exit code 0: an
            # orchestrator would record an interrupted sync as a success.
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, _stop)

    @functools.cached_property
    def run(self) -> Run:
        """This run: its time budget, from when the streams were first made."""
        return Run(self.config.get("max_run_minutes"))

    @override  # type: ignore[misc]
    def run_connection_test(self) -> bool:
        """The pre-flight check (``--test``): can each feed be read, and its files downloaded?

        One line per feed, then one ERROR line and exit 1 when something the settings ask for
        cannot be read: a feed named in event_types, or every feed. Overridden though the SDK
        marks it final: its own test syncs a record of each stream and stops at the first error.
        """
        log_streams = [s for s in self.streams.values() if isinstance(s, LogEventsStream)]
        feeds = [stream.preflight() for stream in log_streams]
        # The stateful tables read under no other (a user's canvases need a user first).
        tables = [
            stream.preflight()
            for stream in self.streams.values()
            if isinstance(stream, StatefulStream) and stream.parent_stream_type is None
        ]
        row = "%-28s %-13s %-8s %s"
        self.logger.info(row, "feed or table", "route", "readable", "detail")
        for check in [*feeds, *tables]:
            self.logger.info(
                row, check.name, check.kind, "yes" if check.readable else "no", check.detail
            )
        failing = [check for check in [*feeds, *tables] if check.failing]
        if feeds and not any(check.readable for check in feeds):
            failing = failing or feeds
        if failing:
            worst = failing[0]
            msg = (
                f"The pre-flight check failed: {len(failing)} of {len(feeds) + len(tables)} "
                f"feeds and tables cannot be read (first: {worst.name}: {worst.detail})."
            )
            raise ComplianceTapError(msg)
        self.logger.info(
            "The pre-flight check passed: every feed and table marked yes can be synced."
        )
        return True

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        state, wrapped = given_state(state)
        if wrapped is not None:
            self.logger.info("The state given is %s: the state it holds is used.", wrapped)
        for stream in self.streams.values():
            if isinstance(stream, LogEventsStream) and stream.name in state.get("bookmarks", {}):
                stream.check_bookmark(state["bookmarks"][stream.name])
        super().load_state(state)

    @override
    def discover_streams(self) -> list[Stream]:
        log_files = LogFilesStream(self)
        rejected_lines = (
            RejectedLinesStream(self) if self.config.get("on_malformed_line") == REJECT else None
        )
        named = bool(self.config.get("event_types"))
        pacers = self._pacers()
        streams: list[Stream] = [
            LogEventsStream(
                self,
                feed,
                named=named,
                pacers=pacers,
                run=self.run,
                log_files=log_files,
                rejected_lines=rejected_lines,
            )
            for feed in settings.selected_feeds(self.config)
        ]
        streams.append(log_files)
        if rejected_lines is not None:
            streams.append(rejected_lines)
        streams.extend(stateful_streams(self, pacers.listing.shared_cap, self.run))
        return streams

    def _pacers(self) -> Pacers:
        """One pace per endpoint, shared by every stream: the key's limits are per endpoint."""
        max_pause = float(self.config["max_retry_after"])
        shared_cap = Pacer(self.config.get("max_calls_per_minute"), max_pause=max_pause)
        return Pacers(
            listing=Pacer(max_pause=max_pause, shared_cap=shared_cap),
            download=Pacer(
                max_pause=max_pause,
                budget_per_minute=float(self.config["downloads_per_minute"]),
                shared_cap=shared_cap,
            ),
        )

    # -- SDK seams, each checked by tests/test_sdk_seams.py --------------------------------

    @override  # type: ignore[misc]
    def sync_all(self) -> None:
        """Sync every stream, then end with one line saying what the run did and why it ended.

        ``sync_all`` is marked final in the SDK, but it is the one place where the whole run
        is over (or has failed) and this tap's shared run state can be read.
        """
        schema = copy.deepcopy(self.config_jsonschema)
        self.append_builtin_config(schema)
        for warning in settings.warnings(self.config, schema):
            self.logger.warning("%s", warning)
        log_streams = [s for s in self.streams.values() if isinstance(s, LogEventsStream)]
        failure: BaseException | None = None
        try:
            super().sync_all()
            if log_streams and all(stream.name in self.run.skipped for stream in log_streams):
                msg = (
                    "The API key may read none of the feeds synced by default (each was "
                    "refused with HTTP 403; see the warnings above): grant it the Compliance "
                    "Logs Platform read permission or the feeds' own scopes, or check that it "
                    "belongs to this workspace or organization."
                )
                raise ComplianceTapError(msg)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            bookmarks = {
                name: bookmark.get("replication_key_value")
                for name, bookmark in self.state.get("bookmarks", {}).items()
            }
            not_reached = [
                stream.name
                for stream in log_streams
                if stream.selected
                and stream.name not in self.run.streams
                and stream.name not in self.run.skipped
            ]
            self.logger.info(
                "%s", self.run.summary(self.run.ending(failure), bookmarks, not_reached)
            )

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Complete the settings, then check them, never quoting the API key.

        Private, and overridden because the SDK has no public hook for it: its own check
        quotes refused values (the key among them), and leaves out the tap's checks.
        """
        schema = copy.deepcopy(self.config_jsonschema)
        # The SDK's built-in settings (stream maps, flattening) are checked too.
        self.append_builtin_config(schema)
        settings.complete(self._config, schema)
        errors = settings.problems(self._config, schema)
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        return errors

    @override
    @classmethod
    def invoke(cls, *, state: t.IO[str] | None = None, **kwargs: t.Any) -> None:
        with cls._ending_plainly():
            super().invoke(state=_json_file(state), **kwargs)

    @override
    @classmethod
    def cb_config(
        cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]
    ) -> _ConfigInput:
        # click reads --config from its option callback, before invoke: each file is checked
        # to be one JSON object first, so that a broken file is one plain line.
        with cls._ending_plainly():
            for path in value:
                if path != "ENV":
                    _check_config_file(path)
            return super().cb_config(ctx, param, value)

    @override
    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        # click runs --test from its option callback, before invoke.
        with cls._ending_plainly():
            super().cb_test(ctx, param, value)

    @classmethod
    @contextlib.contextmanager
    def _ending_plainly(cls) -> Iterator[None]:
        """End an expected failure with one plain ERROR line and exit 1, not a traceback."""
        try:
            yield
        except Interrupted as stop:
            cls.logger.warning(
                "Stopped by %s. The last STATE covers only log files whose records were all "
                "emitted: run again to resume.",
                signal.Signals(stop.signum).name,
            )
            sys.exit(128 + stop.signum)
        except OutputError as exc:
            # Nothing more can go out: what is still buffered would only fail again at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            cls.logger.error("%s", exc)
            sys.exit(1)
        except ComplianceTapError as exc:
            # The last STATE printed still covers only completed files.
            cls.logger.error("%s", exc)
            sys.exit(1)
        except ConfigValidationError as exc:
            # Each problem once, in its own words; the SDK would add "Config validation failed".
            for problem in exc.errors:
                cls.logger.error("%s", problem)
            sys.exit(1)
        except BrokenPipeError:
            # Whatever read stdout is gone; anything still buffered could only fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            cls.logger.error(
                "The target stopped reading the tap's output, so the sync stopped. Check the "
                "target's own log; the last STATE it read covers only completed files."
            )
            sys.exit(1)


def _stop(signum: int, frame: FrameType | None) -> None:
    """End the sync where it is: every STATE written so far is a safe resume point."""
    raise Interrupted(signum)


class UnusableConfigError(ComplianceTapError):
    """A config file that is not one JSON object of settings."""


def _check_config_file(path: str) -> None:
    """Fail plainly unless ``path`` holds one JSON object (never quoting what it holds)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_no_constant)
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror})"
    except UnicodeDecodeError:
        problem = "is not UTF-8 text"
    except ValueError as exc:
        # json's messages give a position, never the text around it (which may hold the key).
        problem = f"is not JSON ({exc})" if isinstance(exc, json.JSONDecodeError) else str(exc)
    else:
        if isinstance(value, dict):
            return
        kinds = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}
        problem = f"holds {kinds.get(type(value), 'a number')}, not an object"
    msg = (
        f"The config file {path} {problem}. Write it as one JSON object of settings, e.g. "
        '{"api_key": "sk-admin-...", "workspace_id": "..."}.'
    )
    raise UnusableConfigError(msg)


def _no_constant(name: str) -> t.NoReturn:
    """Refuse NaN and Infinity, which JSON does not have."""
    raise ValueError(f"is not JSON ({name} is not a JSON value)")


def _json_file(file: t.IO[str] | None) -> t.IO[str] | None:
    """A state file's text, once it is known to hold a JSON object (an empty file is none)."""
    if file is None:
        return None
    text = file.read()
    if not text.strip():
        TapOpenAICompliance.logger.warning(
            "The state file %s is empty: the sync starts from start_date. (A run that printed "
            "no STATE leaves nothing to save: keep the state of the run before it.)",
            getattr(file, "name", ""),
        )
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        problem = f"is not JSON ({exc})"
    else:
        if isinstance(value, dict):
            return io.StringIO(text)
        problem = "is not a Singer state (a JSON object)"
    msg = (
        f"The state file {getattr(file, 'name', '')} {problem}. Give the tap the state it last "
        "wrote (the value of its last STATE message), or none to start from start_date."
    )
    raise UnusableStateError(msg)
