"""Timers on the running asyncio loop that can all be cancelled at once.

Everything the simulated air schedules goes through one ``Timers`` object, so stopping
the air leaves no timer behind (Home Assistant's test harness fails a test that does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class Timer:
    """One scheduled callback; ``cancel()`` is safe to call at any time."""

    __slots__ = ("_args", "_callback", "_handle", "_owner")

    def __init__(self, owner: Timers | None, callback: Callable[..., None], args: tuple[Any, ...]):
        self._owner = owner
        self._callback = callback
        self._args = args
        self._handle: asyncio.Handle | None = None

    def _fire(self) -> None:
        if self._owner is not None:
            self._owner.live.discard(self)
            self._owner = None
        self._callback(*self._args)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self._owner is not None:
            self._owner.live.discard(self)
            self._owner = None

    @property
    def active(self) -> bool:
        return self._owner is not None


class Timers:
    """Tracks every callback scheduled on ``loop`` so ``close()`` can cancel them all."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.live: set[Timer] = set()
        self.closed = False

    def now(self) -> float:
        return self.loop.time()

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> Timer:
        """Run ``callback(*args)`` after ``delay`` seconds (at once, in order, if <= 0)."""
        timer = Timer(None if self.closed else self, callback, args)
        if self.closed:
            return timer
        self.live.add(timer)
        if delay <= 0:
            timer._handle = self.loop.call_soon(timer._fire)
        else:
            timer._handle = self.loop.call_later(delay, timer._fire)
        return timer

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> Timer:
        return self.call_later(when - self.now(), callback, *args)

    def close(self) -> None:
        """Cancel every pending callback; later scheduling does nothing."""
        self.closed = True
        for timer in list(self.live):
            timer.cancel()
