"""One timer that a queue moves to its next due item."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

EPSILON = 1e-6  # seconds: float slack when a timer's time is compared with what it waits for


def due_at(now: float, fired_for: float | None) -> float:
    """Up to when items are due: now, or (a timer that fired, perhaps early: a test
    harness fires timers before ``loop.time()`` gets there) the time it was set for."""
    return now if fired_for is None else max(now, fired_for) + EPSILON


class WakeUp:
    """Calls ``fire(when)`` at the instant it was last set to. Setting it to the same
    instant again keeps the timer (queues set it after every change, mostly unchanged);
    another instant moves it; ``None`` clears it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[float], None]) -> None:
        self._loop = loop
        self._fire = fire
        self._handle: asyncio.TimerHandle | None = None
        self._at = 0.0

    def set(self, when: float | None) -> None:
        if self._handle is not None:
            if when is not None and self._at == when:
                return
            self._handle.cancel()
            self._handle = None
        if when is None:
            return
        self._at = when
        self._handle = self._loop.call_at(when, self._fired, when)

    def cancel(self) -> None:
        self.set(None)

    def _fired(self, when: float) -> None:
        self._handle = None
        self._fire(when)
