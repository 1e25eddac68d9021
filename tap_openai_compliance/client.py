"""Calling the Compliance API: connection pools, what a response means, and the retry policy."""

from __future__ import annotations

import functools
import itertools
import os
import random
import typing as t
import urllib.request
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

import backoff
import certifi
import requests
import urllib3
from requests.structures import CaseInsensitiveDict
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.streams import RESTStream
from typing_extensions import override

from tap_openai_compliance.errors import ComplianceTapError
from tap_openai_compliance.links import host_header, request_target
from tap_openai_compliance.pacing import retry_after
from tap_openai_compliance.settings import key_problem
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
    from collections.abc import Callable, Generator, Mapping

    from backoff.types import Details

    from tap_openai_compliance.links import Destination
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


class AccessDeniedError(ComplianceAPIError):
    """HTTP 403: the key may not read what was asked (a feed whose scope it lacks)."""

    def __init__(self, message: str, answer: str) -> None:
        super().__init__(message)
        self.answer = answer


def ca_bundle() -> str:
    """The CA certificates to trust: as requests chooses them, the environment's, else certifi's.

    Read once for the listing and the downloads alike: the SDK sends the listing's requests in
    a way that skips requests' own reading of the environment.
    """
    return (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    )


def new_session() -> requests.Session:
    """A session for the listing, whose responses stream.

    A body is read only as far as the tap chooses (a listing page, the start of an error
    body), so no answer, however large, is read whole into memory.
    """
    session = requests.Session()
    session.stream = True
    session.verify = ca_bundle()
    return session


_Token = t.TypeVar("_Token")


class ComplianceAPIStream(RESTStream[_Token]):
    """How every stream calls the API: with the key, its headers and timeouts, answers streamed."""

    @override
    @property
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @override
    @functools.cached_property
    def authenticator(self) -> BearerTokenAuthenticator:
        key = str(self.config.get("api_key") or "")
        # Checked again here for runs without config validation: http.client's own error
        # would quote the header, key and all.
        if problem := key_problem(key):
            raise ComplianceTapError(problem)
        return BearerTokenAuthenticator(token=key)

    @override
    @property
    def http_headers(self) -> dict[str, str]:
        return {"User-Agent": self.user_agent, "Accept": "application/json"}

    @override
    @property
    def timeout(self) -> tuple[float, float]:  # type: ignore[override]
        # requests takes (connect, read): a host that does not answer is given up on in
        # seconds, while a slow body keeps its read timeout.
        return (float(self.config["connect_timeout"]), float(self.config["request_timeout"]))

    @override
    @functools.cached_property
    def requests_session(self) -> requests.Session:
        return new_session()


class Connections:
    """The download path's connections: a pool per host, sized to the downloads.

    Every log file costs two calls, one to the API and one to a storage host, and through
    requests each costs twice the CPU it takes through urllib3 (measured here: 0.82 ms against
    0.39 ms a call), most of a small file's cost. The proxy and CA settings that requests reads
    from the environment at every call are read once here. Answers come back as requests'
    ``Response`` and failures as its exceptions, which the checks and the wording know.
    """

    def __init__(self, pool_size: int, timeouts: tuple[float, float]) -> None:
        self._timeout = urllib3.Timeout(connect=timeouts[0], read=timeouts[1])
        self._pool_options: dict[str, t.Any] = {
            "maxsize": pool_size,
            "ca_certs": ca_bundle(),
        }
        self._direct = urllib3.PoolManager(**self._pool_options)
        self._proxies = urllib.request.getproxies()
        self._managers: dict[tuple[str, str], urllib3.PoolManager] = {}

    def get(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        destination: Destination | None = None,
    ) -> requests.Response:
        """GET ``url``, not following a redirect; the body is read as the caller reads it.

        With a ``destination`` (``links.LinkPolicy``), the connection goes to its checked
        address, the host named in the Host header and in TLS, unless a proxy stands between.
        """
        try:
            if destination is not None and not self.proxied(url):
                raw = self._pinned_pool(destination).urlopen(
                    "GET",
                    request_target(url),
                    headers={"Host": host_header(destination), **(headers or {})},
                    preload_content=False,
                    retries=False,
                    redirect=False,
                    assert_same_host=False,
                    timeout=self._timeout,
                )
            else:
                raw = self._manager(url).request(
                    "GET",
                    url,
                    headers=headers,
                    preload_content=False,
                    retries=False,
                    timeout=self._timeout,
                )
        except urllib3.exceptions.HTTPError as exc:
            raise as_requests_error(exc) from exc
        response = requests.Response()
        response.status_code = raw.status
        response.reason = raw.reason or ""
        response.headers = CaseInsensitiveDict(raw.headers)
        response.raw = raw
        response.url = url
        return response

    def proxied(self, url: str) -> bool:
        """Whether calls to ``url`` go through the environment's proxy."""
        return self._manager(url) is not self._direct

    def _pinned_pool(self, destination: Destination) -> urllib3.HTTPConnectionPool:
        """The pool of connections to a destination's checked address."""
        options: dict[str, t.Any] = {}
        if destination.scheme == "https":
            options = {"server_hostname": destination.host, "assert_hostname": destination.host}
        return self._direct.connection_from_host(
            destination.address, destination.port, destination.scheme, pool_kwargs=options
        )

    def _manager(self, url: str) -> urllib3.PoolManager:
        """The pools for ``url``'s host: direct, or through the environment's proxy."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if (manager := self._managers.get(key)) is None:
            proxy = self._proxies.get(parts.scheme)
            if proxy and not urllib.request.proxy_bypass(key[1]):
                manager = urllib3.ProxyManager(
                    proxy, proxy_headers=_proxy_headers(proxy), **self._pool_options
                )
            else:
                manager = self._direct
            self._managers[key] = manager
        return manager


def _proxy_headers(proxy: str) -> dict[str, str] | None:
    """The credentials a proxy's URL carries, as the header that sends them."""
    parts = urlsplit(proxy)
    if not parts.username:
        return None
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return dict(urllib3.make_headers(proxy_basic_auth=credentials))


def as_requests_error(exc: urllib3.exceptions.HTTPError) -> requests.RequestException:
    """A urllib3 failure as requests' adapter reports it, so one retry policy covers both."""
    error: type[requests.RequestException] = requests.RequestException
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        error = requests.exceptions.ConnectionError
    elif isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        error = requests.exceptions.ConnectTimeout
    elif isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        error = requests.exceptions.ReadTimeout
    elif isinstance(exc, urllib3.exceptions.SSLError):
        error = requests.exceptions.SSLError
    elif isinstance(exc, urllib3.exceptions.ProtocolError | urllib3.exceptions.ProxyError):
        error = requests.exceptions.ConnectionError
    elif isinstance(exc, urllib3.exceptions.LocationValueError):
        error = requests.exceptions.InvalidURL
    return error(exc)


def check_api_response(response: requests.Response, subject: str, mask: Masker) -> None:
    """Raise a retriable error for what a later try can fix, a plain one for the rest."""
    status = response.status_code
    if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        raise RetriableAPIError(http_status(response, mask), response)
    if HTTPStatus.MULTIPLE_CHOICES <= status < HTTPStatus.BAD_REQUEST:
        # Following would send the key to wherever the redirect points.
        raise ComplianceAPIError(redirect_refusal(subject, response, mask))
    if status >= HTTPStatus.BAD_REQUEST:
        answer = http_status(response, mask)
        if status == HTTPStatus.FORBIDDEN:
            raise AccessDeniedError(refusal(subject, status, answer), answer)
        raise ComplianceAPIError(refusal(subject, status, answer))


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The wait the failure's response asks for in ``Retry-After``, if any."""
    return retry_after(getattr(exc, "response", None))


class RetryPolicy:
    """How a failed call is tried again: the same for the listing and for every log file.

    Built on ``backoff.on_exception``. Each try first waits its turn at the pace its endpoint
    allows (the ``before_try`` given to ``wrap``); waits between tries grow exponentially with
    jitter, and are never shorter than a ``Retry-After``, nor longer than ``max_retry_after``.
    When tries run out the call fails with one plain message naming what it was for.
    """

    def __init__(
        self,
        *,
        max_tries: int,
        initial_wait: float,
        max_retry_after: float,
        timeouts: tuple[float, float],
        logger: logging.Logger,
    ) -> None:
        self.max_tries = max_tries
        self.initial_wait = initial_wait
        self.max_retry_after = max_retry_after
        self.timeouts = timeouts
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

    def wrap(
        self,
        func: Callable[P, R],
        subject: Callable[..., str],
        before_try: Callable[[], None],
        final: Callable[[BaseException], str | None] = lambda _exception: None,
    ) -> Callable[P, R]:
        """``func`` tried again after transient failures, ``before_try`` called before each try.

        ``subject`` says, from the call's arguments, what the call is for. ``final`` says why
        a failure is one no retry can mend (a refused certificate always is), and the call
        then fails at once saying so.
        """

        def no_retry_helps(exception: BaseException) -> str | None:
            if isinstance(exception, requests.exceptions.SSLError):
                return cause_of(exception, self.timeouts)
            return final(exception)

        retried = backoff.on_exception(
            self.waits,
            RETRIABLE_ERRORS,
            max_tries=self.max_tries,
            jitter=None,
            giveup=lambda exception: (
                self._wait_too_long(exception) is not None or no_retry_helps(exception) is not None
            ),
            on_try=lambda _details: before_try(),
            on_backoff=functools.partial(self._before_retry, subject),
            on_giveup=functools.partial(self._give_up, subject, no_retry_helps),
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

    def _before_retry(self, subject: Callable[..., str], details: Details) -> None:
        """Say what failed and when the next try comes."""
        exception = details.get("exception")
        wait = float(details.get("wait", 0.0))
        cause = cause_of(exception, self.timeouts) if exception else "unknown"
        next_try = details["tries"] + 1
        self.logger.warning(
            retrying(_subject(subject, details), cause, next_try, self.max_tries, wait)
        )

    def _wait_too_long(self, exception: BaseException | None) -> float | None:
        """The wait the server asks for, if longer than the tap waits: no use retrying."""
        asked = retry_after_seconds(exception)
        return asked if asked is not None and asked > self.max_retry_after else None

    def _give_up(
        self,
        subject: Callable[..., str],
        no_retry_helps: Callable[[BaseException], str | None],
        details: Details,
    ) -> None:
        """End the call with one plain error once every try failed, or waiting is no use."""
        exception = details.get("exception")
        if (asked := self._wait_too_long(exception)) is not None:
            message = asked_to_wait_too_long(
                _subject(subject, details), asked, self.max_retry_after
            )
            raise ComplianceAPIError(message)
        if exception is not None and (why := no_retry_helps(exception)) is not None:
            raise ComplianceAPIError(failed(_subject(subject, details), why))
        cause = cause_of(exception, self.timeouts) if exception else "unknown"
        raise ComplianceAPIError(gave_up(_subject(subject, details), details["tries"], cause))


def nothing_answers(exception: BaseException) -> bool:
    """Whether a call failed for want of anything answering: refused, unknown, unreachable."""
    if isinstance(exception, requests.exceptions.ConnectTimeout):
        return True
    inner = exception.args[0] if exception.args else None
    return isinstance(inner, urllib3.exceptions.NewConnectionError) or isinstance(
        getattr(inner, "reason", None), urllib3.exceptions.NewConnectionError
    )


def _subject(subject: Callable[..., str], details: Details) -> str:
    """What the retried call is for, from the arguments ``backoff`` reports."""
    return subject(*details["args"], **details["kwargs"])
