"""The pace of calls to the API: learned from its headers and its refusals, shared by all."""

from __future__ import annotations

import email.utils
import time

import pytest
import requests

from tap_openai_compliance.pacing import WINDOW_MARGIN, Pacer, retry_after


class FakeClock:
    """A clock that moves only when something sleeps on it, or a test says so."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def answer(status: int = 200, **headers: str) -> requests.Response:
    """An answer of the API, as far as the pacer reads it."""
    response = requests.Response()
    response.status_code = status
    response.headers.update({name.replace("_", "-"): value for name, value in headers.items()})
    return response


def accepted(pacer: Pacer, clock: FakeClock, calls: int, per_second: float) -> None:
    """``calls`` calls the API accepted, ``per_second`` a second."""
    for _ in range(calls):
        pacer.observe(answer())
        clock.now += 1 / per_second


def calls_in(pacer: Pacer, clock: FakeClock, seconds: float) -> int:
    """How many calls, each accepted, the pacer lets through in ``seconds``."""
    end = clock.now + seconds
    calls = 0
    while True:
        pacer.wait_turn(clock.sleep)
        if clock.now >= end:
            return calls
        pacer.observe(answer())
        calls += 1


def test_unpaced_until_the_api_says_otherwise():
    clock = FakeClock()
    pacer = Pacer(clock=clock)

    for _ in range(50):
        pacer.wait_turn(clock.sleep)
        pacer.observe(answer())

    assert clock.slept == []
    assert pacer.rate is None


def test_a_refusal_pauses_everyone_for_its_retry_after_and_paces_below_what_was_accepted():
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    accepted(pacer, clock, 30, per_second=20)

    pacer.observe(answer(429, Retry_After="2"))

    assert pacer.rate == pytest.approx(20 * 0.9, rel=0.05)
    pacer.wait_turn(clock.sleep)
    assert clock.slept == [pytest.approx(2.0)]
    assert calls_in(pacer, clock, 10) == pytest.approx(180, abs=2)


def test_refusals_arriving_together_cut_the_pace_once():
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    accepted(pacer, clock, 20, per_second=20)

    for _ in range(8):
        pacer.observe(answer(429, Retry_After="1"))

    assert pacer.rate == pytest.approx(18, rel=0.05)


def test_without_refusals_the_pace_creeps_back_up_to_find_the_limit_again():
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    accepted(pacer, clock, 10, per_second=10)
    pacer.observe(answer(429, Retry_After="0"))
    learned = pacer.rate
    assert learned is not None

    calls_in(pacer, clock, 60)

    assert pacer.rate is not None
    assert pacer.rate > learned * 1.2


def test_rate_limit_headers_spread_the_calls_left_until_they_refill():
    clock = FakeClock()
    pacer = Pacer(clock=clock)

    pacer.observe(answer(x_ratelimit_remaining_requests="30", x_ratelimit_reset_requests="1m0s"))
    assert pacer.rate == pytest.approx(0.5)

    pacer.observe(answer(x_ratelimit_remaining_requests="0", x_ratelimit_reset_requests="750ms"))
    pacer.wait_turn(clock.sleep)
    assert clock.slept[-1] == pytest.approx(0.75, abs=0.01)


def test_the_configured_cap_holds_whatever_the_api_allows():
    clock = FakeClock()
    pacer = Pacer(max_calls_per_minute=120, clock=clock)
    pacer.observe(answer(ratelimit_remaining="1000", ratelimit_reset="1"))

    assert calls_in(pacer, clock, 30) == pytest.approx(60, abs=1)


def test_a_pause_never_outlasts_the_longest_retry_after_the_tap_waits():
    clock = FakeClock()
    pacer = Pacer(max_pause=900, clock=clock)

    pacer.observe(answer(429, Retry_After="1000000000"))
    pacer.wait_turn(clock.sleep)

    assert clock.slept == [900]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        ("0.5", 0.5),
        ("0", 0.0),
        ("1e20", 1e20),
        ("-3", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds(value, seconds):
    headers = {} if value is None else {"Retry_After": value}
    assert retry_after(answer(429, **headers)) == seconds


def test_retry_after_as_an_http_date():
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    earlier = email.utils.formatdate(time.time() - 30, usegmt=True)

    assert 28 <= (retry_after(answer(429, Retry_After=later)) or 0) <= 30
    assert retry_after(answer(429, Retry_After=earlier)) == 0.0


def test_however_few_calls_a_header_says_are_left_none_waits_past_the_longest_pause():
    clock = FakeClock()
    pacer = Pacer(max_pause=900, clock=clock)
    pacer.observe(answer(ratelimit_remaining="1", ratelimit_reset="1000000000"))

    pacer.wait_turn(clock.sleep)
    pacer.wait_turn(clock.sleep)

    assert clock.slept == [pytest.approx(900)]


def turns(pacer: Pacer, clock: FakeClock, calls: int) -> list[float]:
    """When each of ``calls`` calls, each accepted, gets its turn."""
    started = []
    for _ in range(calls):
        pacer.wait_turn(clock.sleep)
        started.append(clock.now)
        pacer.observe(answer())
    return started


def test_a_budget_of_calls_a_minute_holds_from_the_first_call_in_any_minute():
    clock = FakeClock()
    pacer = Pacer(clock=clock, budget_per_minute=50)

    started = turns(pacer, clock, 110)

    first = started[0]
    # The first 50 go at once; the 51st a minute (and a margin) after the first, and so on.
    assert started[49] == first
    assert started[50] == pytest.approx(first + 60 + WINDOW_MARGIN)
    assert started[100] == pytest.approx(first + 2 * (60 + WINDOW_MARGIN))
    # No span of a minute holds more than 50 calls, wherever a server's window starts.
    assert max(sum(1 for t in started if s <= t < s + 60) for s in started) == 50
    assert pacer.rate == pytest.approx(50 / 60)
    assert pacer.seconds_for(100) == pytest.approx(120)


def test_turns_come_in_the_order_they_were_booked_whoever_waits_first():
    clock = FakeClock()
    pacer = Pacer(clock=clock, budget_per_minute=2)
    booked = [pacer.book_turn() for _ in range(3)]

    # The third booking is the one that waits a minute, whichever caller reaches wait_for first.
    pacer.wait_for(booked[2], clock.sleep)
    assert clock.slept == [pytest.approx(60 + WINDOW_MARGIN)]
    clock.slept.clear()
    pacer.wait_for(booked[0], clock.sleep)
    pacer.wait_for(booked[1], clock.sleep)
    assert clock.slept == []


def test_a_lower_limit_learned_from_refusals_takes_over_from_the_budget():
    clock = FakeClock()
    pacer = Pacer(clock=clock, budget_per_minute=50)
    accepted(pacer, clock, 20, per_second=0.5)

    pacer.observe(answer(429, Retry_After="1"))

    assert pacer.rate is not None
    assert pacer.rate < 0.5
    # The budget alone would let 50 through at once.
    assert calls_in(pacer, clock, 60) <= 32


def test_a_cap_shared_by_two_endpoints_holds_their_calls_together():
    clock = FakeClock()
    cap = Pacer(max_calls_per_minute=60, clock=clock)
    listing = Pacer(clock=clock, shared_cap=cap)
    download = Pacer(clock=clock, budget_per_minute=1000, shared_cap=cap)

    for _ in range(30):
        listing.wait_turn(clock.sleep)
        download.wait_turn(clock.sleep)

    assert clock.now - 100 == pytest.approx(59, abs=1)
    assert download.rate == pytest.approx(1.0)


def test_a_budget_under_one_call_a_minute_spaces_single_calls():
    clock = FakeClock()
    pacer = Pacer(clock=clock, budget_per_minute=0.5)

    started = turns(pacer, clock, 3)

    assert started[1] - started[0] == pytest.approx(120 + WINDOW_MARGIN)
