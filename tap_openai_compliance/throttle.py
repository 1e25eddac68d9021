"""One pace for every call the tap makes to the API: a 429 slows down all of them."""

from __future__ import annotations

import contextlib
import threading
import time
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator


class ApiThrottle:
    """A shared pause after a refusal, and fewer API calls in flight while refusals come.

    Concurrent downloads each retrying on their own would keep hitting a rate-limited API in
    a storm of refused calls. Instead a 429 pauses every caller until its ``Retry-After`` has
    passed, and halves how many API calls may be in flight; each run of successes as long as
    the current limit raises it by one again, back up to the configured concurrency.
    """

    def __init__(self, max_in_flight: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_in_flight
        self._limit = max_in_flight
        self._in_flight = 0
        self._successes = 0
        self._resume_at = 0.0
        self._clock = clock
        self._changed = threading.Condition()

    @property
    def limit(self) -> int:
        """How many API calls may be in flight now."""
        return self._limit

    def wait_for_pause(self, sleep: Callable[[float], None]) -> None:
        """Return once no pause asked for by a refusal is running."""
        while (delay := self._resume_at - self._clock()) > 0:
            sleep(delay)

    def refused(self, pause: float) -> None:
        """A call was refused (429): pause everyone for ``pause`` seconds, and call less at once."""
        with self._changed:
            self._resume_at = max(self._resume_at, self._clock() + pause)
            self._limit = max(1, self._limit // 2)
            self._successes = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold an in-flight place for one API call; a call that raises is no success."""
        with self._changed:
            while self._in_flight >= self._limit:
                self._changed.wait()
            self._in_flight += 1
        succeeded = False
        try:
            yield
            succeeded = True
        finally:
            with self._changed:
                self._in_flight -= 1
                if succeeded:
                    self._successes += 1
                    if self._successes >= self._limit and self._limit < self._max:
                        self._limit += 1
                        self._successes = 0
                self._changed.notify_all()
