"""Token buckets on loop time: how many frames per second the radio may put on air."""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up.

    ``reserve`` takes a token even when none is left and says how long to wait for it,
    so frames that queue for the air leave in order of arrival.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self._stamp: float | None = None

    def _refill(self, now: float) -> None:
        if self._stamp is not None and now > self._stamp:
            self.tokens = min(self.burst, self.tokens + (now - self._stamp) * self.rate)
        if self._stamp is None or now > self._stamp:
            self._stamp = now

    def available(self, now: float) -> bool:
        """True if a token can be taken at ``now`` without waiting."""
        self._refill(now)
        return self.tokens >= 1.0

    def try_take(self, now: float) -> bool:
        if not self.available(now):
            return False
        self.tokens -= 1.0
        return True

    def reserve(self, now: float) -> float:
        """Take a token and return the seconds until it is really there (0 if now)."""
        self._refill(now)
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0.0 else -self.tokens / self.rate

    def refund(self, now: float) -> None:
        """Give back a reserved token that was not used."""
        self._refill(now)
        self.tokens = min(self.burst, self.tokens + 1.0)
