"""The virtual-time loop: simulated seconds without waiting, the same run every time."""

from __future__ import annotations

import asyncio
import time

from custom_components.resilient_gateway.core.virtual_time import run_virtual


async def _fired_at_one_instant() -> list[int]:
    """Twenty callbacks due at 1.0 s, set in order among timers due before and after
    them (a heap holding others is where a plain loop's ties lose their order)."""
    loop = asyncio.get_running_loop()
    fired: list[int] = []
    for index in range(20):
        loop.call_at(1.0 + (index % 3) * 0.25, lambda: None)
        loop.call_at(1.0, fired.append, index)
        loop.call_at(0.5 - index * 0.01, lambda: None)
    await asyncio.sleep(2.0)
    return fired


def test_callbacks_due_together_run_in_the_order_they_were_set() -> None:
    assert run_virtual(_fired_at_one_instant()) == list(range(20))


def test_the_clock_jumps_to_the_next_timer_without_waiting() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(3600.0)
        handle = loop.call_later(5.0, lambda: None)
        return loop.time(), handle.when()

    assert run_virtual(main()) == (3600.0, 3605.0)


def test_executor_results_come_back_in_order_once_the_instant_is_over() -> None:
    """A thread that finishes first in real time does not jump the queue, and a result
    never lands between callbacks of the same instant: the same run every time."""

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        events: list[str] = []

        async def job(name: str, seconds: float) -> None:
            await loop.run_in_executor(None, time.sleep, seconds)
            events.append(f"{name} back at {loop.time()}")

        def chain(left: int) -> None:  # work at this instant, one callback after another
            events.append(f"chain {left}")
            if left:
                loop.call_soon(chain, left - 1)

        slow = asyncio.ensure_future(job("slow", 0.05))
        fast = asyncio.ensure_future(job("fast", 0.0))
        await asyncio.sleep(0)  # (both jobs started)
        chain(200)
        await asyncio.gather(slow, fast)
        return events

    events = run_virtual(main())
    assert events == [f"chain {n}" for n in range(200, -1, -1)] + [
        "slow back at 0.0",
        "fast back at 0.0",
    ]
