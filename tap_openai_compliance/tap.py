"""The tap: settings, streams, and a plain message when a sync cannot go on."""

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
from tap_openai_compliance.streams import LogEventsStream
from tap_openai_compliance.throttle import ApiThrottle

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import PurePath

    import click

# urllib3 logs every request line at DEBUG, and a download's request line is a signed URL
# whose query string is a credential.
logging.getLogger("urllib3").setLevel(logging.INFO)


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

    def __init__(
        self,
        *,
        config: dict[str, t.Any] | PurePath | str | list[PurePath | str] | None = None,
        **kwargs: t.Any,
    ) -> None:
        if config is None or isinstance(config, dict):
            config = settings.with_fallbacks(config or {})
        super().__init__(config=config, **kwargs)

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Validate without ever quoting the API key.

        The SDK's validator quotes offending values in its messages; it runs here on a copy
        whose key is masked, and the defaults it fills in are copied back.
        """
        masked = {**self._config, "api_key": settings.REDACTED}
        schema_errors = self._schema_errors(masked)
        for name, value in masked.items():
            if name != "api_key":
                self._config.setdefault(name, value)
        errors = schema_errors + settings.problems(self._config)
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        return errors

    def _schema_errors(self, config: dict[str, t.Any]) -> list[str]:
        """What the JSON schema (with the SDK's built-in settings) finds wrong."""
        # The SDK's own validator and message format, so built-in settings (stream maps,
        # flattening) are checked as the SDK would; only their home is private.
        from singer_sdk.plugin_base import JSONSchemaValidator, _format_validation_error

        # A copy: the SDK adds its built-in settings to the dict it is given.
        schema = copy.deepcopy(self.config_jsonschema)
        self.append_builtin_config(schema)
        return [
            _format_validation_error(e) for e in JSONSchemaValidator(schema).iter_errors(config)
        ]

    @override
    def discover_streams(self) -> list[Stream]:
        throttle = ApiThrottle(int(self.config["max_concurrent_downloads"]))
        streams: list[Stream] = [
            LogEventsStream(self, name, throttle)
            for name in settings.selected_event_types(self.config)
        ]
        streams.append(LogFilesStream(self))
        if self.config.get("on_malformed_line") == "reject":
            streams.append(RejectedLinesStream(self))
        return streams

    @override
    @classmethod
    def invoke(cls, **kwargs: t.Any) -> None:
        with cls._ending_plainly():
            super().invoke(**kwargs)

    @override
    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        # --test syncs from inside click's option handling, before invoke runs.
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
