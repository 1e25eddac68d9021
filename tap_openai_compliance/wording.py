"""Failures worded for people, with every secret masked: the one place messages are made.

Response bodies and exceptions are untrusted text that can echo the API key or quote a signed
URL (a credential), so nothing from them reaches a log line without passing through here.
"""

from __future__ import annotations

import re
import typing as t
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

import orjson
import requests
from singer_sdk.exceptions import RetriableAPIError
from urllib3.exceptions import NewConnectionError, ReadTimeoutError

from tap_openai_compliance.errors import ComplianceTapError

if t.TYPE_CHECKING:
    from collections.abc import Iterable

REDACTED = "<redacted>"
MAX_QUOTED_BODY = 300
# An error body is read only this far: it is quoted in a message, never processed.
MAX_ERROR_BODY_READ = 64 * 1024
# Signed-URL parameters shorter than this (a version, an algorithm name) are not secrets.
MIN_SECRET_LENGTH = 8
_BEARER_CREDENTIAL = re.compile(r"(?i)\bbearer\s+\S+")

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


class Masker:
    """Masks what a message must never show: the API key, bearer credentials, signed URLs."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(secret for secret in secrets if secret)

    def with_signed_url(self, url: str) -> Masker:
        """A masker that also hides the credentials in the query string of ``url``."""
        return Masker([*self._secrets, *_signed_url_secrets(url)])

    def __call__(self, text: str) -> str:
        """``text`` with every secret masked."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _BEARER_CREDENTIAL.sub(f"Bearer {REDACTED}", text)


def _signed_url_secrets(url: str) -> list[str]:
    """The query values of a signed URL long enough to be a signature or a token."""
    return [value for _, value in parse_qsl(urlsplit(url).query) if len(value) >= MIN_SECRET_LENGTH]


def quote_body(response: requests.Response, mask: Masker) -> str:
    """The error message in a body, shortened, on one line, secrets masked: it is untrusted."""
    head = _body_head(response)
    try:
        text = _error_text(orjson.loads(head))
    except orjson.JSONDecodeError:
        text = head.decode("utf-8", errors="replace")
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    text = mask(text)
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


def http_status(response: requests.Response, mask: Masker) -> str:
    """``HTTP <status> <reason>: <the body's message>``, shortened and masked."""
    try:
        phrase = HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = ""
    text = f"HTTP {response.status_code} {response.reason or phrase}".rstrip()
    if quoted := quote_body(response, mask):
        text += f": {quoted}"
    return text


def refusal(subject: str, response: requests.Response, mask: Masker) -> str:
    """A request the API refused for good, with what to check for that status."""
    message = f"{subject} failed: {http_status(response, mask)}"
    try:
        hint = WHAT_TO_CHECK.get(HTTPStatus(response.status_code))
    except ValueError:
        hint = None
    return f"{message.rstrip('.')}. {hint}" if hint else message


def redirect_refusal(subject: str, response: requests.Response) -> str:
    """A redirect from the API, which the tap does not follow with the key."""
    target = urlsplit(response.headers.get("Location", ""))
    return (
        f"{subject} failed: HTTP {response.status_code}, a redirect to "
        f"{target.scheme}://{target.netloc}{target.path}, which the tap does not follow with "
        "the API key. Check api_url: set it to the address the API answers at."
    )


def cause_of(exc: BaseException, timeouts: tuple[float, float]) -> str:
    """Why a request failed, in words, never quoting its URL (a signed URL is a credential)."""
    connect_timeout, read_timeout = timeouts
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
    if isinstance(exc, ComplianceTapError | RetriableAPIError):
        # Their messages were worded, and masked, when they were raised.
        return str(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"could not connect within {connect_timeout:g} s"
    if isinstance(exc, requests.exceptions.Timeout) or isinstance(inner, ReadTimeoutError):
        return f"no data arrived for {read_timeout:g} s"
    if isinstance(
        exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
    ):
        return "the connection broke off in the middle of the body"
    if isinstance(getattr(inner, "reason", None), NewConnectionError):
        return "could not connect (refused or unreachable)"
    if isinstance(exc, ConnectionError | requests.exceptions.ConnectionError):
        return "the connection was dropped or reset"
    if isinstance(exc, requests.exceptions.InvalidHeader):
        return "a request header could not be sent"
    return type(exc).__name__


def failed(subject: str, cause: str) -> str:
    """A call that failed in a way a retry cannot fix."""
    return f"{subject} failed: {cause}"


def retrying(subject: str, cause: str, next_try: int, tries: int, wait: float) -> str:
    """A failed call about to be tried again."""
    return f"{subject} failed ({cause}); try {next_try} of {tries} in {wait:.2f} s"


def gave_up(subject: str, tries: int, cause: str) -> str:
    """A call that failed every try it had."""
    return f"{subject} failed {tries} times, giving up. Last failure: {cause}. {GIVE_UP_ADVICE}"
