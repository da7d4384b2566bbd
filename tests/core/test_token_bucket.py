"""The one token bucket paces the simulated air exactly as the air's own bucket did."""

from __future__ import annotations

import random

import pytest

from custom_components.resilient_gateway.core.token_bucket import TokenBucket


class _AirBucket:
    """The simulated air's bucket before there was one bucket (``radios/virtual/budget.py``):
    the reference the shared bucket is compared with."""

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
        self._refill(now)
        return self.tokens >= 1.0

    def try_take(self, now: float) -> bool:
        if not self.available(now):
            return False
        self.tokens -= 1.0
        return True

    def reserve(self, now: float) -> float:
        self._refill(now)
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0.0 else -self.tokens / self.rate

    def refund(self, now: float) -> None:
        self._refill(now)
        self.tokens = min(self.burst, self.tokens + 1.0)


@pytest.mark.parametrize("seed", range(20))
def test_the_air_sees_the_same_bucket(seed: int) -> None:
    """Random calls as the air makes them (check, take if there, reserve, refund), at
    random moments: every answer is the old bucket's."""
    rng = random.Random(seed)
    rate = rng.choice([0.5, 2.0, 20.0, 50.0, rng.uniform(0.1, 100.0)])
    burst = rng.choice([1, 2, 10, 200])
    old = _AirBucket(rate, burst)
    new = TokenBucket(rate, burst)
    now = rng.uniform(0.0, 1000.0)
    for _ in range(500):
        now += rng.choice([0.0, rng.expovariate(rate), rng.expovariate(rate / 10)])
        match rng.choice(["check", "take", "reserve", "reserve", "refund"]):
            case "check":
                assert new.has_token(now) == old.available(now)
            case "take":
                taken = new.has_token(now)
                if taken:
                    new.take(now)
                assert taken == old.try_take(now)
            case "reserve":
                assert new.reserve(now) == pytest.approx(old.reserve(now), abs=1e-9)
            case "refund":
                new.refund(now)
                old.refund(now)
        assert new.has_token(now) == old.available(now)


def test_an_operation_of_several_frames_runs_into_a_bounded_debt() -> None:
    """The scheduler's side: five frames from a bucket of one leave a debt of four, paid
    back at the rate before the next operation may start (a whole token again)."""
    bucket = TokenBucket(rate=2.0, capacity=1.0, now=0.0)
    assert bucket.has_token(0.0)
    bucket.take(0.0, 5)
    assert bucket.next_token_at(0.0) == pytest.approx(2.5)  # five tokens at two a second
    assert not bucket.has_token(2.4)
    assert bucket.has_token(2.5)
