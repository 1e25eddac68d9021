"""The client's pieces, on real responses from the fake API: waits, quotes and masks."""

from __future__ import annotations

import email.utils
import time

import pytest
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_openai_compliance.client import (
    MAX_QUOTED_BODY,
    MAX_RETRY_WAIT,
    quote_body,
    retry_after_seconds,
    signed_url_secrets,
)
from tap_openai_compliance.sandbox import FakeComplianceAPI, Fault
from tap_openai_compliance.streams import LogEventsStream
from tap_openai_compliance.tap import TapOpenAICompliance
from tests.conftest import API_KEY, WORKSPACE_ID, add_files, hourly, tap_config


def listing_response(api, fault: Fault) -> requests.Response:
    """What the fake answers a listing call when ``fault`` is injected."""
    api.inject("list", fault)
    return requests.get(
        f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs",
        params={"event_type": "AUTH_LOG", "after": "2026-01-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )


def refused_with_retry_after(api, value: str) -> RetriableAPIError:
    """The error a 429 with ``Retry-After: value`` becomes."""
    response = listing_response(api, Fault.status(429, headers={"Retry-After": value}))
    return RetriableAPIError("rate limited", response)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), ("0.5", 0.5), ("0", 0.0), ("-3", 0.0), ("soon", None), ("inf", None)],
)
def test_retry_after_in_seconds(api, value, seconds):
    assert retry_after_seconds(refused_with_retry_after(api, value)) == seconds


def test_retry_after_as_an_http_date(api):
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    earlier = email.utils.formatdate(time.time() - 30, usegmt=True)

    assert 28 <= (retry_after_seconds(refused_with_retry_after(api, later)) or 0) <= 30
    assert retry_after_seconds(refused_with_retry_after(api, earlier)) == 0.0


def test_no_retry_after_without_the_header_or_without_a_response(api):
    response = listing_response(api, Fault.status(429))

    assert retry_after_seconds(RetriableAPIError("rate limited", response)) is None
    assert retry_after_seconds(requests.exceptions.ConnectionError("reset")) is None


def sync_stream(api: FakeComplianceAPI) -> LogEventsStream:
    """The AUTH_LOG stream of a tap configured against the fake."""
    tap = TapOpenAICompliance(config=tap_config(api, event_types=["AUTH_LOG"]))
    stream = tap.streams["auth_log"]
    assert isinstance(stream, LogEventsStream)
    return stream


def test_waits_grow_exponentially_with_jitter_and_stop_growing_at_a_minute(api):
    waits = sync_stream(api).backoff_wait_generator()
    next(waits)
    error = requests.exceptions.ConnectionError("reset")

    observed = [waits.send(error) for _ in range(16)]

    for attempt, wait in enumerate(observed):
        ceiling = min(MAX_RETRY_WAIT, 0.01 * 2**attempt)
        assert ceiling / 2 <= wait <= ceiling
    assert max(observed) > MAX_RETRY_WAIT / 2


def test_a_retry_after_wait_is_never_shorter_than_asked(api):
    waits = sync_stream(api).backoff_wait_generator()
    next(waits)
    refused = refused_with_retry_after(api, "5")

    observed = [waits.send(refused) for _ in range(5)]

    assert all(5.0 <= wait <= 5.01 for wait in observed)


def test_the_api_error_message_is_picked_out_of_its_json(api):
    openai_style = listing_response(api, Fault.status(400, body={"error": {"message": "Nope."}}))
    fastapi_style = listing_response(
        api,
        Fault.status(422, body={"detail": [{"loc": ["query", "limit"], "msg": "too big"}]}),
    )

    assert quote_body(openai_style) == "Nope."
    assert quote_body(fastapi_style) == "query.limit: too big"


def test_a_quoted_body_is_short_one_line_and_masks_secrets(api):
    body = "key sk-secret-1 \x1b[31mand\r\nAuthorization: Bearer sk-other\t" + "z" * 5_000
    response = listing_response(api, Fault.status(500, body=body))

    quoted = quote_body(response, ["sk-secret-1"])

    assert quoted.startswith("key <redacted> [31mand Authorization: Bearer <redacted> zzz")
    assert len(quoted) == MAX_QUOTED_BODY + 1
    assert quoted.endswith("…")


def test_the_signature_of_a_signed_link_is_a_secret(api):
    (file_id,) = add_files(api, "AUTH_LOG", hourly(1))
    redirect = requests.get(
        f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs/{file_id}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        allow_redirects=False,
        timeout=10,
    )
    link = redirect.headers["Location"]
    signature = link.rsplit("signature=", 1)[1]

    assert signature in signed_url_secrets(link)
