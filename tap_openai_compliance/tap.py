"""The tap: its settings, its streams, and a plain message when a sync cannot go on."""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import sys
import typing as t

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from typing_extensions import override

from tap_openai_compliance import settings
from tap_openai_compliance.errors import ComplianceTapError
from tap_openai_compliance.output import MessageWriter
from tap_openai_compliance.side_streams import LogFilesStream, RejectedLinesStream
from tap_openai_compliance.streams import REJECT, LogEventsStream
from tap_openai_compliance.throttle import ApiThrottle

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    import click


class TapOpenAICompliance(Tap):
    """Singer tap for the OpenAI Compliance Logs Platform."""

    name = "tap-openai-compliance"
    config_jsonschema = settings.CONFIG_SCHEMA
    message_writer_class = MessageWriter
    # No BATCH: a bookmark is saved as each file completes, which is only safe when its
    # records were written as messages, not into a batch file the target has not seen yet.
    capabilities: t.ClassVar[list[t.Any]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        # urllib3 logs every request line at DEBUG, and a download's request line is a
        # signed URL whose query string is a credential.
        logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLogger().level))

    @override
    def discover_streams(self) -> list[Stream]:
        throttle = ApiThrottle(int(self.config["max_concurrent_downloads"]))
        log_files = LogFilesStream(self)
        rejected_lines = (
            RejectedLinesStream(self) if self.config.get("on_malformed_line") == REJECT else None
        )
        streams: list[Stream] = [
            LogEventsStream(
                self,
                event_type,
                throttle=throttle,
                log_files=log_files,
                rejected_lines=rejected_lines,
            )
            for event_type in settings.selected_event_types(self.config)
        ]
        streams.append(log_files)
        if rejected_lines is not None:
            streams.append(rejected_lines)
        return streams

    # -- SDK seams, each checked by tests/test_sdk_seams.py --------------------------------

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
    def invoke(cls, **kwargs: t.Any) -> None:
        with cls._ending_plainly():
            super().invoke(**kwargs)

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
        except ComplianceTapError as exc:
            # The last STATE printed still covers only completed files.
            cls.logger.error("%s", exc)
            sys.exit(1)
        except BrokenPipeError:
            # Whatever read stdout is gone; anything still buffered could only fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            cls.logger.error(
                "The target stopped reading the tap's output, so the sync stopped. Check the "
                "target's own log; the last STATE it read covers only completed files."
            )
            sys.exit(1)
