"""The client on real responses from the fake API: what a response means, how long to wait."""

from __future__ import annotations

import logging

import pytest
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_openai_compliance.client import (
    MAX_RETRY_WAIT,
    ComplianceAPIError,
    RetryPolicy,
    check_api_response,
    retry_after_seconds,
)
from tap_openai_compliance.sandbox import Fault
from tap_openai_compliance.wording import Masker
from tests.test_wording import listing_response


def refused_with_retry_after(api, value: str) -> RetriableAPIError:
    """The error a 429 with ``Retry-After: value`` becomes."""
    response = listing_response(api, Fault.status(429, headers={"Retry-After": value}))
    return RetriableAPIError("rate limited", response)


def test_no_retry_after_without_the_header_or_without_a_response(api):
    response = listing_response(api, Fault.status(429))

    assert retry_after_seconds(RetriableAPIError("rate limited", response)) is None
    assert retry_after_seconds(requests.exceptions.ConnectionError("reset")) is None


def policy(**overrides) -> RetryPolicy:
    """A retry policy with a first wait of 10 ms."""
    options = {
        "max_tries": 3,
        "initial_wait": 0.01,
        "max_retry_after": 60,
        "timeouts": (1.0, 1.0),
        "logger": logging.getLogger("test"),
        **overrides,
    }
    return RetryPolicy(**options)


def test_waits_grow_exponentially_with_jitter_and_stop_growing_at_a_minute():
    waits = policy().waits()
    next(waits)
    error = requests.exceptions.ConnectionError("reset")

    observed = [waits.send(error) for _ in range(16)]

    for attempt, wait in enumerate(observed):
        ceiling = min(MAX_RETRY_WAIT, 0.01 * 2**attempt)
        assert ceiling / 2 <= wait <= ceiling
    assert max(observed) > MAX_RETRY_WAIT / 2


def test_a_retry_after_wait_is_never_shorter_than_asked(api):
    waits = policy().waits()
    next(waits)
    refused = refused_with_retry_after(api, "5")

    observed = [waits.send(refused) for _ in range(5)]

    assert all(5.0 <= wait <= 5.01 for wait in observed)


def test_a_call_is_tried_again_until_it_succeeds():
    outcomes = [requests.exceptions.ConnectionError("reset"), RetriableAPIError("503"), "done"]

    def flaky(name: str) -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return f"{name} {outcome}"

    assert policy().wrap(flaky, lambda name: f"Calling {name}", lambda: None)("it") == "it done"


def test_when_tries_run_out_one_plain_error_names_the_call_and_the_last_cause():
    def always_dropped(name: str) -> str:
        raise requests.exceptions.ConnectionError(f"http://host/{name}?signature=secret")

    call = policy(max_tries=2).wrap(always_dropped, lambda name: f"Calling {name}", lambda: None)

    with pytest.raises(ComplianceAPIError) as raised:
        call("it")

    message = str(raised.value)
    assert message.startswith("Calling it failed 2 times, giving up. Last failure: the connection")
    assert "signature" not in message


def test_a_failure_no_retry_fixes_ends_at_once_without_quoting_the_url():
    tries = []

    def malformed(name: str) -> str:
        tries.append(name)
        raise requests.exceptions.InvalidHeader(f"bad header for http://host/{name}?token=secret")

    with pytest.raises(ComplianceAPIError, match="Calling it failed: a request header") as raised:
        policy().wrap(malformed, lambda name: f"Calling {name}", lambda: None)("it")

    assert tries == ["it"]
    assert "token" not in str(raised.value)


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        (429, RetriableAPIError, "HTTP 429"),
        (503, RetriableAPIError, "HTTP 503"),
        (401, ComplianceAPIError, "Check api_key"),
        (404, ComplianceAPIError, "Check workspace_id"),
        (302, ComplianceAPIError, "which the tap does not follow with the API key"),
    ],
)
def test_a_response_is_retried_or_refused_by_its_status(api, status, error, says):
    headers = {"Location": "http://elsewhere.example/x"} if status == 302 else None
    response = listing_response(api, Fault.status(status, body=b"", headers=headers))

    with pytest.raises(error, match=says):
        check_api_response(response, "Listing AUTH_LOG log files", Masker())


@pytest.mark.parametrize(
    ("retry_after", "says"),
    [("1000000000", "1,000,000,000 s"), ("1e20", "100,000,000,000,000,000,000 s")],
)
def test_a_retry_after_longer_than_the_tap_waits_ends_the_call_at_once_naming_it(
    api, retry_after, says
):
    tries = []

    def refused(name: str) -> str:
        tries.append(name)
        raise refused_with_retry_after(api, retry_after)

    with pytest.raises(ComplianceAPIError) as raised:
        policy(max_tries=5).wrap(refused, lambda name: f"Calling {name}", lambda: None)("it")

    assert tries == ["it"]
    message = str(raised.value)
    assert message.startswith(f"Calling it failed: the server asked to wait {says}")
    assert "more than max_retry_after (60 s) allows" in message
