"""A page of a list the API answers (the log files' listing, a stateful table): read no further
than a page can be, and a JSON object with a ``data`` list, or an error worth another try."""

from __future__ import annotations

import functools
import typing as t
import weakref

import orjson
from singer_sdk.exceptions import RetriableAPIError

from tap_openai_compliance.wording import MAX_ERROR_BODY_READ, quote_text

if t.TYPE_CHECKING:
    from collections.abc import Callable

    import requests

    from tap_openai_compliance.wording import Masker

P = t.ParamSpec("P")


def once_per_response(
    read: Callable[t.Concatenate[requests.Response, P], dict[str, t.Any]],
) -> Callable[t.Concatenate[requests.Response, P], dict[str, t.Any]]:
    """``read`` run once per answer: the stream and its paginator both read each page, and
    its body can be read only once."""
    pages: weakref.WeakKeyDictionary[requests.Response, dict[str, t.Any]] = (
        weakref.WeakKeyDictionary()
    )

    @functools.wraps(read)
    def read_once(
        response: requests.Response, /, *args: P.args, **kwargs: P.kwargs
    ) -> dict[str, t.Any]:
        if (page := pages.get(response)) is None:
            page = pages[response] = read(response, *args, **kwargs)
        return page

    return read_once


def read_page(
    response: requests.Response, max_bytes: int, *, named: str, oversize: str, mask: Masker
) -> tuple[dict[str, t.Any], bytes]:
    """The page's JSON object and the bytes it was read from.

    An answer over ``max_bytes`` is closed unread past them (``oversize`` says so); one that
    is no JSON object with a ``data`` list (a proxy's error page, a cut body) is quoted, masked,
    as ``named``. Both are worth another try.
    """
    raw = response.raw.read(max_bytes + 1, decode_content=True)
    if len(raw) > max_bytes:
        response.close()
        raise RetriableAPIError(oversize, response)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        quoted = quote_text(raw[:MAX_ERROR_BODY_READ], mask)
        msg = f"{named} is not a JSON object with a 'data' list: {quoted}"
        raise RetriableAPIError(msg, response)
    return body, raw
