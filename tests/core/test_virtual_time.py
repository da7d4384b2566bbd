"""The virtual-time loop: simulated seconds without waiting, the same run every time."""

from __future__ import annotations

import asyncio

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
