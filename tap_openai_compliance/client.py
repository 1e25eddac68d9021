"""Talking to the Compliance API: auth, retries, and errors a person can act on."""

from __future__ import annotations

import email.utils
import functools
import logging
import math
import random
import re
import sys
import time
import typing as t
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

import orjson
import requests
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import AbortedSyncExceptionBase, FatalAPIError, RetriableAPIError
from singer_sdk.streams import RESTStream
from typing_extensions import override
from urllib3.exceptions import NewConnectionError, ReadTimeoutError

from tap_openai_compliance.errors import ComplianceTapError
from tap_openai_compliance.listing import ListingPage
from tap_openai_compliance.settings import REDACTED, key_problem

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable

    from singer_sdk import Tap

    from tap_openai_compliance.throttle import ApiThrottle

P = t.ParamSpec("P")
R = t.TypeVar("R")

MAX_QUOTED_BODY = 300
# An error body is read only this far: it is quoted in a message, never processed.
MAX_ERROR_BODY_READ = 64 * 1024
MAX_RETRY_WAIT = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0
# Signed-URL parameters shorter than this (a version, an algorithm name) are not secrets.
MIN_SECRET_LENGTH = 8
_BEARER_CREDENTIAL = re.compile(r"(?i)\bbearer\s+\S+")

RETRIABLE_EXCEPTIONS = (
    RetriableAPIError,
    ConnectionError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

GIVE_UP_ADVICE = (
    "The API or the network kept failing; run the sync again later (the last STATE covers "
    "only completed files, so nothing is lost)."
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


# Stops that are no unhandled error: failures the tap reports in one plain line of its own
# (tap.py), and the deliberate stop of a dry run (--test) at its record limit.
EXPECTED_FAILURES = (ComplianceTapError, BrokenPipeError, AbortedSyncExceptionBase)


class ComplianceAPIError(ComplianceTapError, FatalAPIError):
    """The API refused a request in a way retrying cannot fix, or tries ran out."""


def quote_body(response: requests.Response, secrets: Iterable[str] = ()) -> str:
    """The error message in a body, shortened, on one line, secrets masked: it is untrusted."""
    head = _body_head(response)
    try:
        text = _error_text(orjson.loads(head))
    except orjson.JSONDecodeError:
        text = head.decode("utf-8", errors="replace")
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    text = redact(text, secrets)
    if len(text) > MAX_QUOTED_BODY:
        text = text[:MAX_QUOTED_BODY] + "…"
    return text


def _body_head(response: requests.Response) -> bytes:
    """The start of a body, read no further than an error message needs."""
    try:
        return next(response.iter_content(MAX_ERROR_BODY_READ), b"")
    except requests.exceptions.RequestException:
        return b""


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


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret, and anything sent as a bearer credential, masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _BEARER_CREDENTIAL.sub(f"Bearer {REDACTED}", text)


def signed_url_secrets(url: str) -> list[str]:
    """The query values of a signed URL long enough to be a signature or a token."""
    return [value for _, value in parse_qsl(urlsplit(url).query) if len(value) >= MIN_SECRET_LENGTH]


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The wait a 429 or 503 asks for in ``Retry-After``: seconds or an HTTP date."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _is_refusal(exc: BaseException) -> bool:
    """Whether a failure is a 429: a call refused for going too fast."""
    response = getattr(exc, "response", None)
    return response is not None and response.status_code == HTTPStatus.TOO_MANY_REQUESTS


def request_path(response: requests.Response) -> str:
    """The path of the request, never its query string (a signed URL's is a credential)."""
    return urlsplit(response.url).path


class ComplianceStream(RESTStream[ListingPage]):
    """Base for streams that call the Compliance API."""

    # The key must never follow a redirect: download links are fetched by hand, key-less.
    allow_redirects = False

    def __init__(self, tap: Tap, *, throttle: ApiThrottle, **kwargs: t.Any) -> None:
        super().__init__(tap, **kwargs)
        self.throttle = throttle

    @override
    @property
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @override
    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.api_key)

    @property
    def api_key(self) -> str:
        """The key, without the spaces or line break a copy and paste can add at its ends."""
        key = str(self.config.get("api_key") or "")
        # Checked again here, for runs without config validation: http.client's own error
        # would quote the header, key and all.
        if problem := key_problem(key):
            raise ComplianceTapError(problem)
        return key.strip()

    @override
    @property
    def http_headers(self) -> dict[str, str]:
        return {"User-Agent": self.user_agent, "Accept": "application/json"}

    @override
    @property
    def timeout(self) -> tuple[float, float]:  # type: ignore[override]
        # The SDK passes this straight to requests, which takes (connect, read): a host that
        # does not answer is given up on in seconds, while a slow body keeps its read timeout.
        return (
            float(self.config.get("connect_timeout") or DEFAULT_CONNECT_TIMEOUT),
            float(self.config["request_timeout"]),
        )

    @property
    def request_subject(self) -> str:
        """What the SDK's requests (the listing) are for, in the user's terms."""
        return f"Calling {self.path}"

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        # The SDK announces every failed sync at ERROR; for an expected failure the tap's
        # own one-line message says it all, so the announcement drops to DEBUG.
        if level >= logging.ERROR and isinstance(sys.exc_info()[1], EXPECTED_FAILURES):
            level = logging.DEBUG
        super().log(message, *args, level=level, **kwargs)

    def describe_request(self, response: requests.Response) -> str:
        """What the failed request was for, in the user's terms."""
        return f"Calling {request_path(response)}"

    def status_text(self, response: requests.Response, secrets: Iterable[str] = ()) -> str:
        """``HTTP <status> <reason>: <the body's message>``, shortened and with secrets masked."""
        try:
            phrase = HTTPStatus(response.status_code).phrase
        except ValueError:
            phrase = ""
        text = f"HTTP {response.status_code} {response.reason or phrase}".rstrip()
        if quoted := quote_body(response, [self.api_key, *secrets]):
            text += f": {quoted}"
        return text

    @override
    def response_error_message(self, response: requests.Response) -> str:
        return f"{self.describe_request(response)} failed: {self.status_text(response)}"

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(self.status_text(response), response)
        if status >= HTTPStatus.MULTIPLE_CHOICES and status < HTTPStatus.BAD_REQUEST:
            # Following would send the key to wherever the redirect points.
            target = urlsplit(response.headers.get("Location", ""))
            message = (
                f"{self.describe_request(response)} failed: HTTP {status}, a redirect to "
                f"{target.scheme}://{target.netloc}{target.path}, which the tap does not "
                "follow with the API key. Check api_url: set it to the address the API "
                "answers at."
            )
            raise ComplianceAPIError(message)
        if status >= HTTPStatus.BAD_REQUEST:
            message = self.response_error_message(response)
            if hint := WHAT_TO_CHECK.get(HTTPStatus(status)):
                message = f"{message.rstrip('.')}. {hint}"
            raise ComplianceAPIError(message)

    def describe_failure(self, exc: BaseException) -> str:
        """Name a failed request's cause without its URL: a signed URL carries credentials."""
        connect_timeout, read_timeout = self.timeout
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        reason = getattr(inner, "reason", None)
        if isinstance(exc, (RetriableAPIError, ComplianceTapError)):
            return str(exc)
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return f"could not connect within {connect_timeout:g} s"
        if isinstance(exc, requests.exceptions.Timeout) or isinstance(inner, ReadTimeoutError):
            return f"no data arrived for {read_timeout:g} s"
        if isinstance(
            exc,
            (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError),
        ):
            return "the connection broke off in the middle of the body"
        if isinstance(reason, NewConnectionError):
            return "could not connect (refused or unreachable)"
        if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError)):
            return "the connection was dropped or reset"
        if isinstance(exc, requests.exceptions.InvalidHeader):
            return "a request header could not be sent"
        return type(exc).__name__

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
    def request_decorator(self, func: Callable[P, R]) -> Callable[P, R]:
        return self.with_retries(func, self.request_subject)

    def with_retries(
        self,
        func: Callable[P, R],
        subject: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Callable[P, R]:
        """``func``, tried again after transient failures; when tries run out, one plain error.

        ``subject`` says what the call is for (a log file's download names the file). Only
        safe text is logged: the exceptions of ``requests`` quote URLs, and a signed download
        URL is a credential. ``sleep`` waits between tries (a download's wait ends early
        when the sync stops).
        """

        @functools.wraps(func)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            tries = self.backoff_max_tries()
            waits = self.backoff_wait_generator()
            next(waits)
            attempt = 1
            while True:
                self.throttle.wait_for_pause(sleep)
                try:
                    return func(*args, **kwargs)
                except RETRIABLE_EXCEPTIONS as exc:
                    cause = self.describe_failure(exc)
                    if attempt >= tries:
                        message = (
                            f"{subject} failed {attempt} times, giving up. Last failure: "
                            f"{cause}. {GIVE_UP_ADVICE}"
                        )
                        raise ComplianceAPIError(message) from None
                    wait = waits.send(exc)
                    if _is_refusal(exc):
                        self.throttle.refused(wait)
                except requests.exceptions.RequestException as exc:
                    # Nothing a retry fixes (a malformed URL or header), and its text can quote
                    # the URL or the key.
                    message = f"{subject} failed: {self.describe_failure(exc)}"
                    raise ComplianceAPIError(message) from None
                attempt += 1
                self.logger.warning(
                    "%s failed (%s); try %d of %d in %.2f s", subject, cause, attempt, tries, wait
                )
                sleep(wait)

        return call
