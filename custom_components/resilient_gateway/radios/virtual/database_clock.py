"""Simulated time and zigpy's database.

zigpy keeps its database with aiosqlite, which works in a thread of its own. The
virtual-time loop (``core/virtual_time.py``) does not jump while executor jobs run, but it
cannot see that thread: while an app awaits its database, the clock would race through
simulated minutes, firing the air's timers and request timeouts early and starving the
thread of the GIL. Inside ``clock_waits_for_database`` every database operation counts as
an executor job, so database work takes no simulated time. Real loops are not affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiosqlite.core

from ...core.virtual_time import VirtualTimeEventLoop

# Every way aiosqlite waits for its thread: queries and commits, opening, closing.
_OPERATIONS = ("_execute", "_connect", "close")


@contextlib.contextmanager
def database_work_counted(begin: Callable[[], None], end: Callable[[], None]) -> Iterator[None]:
    """Inside, ``begin()`` and ``end()`` (called on the awaiting loop) bracket every
    operation zigpy's database waits for."""

    def counted(operation: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(operation)
        async def run(*args: Any, **kwargs: Any) -> Any:
            begin()
            try:
                return await operation(*args, **kwargs)
            finally:
                end()

        return run

    connection = aiosqlite.core.Connection
    originals = {name: vars(connection)[name] for name in _OPERATIONS}
    for name, operation in originals.items():
        setattr(connection, name, counted(operation))
    try:
        yield
    finally:
        for name, operation in originals.items():
            setattr(connection, name, operation)


def _virtual_loop() -> VirtualTimeEventLoop | None:
    loop = asyncio.get_running_loop()
    return loop if isinstance(loop, VirtualTimeEventLoop) else None


def _hold_clock() -> None:
    if (loop := _virtual_loop()) is not None:
        loop.executor_jobs += 1


def _release_clock() -> None:
    if (loop := _virtual_loop()) is not None:
        loop.executor_jobs -= 1


def clock_waits_for_database() -> contextlib.AbstractContextManager[None]:
    """Inside, the virtual clock stands still while zigpy's database works."""
    return database_work_counted(_hold_clock, _release_clock)
