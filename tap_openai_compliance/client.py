"""Calling the Compliance API: connection pools, what a response means, and the retry policy."""

from __future__ import annotations

import email.utils
import functools
import itertools
import math
import random
import time
import typing as t
from http import HTTPStatus

import backoff
import requests
from requests.adapters import HTTPAdapter
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_openai_compliance.errors import ComplianceTapError
from tap_openai_compliance.wording import (
    asked_to_wait_too_long,
    cause_of,
    failed,
    gave_up,
    http_status,
    redirect_refusal,
    refusal,
    retrying,
)

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Generator

    from backoff.types import Details

    from tap_openai_compliance.throttle import ApiThrottle
    from tap_openai_compliance.wording import Masker

P = t.ParamSpec("P")
R = t.TypeVar("R")

MAX_RETRY_WAIT = 60.0

RETRIABLE_ERRORS = (
    RetriableAPIError,
    ConnectionError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class ComplianceAPIError(ComplianceTapError, FatalAPIError):
    """The API refused a request in a way retrying cannot fix, or tries ran out."""


def new_session(pool_size: int) -> requests.Session:
    """A session keeping up to ``pool_size`` connections open to each host.

    Its responses stream: a body is read only as far as the tap chooses (a listing page,
    the start of an error body, a file up to its listed size), so no answer, however large,
    is read whole into memory.
    """
    session = requests.Session()
    session.stream = True
    adapter = HTTPAdapter(pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def check_api_response(response: requests.Response, subject: str, mask: Masker) -> None:
    """Raise a retriable error for what a later try can fix, a plain one for the rest."""
    status = response.status_code
    if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        raise RetriableAPIError(http_status(response, mask), response)
    if HTTPStatus.MULTIPLE_CHOICES <= status < HTTPStatus.BAD_REQUEST:
        # Following would send the key to wherever the redirect points.
        raise ComplianceAPIError(redirect_refusal(subject, response))
    if status >= HTTPStatus.BAD_REQUEST:
        raise ComplianceAPIError(refusal(subject, response, mask))


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
        # A date already past means: now.
        return max(0.0, when.timestamp() - time.time())
    # Seconds are a whole number, zero or more: anything else is no usable answer.
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _is_refusal(exc: BaseException | None) -> bool:
    """Whether a failure is a 429: a call refused for going too fast."""
    response = getattr(exc, "response", None)
    return response is not None and response.status_code == HTTPStatus.TOO_MANY_REQUESTS


class RetryPolicy:
    """How a failed call is tried again: the same for the listing and for every log file.

    Built on ``backoff.on_exception``. Waits grow exponentially with jitter, and are never
    shorter than a ``Retry-After``; a 429 pauses every caller through the shared throttle.
    When tries run out the call fails with one plain message naming what it was for.
    """

    def __init__(
        self,
        *,
        max_tries: int,
        initial_wait: float,
        max_retry_after: float,
        timeouts: tuple[float, float],
        throttle: ApiThrottle,
        logger: logging.Logger,
    ) -> None:
        self.max_tries = max_tries
        self.initial_wait = initial_wait
        self.max_retry_after = max_retry_after
        self.timeouts = timeouts
        self.throttle = throttle
        self.logger = logger

    def waits(self) -> Generator[float, BaseException | None, None]:
        """The wait before each retry; ``backoff`` sends in the failure that caused it."""
        exception = yield 0.0
        for attempt in itertools.count():
            ceiling = min(MAX_RETRY_WAIT, self.initial_wait * 2**attempt)
            wait = random.uniform(ceiling / 2, ceiling)
            if (asked := retry_after_seconds(exception)) is not None:
                # Jitter only on top: a wait shorter than asked would be refused again.
                wait = asked + random.uniform(0, self.initial_wait)
            exception = yield wait

    def wrap(self, func: Callable[P, R], subject: Callable[..., str]) -> Callable[P, R]:
        """``func`` tried again after transient failures.

        ``subject`` says, from the call's arguments, what the call is for.
        """
        retried = backoff.on_exception(
            self.waits,
            RETRIABLE_ERRORS,
            max_tries=self.max_tries,
            jitter=None,
            giveup=self._asks_too_long,
            on_try=self._before_try,
            on_backoff=functools.partial(self._before_retry, subject),
            on_giveup=functools.partial(self._give_up, subject),
            # The tap words its own lines: backoff's would quote the call's arguments.
            logger=None,
        )(func)

        @functools.wraps(func)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return retried(*args, **kwargs)
            except requests.exceptions.RequestException as exc:
                # Nothing a retry fixes (a malformed URL or header), and its own text can
                # quote the URL or the key.
                cause = cause_of(exc, self.timeouts)
                raise ComplianceAPIError(failed(subject(*args, **kwargs), cause)) from None

        return call

    def _before_try(self, details: Details) -> None:
        """Wait out a pause that a refusal elsewhere asked for."""
        self.throttle.wait_for_pause(time.sleep)

    def _before_retry(self, subject: Callable[..., str], details: Details) -> None:
        """Say what failed and when the next try comes; a 429 slows everyone down."""
        exception = details.get("exception")
        wait = float(details.get("wait", 0.0))
        if _is_refusal(exception):
            self.throttle.refused(wait)
        cause = cause_of(exception, self.timeouts) if exception else "unknown"
        next_try = details["tries"] + 1
        self.logger.warning(
            retrying(_subject(subject, details), cause, next_try, self.max_tries, wait)
        )

    def _asks_too_long(self, exception: BaseException) -> bool:
        """Whether the server asks for a wait longer than the tap waits: no use retrying."""
        asked = retry_after_seconds(exception)
        return asked is not None and asked > self.max_retry_after

    def _give_up(self, subject: Callable[..., str], details: Details) -> None:
        """End the call with one plain error once every try failed, or waiting is no use."""
        exception = details.get("exception")
        asked = retry_after_seconds(exception)
        if asked is not None and asked > self.max_retry_after:
            message = asked_to_wait_too_long(
                _subject(subject, details), asked, self.max_retry_after
            )
            raise ComplianceAPIError(message)
        cause = cause_of(exception, self.timeouts) if exception else "unknown"
        raise ComplianceAPIError(gave_up(_subject(subject, details), details["tries"], cause))


def _subject(subject: Callable[..., str], details: Details) -> str:
    """What the retried call is for, from the arguments ``backoff`` reports."""
    return subject(*details["args"], **details["kwargs"])
