"""Failures worded for people, with every secret masked: the one place messages are made.

Response bodies and exceptions are untrusted text that can echo the API key or quote a signed
URL (a credential), so nothing from them reaches a log line without passing through here.
"""

from __future__ import annotations

import re
import string
import typing as t
from http import HTTPStatus
from urllib.parse import quote, unquote, urlsplit

import orjson
import requests
from singer_sdk.exceptions import RetriableAPIError
from urllib3.exceptions import NewConnectionError, ReadTimeoutError

from tap_openai_compliance.errors import ComplianceTapError

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

REDACTED = "<redacted>"
MAX_QUOTED_BODY = 300
# An error body is read only this far: it is quoted in a message, never processed.
MAX_ERROR_BODY_READ = 64 * 1024
# Signed-URL parameters shorter than this (a version, an algorithm name) are not secrets.
MIN_SECRET_LENGTH = 8
# This many consecutive characters of the API key are masked wherever they appear: an error
# can echo the key upper-cased or cut short. Shorter pieces are too common to mask.
KEY_RUN = 10
_BEARER_CREDENTIAL = re.compile(r"(?i)\bbearer\s+(\S+)")
# Query parameters that carry a credential in the signed URLs of S3 (SigV4, SigV2), CloudFront,
# GCS (V4, V2) and Azure SAS (``sig``); the fake's ``signature`` is matched too. They are masked
# in any text, told the URL or not: a storage error can quote a link the masker never saw (a
# redirect on the storage side, a re-signed link), and their names say what their values are.
_CREDENTIAL_PARAMETERS = (
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "X-Goog-Signature",
    "X-Goog-Credential",
    "AWSAccessKeyId",
    "Signature",
    "sig",
)
_CREDENTIAL_VALUE = re.compile(
    # A name's first letter (a cheap test that skips most positions), then: the name starts
    # the text or follows a non-name character or a "?" or "&" percent-encoded once or more ...
    rf"(?i)(?=[{''.join(sorted({name[0] for name in _CREDENTIAL_PARAMETERS}))}])"
    r"(?:(?<![\w-])|(?<=%3F)|(?<=%26)|(?<=253F)|(?<=2526))"
    rf"(?:{'|'.join(map(re.escape, _CREDENTIAL_PARAMETERS))})"
    # ... then "=", raw or percent-encoded (%3D, %253D, ...), then the value, up to the next "&"
    # (raw or encoded), whitespace, a quote or a "<" (an XML body).
    r"(?:=|%(?:25)*3D)((?:(?!%(?:25)*26)[^&\s\"'<])+)"
)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

GIVE_UP_ADVICE = (
    "The API or the network kept failing; run the sync again later (the last STATE covers "
    "only completed files, so nothing is lost)."
)

ADMIN_KEYS = "the OpenAI Admin Console (Credentials > Admin keys)"

WHAT_TO_CHECK = {
    HTTPStatus.UNAUTHORIZED: (
        f"Check api_key: it must be a current Admin API key, created in {ADMIN_KEYS}."
    ),
    HTTPStatus.FORBIDDEN: (
        "Check the Admin API key's permissions in "
        f"{ADMIN_KEYS}: it needs the Compliance Logs Platform read permission, or the "
        "per-type scope of each feed to sync, for this workspace or organization."
    ),
    HTTPStatus.NOT_FOUND: (
        "Check workspace_id / organization_id: the API does not know this workspace or "
        "organization (or the log file has passed the 30-day retention)."
    ),
    HTTPStatus.BAD_REQUEST: (
        "Check event_types: this event type may belong to the other route (workspace or "
        "organization), or may not exist."
    ),
    HTTPStatus.UNPROCESSABLE_ENTITY: "Check start_date, end_date, page_size and event_types.",
}


class Masker:
    """Masks what a message must never show: the API key, bearer credentials, signed URLs.

    Each kind of secret marks the stretches of text it covers; overlapping or adjacent stretches
    merge, so a secret echoed in pieces or twice in a row becomes one ``<redacted>``.
    """

    def __init__(self, api_key: str = "", secrets: Iterable[str] = ()) -> None:
        self._api_key = api_key
        self._secrets = tuple(secret for secret in secrets if secret)
        # A key shorter than KEY_RUN is matched only whole.
        self._run = min(KEY_RUN, len(api_key))
        lowered = api_key.translate(_ASCII_LOWER)
        self._key_runs = {lowered[i : i + self._run] for i in range(len(api_key) - self._run + 1)}
        self._key_runs.discard("")  # no key: the empty run would match everywhere
        self._secret_patterns = [re.compile(_in_any_encoding(secret)) for secret in self._secrets]

    def with_signed_url(self, url: str) -> Masker:
        """A masker that also hides the credentials in the query string of ``url``."""
        return Masker(self._api_key, [*self._secrets, *_signed_url_secrets(url)])

    def __call__(self, text: str) -> str:
        """``text`` with every secret masked."""
        spans = [*self._key_spans(text)]
        for pattern in self._secret_patterns:
            spans.extend(match.span() for match in pattern.finditer(text))
        for pattern in (_BEARER_CREDENTIAL, _CREDENTIAL_VALUE):
            spans.extend(match.span(1) for match in pattern.finditer(text))
        return _redact(text, spans)

    def _key_spans(self, text: str) -> Iterator[tuple[int, int]]:
        """Where runs of the key appear, in any case: one pass over ``text``, merging as it goes."""
        if not self._key_runs:
            return
        # ASCII-only lowering keeps every index of ``text`` (str.lower can change the length).
        lowered, run, runs = text.translate(_ASCII_LOWER), self._run, self._key_runs
        start = end = -1
        for i in range(len(lowered) - run + 1):
            if lowered[i : i + run] in runs:
                if i > end:
                    if end >= 0:
                        yield start, end
                    start = i
                end = i + run
        if end >= 0:
            yield start, end


def shown(value: t.Any, length: int = 40) -> str:
    """A value as a message quotes it: its repr (quotes and spaces visible), cut after
    ``length`` characters."""
    text = repr(value)
    return text if len(text) <= length else text[:length] + "…"


def _redact(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` with each stretch of ``spans`` (merged where they touch) replaced by REDACTED."""
    pieces: list[str] = []
    kept_from, masked_to = 0, -1
    for start, end in sorted(spans):
        if start > masked_to:
            pieces += [text[kept_from:start], REDACTED]
        masked_to = kept_from = max(masked_to, end)
    pieces.append(text[kept_from:])
    return "".join(pieces)


def _in_any_encoding(secret: str) -> str:
    """A pattern for ``secret`` raw or percent-encoded once or more (hex in either case).

    A storage error body can echo the signed URL encoded (``%2F``) or encoded again (``%252F``);
    a value already encoded in the URL then shows ``%25252F``. Each character is matched in any
    of its forms, so a mix of encodings is caught too.
    """
    pattern = []
    for char in secret:
        encoded = quote(char, safe="")
        if encoded == char:
            pattern.append(re.escape(char))
        else:
            escapes = "".join(f"%(?:25)*(?i:{hex_})" for hex_ in encoded.split("%")[1:])
            pattern.append(f"(?:{re.escape(char)}|{escapes})")
    return "".join(pattern)


def _signed_url_secrets(url: str) -> list[str]:
    """The query values of a signed URL long enough to be a signature or a token."""
    # unquote, not parse_qsl's unquote_plus: a raw "+" in a base64 signature is no space.
    values = (unquote(part.partition("=")[2]) for part in urlsplit(url).query.split("&"))
    return [value for value in values if len(value) >= MIN_SECRET_LENGTH]


def quote_body(response: requests.Response, mask: Masker) -> str:
    """The error message in a body, shortened, on one line, secrets masked: it is untrusted."""
    return quote_text(_body_head(response), mask)


def quote_text(head: bytes, mask: Masker) -> str:
    """The message in the start of a body, shortened, on one line, secrets masked."""
    try:
        text = _error_text(orjson.loads(head))
    except orjson.JSONDecodeError:
        text = head.decode("utf-8", errors="replace")
    return untrusted(text, mask)


def untrusted(text: str, mask: Masker) -> str:
    """What a server wrote (a body, a reason phrase, a header), as a message may quote it: on
    one line, secrets masked, shortened. Every text from a server passes through here."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    text = mask(text)
    if len(text) > MAX_QUOTED_BODY:
        text = text[:MAX_QUOTED_BODY] + "…"
    return text


def address_of(url: str, mask: Masker) -> str:
    """Where a URL points, as a message may name it: its scheme, host and port only.

    Userinfo, path and query are left out: a redirect's can hold a password or a token.
    """
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        host = parts.hostname or ""
    except ValueError:
        return "an address that cannot be read"
    scheme = parts.scheme or "no scheme"
    return untrusted(f"{scheme}://{host}{port}" if host else f"{scheme}: (no host)", mask)


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
    reason = untrusted(response.reason, mask) if response.reason else phrase
    text = f"HTTP {response.status_code} {reason}".rstrip()
    if quoted := quote_body(response, mask):
        text += f": {quoted}"
    return text


def refusal(subject: str, status: int, answer: str) -> str:
    """A request the API refused for good (``answer``: its ``http_status``), with what to check."""
    message = f"{subject} failed: {answer}"
    try:
        hint = WHAT_TO_CHECK.get(HTTPStatus(status))
    except ValueError:
        hint = None
    return f"{message.rstrip('.')}. {hint}" if hint else message


def feed_not_readable(feed: str, read_scope: str, broad_scope: str, answer: str) -> str:
    """A feed the API key may not read, and the scope to grant it."""
    return (
        f"The API key may not read {feed} ({answer}). Grant the Admin API key the scope "
        f"{read_scope} (or {broad_scope}, every feed) in {ADMIN_KEYS}"
    )


def redirect_refusal(subject: str, response: requests.Response, mask: Masker) -> str:
    """A redirect from the API, which the tap does not follow with the key."""
    target = address_of(response.headers.get("Location", ""), mask)
    return (
        f"{subject} failed: HTTP {response.status_code}, a redirect to {target}, which the tap "
        "does not follow with the API key. Check api_url: set it to the address the API "
        "answers at."
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
    if isinstance(exc, requests.exceptions.SSLError):
        return (
            "the TLS handshake failed (the server's certificate could not be verified, or TLS "
            "could not be agreed): check the address, and REQUESTS_CA_BUNDLE if a proxy or a "
            "private authority signs the certificates"
        )
    if isinstance(inner, NewConnectionError) or isinstance(
        getattr(inner, "reason", None), NewConnectionError
    ):
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


def asked_to_wait_too_long(subject: str, seconds: float, limit: float) -> str:
    """A call refused with a Retry-After longer than the tap waits."""
    return (
        f"{subject} failed: the server asked to wait {seconds:,.0f} s before trying again "
        f"(Retry-After), more than max_retry_after ({limit:,.0f} s) allows. Nothing after the "
        "last STATE is lost: run the sync later, or raise max_retry_after."
    )
