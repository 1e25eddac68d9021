"""The pace of the tap's calls to the API: a documented budget, and what the API's answers teach.

The API limits calls per endpoint and key (the download endpoint to 50 a minute), and for a
backfill that limit is the speed. Bouncing off it (a burst, a 429, a pause for everyone, another
burst) leaves a good part of it unused, so each call waits its turn at a pace just under what the
API allows. Each endpoint has a ``Pacer`` of its own:

- a documented budget, from the first call: at most so many calls in any minute (a sliding
  window, so that no fixed window of the server's, wherever it starts, sees more);
- from rate-limit headers, when the API sends them: the calls left, spread over the time until
  they refill (with none left, everyone waits for the refill);
- otherwise from the 429s: at a refusal the pace drops below the rate of calls the API
  accepted over the last minute, then creeps up again while none are refused, so a pace set
  too low finds the limit again;
- and never faster than ``max_calls_per_minute`` across every endpoint, for a key several
  pipelines share (a pacer of its own that the others also wait on).

A refusal's ``Retry-After`` pauses every caller of that endpoint, not only the one refused.
"""

from __future__ import annotations

import collections
import email.utils
import math
import re
import threading
import time
import typing as t
from http import HTTPStatus

if t.TYPE_CHECKING:
    from collections.abc import Callable

    import requests

# Accepted calls are counted over this window to learn the allowed rate.
WINDOW = 60.0
# After a refusal the pace is this share of the rate the API accepted.
BELOW_LIMIT = 0.9
# Refusals arriving together (calls already in flight) cut the pace once.
CUT_SPACING = 1.0
# Without a refusal for this long, the pace grows by this factor.
PROBE_AFTER = 10.0
PROBE_STEP = 1.05
# A 429 without a usable Retry-After pauses everyone this long.
DEFAULT_PAUSE = 1.0
# A call of a budget's next minute waits this much longer than the minute: the server counts
# calls as they arrive, and the first ones of a run arrive later (a new connection, TLS).
WINDOW_MARGIN = 1.0

# Calls left before the limit, and the time until it refills: OpenAI's names, then the IETF
# draft's and the common X- ones.
_REMAINING = ("x-ratelimit-remaining-requests", "ratelimit-remaining", "x-ratelimit-remaining")
_RESET = ("x-ratelimit-reset-requests", "ratelimit-reset", "x-ratelimit-reset")
# OpenAI writes durations such as "1s", "6m0s", "20ms" or "1m30.5s".
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class Pacer:
    """Spaces the calls of every thread to one endpoint at the pace it allows."""

    def __init__(
        self,
        max_calls_per_minute: float | None = None,
        max_pause: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        budget_per_minute: float | None = None,
        shared_cap: Pacer | None = None,
    ) -> None:
        self._cap = max_calls_per_minute / 60 if max_calls_per_minute else None
        # A longer Retry-After ends the sync (client.RetryPolicy); nobody waits past it.
        self._max_pause = max_pause
        self._clock = clock
        self._shared_cap = shared_cap
        self._lock = threading.Lock()
        self._started = clock()
        self._learned: float | None = None
        self._from_headers: float | None = None
        self._next_call = self._last_turn = 0.0
        self._paused_until = 0.0
        self._accepted: collections.deque[float] = collections.deque()
        self._last_cut = self._last_change = float("-inf")
        self._budget = budget_per_minute
        # The turns of the budget's last calls: a new call waits until the oldest is a
        # window (plus the margin) old. A budget under one a minute is one call a longer span.
        calls = max(1, math.floor(budget_per_minute)) if budget_per_minute else 0
        self._budget_span = WINDOW * calls / budget_per_minute if budget_per_minute else 0.0
        self._budget_turns: collections.deque[float] = collections.deque(maxlen=calls or None)

    @property
    def shared_cap(self) -> Pacer | None:
        """The pacer of every endpoint's calls together (max_calls_per_minute), if any."""
        return self._shared_cap

    @property
    def rate(self) -> float | None:
        """Calls per second allowed now, over a minute or more (None: as fast as they come)."""
        budget = self._budget / 60 if self._budget else None
        cap = self._shared_cap.rate if self._shared_cap else None
        rates = [
            rate for rate in (budget, cap, self._cap, self._learned, self._from_headers) if rate
        ]
        return min(rates) if rates else None

    def seconds_for(self, calls: int) -> float | None:
        """About how long ``calls`` more calls take at this pace (None: no pace known)."""
        rate = self.rate
        return calls / rate if rate else None

    def wait_turn(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Return when this call's turn has come; ``sleep`` does the waiting (it may raise)."""
        self.wait_for(self.book_turn(), sleep)

    def book_turn(self) -> float:
        """Book the next turn, without waiting for it: turns come in the order they are booked.

        Returns when (on this pacer's clock) the turn is; ``wait_for`` waits for it.
        """
        with self._lock:
            turn = max(self._clock(), self._next_call, self._paused_until, self._last_turn)
            turns = self._budget_turns
            if turns.maxlen is not None and len(turns) == turns.maxlen:
                turn = max(turn, turns[0] + self._budget_span + WINDOW_MARGIN)
            if turns.maxlen is not None:
                turns.append(turn)
            self._last_turn = turn
            paced = [rate for rate in (self._cap, self._learned, self._from_headers) if rate]
            if paced:
                self._next_call = turn + 1 / min(paced)
            return turn

    def wait_for(self, turn: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """Return when the booked ``turn`` has come, and then the shared cap's turn."""
        if (delay := turn - self._clock()) > 0:
            sleep(delay)
        if self._shared_cap is not None:
            self._shared_cap.wait_turn(sleep)

    def observe(self, response: requests.Response) -> None:
        """Learn from an answer of the API: its rate-limit headers, and whether it refused."""
        with self._lock:
            now = self._clock()
            self._read_headers(response, now)
            if response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
                self._refused(response, now)
            else:
                self._accepted_call(now)

    def _read_headers(self, response: requests.Response, now: float) -> None:
        """Spread the calls left over the time until they refill."""
        remaining = _number(_first_header(response, _REMAINING))
        reset = _duration(_first_header(response, _RESET))
        if remaining is None or reset is None:
            return
        if remaining < 1:
            self._pause(now, reset)
            return
        # However few calls are left, none waits longer than the longest pause.
        self._from_headers = max(remaining / reset, 1 / self._max_pause) if reset > 0 else None

    def _pause(self, now: float, seconds: float) -> None:
        """Hold every caller for ``seconds``."""
        self._paused_until = max(self._paused_until, now + min(seconds, self._max_pause))

    def _refused(self, response: requests.Response, now: float) -> None:
        """A 429: pause everyone, and pace below the rate the API was accepting."""
        asked = retry_after(response)
        self._pause(now, DEFAULT_PAUSE if asked is None else asked)
        if now - self._last_cut < CUT_SPACING:
            return
        span = min(WINDOW, max(1.0, now - self._started))
        accepted = sum(1 for at in self._accepted if at >= now - span)
        if accepted:
            learned = accepted / span * BELOW_LIMIT
            self._learned = min(learned, self._learned or learned)
        self._last_cut = self._last_change = now

    def _accepted_call(self, now: float) -> None:
        """Count an accepted call; after a quiet while, try a slightly faster pace."""
        self._accepted.append(now)
        while self._accepted[0] < now - WINDOW:
            self._accepted.popleft()
        if self._learned is not None and now - self._last_change >= PROBE_AFTER:
            self._learned *= PROBE_STEP
            self._last_change = now


def retry_after(response: requests.Response | None) -> float | None:
    """The wait a 429 or 503 asks for in ``Retry-After`` (seconds, or an HTTP date).

    A value that is no wait (``soon``, ``-5``, ``inf``) counts as absent; a date already past
    means now.
    """
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    if (seconds := _number(value)) is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _first_header(response: requests.Response, names: tuple[str, ...]) -> str | None:
    """The first of these headers the response carries."""
    for name in names:
        if (value := response.headers.get(name)) is not None:
            return str(value)
    return None


def _number(value: str | None) -> float | None:
    """A non-negative number, or None for anything else."""
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and 0 <= number < float("inf") else None


def _duration(value: str | None) -> float | None:
    """Seconds, written as a number (``2``, ``0.5``) or as OpenAI does (``1m30s``, ``20ms``)."""
    if value is None:
        return None
    if (seconds := _number(value)) is not None:
        return seconds
    parts = _DURATION_PART.findall(value.strip())
    if not parts or "".join(f"{amount}{unit}" for amount, unit in parts) != value.strip():
        return None
    return sum(float(amount) * _SECONDS_PER_UNIT[unit] for amount, unit in parts)
