"""Talking to the Compliance API: auth, retries, and errors a person can act on."""

from __future__ import annotations

import email.utils
import functools
import logging
import random
import sys
import time
import typing as t
from http import HTTPStatus
from urllib.parse import urlsplit

import backoff
import requests
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.streams import RESTStream
from typing_extensions import override

from tap_openai_compliance.errors import ComplianceTapError
from tap_openai_compliance.listing import ListingPage

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from backoff.types import Details


MAX_QUOTED_BODY = 300
MAX_RETRY_WAIT = 60.0

RETRIABLE_EXCEPTIONS = (
    RetriableAPIError,
    ConnectionError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

WHAT_TO_CHECK = {
    HTTPStatus.UNAUTHORIZED: "Check api_key: it must be a current Compliance API key.",
    HTTPStatus.FORBIDDEN: (
        "Check that the key was granted the compliance read scope for this workspace or "
        "organization (OpenAI support grants it)."
    ),
    HTTPStatus.NOT_FOUND: (
        "Check workspace_id / organization_id: the API does not know this workspace or "
        "organization (or the log file has passed the 30-day retention)."
    ),
    HTTPStatus.BAD_REQUEST: (
        "Check event_types: this event type may belong to the other scope (workspace or "
        "organization), or may not exist."
    ),
    HTTPStatus.UNPROCESSABLE_ENTITY: "Check start_date, end_date, page_size and event_types.",
}


class ComplianceAPIError(ComplianceTapError, FatalAPIError):
    """The API refused a request in a way retrying cannot fix."""


def quote_body(response: requests.Response) -> str:
    """The API's own error message, shortened: the body is untrusted text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text
    else:
        text = _error_text(body)
    text = " ".join(text.split())
    if len(text) > MAX_QUOTED_BODY:
        text = text[:MAX_QUOTED_BODY] + "…"
    return text


def _error_text(body: t.Any) -> str:
    """Pick the message out of ``{"error": {"message"}}`` or FastAPI's ``{"detail": [...]}``."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
        detail = body.get("detail")
        if isinstance(detail, list):
            return "; ".join(
                f"{'.'.join(map(str, item.get('loc', [])))}: {item.get('msg', '')}"
                if isinstance(item, dict)
                else str(item)
                for item in detail
            )
        if detail is not None:
            return str(detail)
    return str(body)


def describe_failure(exc: BaseException) -> str:
    """Name a failed request's cause without the URL: a signed URL carries credentials."""
    if isinstance(exc, (RetriableAPIError, ComplianceTapError)):
        return str(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        return "the request timed out"
    if isinstance(
        exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
    ):
        return "the connection broke off in the middle of the body"
    if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError)):
        return "the connection failed (refused, reset or dropped)"
    return type(exc).__name__


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The wait a 429 or 503 asks for in ``Retry-After``: seconds or an HTTP date."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ComplianceStream(RESTStream[ListingPage]):
    """Base for streams that call the Compliance API."""

    # The key must never follow a redirect: download links are fetched by hand, key-less.
    allow_redirects = False

    @override
    @property
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @override
    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.config["api_key"])

    @override
    @property
    def http_headers(self) -> dict[str, str]:
        return {"User-Agent": self.user_agent, "Accept": "application/json"}

    @override
    @property
    def timeout(self) -> int:
        return int(self.config["request_timeout"])

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        # The SDK announces every failed sync at ERROR; for an expected failure the tap's
        # own one-line message says it all, so the announcement drops to DEBUG.
        if level >= logging.ERROR and isinstance(sys.exc_info()[1], ComplianceTapError):
            level = logging.DEBUG
        super().log(message, *args, level=level, **kwargs)

    def describe_request(self, response: requests.Response) -> str:
        """What the failed request was for, in the user's terms."""
        return f"Calling {request_path(response)}"

    @override
    def response_error_message(self, response: requests.Response) -> str:
        reason = response.reason or HTTPStatus(response.status_code).phrase
        message = f"{self.describe_request(response)} failed: HTTP {response.status_code} {reason}"
        if quoted := quote_body(response):
            message += f": {quoted}"
        return message

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(self.response_error_message(response), response)
        if status >= HTTPStatus.BAD_REQUEST:
            message = self.response_error_message(response)
            if hint := WHAT_TO_CHECK.get(HTTPStatus(status)):
                message = f"{message.rstrip('.')}. {hint}"
            raise ComplianceAPIError(message)

    @override
    def backoff_max_tries(self) -> int:
        return int(self.config["max_tries"])

    @override
    def backoff_wait_generator(self) -> Generator[float, BaseException | None, None]:
        """Exponential backoff with jitter, never shorter than the server's ``Retry-After``."""
        initial = float(self.config["retry_initial_wait"])
        exception = yield 0.0
        for attempt in range(1_000_000):
            ceiling = min(MAX_RETRY_WAIT, initial * 2**attempt)
            wait = random.uniform(ceiling / 2, ceiling)
            if (asked := retry_after_seconds(exception)) is not None:
                wait = asked + random.uniform(0, initial)
            exception = yield wait

    @override
    def backoff_handler(self, details: Details) -> None:
        self.logger.warning(
            "Retrying in %.1f s (try %d of %d): %s",
            details.get("wait", 0.0),
            details["tries"],
            self.backoff_max_tries(),
            describe_failure(t.cast("BaseException", details.get("exception"))),
        )

    @override
    def request_decorator(self, func: Callable[..., t.Any]) -> Callable[..., t.Any]:
        """Retry transient failures; when tries run out, fail with one plain message.

        The SDK's own decorator logs through ``backoff``'s default handlers, which print the
        exception text, and so a signed download URL: this one logs only what is safe.
        """
        retrying = backoff.on_exception(
            self.backoff_wait_generator,
            RETRIABLE_EXCEPTIONS,
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            jitter=None,
            logger=None,
        )(func)

        @functools.wraps(func)
        def call(*args: t.Any, **kwargs: t.Any) -> t.Any:
            try:
                return retrying(*args, **kwargs)
            except RETRIABLE_EXCEPTIONS as exc:
                message = (
                    f"Gave up after {self.backoff_max_tries()} tries: {describe_failure(exc)}. "
                    "The API or the network kept failing; run the sync again later (nothing "
                    "after the last bookmark is lost)."
                )
                raise ComplianceAPIError(message) from None

        return call


def request_path(response: requests.Response) -> str:
    """The path of the request, never its query string (a signed URL's is a credential)."""
    return urlsplit(response.url).path
