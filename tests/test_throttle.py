"""The shared pace of API calls: one refusal slows every caller."""

from __future__ import annotations

import threading

from tap_openai_compliance.throttle import ApiThrottle


class FakeClock:
    """A clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_refusal_pauses_every_caller_until_its_wait_has_passed():
    clock = FakeClock()
    throttle = ApiThrottle(4, clock)

    throttle.refused(3.0)
    throttle.wait_for_pause(clock.sleep)
    throttle.wait_for_pause(clock.sleep)

    assert clock.slept == [3.0]


def test_no_pause_without_a_refusal():
    clock = FakeClock()

    ApiThrottle(4, clock).wait_for_pause(clock.sleep)

    assert clock.slept == []


def test_refusals_halve_the_calls_in_flight_and_successes_win_them_back():
    throttle = ApiThrottle(8, FakeClock())

    throttle.refused(0)
    throttle.refused(0)
    assert throttle.limit == 2
    for _ in range(2):
        with throttle.slot():
            pass
    assert throttle.limit == 3
    for _ in range(3 + 4 + 5 + 6 + 7):
        with throttle.slot():
            pass
    assert throttle.limit == 8


def test_callers_past_the_limit_wait_for_a_free_place():
    throttle = ApiThrottle(1)
    inside = threading.Event()
    release = threading.Event()
    second_entered = threading.Event()

    def first() -> None:
        with throttle.slot():
            inside.set()
            release.wait(5)

    def second() -> None:
        with throttle.slot():
            second_entered.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    inside.wait(5)
    threads[1].start()
    assert not second_entered.wait(0.2)
    release.set()
    assert second_entered.wait(5)
    for thread in threads:
        thread.join(5)


def test_a_failed_call_does_not_count_as_a_success():
    throttle = ApiThrottle(4, FakeClock())
    throttle.refused(0)

    for _ in range(2):
        try:
            with throttle.slot():
                raise RuntimeError
        except RuntimeError:
            pass

    assert throttle.limit == 2
