"""A loop whose clock never moves: time passes only by firing due timers, the way Home
Assistant's test harness drives it (``async_fire_time_changed`` runs timers early)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

FROZEN_AT = 1000.0


class FrozenClockLoop(asyncio.SelectorEventLoop):
    def time(self) -> float:
        return FROZEN_AT


async def fire_timers(seconds_ahead: float) -> None:
    """Run every timer due within ``seconds_ahead`` of the (frozen) clock, once, like
    ``async_fire_time_changed``; timers they set are left for the next call."""
    loop = asyncio.get_running_loop()
    target = loop.time() + seconds_ahead
    for handle in list(loop._scheduled):  # type: ignore[attr-defined]
        if handle.cancelled() or handle.when() > target:
            continue
        handle._run()
        handle.cancel()
    for _ in range(5):
        await asyncio.sleep(0)


async def advance(seconds: float, step: float = 0.5) -> None:
    """Pretend ``seconds`` pass, firing timers in steps of ``step``."""
    ahead = 0.0
    while ahead < seconds:
        ahead += step
        await fire_timers(ahead)


def run_frozen[T](main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=FrozenClockLoop) as runner:
        return runner.run(main)
