"""A token bucket on a caller-supplied clock: paces sends to a rate."""

from __future__ import annotations

import math

_EPSILON = 1e-9


class TokenBucket:
    """``rate`` tokens per second, holding at most ``capacity`` (the largest burst).

    Two ways to spend: the send scheduler waits for ``has_token`` and then ``take``s what
    an operation costs (a bounded debt); the simulated air ``reserve``s a token whether
    one is there or not (an unbounded debt, so frames leave in order of arrival) and
    ``refund``s one it did not use.
    """

    def __init__(self, rate: float, capacity: float, now: float = -math.inf) -> None:
        """``now``: the clock's time, or leave it out to start the clock at the first call
        (the bucket is full either way)."""
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs a positive rate and room for one token")
        self.rate = rate
        self.capacity = capacity
        self._tokens = float(capacity)
        self._updated = now

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now

    def has_token(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= 1.0 - _EPSILON

    def take(self, now: float, tokens: int = 1) -> None:
        """Spend ``tokens`` (an operation that sends several frames): what the bucket does
        not hold is a debt, paid back before the next operation gets a token."""
        self._refill(now)
        self._tokens = max(self._tokens - tokens, 1.0 - tokens)

    def grant(self) -> None:
        """Make one token available now: its timer fired (possibly early, in a test harness
        that fires timers before the loop's clock gets there)."""
        self._tokens = max(self._tokens, 1.0)

    def next_token_at(self, now: float) -> float:
        """When the next whole token is there (``now`` when it already is)."""
        self._refill(now)
        missing = 1.0 - self._tokens
        return now if missing <= _EPSILON else now + missing / self.rate

    def reserve(self, now: float) -> float:
        """Take a token, there or not, and return the seconds until it is (0 if now)."""
        self._refill(now)
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0.0 else -self._tokens / self.rate

    def refund(self, now: float) -> None:
        """Give back a reserved token that was not used."""
        self._refill(now)
        self._tokens = min(self.capacity, self._tokens + 1.0)
